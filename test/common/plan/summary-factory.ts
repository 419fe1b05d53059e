import path from 'node:path';
import { DTYPE_BITS, type SafetensorsDtype } from '../../../electron/api/types.js';
import type { CheckpointSummary, Dtype, LayerInfo, TensorInfo, TensorKind } from '../../../electron/api/types.js';

/** What a test may vary about an in-memory Llama/Mistral-shaped checkpoint. */
export interface SummaryOptions {
  name?: string;
  /** Checkpoint id; defaults to an absolute path ending in `name`. */
  id?: string;
  numLayers?: number;
  hiddenSize?: number;
  intermediateSize?: number;
  vocabSize?: number;
  numAttentionHeads?: number;
  numKeyValueHeads?: number;
  dtype?: Dtype;
  /** Tied embeddings: no `lm_head.weight` tensor, as on disk. */
  tied?: boolean;
  family?: string;
  layerPrefix?: string;
  /** DeepSeek-style MTP layers stored after the text layers (indexes numLayers, numLayers + 1, …). */
  mtpLayers?: number;
  /** Per local name dtype overrides for layer tensors (`mlp.down_proj.weight: 'I8'`). */
  layerDtypes?: Readonly<Record<string, Dtype>>;
  /** Extra tensors in every text layer (`self_attn.q_norm.weight`). */
  extraLayerTensors?: readonly { localName: string; shape: number[]; dtype?: Dtype }[];
}

const KIND_BY_LOCAL_NAME: Readonly<Record<string, TensorKind>> = {
  'input_layernorm.weight': 'input_norm',
  'self_attn.q_proj.weight': 'q',
  'self_attn.k_proj.weight': 'k',
  'self_attn.v_proj.weight': 'v',
  'self_attn.o_proj.weight': 'o',
  'post_attention_layernorm.weight': 'post_attention_norm',
  'mlp.gate_proj.weight': 'gate',
  'mlp.up_proj.weight': 'up',
  'mlp.down_proj.weight': 'down',
};

/** Bytes of a tensor of this many elements, rounded up to whole bytes for sub-byte dtypes. */
export function tensorBytes(dtype: Dtype, elements: number): number {
  return Math.ceil((elements * DTYPE_BITS[dtype as SafetensorsDtype]) / 8);
}

/**
 * A CheckpointSummary as the opener would report it for a Llama-architecture model, built in
 * memory: every figure (parameters, bytes, dtype counts, layer sums) is computed from the tensors.
 */
