import type { TensorKind } from '../../api/types.js';

/** A naming family of text decoder layers: tensors `${prefix}${index}.${localName}`. */
export interface LayerFamily {
  id: string;
  /** Anchored at the start of the tensor name; ends with the dot before the layer index. */
  prefix: string;
}

/**
 * Text decoder layer prefixes (DESIGN.md §4). Multimodal prefixes come before `model.layers.` so a
 * tie in tensor counts goes to them. Every prefix is anchored at the start of a name, which keeps
 * vision towers (`vision_tower.vision_model.encoder.layers.N`, `visual.blocks.N`,
 * `model.vision_tower.…`) out of the text stack.
 */
export const LAYER_FAMILIES: readonly LayerFamily[] = [
  { id: 'multimodal', prefix: 'language_model.model.layers.' }, // Gemma3 / Llava / Mistral3 / Llama 4 as saved before transformers 4.52
  { id: 'multimodal-v2', prefix: 'model.language_model.layers.' }, // the same models as transformers ≥ 4.52 saves them
  { id: 'llama', prefix: 'model.layers.' }, // Llama, Mistral, Qwen, Gemma, Phi-3, DeepSeek, OLMo
  { id: 'gptj', prefix: 'transformer.h.' }, // GPT-J, Falcon, Phi-2, GPT-2 saved by transformers
  { id: 'gpt2', prefix: 'h.' }, // GPT-2 and BLOOM as published
  { id: 'neox', prefix: 'gpt_neox.layers.' },
  { id: 'mpt', prefix: 'transformer.blocks.' },
  { id: 'chatglm', prefix: 'transformer.encoder.layers.' },
  { id: 'gguf', prefix: 'blk.' }, // llama.cpp's GGUF names, every architecture
];

/** The layer index after `prefix` in `name` (digits then a dot), with the dot's position, or null. */
function layerIndexAfter(name: string, prefix: string): { layer: number; dot: number } | null {
  if (!name.startsWith(prefix)) return null;
  let position = prefix.length;
  const first = position;
  while (position < name.length) {
    const code = name.charCodeAt(position);
    if (code < 48 || code > 57) break;
    position += 1;
  }
  const digits = position - first;
  // A dot must follow, with a non-empty local name; leading zeros are refused so names round-trip.
  if (digits === 0 || digits > 9 || name.charCodeAt(position) !== 46 || position + 1 >= name.length) return null;
  if (digits > 1 && name.charCodeAt(first) === 48) return null;
  return { layer: Number(name.slice(first, position)), dot: position };
}

/** The family whose prefix matches the most tensor names; ties go to the earlier table entry. Null when none matches. */
export function detectLayerFamily(tensorNames: readonly string[]): LayerFamily | null {
  const counts = new Array<number>(LAYER_FAMILIES.length).fill(0);
  for (const name of tensorNames) {
    for (let index = 0; index < LAYER_FAMILIES.length; index += 1) {
      if (layerIndexAfter(name, (LAYER_FAMILIES[index] as LayerFamily).prefix) !== null) {
        counts[index] = (counts[index] as number) + 1;
        break;
      }
    }
  }
  let best = -1;
  for (let index = 0; index < counts.length; index += 1) {
    if ((counts[index] as number) > 0 && (best < 0 || (counts[index] as number) > (counts[best] as number))) best = index;
  }
  return best < 0 ? null : (LAYER_FAMILIES[best] as LayerFamily);
}

/** Splits `model.layers.3.self_attn.q_proj.weight` into layer 3 and `self_attn.q_proj.weight`; null outside the family's layers. */
export function splitLayerName(name: string, family: LayerFamily): { layer: number; localName: string } | null {
  const found = layerIndexAfter(name, family.prefix);
  return found === null ? null : { layer: found.layer, localName: name.slice(found.dot + 1) };
}

/** The full tensor name of `localName` in layer `layer` of the family. */
export function layerTensorName(family: LayerFamily, layer: number, localName: string): string {
  return `${family.prefix}${layer}.${localName}`;
}

