/**
 * Llama 3 Q4_K_M GGUF files for the benchmark, written by the project's own GGUF writer.
 *
 * A Llama-3-70B Q4_K_M GGUF that takes no disk: the header llama.cpp's converter and
 * `llama-quantize … Q4_K_M` write for meta-llama/Meta-Llama-3-70B — the same keys in the same
 * order, 80 blocks of the real tensor names, shapes and per-tensor types, and a tokenizer of the
 * real size (128,256 byte-level BPE tokens, their types, 280,147 merges) — written by the
 * project's own GGUF writer, followed by a hole up to the file's full 42.5 GB (ftruncate). Opening
 * it reads what opening the real file reads. The token strings are made up (deterministic), shaped
 * like GPT-2 byte-level BPE tokens: most start with "Ġ" (U+0120, two UTF-8 bytes), some are other
 * scripts, a few are special tokens.
 */
import { open } from 'node:fs/promises';
import { GGML_TYPES, type GgmlTypeName } from '../../electron/api/dtypes.js';
import type { GgufValue } from '../../electron/engine/formats/gguf.js';
import { layoutGguf, type GgufTensorLayoutInput } from '../../electron/engine/formats/gguf-writer.js';
import { writeAll } from '../../electron/engine/formats/safetensors-writer.js';
import type { LlamaShape } from './llama-405b-checkpoint.js';

export const LLAMA_3_70B: LlamaShape = {
  layers: 80,
  hidden: 8192,
  intermediate: 28_672,
  heads: 64,
  kvHeads: 8,
  vocab: 128_256,
};

/** Llama-3.2-3B: a Q4_K_M of it is 2.0 GB, the statistics and export rows' model (tied embeddings: no output.weight). */
export const LLAMA_32_3B: LlamaShape = {
  layers: 28,
  hidden: 3072,
  intermediate: 8192,
  heads: 24,
  kvHeads: 8,
  vocab: 128_256,
};

/** Llama 3's tokenizer: 128,000 BPE tokens, then 256 special tokens; 280,147 merges. */
const LLAMA_3_BPE_TOKENS = 128_000;
const LLAMA_3_MERGES = 280_147;
/** llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_K_M, as general.file_type. */
const FILE_TYPE_Q4_K_M = 15;

/**
 * llama-quant.cpp's use_more_bits: the first and last eighth of the layers, and every third layer
 * between, get more bits in the _M mixes.
 */
function useMoreBits(layer: number, layers: number): boolean {
  return layer < layers / 8 || layer >= (7 * layers) / 8 || (layer - Math.floor(layers / 8)) % 3 === 2;
}

/**
 * The tensors of a Llama GGUF in the converter's order, with the types llama-quant.cpp chooses for
 * Q4_K_M: Q4_K by default; output Q6_K; attn_v and ffn_down Q6_K in the use_more_bits layers, else
 * attn_v Q5_K in a 70B model (its rule: Q4_K → Q5_K), else Q4_K, and ffn_down Q4_K; norms F32.
 */
export function llamaQ4KMTensors(shape: LlamaShape, { seventyB, tied }: { seventyB: boolean; tied: boolean }): GgufTensorLayoutInput[] {
  const headDim = shape.hidden / shape.heads;
  const kvWidth = shape.kvHeads * headDim;
  const tensors: GgufTensorLayoutInput[] = [{ name: 'token_embd.weight', type: 'Q4_K', shape: [shape.hidden, shape.vocab] }];
  for (let layer = 0; layer < shape.layers; layer += 1) {
    const more = useMoreBits(layer, shape.layers);
    const valueType: GgmlTypeName = more ? 'Q6_K' : seventyB ? 'Q5_K' : 'Q4_K';
    const prefix = `blk.${layer}.`;
    tensors.push(
      { name: `${prefix}attn_norm.weight`, type: 'F32', shape: [shape.hidden] },
      { name: `${prefix}ffn_down.weight`, type: more ? 'Q6_K' : 'Q4_K', shape: [shape.intermediate, shape.hidden] },
      { name: `${prefix}ffn_gate.weight`, type: 'Q4_K', shape: [shape.hidden, shape.intermediate] },
      { name: `${prefix}ffn_up.weight`, type: 'Q4_K', shape: [shape.hidden, shape.intermediate] },
      { name: `${prefix}ffn_norm.weight`, type: 'F32', shape: [shape.hidden] },
      { name: `${prefix}attn_k.weight`, type: 'Q4_K', shape: [shape.hidden, kvWidth] },
      { name: `${prefix}attn_output.weight`, type: 'Q4_K', shape: [shape.hidden, shape.hidden] },
      { name: `${prefix}attn_q.weight`, type: 'Q4_K', shape: [shape.hidden, shape.hidden] },
      { name: `${prefix}attn_v.weight`, type: valueType, shape: [shape.hidden, kvWidth] },
    );
  }
  tensors.push({ name: 'output_norm.weight', type: 'F32', shape: [shape.hidden] });
  // Tied embeddings: token_embd is the output too, so llama-quant.cpp gives it output's Q6_K.
  if (tied) (tensors[0] as GgufTensorLayoutInput).type = 'Q6_K';
  else tensors.push({ name: 'output.weight', type: 'Q6_K', shape: [shape.hidden, shape.vocab] });
  return tensors;
}

