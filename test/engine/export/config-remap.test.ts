import { describe, expect, it } from 'vitest';
import { expandAttentionTypes, remapConfig, type RemapConfigInput } from '../../../electron/engine/export/config-remap.js';

type Config = Record<string, unknown>;

function span(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, index) => start + index);
}

/** SOLAR DUS of n layers dropping m: 0..n−m−1 then m..n−1. */
function dus(layers: number, drop: number): number[] {
  return [...span(0, layers - drop), ...span(drop, layers)];
}

function remap(config: Config, sourceLayers: number[], extra: Partial<RemapConfigInput> = {}): { config: Config; warnings: string[]; text: Config } {
  const input: RemapConfigInput = {
    config,
    layerCountKey: null,
    layers: sourceLayers.map((sourceLayer) => ({ config, sourceLayer })),
    mtpLayers: 0,
    ...extra,
  };
  const before = structuredClone(config);
  const result = remapConfig(input);
  // The input is never changed.
  expect(config).toEqual(before);
  const text = (result.config.text_config as Config | undefined) ?? result.config;
  expectListsMatchCount(text, input.layers.length);
  return { ...result, text };
}

/** transformers refuses a per-layer list whose length is not the layer count. */
function expectListsMatchCount(section: Config, count: number): void {
  const countKey = ['num_hidden_layers', 'n_layer', 'n_layers', 'num_layers'].find((key) => key in section);
  expect(section[countKey as string]).toBe(count);
  for (const field of ['layer_types', 'mlp_layer_types', 'no_rope_layers', 'attention_layers']) {
    if (Array.isArray(section[field])) expect((section[field] as unknown[]).length, field).toBe(count);
  }
  if ('attention_types' in section) expect(expandAttentionTypes(section.attention_types)?.length).toBe(count);
}

function pattern(count: number, kind: (layer: number) => string | number): Array<string | number> {
  return span(0, count).map(kind);
}

const llama: Config = { architectures: ['LlamaForCausalLM'], model_type: 'llama', num_hidden_layers: 32, hidden_size: 4096, torch_dtype: 'bfloat16' };