/** Module names (the segment before the parameter name) inside a layer, by kind. */
const LAYER_MODULE_KINDS: ReadonlyMap<string, TensorKind> = new Map<string, TensorKind>([
  ['q_proj', 'q'],
  ['wq', 'q'],
  ['query', 'q'],
  ['q_a_proj', 'q'], // DeepSeek MLA: low-rank query projections
  ['q_b_proj', 'q'],
  ['k_proj', 'k'],
  ['wk', 'k'],
  ['key', 'k'],
  ['v_proj', 'v'],
  ['wv', 'v'],
  ['value', 'v'],
  ['o_proj', 'o'],
  ['wo', 'o'],
  ['out_proj', 'o'],
  ['qkv_proj', 'qkv'], // Phi-3
  ['c_attn', 'qkv'], // GPT-2
  ['query_key_value', 'qkv'], // GPT-NeoX, Falcon, BLOOM, ChatGLM
  ['Wqkv', 'qkv'], // MPT
  ['qkv', 'qkv'],
  ['gate_proj', 'gate'],
  ['up_proj', 'up'],
  ['c_fc', 'up'], // GPT-2
  ['fc_in', 'up'], // GPT-J
  ['fc1', 'up'], // Phi-2
  ['dense_h_to_4h', 'up'], // GPT-NeoX, Falcon, BLOOM (ChatGLM's is gate_up, see below)
  ['gate_up_proj', 'gate_up'], // Phi-3
  ['down_proj', 'down'],
  ['fc_out', 'down'],
  ['fc2', 'down'],
  ['dense_4h_to_h', 'down'],
  ['input_layernorm', 'input_norm'],
  ['ln_1', 'input_norm'], // GPT-2, GPT-J
  ['attention_norm', 'input_norm'], // Meta's original Llama names
  ['norm_1', 'input_norm'], // MPT
  ['ln_attn', 'input_norm'], // Falcon-40B
  ['post_attention_layernorm', 'post_attention_norm'],
  ['ln_2', 'post_attention_norm'],
  ['ffn_norm', 'post_attention_norm'],
  ['norm_2', 'post_attention_norm'],
  ['ln_mlp', 'post_attention_norm'],
  // llama.cpp's GGUF names (gguf-py tensor_mapping.py)
  ['attn_q', 'q'],
  ['attn_k', 'k'],
  ['attn_v', 'v'],
  ['attn_output', 'o'],
  ['attn_qkv', 'qkv'],
  ['ffn_gate', 'gate'],
  ['ffn_up', 'up'],
  ['ffn_down', 'down'],
  ['attn_norm', 'input_norm'],
  ['post_attention_norm', 'post_attention_norm'],
  ['ffn_gate_inp', 'router'],
]);

/** Parents under which a generic `dense` / `c_proj` / `w1..w3` module has a known role. */
const ATTENTION_PARENTS = new Set(['attn', 'self_attn', 'attention', 'self_attention']);
const MLP_PARENTS = new Set(['mlp', 'feed_forward', 'ffn']);
const ROUTER_MODULES = new Set(['router', 'shared_expert_gate']);
const ROUTER_PARENTS = new Set(['mlp', 'block_sparse_moe', 'feed_forward', 'moe']);
const EXPERT_SEGMENTS = new Set(['experts', 'shared_experts', 'shared_expert']);

/** Module paths (name without the parameter) of token embeddings, final norms and heads outside the layers. */
const TEXT_WRAPPERS = ['', 'model.', 'transformer.', 'gpt_neox.', 'language_model.model.', 'model.language_model.', 'transformer.encoder.', 'language_model.'];
const EMBED_MODULES = new Set(['token_embd', 'embed_tokens', 'wte', 'word_embeddings', 'embed_in', 'tok_embeddings', 'embedding.word_embeddings']);
const FINAL_NORM_MODULES = new Set(['output_norm', 'norm', 'ln_f', 'final_layer_norm', 'norm_f', 'final_layernorm']);
const HEAD_MODULES = new Set(['lm_head', 'embed_out', 'output_layer', 'output', 'language_model.lm_head', 'transformer.output_layer', 'model.lm_head']);

function isNormModule(module: string): boolean {
  return module.includes('norm') || module === 'ln' || module.startsWith('ln_');
}

function withoutWrapper(modulePath: string, modules: ReadonlySet<string>): boolean {
  for (const wrapper of TEXT_WRAPPERS) {
    if (modulePath.startsWith(wrapper) && modules.has(modulePath.slice(wrapper.length))) return true;
  }
  return false;
}

/**
 * What a tensor is, for charts. `name` is the full tensor name (a layer's local name works too,
 * except for ChatGLM, whose fused `dense_h_to_4h` is recognised by its `transformer.encoder.` prefix).
 * `inLayer` says whether it belongs to a text decoder layer.
 */
export function classifyTensorKind(name: string, inLayer: boolean): TensorKind {
  const segments = name.split('.');
  // The last segment is the parameter (`weight`, `bias`, `weight_scale_inv`, …); GPT-OSS's fused
  // expert tensors are parameters themselves, which the expert rule catches first.
  const module = segments.length >= 2 ? (segments[segments.length - 2] as string) : '';
  const parent = segments.length >= 3 ? (segments[segments.length - 3] as string) : '';

  if (inLayer) {
    for (const segment of segments) if (EXPERT_SEGMENTS.has(segment)) return 'expert';
    if (ROUTER_MODULES.has(module) || (module === 'gate' && ROUTER_PARENTS.has(parent))) return 'router';
    if (module === 'dense_h_to_4h' && name.startsWith('transformer.encoder.')) return 'gate_up';
    const known = LAYER_MODULE_KINDS.get(module);
    if (known !== undefined) return known;
    if (ATTENTION_PARENTS.has(parent) && (module === 'dense' || module === 'c_proj')) return 'o';
    if (MLP_PARENTS.has(parent)) {
      if (module === 'c_proj') return 'down';
      if (module === 'w1') return 'gate';
      if (module === 'w3') return 'up';
      if (module === 'w2') return 'down';
    }
    if (isNormModule(module)) return 'norm';
    return 'other';
  }

  const modulePath = segments.slice(0, -1).join('.');
  if (withoutWrapper(modulePath, EMBED_MODULES)) return 'embed';
  if (withoutWrapper(modulePath, FINAL_NORM_MODULES)) return 'final_norm';
  if (HEAD_MODULES.has(modulePath)) return 'head';
  if (isNormModule(module)) return 'norm';
  return 'other';
}