/** mulberry32: a small seeded generator, so every run writes the same tokens. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** GPT-2's byte-to-unicode map: printable Latin-1 bytes stand for themselves, the others for U+0100 onwards. */
function byteLevelAlphabet(): string[] {
  const printable = (byte: number): boolean => (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
  const alphabet: string[] = [];
  let next = 0x100;
  for (let byte = 0; byte < 256; byte += 1) alphabet.push(String.fromCodePoint(printable(byte) ? byte : next++));
  return alphabet;
}

/**
 * A byte-level BPE vocabulary shaped like Llama 3's: `vocab` tokens (256 of them special, as in
 * Llama 3), their types, and merges in Llama 3's proportion (280,147 for 128,256 tokens).
 */
export function llama3Tokenizer(vocab: number, seed = 70): { tokens: string[]; tokenTypes: number[]; merges: string[] } {
  const bpeTokens = vocab - (LLAMA_3_70B.vocab - LLAMA_3_BPE_TOKENS);
  const mergeCount = Math.round((LLAMA_3_MERGES * vocab) / LLAMA_3_70B.vocab);
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const letters = 'etaoinshrdlucmfwypvbgkjqxz';
  const scripts = ['дляпровеникаст', 'のはにをとがでしてい', '的一是不了人我在有他', 'εναιτηςκαιγια', 'مناليفعلى'];
  const tokens = byteLevelAlphabet();
  const seen = new Set(tokens);
  while (tokens.length < bpeTokens) {
    const kind = random();
    let token: string;
    if (kind < 0.04) {
      const script = pick(scripts);
      token = (random() < 0.5 ? 'Ġ' : '') + Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick([...script])).join('');
    } else if (kind < 0.1) {
      token = Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(['Ċ', 'ĉ', '(', ')', '{', '}', '.', ',', '_', '0', '1', '2', '=', '"', "'"])).join('');
    } else {
      const word = Array.from({ length: 1 + Math.floor(random() * 9) }, () => pick([...letters])).join('');
      const cased = random() < 0.2 ? word[0]?.toUpperCase() + word.slice(1) : word;
      token = (kind < 0.7 ? 'Ġ' : '') + cased;
    }
    if (seen.has(token)) continue;
    seen.add(token);
    tokens.push(token);
  }
  const tokenTypes = tokens.map(() => 1);
  tokens.push('<|begin_of_text|>', '<|end_of_text|>', '<|reserved_special_token_0|>', '<|reserved_special_token_1|>', '<|reserved_special_token_2|>', '<|reserved_special_token_3|>');
  tokens.push('<|start_header_id|>', '<|end_header_id|>', '<|reserved_special_token_4|>', '<|eot_id|>');
  for (let index = 5; tokens.length < vocab; index += 1) tokens.push(`<|reserved_special_token_${index}|>`);
  while (tokenTypes.length < tokens.length) tokenTypes.push(3);
  const merges: string[] = [];
  for (let index = 0; index < mergeCount; index += 1) {
    const left = tokens[256 + Math.floor(random() * Math.max(1, bpeTokens - 256))] as string;
    const right = tokens[33 + Math.floor(random() * 94)] as string;
    merges.push(`${left} ${right}`);
  }
  return { tokens, tokenTypes, merges };
}

const LLAMA_3_CHAT_TEMPLATE =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

/** The key/values of a Llama 3 Q4_K_M GGUF, in the converter's order. */
export function llama3Metadata(shape: LlamaShape, name: string): Map<string, GgufValue> {
  const { tokens, tokenTypes, merges } = llama3Tokenizer(shape.vocab);
  const u32 = (value: number): GgufValue => ({ type: 'UINT32', value });
  const f32 = (value: number): GgufValue => ({ type: 'FLOAT32', value });
  const text = (value: string): GgufValue => ({ type: 'STRING', value });
  return new Map<string, GgufValue>([
    ['general.architecture', text('llama')],
    ['general.name', text(name)],
    ['llama.block_count', u32(shape.layers)],
    ['llama.context_length', u32(8192)],
    ['llama.embedding_length', u32(shape.hidden)],
    ['llama.feed_forward_length', u32(shape.intermediate)],
    ['llama.attention.head_count', u32(shape.heads)],
    ['llama.attention.head_count_kv', u32(shape.kvHeads)],
    ['llama.rope.freq_base', f32(500_000)],
    ['llama.attention.layer_norm_rms_epsilon', f32(1e-5)],
    ['general.file_type', u32(FILE_TYPE_Q4_K_M)],
    ['llama.vocab_size', u32(shape.vocab)],
    ['llama.rope.dimension_count', u32(shape.hidden / shape.heads)],
    ['tokenizer.ggml.model', text('gpt2')],
    ['tokenizer.ggml.pre', text('llama-bpe')],
    ['tokenizer.ggml.tokens', { type: 'ARRAY', itemType: 'STRING', values: tokens }],
    ['tokenizer.ggml.token_type', { type: 'ARRAY', itemType: 'INT32', values: tokenTypes }],
    ['tokenizer.ggml.merges', { type: 'ARRAY', itemType: 'STRING', values: merges }],
    ['tokenizer.ggml.bos_token_id', u32(128_000)],
    ['tokenizer.ggml.eos_token_id', u32(128_001)],
    ['tokenizer.chat_template', text(LLAMA_3_CHAT_TEMPLATE)],
    ['general.quantization_version', u32(2)],
  ]);
}

