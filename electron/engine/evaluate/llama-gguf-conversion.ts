/**
 * The GGUF that llama.cpp's converter (convert_legacy_llama.py) writes for a Hugging Face Llama-family
 * model with a SentencePiece tokenizer: its tensor names, the q/k row permutation (Hugging Face stores
 * rotary halves split, llama.cpp interleaved), the output types (F32 for F32/BF16 sources, F16 with F32
 * norms for F16 sources), the hyperparameters and the vocabulary with scores and token types. Works on a
 * plan's output tensors, so an unexported plan can be evaluated. Other families are refused: they need a
 * GGUF of their own.
 */
import { StudioError } from '../../api/errors.js';
import type { OutputTensor } from '../export/output-tensors.js';
import type { GgufValue } from '../formats/gguf.js';
import { ggufTokenType, type SentencePiece } from './sentencepiece-model.js';

export type GgufFloatType = 'F32' | 'F16';

/** One GGUF tensor: its parts are byte ranges of source tensors, transformed and written in order. */
export interface GgufTensorLayout {
  name: string;
  type: GgufFloatType;
  /** GGUF order: fastest-varying dimension first (the reverse of PyTorch's shape). */
  dims: number[];
  bytes: number;
  parts: OutputTensor[];
}

export interface GgufConversion {
  /** Key/values in the order llama.cpp's converter writes them. */
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorLayout[];
}

export interface LlamaConversionInput {
  /** The model's (or the plan's output) config.json. */
  config: Record<string, unknown>;
  /** The output tensors under their Hugging Face names. */
  tensors: readonly OutputTensor[];
  pieces: readonly SentencePiece[];
  /** general.name (llama.cpp's converter takes the model folder's name). */
  name: string;
  /** Where the model came from, for messages. */
  path: string;
  /** tokenizer_config.json's add_bos_token / add_eos_token, when it sets them. */
  addSpecialTokens?: { bos?: boolean; eos?: boolean };
}

const LLAMA_MODEL_TYPES: ReadonlySet<string> = new Set(['llama', 'mistral']);

/** Hugging Face Llama tensor names → llama.cpp's (gguf-py's TensorNameMap for LLAMA). */
const GLOBAL_TENSORS: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};
const LAYER_TENSORS: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};
/** Tensors the converter drops (buffers some checkpoints save). */
const SKIPPED_SUFFIXES = ['.rotary_emb.inv_freq'];
const LAYER_NAME = /^model\.layers\.(\d+)\.(.+)$/;

/** GGUF file types (general.file_type): llama_ftype's ALL_F32 and MOSTLY_F16. */
const FILE_TYPE: Record<GgufFloatType, number> = { F32: 0, F16: 1 };

function needsGguf(path: string, reason: string): StudioError {
  return new StudioError('EvaluationNeedsGguf', `evaluation needs a GGUF of this model: ${reason}`, { path });
}

function integerField(config: Record<string, unknown>, key: string, path: string, fallback?: number): number {
  const value = config[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new StudioError('InvalidConfig', `config.json: ${key} must be a positive integer to convert to GGUF`, { path });
  }
  return value;
}

/** gguf-py's model_weight_count_rounded_notation with two significant digits at least ("260K", "7.2B"). */
export function sizeLabel(parameters: number): string {
  const [scaled, suffix] =
    parameters > 1e12 ? [parameters * 1e-12, 'T'] : parameters > 1e9 ? [parameters * 1e-9, 'B'] : parameters > 1e6 ? [parameters * 1e-6, 'M'] : [parameters * 1e-3, 'K'];
  const digits = Math.max(2 - String(Math.round(scaled)).replace(/^0+/, '').length, 0);
  return `${scaled.toFixed(digits)}${suffix}`;
}

/**
 * Output row r of a permuted q/k weight takes source row `permutedRow(r)`: each head's rows are
 * [2, headDim/2] in Hugging Face's layout and [headDim/2, 2] in llama.cpp's (convert's `permute`).
 */
export function permutedRowSource(row: number, rows: number, heads: number): number {
  const headDim = rows / heads;
  const half = headDim / 2;
  const head = Math.floor(row / headDim);
  const within = row % headDim;
  const pair = Math.floor(within / 2);
  const side = within % 2;
  return head * headDim + side * half + pair;
}

