import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  GGML_STATS_TYPES,
  GGML_TYPES,
  ggmlTensorBytes,
  ggmlTypeById,
  ggmlTypeByName,
  isGgmlStatsType,
} from '../../../electron/engine/formats/ggml-types.js';
import { GGUF_MODELS_DIR } from '../../fixtures/gguf-tensor-table.js';

describe('GGML type table', () => {
  it('gives every tensor of the llama.cpp-written test files its byte size from type and shape', async () => {
    const reference = JSON.parse(await readFile(path.join(GGUF_MODELS_DIR, 'reference-values.json'), 'utf8')) as Record<
      string,
      { tensors: { name: string; type: string; shape: number[]; nBytes: number }[] }
    >;
    let checked = 0;
    for (const { tensors } of Object.values(reference)) {
      for (const tensor of tensors) {
        const elements = tensor.shape.reduce((product, size) => product * size, 1);
        expect(ggmlTensorBytes(tensor.type, elements), tensor.name).toBe(tensor.nBytes);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(400);
  });

  it('has one entry per id and per name, and lists only its own types as having statistics', () => {
    expect(new Set(GGML_TYPES.map((type) => type.id)).size).toBe(GGML_TYPES.length);
    expect(new Set(GGML_TYPES.map((type) => type.name)).size).toBe(GGML_TYPES.length);
    for (const type of GGML_TYPES) {
      expect(ggmlTypeById(type.id)).toBe(type);
      expect(ggmlTypeByName(type.name)).toBe(type);
    }
    for (const name of GGML_STATS_TYPES) expect(ggmlTypeByName(name), name).toBeDefined();
    expect([ggmlTypeById(4), ggmlTypeById(31), ggmlTypeByName('q4_k')]).toEqual([undefined, undefined, undefined]);
    expect([isGgmlStatsType('Q4_K'), isGgmlStatsType('IQ2_XXS'), isGgmlStatsType('F8_E4M3')]).toEqual([true, false, false]);
  });

  it('refuses element counts that are not whole blocks, unknown types and sizes past 2^53', () => {
    expect(ggmlTensorBytes('Q4_K', 512)).toBe(288);
    expect(ggmlTensorBytes('F32', 3)).toBe(12);
    expect(ggmlTensorBytes(ggmlTypeByName('IQ4_NL')!, 64)).toBe(36);
    // ggml's sizeof(block_q8_1), which gguf.cpp uses; gguf-py's GGML_QUANT_SIZES still says 40.
    expect(ggmlTensorBytes('Q8_1', 64)).toBe(72);
    // ggml's newest types (ggml.h ids 41, 42): an f16 scale plus 1 bit × 128, 2 bits × 64 per block.
    expect([ggmlTypeById(41)?.name, ggmlTensorBytes('Q1_0', 256), ggmlTypeById(42)?.name, ggmlTensorBytes('Q2_0', 128)]).toEqual(['Q1_0', 36, 'Q2_0', 36]);
    expect(() => ggmlTensorBytes('Q2_0', 96)).toThrowError(expect.objectContaining({ code: 'TensorInvalidInfo' }));
    expect(() => ggmlTensorBytes('Q4_K', 100)).toThrowError(expect.objectContaining({ code: 'TensorInvalidInfo' }));
    expect(() => ggmlTensorBytes('Q8_0', -32)).toThrowError(expect.objectContaining({ code: 'TensorInvalidInfo' }));
    expect(() => ggmlTensorBytes('Q9_X', 32)).toThrowError(expect.objectContaining({ code: 'UnsupportedDtype' }));
    expect(() => ggmlTensorBytes('F64', 2 ** 52)).toThrowError(expect.objectContaining({ code: 'InvalidOffset' }));
  });
});
