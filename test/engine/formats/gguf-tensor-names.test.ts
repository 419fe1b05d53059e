import { describe, expect, it } from 'vitest';
import { IDENTITY_BLOCK_SCALE } from '../../../electron/common/plan/scale-rules.js';
import { ggufFilter, ggufScaleRules, HF_TO_GGUF_TENSOR_PARTS } from '../../../electron/engine/formats/gguf-tensor-names.js';

describe('GGUF tensor names for scale rules', () => {
  it('maps LLaMA-Pro filters (Hugging Face names) to llama.cpp names', () => {
    expect(ggufFilter('o_proj')).toBe('attn_output');
    expect(ggufFilter('down_proj')).toBe('ffn_down');
    expect(ggufFilter('attn_v')).toBe('attn_v');
    expect(ggufScaleRules(IDENTITY_BLOCK_SCALE)).toEqual([{ filter: 'attn_output', value: 0 }, { filter: 'ffn_down', value: 0 }, { value: 1 }]);
  });

  it('maps no part to a GGUF name that another tensor name contains', () => {
    const names = ['token_embd.weight', 'output_norm.weight', 'output.weight', ...['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'].map((part) => `blk.0.${part}.weight`)];
    for (const part of Object.values(HF_TO_GGUF_TENSOR_PARTS)) expect(names.filter((name) => name.includes(part)), part).toHaveLength(1);
  });
});