export interface SparseGguf {
  file: string;
  tensorCount: number;
  headerBytes: number;
  /** Data section bytes (nearly all of it a hole). */
  dataBytes: number;
}

/** Writes the sparse Llama-3-70B Q4_K_M GGUF at `file`: its real header, then a hole to the full length. */
export async function writeSparseLlama3_70bGguf(file: string): Promise<SparseGguf> {
  const tensors = llamaQ4KMTensors(LLAMA_3_70B, { seventyB: true, tied: false });
  const layout = layoutGguf(llama3Metadata(LLAMA_3_70B, 'Meta-Llama-3-70B'), tensors);
  const handle = await open(file, 'w');
  try {
    await writeAll(handle, layout.header);
    await handle.truncate(layout.header.byteLength + layout.dataBytes);
  } finally {
    await handle.close();
  }
  return { file, tensorCount: tensors.length, headerBytes: layout.header.byteLength, dataBytes: layout.dataBytes };
}

/** mulberry32 bytes: deterministic, so every run sums the same values. */
function seededBytes(length: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  const bytes = new Uint8Array(length);
  const words = new Uint32Array(bytes.buffer, 0, length >>> 2);
  for (let index = 0; index < words.length; index += 1) words[index] = random() * 2 ** 32;
  return bytes;
}

/** Where a block of each type keeps its f16 scales (ggml-common.h): the bench's random blocks get finite ones there. */
const SCALE_OFFSETS: Partial<Record<GgmlTypeName, readonly number[]>> = { Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208] };

/**
 * Random blocks of a quantised type with scales that are finite halves between 2^-8 and 2^-7, as a
 * trained model's are, so the statistics see finite values; for F32, values near 1 (norm weights).
 * Every byte of the pool differs; a tensor reuses the pool from a rotating start.
 */
function fillTensorData(target: Uint8Array, type: GgmlTypeName, pool: Uint8Array, start: number): void {
  if (type === 'F32') {
    const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
    for (let at = 0; at < target.byteLength; at += 4) view.setFloat32(at, 1 + ((pool[(start + at) % pool.length] as number) - 128) / 1024, true);
    return;
  }
  for (let at = 0; at < target.byteLength; ) {
    const from = (start + at) % pool.length;
    const count = Math.min(target.byteLength - at, pool.length - from);
    target.set(pool.subarray(from, from + count), at);
    at += count;
  }
  const blockBytes = GGML_TYPES[type].blockBytes;
  const offsets = SCALE_OFFSETS[type] ?? [];
  for (let block = 0; block < target.byteLength; block += blockBytes) {
    for (const offset of offsets) {
      const half = 0x1c00 | (((target[block + offset] as number) | ((target[block + offset + 1] as number) << 8)) & 0x3ff);
      target[block + offset] = half & 0xff;
      target[block + offset + 1] = half >>> 8;
    }
  }
}

export interface WrittenGguf {
  file: string;
  tensorCount: number;
  /** File bytes. */
  bytes: number;
}

/**
 * Writes a Llama 3 Q4_K_M GGUF of `shape` with real (random) weights, tied embeddings as
 * Llama-3.2-3B has them: the statistics and export rows' model (2.0 GB for LLAMA_32_3B).
 */
export async function writeLlama3Q4KMGguf(file: string, shape: LlamaShape, name: string): Promise<WrittenGguf> {
  const tensors = llamaQ4KMTensors(shape, { seventyB: false, tied: true });
  const layout = layoutGguf(llama3Metadata(shape, name), tensors);
  const pool = seededBytes(16 << 20, 32);
  const handle = await open(file, 'w');
  try {
    await writeAll(handle, layout.header);
    let position = layout.header.byteLength;
    // Whole tensors in 16 MiB pieces (whole blocks each), each at its aligned offset.
    const pieceBytes = 16 << 20;
    for (const [index, tensor] of tensors.entries()) {
      const placed = layout.tensors[index] as { offset: number; bytes: number };
      const blockBytes = GGML_TYPES[tensor.type].blockBytes;
      const step = Math.floor(pieceBytes / blockBytes) * blockBytes;
      position = layout.header.byteLength + placed.offset;
      for (let done = 0; done < placed.bytes; done += step) {
        const piece = new Uint8Array(Math.min(step, placed.bytes - done));
        fillTensorData(piece, tensor.type, pool, (index * 7919 + done) % pool.length);
        await handle.write(piece, 0, piece.byteLength, position + done);
      }
    }
    await handle.truncate(layout.header.byteLength + layout.dataBytes);
  } finally {
    await handle.close();
  }
  return { file, tensorCount: tensors.length, bytes: layout.header.byteLength + layout.dataBytes };
}
