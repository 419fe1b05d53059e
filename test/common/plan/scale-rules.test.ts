import { describe, expect, it } from 'vitest';
import { IDENTITY_BLOCK_SCALE, scaleFactorFor, scalesAnything } from '../../../electron/common/plan/scale-rules.js';

describe('scaleFactorFor', () => {
  it('leaves a tensor unscaled when there are no rules', () => {
    expect(scaleFactorFor(undefined, 'model.layers.3.self_attn.o_proj.weight')).toBe(1);
    expect(scaleFactorFor([], 'model.layers.3.self_attn.o_proj.weight')).toBe(1);
  });

  it('applies the first rule whose filter is a substring of the output name', () => {
    const rules = [
      { filter: 'layers.4.', value: 0.5 },
      { filter: 'o_proj', value: 0 },
    ];
    expect(scaleFactorFor(rules, 'model.layers.4.self_attn.o_proj.weight')).toBe(0.5);
    expect(scaleFactorFor(rules, 'model.layers.5.self_attn.o_proj.weight')).toBe(0);
    expect(scaleFactorFor(rules, 'model.layers.5.mlp.up_proj.weight')).toBe(1);
  });

  it('treats a rule without filter, or with filter *, as matching every name', () => {
    expect(scaleFactorFor([{ value: 0.25 }, { filter: 'q_proj', value: 3 }], 'model.layers.0.self_attn.q_proj.weight')).toBe(0.25);
    expect(scaleFactorFor([{ filter: '*', value: 2 }], 'model.layers.0.mlp.up_proj.weight')).toBe(2);
  });

  it('zeroes only o_proj and down_proj in a LLaMA-Pro identity block', () => {
    expect(scaleFactorFor(IDENTITY_BLOCK_SCALE, 'model.layers.3.self_attn.o_proj.weight')).toBe(0);
    expect(scaleFactorFor(IDENTITY_BLOCK_SCALE, 'model.layers.3.mlp.down_proj.weight')).toBe(0);
    for (const local of ['self_attn.q_proj.weight', 'mlp.gate_proj.weight', 'input_layernorm.weight', 'post_attention_layernorm.weight']) {
      expect(scaleFactorFor(IDENTITY_BLOCK_SCALE, `model.layers.3.${local}`)).toBe(1);
    }
  });

  it('knows whether rules change anything', () => {
    expect(scalesAnything(undefined)).toBe(false);
    expect(scalesAnything([{ value: 1 }, { filter: 'o_proj', value: 1 }])).toBe(false);
    expect(scalesAnything(IDENTITY_BLOCK_SCALE)).toBe(true);
  });
});
