/**
 * A Llama-3.1-405B-shaped checkpoint that takes no disk: the real tensor names and shapes (126
 * layers, hidden 16384, intermediate 53248, 128 heads, 8 KV heads, vocab 128256, bf16), spread over
 * 191 shards as huggingface_hub spreads them (state-dict order, a new shard whenever the next tensor
 * would pass 5 GB — this gives exactly the 191 shards of the published checkpoint). Each shard is a
 * real safetensors header followed by a hole up to the shard's full length (ftruncate), so opening
 * it reads what opening the real model reads, while the 812 GB of weights are never written.
 */
import { mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Dtype } from '../../electron/api/types.js';
import { INDEX_FILE_NAME } from '../../electron/engine/formats/safetensors-index.js';
import { layoutSafetensors, writeAll, type TensorLayoutInput } from '../../electron/engine/formats/safetensors-writer.js';

export interface LlamaShape {
  layers: number;
  hidden: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  vocab: number;
}

export const LLAMA_31_405B: LlamaShape = {
  layers: 126,
  hidden: 16_384,
  intermediate: 53_248,
  heads: 128,
  kvHeads: 8,
  vocab: 128_256,
};

/** Shards of the published meta-llama/Llama-3.1-405B. */
export const LLAMA_31_405B_SHARDS = 191;
/** huggingface_hub's default max_shard_size, "5GB" (decimal). */
export const HUB_MAX_SHARD_BYTES = 5_000_000_000;

/** config.json of meta-llama/Llama-3.1-405B. */
export function llama405bConfig(): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 128_000,
    eos_token_id: 128_001,
    hidden_act: 'silu',
    hidden_size: LLAMA_31_405B.hidden,
    initializer_range: 0.02,
    intermediate_size: LLAMA_31_405B.intermediate,
    max_position_embeddings: 131_072,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: LLAMA_31_405B.heads,
    num_hidden_layers: LLAMA_31_405B.layers,
    num_key_value_heads: LLAMA_31_405B.kvHeads,
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    rope_theta: 500_000.0,
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
    transformers_version: '4.43.0.dev0',
    use_cache: true,
    vocab_size: LLAMA_31_405B.vocab,
  };
}

/** LlamaForCausalLM's tensors in state-dict order (the order transformers saves them in). */
export function llamaStateDict(shape: LlamaShape, dtype: Dtype = 'BF16'): TensorLayoutInput[] {
  const headDim = shape.hidden / shape.heads;
  const kvWidth = shape.kvHeads * headDim;
  const tensors: TensorLayoutInput[] = [{ name: 'model.embed_tokens.weight', dtype, shape: [shape.vocab, shape.hidden] }];
  for (let layer = 0; layer < shape.layers; layer += 1) {
    const prefix = `model.layers.${layer}.`;
    tensors.push(
      { name: `${prefix}self_attn.q_proj.weight`, dtype, shape: [shape.hidden, shape.hidden] },
      { name: `${prefix}self_attn.k_proj.weight`, dtype, shape: [kvWidth, shape.hidden] },
      { name: `${prefix}self_attn.v_proj.weight`, dtype, shape: [kvWidth, shape.hidden] },
      { name: `${prefix}self_attn.o_proj.weight`, dtype, shape: [shape.hidden, shape.hidden] },
      { name: `${prefix}mlp.gate_proj.weight`, dtype, shape: [shape.intermediate, shape.hidden] },
      { name: `${prefix}mlp.up_proj.weight`, dtype, shape: [shape.intermediate, shape.hidden] },
      { name: `${prefix}mlp.down_proj.weight`, dtype, shape: [shape.hidden, shape.intermediate] },
      { name: `${prefix}input_layernorm.weight`, dtype, shape: [shape.hidden] },
      { name: `${prefix}post_attention_layernorm.weight`, dtype, shape: [shape.hidden] },
    );
  }
  tensors.push({ name: 'model.norm.weight', dtype, shape: [shape.hidden] }, { name: 'lm_head.weight', dtype, shape: [shape.vocab, shape.hidden] });
  return tensors;
}

/** Bytes of one tensor (whole-byte dtypes only, as every Llama checkpoint is). */
export function tensorDataBytes(tensor: TensorLayoutInput): number {
  const bytesPerElement: Partial<Record<Dtype, number>> = { BF16: 2, F16: 2, F32: 4 };
  const size = bytesPerElement[tensor.dtype];
  if (size === undefined) throw new Error(`unsupported dtype ${tensor.dtype}`);
  return tensor.shape.reduce((product, dim) => product * dim, size);
}

/**
 * huggingface_hub's split_state_dict_into_shards: walk the tensors in order and start a new shard
 * whenever adding the next one would pass `maxShardBytes` (a tensor larger than the limit gets a
 * shard of its own).
 */
export function shardLikeHub(tensors: readonly TensorLayoutInput[], maxShardBytes: number): TensorLayoutInput[][] {
  const shards: TensorLayoutInput[][] = [];
  let current: TensorLayoutInput[] = [];
  let currentBytes = 0;
  for (const tensor of tensors) {
    const bytes = tensorDataBytes(tensor);
    if (current.length > 0 && currentBytes + bytes > maxShardBytes) {
      shards.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(tensor);
    currentBytes += bytes;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

export interface SparseCheckpoint {
  dir: string;
  shardCount: number;
  tensorCount: number;
  /** Sum of the tensor data bytes (the index's total_size). */
  dataBytes: number;
  /** Sum of the shard file lengths as the file system reports them (nearly all of it holes). */
  fileBytes: number;
}

/**
 * Writes the sparse 405B checkpoint into `dir` (created): 191 shards, the index and config.json.
 * Throws when the sharding does not give the published 191 shards.
 */
export async function writeSparseLlama405b(dir: string): Promise<SparseCheckpoint> {
  const tensors = llamaStateDict(LLAMA_31_405B);
  const shards = shardLikeHub(tensors, HUB_MAX_SHARD_BYTES);
  if (shards.length !== LLAMA_31_405B_SHARDS) throw new Error(`sharding gave ${shards.length} shards, not the published ${LLAMA_31_405B_SHARDS}`);
  await mkdir(dir, { recursive: true });
  const count = String(shards.length).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  let dataBytes = 0;
  let fileBytes = 0;
  for (const [index, group] of shards.entries()) {
    const name = `model-${String(index + 1).padStart(5, '0')}-of-${count}.safetensors`;
    const layout = layoutSafetensors(group);
    const handle = await open(path.join(dir, name), 'w');
    try {
      await writeAll(handle, layout.header);
      // The hole: the file reads as zeros past the header and takes no blocks.
      await handle.truncate(layout.header.byteLength + layout.dataBytes);
    } finally {
      await handle.close();
    }
    for (const tensor of group) weightMap[tensor.name] = name;
    dataBytes += layout.dataBytes;
    fileBytes += layout.header.byteLength + layout.dataBytes;
  }
  const sortedMap = Object.fromEntries(Object.keys(weightMap).sort().map((tensor) => [tensor, weightMap[tensor]]));
  await writeFile(path.join(dir, INDEX_FILE_NAME), `${JSON.stringify({ metadata: { total_size: dataBytes }, weight_map: sortedMap }, null, 2)}\n`);
  await writeFile(path.join(dir, 'config.json'), `${JSON.stringify(llama405bConfig(), null, 2)}\n`);
  return { dir, shardCount: shards.length, tensorCount: tensors.length, dataBytes, fileBytes };
}