export function makeSummary(options: SummaryOptions = {}): CheckpointSummary {
  const name = options.name ?? 'Llama-tiny';
  const id = options.id ?? path.resolve('/models', name);
  const numLayers = options.numLayers ?? 4;
  const hidden = options.hiddenSize ?? 16;
  const intermediate = options.intermediateSize ?? 40;
  const vocab = options.vocabSize ?? 32;
  const heads = options.numAttentionHeads ?? 4;
  const kvHeads = options.numKeyValueHeads ?? 2;
  const dtype = options.dtype ?? 'BF16';
  const tied = options.tied ?? false;
  const layerPrefix = options.layerPrefix ?? 'model.layers.';
  const root = layerPrefix.replace(/[^.]+\.$/, '');
  const kvWidth = (hidden / heads) * kvHeads;
  const file = path.join(id, 'model.safetensors');
  const dataStart = 8 + 4096;

  const layerShapes: { localName: string; shape: number[]; dtype: Dtype }[] = [
    ['input_layernorm.weight', [hidden]],
    ['self_attn.q_proj.weight', [hidden, hidden]],
    ['self_attn.k_proj.weight', [kvWidth, hidden]],
    ['self_attn.v_proj.weight', [kvWidth, hidden]],
    ['self_attn.o_proj.weight', [hidden, hidden]],
    ['post_attention_layernorm.weight', [hidden]],
    ['mlp.gate_proj.weight', [intermediate, hidden]],
    ['mlp.up_proj.weight', [intermediate, hidden]],
    ['mlp.down_proj.weight', [hidden, intermediate]],
  ].map(([localName, shape]) => ({
    localName: localName as string,
    shape: shape as number[],
    dtype: options.layerDtypes?.[localName as string] ?? dtype,
  }));
  for (const extra of options.extraLayerTensors ?? []) {
    layerShapes.push({ localName: extra.localName, shape: extra.shape, dtype: extra.dtype ?? dtype });
  }

  const tensors: TensorInfo[] = [];
  let offset = dataStart;
  const add = (tensorName: string, shape: number[], tensorDtype: Dtype, layer: number | null, localName: string, kind: TensorKind): void => {
    const elements = shape.reduce((product, size) => product * size, 1);
    const bytes = tensorBytes(tensorDtype, elements);
    tensors.push({ name: tensorName, dtype: tensorDtype, shape, elements, file, offset, bytes, layer, localName, kind });
    offset += bytes;
  };
  add(`${root}embed_tokens.weight`, [vocab, hidden], dtype, null, `${root}embed_tokens.weight`, 'embed');
  const mtpCount = options.mtpLayers ?? 0;
  for (let layer = 0; layer < numLayers + mtpCount; layer += 1) {
    for (const tensor of layerShapes) {
      add(`${layerPrefix}${layer}.${tensor.localName}`, tensor.shape, tensor.dtype, layer, tensor.localName, KIND_BY_LOCAL_NAME[tensor.localName] ?? 'other');
    }
  }
  add(`${root}norm.weight`, [hidden], dtype, null, `${root}norm.weight`, 'final_norm');
  if (!tied) add('lm_head.weight', [vocab, hidden], dtype, null, 'lm_head.weight', 'head');

  const layers: LayerInfo[] = [];
  for (let index = 0; index < numLayers + mtpCount; index += 1) {
    const own = tensors.filter((tensor) => tensor.layer === index);
    layers.push({
      index,
      parameters: own.reduce((sum, tensor) => sum + tensor.elements, 0),
      bytes: own.reduce((sum, tensor) => sum + tensor.bytes, 0),
      tensorNames: own.map((tensor) => tensor.localName).sort(),
      isMtp: index >= numLayers,
    });
  }
  const dtypes: Partial<Record<Dtype, number>> = {};
  for (const tensor of tensors) dtypes[tensor.dtype] = (dtypes[tensor.dtype] ?? 0) + tensor.elements;
  const totalBytes = tensors.reduce((sum, tensor) => sum + tensor.bytes, 0);

  return {
    id,
    name,
    folder: id,
    format: 'safetensors',
    architecture: 'LlamaForCausalLM',
    modelType: 'llama',
    family: options.family ?? 'llama',
    layerPrefix,
    layerCountKey: 'num_hidden_layers',
    numLayers,
    configNumLayers: numLayers,
    hiddenSize: hidden,
    intermediateSize: intermediate,
    vocabSize: vocab,
    numAttentionHeads: heads,
    numKeyValueHeads: kvHeads,
    parameters: tensors.reduce((sum, tensor) => sum + tensor.elements, 0),
    totalBytes,
    diskBytes: totalBytes + dataStart,
    dtypes,
    tiedEmbeddings: tied,
    layers,
    mtpLayers: Array.from({ length: mtpCount }, (_, offsetIndex) => numLayers + offsetIndex),
    tensors,
    shards: [{ file, bytes: totalBytes + dataStart, dataStart, tensorCount: tensors.length }],
    config: {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: hidden,
      intermediate_size: intermediate,
      num_hidden_layers: numLayers,
      num_attention_heads: heads,
      num_key_value_heads: kvHeads,
      vocab_size: vocab,
      tie_word_embeddings: tied,
    },
    sideFiles: ['tokenizer.json', 'tokenizer_config.json'],
    warnings: [],
  };
}

/** A SourceLookup holding the given summaries under their ids. */
export function lookupOf(...summaries: CheckpointSummary[]): Map<string, CheckpointSummary> {
  return new Map(summaries.map((summary) => [summary.id, summary]));
}
