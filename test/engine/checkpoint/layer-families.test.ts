import { describe, expect, it } from 'vitest';
import type { TensorKind } from '../../../electron/api/types.js';
import {
  classifyTensorKind,
  detectLayerFamily,
  LAYER_FAMILIES,
  layerTensorName,
  splitLayerName,
} from '../../../electron/engine/checkpoint/layer-families.js';

function familyOf(id: string) {
  const family = LAYER_FAMILIES.find((candidate) => candidate.id === id);
  if (family === undefined) throw new Error(`no family ${id}`);
  return family;
}

describe('detectLayerFamily', () => {
  it.each([
    ['llama', ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.1.mlp.up_proj.weight', 'lm_head.weight']],
    ['gptj', ['transformer.wte.weight', 'transformer.h.0.attn.q_proj.weight', 'transformer.h.1.mlp.fc_in.weight']],
    ['gpt2', ['wte.weight', 'h.0.attn.c_attn.weight', 'h.1.mlp.c_fc.weight', 'ln_f.weight']],
    ['neox', ['gpt_neox.embed_in.weight', 'gpt_neox.layers.0.attention.query_key_value.weight', 'embed_out.weight']],
    ['mpt', ['transformer.wte.weight', 'transformer.blocks.0.attn.Wqkv.weight', 'transformer.blocks.1.ffn.up_proj.weight']],
    ['chatglm', ['transformer.embedding.word_embeddings.weight', 'transformer.encoder.layers.0.self_attention.query_key_value.weight']],
    ['multimodal', ['language_model.model.layers.0.self_attn.q_proj.weight', 'language_model.model.embed_tokens.weight']],
    ['multimodal-v2', ['model.language_model.layers.0.self_attn.q_proj.weight', 'model.language_model.layers.1.mlp.up_proj.weight']],
  ])('recognises the %s family', (id, names) => {
    expect(detectLayerFamily(names)?.id).toBe(id);
  });

  it('never takes vision tower layers for text layers', () => {
    const names = [
      'vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight',
      'vision_tower.vision_model.encoder.layers.1.self_attn.q_proj.weight',
      'vision_tower.vision_model.encoder.layers.2.self_attn.q_proj.weight',
      'visual.blocks.0.attn.qkv.weight',
      'model.vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight',
      'language_model.model.layers.0.self_attn.q_proj.weight',
    ];
    const family = detectLayerFamily(names);
    expect(family?.id).toBe('multimodal');
    expect(names.filter((name) => splitLayerName(name, family!) !== null)).toEqual(['language_model.model.layers.0.self_attn.q_proj.weight']);
    expect(detectLayerFamily(names.slice(0, 5))).toBeNull();
  });

  it('picks the prefix that matches the most tensors', () => {
    // A Qwen2-VL-like file: text layers under model.layers, a vision tower under visual.blocks.
    const names = ['model.layers.0.self_attn.q_proj.weight', 'model.layers.1.self_attn.q_proj.weight', 'h.0.stray.weight', 'visual.blocks.0.attn.qkv.weight'];
    expect(detectLayerFamily(names)?.id).toBe('llama');
  });

  it('returns null without layer tensors', () => {
    expect(detectLayerFamily(['model.embed_tokens.weight', 'lm_head.weight'])).toBeNull();
    expect(detectLayerFamily([])).toBeNull();
  });
});

describe('splitLayerName and layerTensorName', () => {
  const llama = familyOf('llama');

  it('splits a layer tensor name and builds it back', () => {
    const split = splitLayerName('model.layers.12.self_attn.q_proj.weight', llama);
    expect(split).toEqual({ layer: 12, localName: 'self_attn.q_proj.weight' });
    expect(layerTensorName(llama, 12, 'self_attn.q_proj.weight')).toBe('model.layers.12.self_attn.q_proj.weight');
    expect(layerTensorName(familyOf('gpt2'), 3, 'attn.c_attn.bias')).toBe('h.3.attn.c_attn.bias');
  });

  it.each([
    'model.norm.weight',
    'model.layers.x.self_attn.q_proj.weight',
    'model.layers.01.self_attn.q_proj.weight',
    'model.layers.3',
    'model.layers.3.',
    'prefix.model.layers.3.mlp.up_proj.weight',
    'model.layers3.mlp.up_proj.weight',
  ])('does not take %s for a layer tensor', (name) => {
    expect(splitLayerName(name, llama)).toBeNull();
  });

  it('anchors GPT-2 layers at the start of the name', () => {
    const gpt2 = familyOf('gpt2');
    expect(splitLayerName('h.7.mlp.c_fc.weight', gpt2)).toEqual({ layer: 7, localName: 'mlp.c_fc.weight' });
    expect(splitLayerName('transformer.h.7.mlp.c_fc.weight', gpt2)).toBeNull();
  });
});

describe('classifyTensorKind', () => {
  const layerCases: Array<[string, TensorKind]> = [
    ['model.layers.0.self_attn.q_proj.weight', 'q'],
    ['model.layers.0.self_attn.k_proj.weight', 'k'],
    ['model.layers.0.self_attn.v_proj.weight', 'v'],
    ['model.layers.0.self_attn.o_proj.weight', 'o'],
    ['model.layers.0.self_attn.q_proj.bias', 'q'],
    ['model.layers.0.self_attn.qkv_proj.weight', 'qkv'],
    ['model.layers.0.mlp.gate_proj.weight', 'gate'],
    ['model.layers.0.mlp.up_proj.weight', 'up'],
    ['model.layers.0.mlp.gate_up_proj.weight', 'gate_up'],
    ['model.layers.0.mlp.down_proj.weight', 'down'],
    ['model.layers.0.input_layernorm.weight', 'input_norm'],
    ['model.layers.0.post_attention_layernorm.weight', 'post_attention_norm'],
    ['model.layers.0.pre_feedforward_layernorm.weight', 'norm'],
    ['model.layers.0.self_attn.q_norm.weight', 'norm'],
    ['model.layers.3.mlp.gate.weight', 'router'],
    ['model.layers.3.mlp.gate.e_score_correction_bias', 'router'],
    ['model.layers.3.mlp.experts.17.down_proj.weight', 'expert'],
    ['model.layers.3.mlp.shared_experts.gate_proj.weight', 'expert'],
    ['model.layers.3.block_sparse_moe.gate.weight', 'router'],
    ['model.layers.3.block_sparse_moe.experts.0.w1.weight', 'expert'],
    ['model.layers.3.self_attn.q_a_proj.weight_scale_inv', 'q'],
    ['model.layers.3.mlp.router.weight', 'router'],
    ['model.layers.3.mlp.experts.gate_up_proj', 'expert'],
    ['h.0.attn.c_attn.weight', 'qkv'],
    ['h.0.attn.c_proj.weight', 'o'],
    ['h.0.mlp.c_fc.weight', 'up'],
    ['h.0.mlp.c_proj.weight', 'down'],
    ['h.0.ln_1.weight', 'input_norm'],
    ['h.0.ln_2.bias', 'post_attention_norm'],
    ['h.0.attn.bias', 'other'],
    ['transformer.h.0.attn.out_proj.weight', 'o'],
    ['transformer.h.0.mlp.fc_in.weight', 'up'],
    ['transformer.h.0.mlp.fc_out.weight', 'down'],
    ['transformer.h.0.self_attention.query_key_value.weight', 'qkv'],
    ['transformer.h.0.self_attention.dense.weight', 'o'],
    ['transformer.h.0.ln_attn.weight', 'input_norm'],
    ['transformer.h.0.ln_mlp.weight', 'post_attention_norm'],
    ['gpt_neox.layers.0.attention.query_key_value.weight', 'qkv'],
    ['gpt_neox.layers.0.attention.dense.weight', 'o'],
    ['gpt_neox.layers.0.mlp.dense_h_to_4h.weight', 'up'],
    ['gpt_neox.layers.0.mlp.dense_4h_to_h.weight', 'down'],
    ['gpt_neox.layers.0.attention.rotary_emb.inv_freq', 'other'],
    ['transformer.blocks.0.attn.Wqkv.weight', 'qkv'],
    ['transformer.blocks.0.norm_1.weight', 'input_norm'],
    ['transformer.blocks.0.ffn.down_proj.weight', 'down'],
    ['transformer.encoder.layers.0.mlp.dense_h_to_4h.weight', 'gate_up'],
    ['transformer.encoder.layers.0.mlp.dense_4h_to_h.weight', 'down'],
    ['model.layers.61.eh_proj.weight', 'other'],
    ['model.layers.61.enorm.weight', 'norm'],
  ];
  it.each(layerCases)('classifies layer tensor %s as %s', (name, kind) => {
    expect(classifyTensorKind(name, true)).toBe(kind);
  });

  const outsideCases: Array<[string, TensorKind]> = [
    ['model.embed_tokens.weight', 'embed'],
    ['transformer.wte.weight', 'embed'],
    ['wte.weight', 'embed'],
    ['gpt_neox.embed_in.weight', 'embed'],
    ['transformer.word_embeddings.weight', 'embed'],
    ['transformer.embedding.word_embeddings.weight', 'embed'],
    ['language_model.model.embed_tokens.weight', 'embed'],
    ['model.norm.weight', 'final_norm'],
    ['transformer.ln_f.weight', 'final_norm'],
    ['ln_f.bias', 'final_norm'],
    ['gpt_neox.final_layer_norm.weight', 'final_norm'],
    ['transformer.norm_f.weight', 'final_norm'],
    ['model.final_layernorm.weight', 'final_norm'],
    ['transformer.encoder.final_layernorm.weight', 'final_norm'],
    ['language_model.model.norm.weight', 'final_norm'],
    ['model.language_model.norm.weight', 'final_norm'],
    ['lm_head.weight', 'head'],
    ['embed_out.weight', 'head'],
    ['language_model.lm_head.weight', 'head'],
    ['transformer.output_layer.weight', 'head'],
    ['transformer.wpe.weight', 'other'],
    ['vision_tower.vision_model.post_layernorm.weight', 'norm'],
    ['vision_tower.vision_model.embeddings.patch_embedding.weight', 'other'],
    ['multi_modal_projector.linear_1.weight', 'other'],
  ];
  it.each(outsideCases)('classifies non-layer tensor %s as %s', (name, kind) => {
    expect(classifyTensorKind(name, false)).toBe(kind);
  });
});