/** llama.cpp's name for a tensor; null for one the converter drops, undefined for one it has no place for. */
function ggufName(name: string): string | null | undefined {
  if (SKIPPED_SUFFIXES.some((suffix) => name.endsWith(suffix))) return null;
  const global = GLOBAL_TENSORS[name];
  if (global !== undefined) return global;
  const match = LAYER_NAME.exec(name);
  if (match === null) return undefined;
  const local = LAYER_TENSORS[match[2] as string];
  return local === undefined ? undefined : `blk.${match[1]}.${local}`;
}

/** The GGUF type of a tensor under the converter's rule for the model's file type. */
function tensorType(fileType: GgufFloatType, shape: readonly number[]): GgufFloatType {
  return fileType === 'F16' && shape.length > 1 ? 'F16' : 'F32';
}

function partOf(tensor: OutputTensor, type: GgufFloatType, offsetElements: number, elements: number): OutputTensor {
  const sourceBytesPerElement = tensor.source.bytes / tensor.shape.reduce((product, size) => product * size, 1);
  const part: OutputTensor = {
    ...tensor,
    dtype: type,
    shape: [elements],
    bytes: elements * (type === 'F32' ? 4 : 2),
    source: { ...tensor.source, offset: tensor.source.offset + offsetElements * sourceBytesPerElement, bytes: elements * sourceBytesPerElement },
  };
  if (tensor.source.dtype !== type) part.convertTo = type;
  else delete part.convertTo;
  return part;
}

/** The parts of one tensor: one range, or one range per row for a permuted q/k weight. */
function tensorParts(tensor: OutputTensor, type: GgufFloatType, heads: number | null): OutputTensor[] {
  const elements = tensor.shape.reduce((product, size) => product * size, 1);
  if (heads === null) return [partOf(tensor, type, 0, elements)];
  const [rows, columns] = tensor.shape as [number, number];
  if (tensor.shape.length !== 2 || rows % (heads * 2) !== 0) {
    throw new StudioError('InvalidConfig', `${tensor.name} has shape [${tensor.shape.join(', ')}], which ${heads} heads cannot split`, { path: tensor.source.file });
  }
  const parts: OutputTensor[] = [];
  for (let row = 0; row < rows; row += 1) parts.push(partOf(tensor, type, permutedRowSource(row, rows, heads) * columns, columns));
  return parts;
}

