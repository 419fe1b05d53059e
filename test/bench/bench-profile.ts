/**
 * Sizes and repetitions of a benchmark run: `full` measures at real model scale (about 4 minutes
 * here, 2.2 GB and 8.7 GB models); `smoke` runs every row once at toy sizes in seconds, to keep
 * the harness from rotting (its figures mean nothing).
 */
import { LLAMA_32_3B } from './llama-3-gguf.js';
import type { LlamaShape } from './llama-405b-checkpoint.js';

/** Shapes for the fixture builder (test/fixtures/checkpoint-builder.ts), bf16. */
export interface ModelShape {
  layers: number;
  hidden: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  shards: number;
}

export interface BenchProfile {
  name: 'full' | 'smoke';
  /** The export and statistics model: ≥ 2 GB bf16 in the full run. */
  exportModel: ModelShape;
  /** The same export 4× larger: hidden and vocab doubled gives 4× every tensor and 4× the bytes. */
  largeModel: ModelShape;
  /** DUS --drop M: 32 layers, drop 8 → 48 layers, 1.5× the source's layers (SOLAR). */
  drop: number;
  exportRuns: number;
  largeExportRuns: number;
  statsRuns: number;
  openWarmups: number;
  openRuns: number;
  inspectRuns: number;
  /** Fresh page loads per plan (baseline plan and Goliath plan each). */
  renderRuns: number;
  /** Pointer moves in the splice-handle drag (there and back). */
  dragMoves: number;
  /** Quiet time before the drag whose frame intervals form the drag baseline. */
  idleMs: number;
  resolveRuns: number;
  /** The GGUF statistics and export rows' model (llama-3-gguf.ts: Q4_K_M, tied embeddings). */
  ggufModel: LlamaShape;
  /** DUS --drop M of the GGUF model: 28 layers, drop 7 → 42 (1.5×). */
  ggufDrop: number;
  ggufExportRuns: number;
  /** Free space the model rows need in the work folder (bytes), checked before anything is written. */
  diskBytesNeeded: number;
}

/** Mistral-like proportions (intermediate 3.5× hidden, 128-wide heads, 3:1 grouped-query attention). */
const FULL_EXPORT_MODEL: ModelShape = { layers: 32, hidden: 1536, intermediate: 5376, heads: 12, kvHeads: 4, vocab: 32_000, shards: 2 };
const FULL_LARGE_MODEL: ModelShape = { layers: 32, hidden: 3072, intermediate: 10_752, heads: 24, kvHeads: 8, vocab: 64_000, shards: 8 };

export const FULL_PROFILE: BenchProfile = {
  name: 'full',
  exportModel: FULL_EXPORT_MODEL,
  largeModel: FULL_LARGE_MODEL,
  drop: 8,
  exportRuns: 5,
  largeExportRuns: 2,
  statsRuns: 5,
  openWarmups: 3,
  openRuns: 20,
  inspectRuns: 9,
  renderRuns: 5,
  dragMoves: 60,
  idleMs: 1000,
  resolveRuns: 50,
  ggufModel: LLAMA_32_3B,
  ggufDrop: 7,
  ggufExportRuns: 5,
  // The large model and its 1.5× export (≈ 8.7 + 13.1 GB) are the peak; the small ones are gone by then.
  diskBytesNeeded: 24e9,
};

export const SMOKE_PROFILE: BenchProfile = {
  name: 'smoke',
  exportModel: { layers: 32, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, vocab: 256, shards: 2 },
  largeModel: { layers: 32, hidden: 128, intermediate: 256, heads: 8, kvHeads: 4, vocab: 512, shards: 2 },
  drop: 8,
  exportRuns: 1,
  largeExportRuns: 1,
  statsRuns: 1,
  openWarmups: 1,
  openRuns: 1,
  inspectRuns: 1,
  renderRuns: 1,
  dragMoves: 6,
  idleMs: 200,
  resolveRuns: 3,
  ggufModel: { layers: 8, hidden: 256, intermediate: 512, heads: 4, kvHeads: 2, vocab: 512 },
  ggufDrop: 2,
  ggufExportRuns: 1,
  diskBytesNeeded: 100e6,
};

/** Bytes of a fixture model's tensors (bf16), as the builder writes them (untied: embeddings and head). */
export function modelBytes(shape: ModelShape): number {
  const headDim = shape.hidden / shape.heads;
  const perLayer =
    2 * shape.hidden * shape.hidden + // q, o
    2 * shape.kvHeads * headDim * shape.hidden + // k, v
    3 * shape.intermediate * shape.hidden + // gate, up, down
    2 * shape.hidden; // two norms
  const elements = shape.layers * perLayer + 2 * shape.vocab * shape.hidden + shape.hidden;
  return elements * 2;
}