describe('remapConfig', () => {
  it('sets the layer count of a plain Llama config and changes nothing else', () => {
    const { config, warnings } = remap(llama, dus(32, 8));
    expect(config).toEqual({ ...llama, num_hidden_layers: 48 });
    expect(warnings).toEqual([]);
  });

  it('remaps layer_types entry by entry from the source layers and warns when sliding_window_pattern no longer fits', () => {
    const gemma3 = { model_type: 'gemma3_text', num_hidden_layers: 32, sliding_window_pattern: 6, layer_types: pattern(32, (i) => ((i + 1) % 6 ? 'sliding_attention' : 'full_attention')) };
    const layers = dus(32, 8);
    const { text, warnings } = remap(gemma3, layers);
    expect(text.layer_types).toEqual(layers.map((source) => gemma3.layer_types[source]));
    expect(text.sliding_window_pattern).toBe(6);
    expect(warnings.join('\n')).toMatch(/sliding_window_pattern \(6\) cannot describe/);
  });

  it('keeps sliding_window_pattern silently when the overlap is a multiple of the pattern', () => {
    const gemma3 = { model_type: 'gemma3_text', num_hidden_layers: 32, sliding_window_pattern: 6 };
    const { text, warnings } = remap(gemma3, [...span(0, 24), ...span(12, 32)]);
    expect(warnings).toEqual([]);
    expect(text.sliding_window_pattern).toBe(6);
    expect(text.layer_types).toBeUndefined();
  });

  it('writes layer_types for Gemma 2 when the alternation of sliding and full layers breaks', () => {
    const gemma2 = { model_type: 'gemma2', num_hidden_layers: 26 };
    expect(remap(gemma2, dus(26, 6)).warnings).toEqual([]);
    const odd = [...span(0, 20), ...span(7, 26)];
    const { text, warnings } = remap(gemma2, odd);
    expect(text.layer_types).toEqual(odd.map((source) => ((source + 1) % 2 ? 'sliding_attention' : 'full_attention')));
    expect(warnings.join('\n')).toMatch(/gemma2's alternation/);
  });

  it('moves max_window_layers with the sliding layers of a Qwen2 config when they stay at the end', () => {
    const qwen2 = { model_type: 'qwen2', num_hidden_layers: 32, use_sliding_window: true, sliding_window: 4096, max_window_layers: 28 };
    const { text, warnings } = remap(qwen2, dus(32, 8));
    expect(text.max_window_layers).toBe(44);
    expect(text.layer_types).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it('lists layer_types when max_window_layers cannot describe sliding layers in the middle of the stack', () => {
    const qwen2 = { model_type: 'qwen2', num_hidden_layers: 32, use_sliding_window: true, sliding_window: 4096, max_window_layers: 28 };
    const stacked = [...span(0, 32), ...span(0, 32)];
    const { text, warnings } = remap(qwen2, stacked);
    expect(text.layer_types).toEqual(stacked.map((source) => (source >= 28 ? 'sliding_attention' : 'full_attention')));
    expect(warnings.join('\n')).toMatch(/max_window_layers \(28\) cannot describe/);
  });

  it('adjusts max_window_layers of a Qwen3 config with sliding off and remaps its all-full layer_types', () => {
    const qwen3 = { model_type: 'qwen3', num_hidden_layers: 36, use_sliding_window: false, sliding_window: null, max_window_layers: 36, layer_types: pattern(36, () => 'full_attention') };
    const { text, warnings } = remap(qwen3, dus(36, 9));
    expect(text.max_window_layers).toBe(54);
    expect(text.layer_types).toEqual(pattern(54, () => 'full_attention'));
    expect(warnings).toEqual([]);
    // Sliding off: a max_window_layers that cannot be re-expressed changes nothing at run time, so no warning.
    const stacked = remap(qwen3, [...span(30, 36), ...span(30, 36)]);
    expect(stacked.warnings).toEqual([]);
  });

  it('keeps Qwen3-Next full_attention_interval when the seam respects it, else lists layer_types', () => {
    const next = { model_type: 'qwen3_next', num_hidden_layers: 48, full_attention_interval: 4 };
    const kept = remap(next, [...span(0, 40), ...span(8, 48)]);
    expect(kept.text.full_attention_interval).toBe(4);
    expect(kept.warnings).toEqual([]);
    const odd = [...span(0, 40), ...span(9, 48)];
    const listed = remap(next, odd);
    expect(listed.text.layer_types).toEqual(odd.map((source) => ((source + 1) % 4 ? 'linear_attention' : 'full_attention')));
    expect(listed.warnings.join('\n')).toMatch(/full_attention_interval \(4\)/);
  });

  it('rebuilds mlp_only_layers of a Qwen2-MoE config from the source layers', () => {
    const moe = { model_type: 'qwen2_moe', num_hidden_layers: 8, num_experts: 4, decoder_sparse_step: 1, mlp_only_layers: [0] };
    const { text, warnings } = remap(moe, [...span(0, 4), ...span(0, 4)]);
    expect(text.mlp_only_layers).toEqual([0, 4]);
    expect(text.decoder_sparse_step).toBe(1);
    expect(warnings).toEqual([]);
  });

  it('sets decoder_sparse_step to 1 and lists every dense layer when MoE layers leave the step', () => {
    const moe = { model_type: 'qwen2_moe', num_hidden_layers: 6, num_experts: 4, decoder_sparse_step: 2, mlp_only_layers: [] };
    // Sparse source layers are 1, 3, 5; the output 0 1 2 0 1 2 has MoE at 1 and 4.
    const { text, warnings } = remap(moe, [0, 1, 2, 0, 1, 2]);
    expect(text.decoder_sparse_step).toBe(1);
    expect(text.mlp_only_layers).toEqual([0, 2, 3, 5]);
    expect(warnings.join('\n')).toMatch(/decoder_sparse_step \(2\)/);
  });

  it('adjusts DeepSeek first_k_dense_replace when the dense layers stay first', () => {
    const deepseek = { model_type: 'deepseek_v3', num_hidden_layers: 32, n_routed_experts: 64, first_k_dense_replace: 3, moe_layer_freq: 1, num_nextn_predict_layers: 1 };
    expect(remap(deepseek, dus(32, 8), { mtpLayers: 1 }).text.first_k_dense_replace).toBe(3);
    const pruned = remap(deepseek, span(2, 32));
    expect(pruned.text.first_k_dense_replace).toBe(1);
    expect(pruned.text.num_nextn_predict_layers).toBe(0);
    expect(pruned.warnings).toEqual([]);
  });

  it('warns that the config cannot express DeepSeek dense layers after MoE layers', () => {
    const deepseek = { model_type: 'deepseek_v3', num_hidden_layers: 16, n_routed_experts: 64, first_k_dense_replace: 3 };
    const { text, warnings } = remap(deepseek, [...span(0, 16), ...span(0, 16)]);
    expect(text.first_k_dense_replace).toBe(3);
    expect(warnings.join('\n')).toMatch(/cannot express the layer order.*16–18/);
  });

  it('remaps mlp_layer_types when first_k_dense_replace cannot describe the order and the model has the list', () => {
    const glm = { model_type: 'glm4_moe', num_hidden_layers: 4, n_routed_experts: 8, first_k_dense_replace: 1, mlp_layer_types: ['dense', 'sparse', 'sparse', 'sparse'] };
    const { text, warnings } = remap(glm, [0, 1, 0, 1]);
    expect(text.mlp_layer_types).toEqual(['dense', 'sparse', 'dense', 'sparse']);
    expect(warnings.join('\n')).toMatch(/mlp_layer_types lists each layer/);
  });

  it('keeps or re-derives Jamba periods and flags an order no period can express', () => {
    const jamba = { model_type: 'jamba', num_hidden_layers: 32, attn_layer_period: 8, attn_layer_offset: 4, expert_layer_period: 2, expert_layer_offset: 1 };
    const kept = remap(jamba, dus(32, 8));
    expect(kept.warnings).toEqual([]);
    expect([kept.text.attn_layer_period, kept.text.attn_layer_offset]).toEqual([8, 4]);
    const shifted = remap(jamba, span(2, 32));
    expect([shifted.text.attn_layer_period, shifted.text.attn_layer_offset, shifted.text.expert_layer_offset]).toEqual([8, 2, 1]);
    const broken = remap(jamba, [...span(0, 24), ...span(9, 32)]);
    expect(broken.warnings.join('\n')).toMatch(/cannot express the layer order: no attn_layer_period\/attn_layer_offset/);
    expect(broken.warnings.join('\n')).toMatch(/expert_layer_period\/expert_layer_offset/);
  });

  it('rebuilds Llama 4 moe_layers and remaps no_rope_layers', () => {
    const llama4 = {
      model_type: 'llama4',
      text_config: { model_type: 'llama4_text', num_hidden_layers: 8, moe_layers: [1, 3, 5, 7], no_rope_layers: pattern(8, (i) => Number((i + 1) % 4 !== 0)) },
      vision_config: { num_hidden_layers: 34 },
    };
    const layers = [0, 1, 2, 0, 1, 2, 3];
    const { config, text, warnings } = remap(llama4, layers);
    expect(text.moe_layers).toEqual([1, 4, 6]);
    expect(text.no_rope_layers).toEqual([1, 1, 1, 1, 1, 1, 0]);
    expect(config.vision_config).toEqual({ num_hidden_layers: 34 });
    expect(warnings).toEqual([]);
  });

  it('lists moe_layers when interleave_moe_layer_step no longer fits', () => {
    const llama4 = { model_type: 'llama4_text', num_hidden_layers: 6, interleave_moe_layer_step: 2 };
    const { text, warnings } = remap(llama4, [0, 1, 2, 0, 1, 2]);
    expect(text.moe_layers).toEqual([1, 4]);
    expect(warnings.join('\n')).toMatch(/interleave_moe_layer_step \(2\)/);
    expect(remap(llama4, [...span(0, 6), ...span(0, 6)]).text.moe_layers).toBeUndefined();
  });

  it('writes no_rope_layers for SmolLM3 when no_rope_layer_interval no longer fits', () => {
    const smol = { model_type: 'smollm3', num_hidden_layers: 8, no_rope_layer_interval: 4 };
    expect(remap(smol, [...span(0, 8), ...span(4, 8)]).warnings).toEqual([]);
    const { text, warnings } = remap(smol, [0, 1, 2, 3, 2, 3]);
    expect(text.no_rope_layers).toEqual([1, 1, 1, 0, 1, 0]);
    expect(warnings.join('\n')).toMatch(/no_rope_layer_interval \(4\)/);
  });

  it("expands GPT-Neo's attention_types, remaps it, and writes it back", () => {
    const neo = {
      model_type: 'gpt_neo',
      num_layers: 12,
      attention_types: [[['global', 'local'], 6]],
      attention_layers: pattern(12, (i) => (i % 2 ? 'local' : 'global')),
    };
    const even = remap(neo, dus(12, 2));
    expect(even.text.attention_types).toEqual([[['global', 'local'], 10]]);
    const odd = [...span(0, 9), ...span(2, 12)];
    const { text } = remap(neo, odd);
    const expanded = odd.map((source) => (source % 2 ? 'local' : 'global'));
    expect(text.attention_types).toEqual([[expanded, 1]]);
    expect(text.attention_layers).toEqual(expanded);
  });

  it('works under text_config for multimodal configs and leaves vision_config alone', () => {
    const gemma3 = {
      model_type: 'gemma3',
      torch_dtype: 'bfloat16',
      text_config: { model_type: 'gemma3_text', num_hidden_layers: 8, layer_types: pattern(8, (i) => ((i + 1) % 6 ? 'sliding_attention' : 'full_attention')), sliding_window_pattern: 6 },
      vision_config: { model_type: 'siglip_vision_model', num_hidden_layers: 27, layer_types: ['x'] },
    };
    const layers = [...span(0, 6), ...span(2, 8)];
    const { config, text } = remap(gemma3, layers, { layerCountKey: 'text_config.num_hidden_layers' });
    expect(text.num_hidden_layers).toBe(12);
    expect(text.layer_types).toEqual(layers.map((source) => gemma3.text_config.layer_types[source]));
    expect(config.vision_config).toEqual(gemma3.vision_config);
    expect(config.num_hidden_layers).toBeUndefined();
  });

  it('takes each output layer entry from its own source config', () => {
    const first = { model_type: 'olmo3', num_hidden_layers: 4, layer_types: ['sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention'] };
    const second = { ...first, layer_types: ['full_attention', 'full_attention', 'full_attention', 'sliding_attention'] };
    const result = remapConfig({
      config: first,
      layerCountKey: 'num_hidden_layers',
      layers: [
        { config: first, sourceLayer: 0 },
        { config: second, sourceLayer: 1 },
        { config: first, sourceLayer: 3 },
        { config: second, sourceLayer: 3 },
        { config: null, sourceLayer: 2 },
      ],
      mtpLayers: 0,
    });
    expect(result.config.layer_types).toEqual(['sliding_attention', 'full_attention', 'full_attention', 'sliding_attention', 'sliding_attention']);
    expect(result.warnings.join('\n')).toMatch(/has no config.json/);
    expectListsMatchCount(result.config, 5);
  });

  it('sets torch_dtype, and dtype where the config has it, when the plan casts', () => {
    expect(remap(llama, span(0, 32), { dtype: 'float32' }).config.torch_dtype).toBe('float32');
    const modern = remap({ ...llama, dtype: 'bfloat16' }, span(0, 32), { dtype: 'F16' }).config;
    expect([modern.torch_dtype, modern.dtype]).toEqual(['float16', 'float16']);
    expect(remap(llama, span(0, 32)).config.torch_dtype).toBe('bfloat16');
  });

  it('warns and copies a config that names no layer count', () => {
    const result = remapConfig({ config: { model_type: 'mystery' }, layerCountKey: null, layers: [], mtpLayers: 0 });
    expect(result.config).toEqual({ model_type: 'mystery' });
    expect(result.warnings[0]).toMatch(/names no layer count/);
  });
});
