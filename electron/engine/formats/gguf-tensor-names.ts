import type { ScaleRule } from '../../api/types.js';

/**
 * Hugging Face layer-tensor name parts and the names llama.cpp's GGUF gives the same tensors
 * (gguf-py tensor_mapping.py, for Llama-style blocks). Recipes and mergekit YAML name tensors the
 * Hugging Face way (LLaMA-Pro zeroes `o_proj` and `down_proj`); on a GGUF source a filter is read
 * through this table. Only parts that cannot match another GGUF tensor by substring are listed
 * (`lm_head` → `output` would also match `attn_output` and `output_norm`).
 */
export const HF_TO_GGUF_TENSOR_PARTS: Readonly<Record<string, string>> = {
  q_proj: 'attn_q.',
  k_proj: 'attn_k.',
  v_proj: 'attn_v.',
  o_proj: 'attn_output',
  gate_proj: 'ffn_gate',
  up_proj: 'ffn_up',
  down_proj: 'ffn_down',
  input_layernorm: 'attn_norm',
  post_attention_layernorm: 'ffn_norm',
  embed_tokens: 'token_embd',
};

/** The GGUF name part a rule filter stands for: the table's entry, or the filter itself (already a GGUF name). */
export function ggufFilter(filter: string): string {
  return Object.hasOwn(HF_TO_GGUF_TENSOR_PARTS, filter) ? (HF_TO_GGUF_TENSOR_PARTS[filter] as string) : filter;
}

/** Scale rules whose filters are read as GGUF tensor names. */
export function ggufScaleRules(rules: readonly ScaleRule[] | undefined): ScaleRule[] | undefined {
  return rules?.map((rule) => (rule.filter === undefined ? rule : { ...rule, filter: ggufFilter(rule.filter) }));
}