export function llamaGgufLayout(input: LlamaConversionInput): GgufConversion {
  const { config, path } = input;
  const modelType = config['model_type'];
  if (typeof modelType !== 'string' || !LLAMA_MODEL_TYPES.has(modelType)) {
    throw needsGguf(path, `converting is supported for the Llama family (llama, mistral), and this is ${typeof modelType === 'string' ? modelType : 'an unknown model type'}`);
  }
  const ropeScaling = config['rope_scaling'];
  if (ropeScaling !== undefined && ropeScaling !== null) {
    throw needsGguf(path, 'its rope_scaling has no equivalent in the converter this follows');
  }
  const vocabSize = integerField(config, 'vocab_size', path);
  const hidden = integerField(config, 'hidden_size', path);
  const layers = integerField(config, 'num_hidden_layers', path);
  const heads = integerField(config, 'num_attention_heads', path);
  const kvHeads = integerField(config, 'num_key_value_heads', path, heads);
  const contextLength = integerField(config, typeof config['max_sequence_length'] === 'number' ? 'max_sequence_length' : 'max_position_embeddings', path);
  const feedForward = integerField(config, 'intermediate_size', path);
  const epsilon = config['rms_norm_eps'];
  if (typeof epsilon !== 'number') throw new StudioError('InvalidConfig', 'config.json: rms_norm_eps must be a number to convert to GGUF', { path });
  if (input.pieces.length !== vocabSize) {
    throw new StudioError('InvalidTokenizer', `tokenizer.model has ${input.pieces.length} pieces but config.json's vocab_size is ${vocabSize}`, { path });
  }

  const query = input.tensors.find((tensor) => tensor.name === 'model.layers.0.self_attn.q_proj.weight');
  if (query === undefined) throw needsGguf(path, 'it has no model.layers.0.self_attn.q_proj.weight');
  if (query.dtype !== 'F16' && query.dtype !== 'F32' && query.dtype !== 'BF16') {
    throw needsGguf(path, `its weights are ${query.dtype}; the converter takes F32, F16 and BF16`);
  }
  // convert_legacy_llama's pick_output_type: F16 weights give a mostly-F16 file, F32 and BF16 an all-F32 one.
  const fileType: GgufFloatType = query.dtype === 'F16' ? 'F16' : 'F32';

  const tensors: GgufTensorLayout[] = [];
  let parameters = 0;
  for (const tensor of input.tensors) {
    const name = ggufName(tensor.name);
    if (name === null) continue;
    if (name === undefined) throw needsGguf(path, `llama.cpp's Llama architecture has no tensor for ${tensor.name}`);
    const type = tensorType(fileType, tensor.shape);
    const permuteHeads = name.endsWith('.attn_q.weight') ? heads : name.endsWith('.attn_k.weight') ? kvHeads : null;
    const parts = tensorParts(tensor, type, permuteHeads);
    const elements = tensor.shape.reduce((product, size) => product * size, 1);
    parameters += elements;
    tensors.push({ name, type, dims: [...tensor.shape].reverse(), bytes: elements * (type === 'F32' ? 4 : 2), parts });
  }

  const uint32 = (value: number): GgufValue => ({ type: 'UINT32', value });
  const text = (value: string): GgufValue => ({ type: 'STRING', value });
  const float32 = (value: number): GgufValue => ({ type: 'FLOAT32', value });
  const metadata = new Map<string, GgufValue>([
    ['general.architecture', text('llama')],
    ['general.name', text(input.name)],
    ['general.size_label', text(sizeLabel(parameters))],
    ['llama.vocab_size', uint32(vocabSize)],
    ['llama.context_length', uint32(contextLength)],
    ['llama.embedding_length', uint32(hidden)],
    ['llama.block_count', uint32(layers)],
    ['llama.feed_forward_length', uint32(feedForward)],
    ['llama.rope.dimension_count', uint32(Math.floor(hidden / heads))],
    ['llama.attention.head_count', uint32(heads)],
    ['llama.attention.head_count_kv', uint32(kvHeads)],
    ['llama.attention.layer_norm_rms_epsilon', float32(epsilon)],
  ]);
  const ropeTheta = config['rope_theta'];
  if (typeof ropeTheta === 'number') metadata.set('llama.rope.freq_base', float32(ropeTheta));
  metadata.set('general.file_type', uint32(FILE_TYPE[fileType]));
  metadata.set('tokenizer.ggml.model', text('llama'));
  metadata.set('tokenizer.ggml.tokens', { type: 'ARRAY', itemType: 'STRING', values: input.pieces.map((piece) => piece.piece) });
  metadata.set('tokenizer.ggml.scores', { type: 'ARRAY', itemType: 'FLOAT32', values: input.pieces.map((piece) => piece.score) });
  metadata.set('tokenizer.ggml.token_type', { type: 'ARRAY', itemType: 'INT32', values: input.pieces.map((piece) => ggufTokenType(piece.type)) });
  // gguf-py's SpecialVocab takes these ids from config.json.
  for (const [kind, key] of [
    ['bos', 'bos_token_id'],
    ['eos', 'eos_token_id'],
    ['unknown', 'unk_token_id'],
    ['seperator', 'sep_token_id'],
    ['padding', 'pad_token_id'],
  ] as const) {
    const id = config[key];
    if (typeof id === 'number' && Number.isInteger(id) && id >= 0 && id < vocabSize) metadata.set(`tokenizer.ggml.${kind}_token_id`, uint32(id));
  }
  for (const kind of ['bos', 'eos'] as const) {
    const add = input.addSpecialTokens?.[kind];
    if (add !== undefined) metadata.set(`tokenizer.ggml.add_${kind}_token`, { type: 'BOOL', value: add });
  }
  return { metadata, tensors };
}
