import { describe, expect, it } from 'vitest';
import { dtypeBlock, GGML_TYPES, tensorBytes } from '../../electron/api/dtypes.js';

describe('tensorBytes', () => {
  it('sizes plain dtypes by their element size', () => {
    expect(tensorBytes('F32', 10)).toBe(40);
    expect(tensorBytes('BF16', 3)).toBe(6);
    expect(tensorBytes('U64', 0)).toBe(0);
  });

  it('sizes sub-byte safetensors dtypes only in whole bytes', () => {
    expect(tensorBytes('F4', 4)).toBe(2);
    expect(tensorBytes('F4', 3)).toBeNull();
    expect(tensorBytes('F6_E2M3', 8)).toBe(6);
    expect(tensorBytes('F6_E2M3', 6)).toBeNull();
  });

  it('sizes GGML block types by whole blocks, as gguf-py GGML_QUANT_SIZES', () => {
    expect(tensorBytes('Q4_K', 256 * 4)).toBe(144 * 4);
    expect(tensorBytes('Q8_0', 64)).toBe(68);
    expect(tensorBytes('IQ4_XS', 512)).toBe(272);
    expect(tensorBytes('Q4_K', 100)).toBeNull();
    expect(dtypeBlock('Q6_K')).toEqual({ elements: 256, bytes: 210 });
  });

  it('refuses sizes past 2^53 and unknown names', () => {
    expect(tensorBytes('F64', 2 ** 52)).toBeNull();
    expect(tensorBytes('Q9_X' as never, 32)).toBeNull();
  });

  it('gives every GGML type a unique id', () => {
    const ids = Object.values(GGML_TYPES).map((type) => type.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
