import type { CheckpointSummary, StatsProgress, StatsReport, TensorInfo, TensorStats } from '../../api/types.js';
import { GGML_TYPES } from '../../api/dtypes.js';
import { isStatsElementType, tensorStats, type StatsOptions, type StatsRange } from '../native.js';

export interface CheckpointStatsOptions {
  /** A quick estimate over every `SAMPLE_EVERY_BLOCKS`-th block instead of every element. */
  sampled: boolean;
  /** Called as each layer (and the group of non-layer tensors, layer null) finishes. */
  onLayer?: (progress: StatsProgress) => void;
  /** Stops the work between chunks; the promise then rejects with Cancelled. */
  signal?: AbortSignal;
}

/** A sampled estimate reads one 64 KiB block in this many: a 1/16 sample is within a few percent for trained weights. */
export const SAMPLE_EVERY_BLOCKS = 16;

/**
 * Layer groups whose native calls run at once. With one, the cores idle between layers while a
 * result crosses back into JS and the next call maps its span (about 10 % of a full pass over a
 * 2 GB model); with two, the next layer is already being summed. Results still arrive in order.
 */
export const LAYERS_IN_FLIGHT = 2;

/**
 * Statistics of every float tensor of a checkpoint, one layer at a time so results stream to the
 * window as they finish (in layer order; LAYERS_IN_FLIGHT layers are computed at once). The native
 * addon spreads each layer's work over all cores.
 */
export async function computeCheckpointStats(summary: CheckpointSummary, options: CheckpointStatsOptions): Promise<StatsReport> {
  const startedAt = performance.now();
  const groups = new Map<number | null, TensorInfo[]>();
  const skipped: string[] = [];
  /** GGML block types the addon has no statistics for (IQ2_XXS, TQ1_0, …): named, not silently skipped. */
  const notAvailable = new Set<string>();
  for (const tensor of summary.tensors) {
    if (!isStatsElementType(tensor.dtype)) {
      if (Object.hasOwn(GGML_TYPES, tensor.dtype)) notAvailable.add(tensor.dtype);
      skipped.push(tensor.name);
      continue;
    }
    const group = groups.get(tensor.layer) ?? [];
    group.push(tensor);
    groups.set(tensor.layer, group);
  }
  // Non-layer tensors first (embeddings are the largest single tensor), then layers in order.
  const order = [...groups.keys()].sort((a, b) => (a === null ? -1 : b === null ? 1 : a - b));
  const results: TensorStats[] = [];
  const inFlight: Array<Promise<TensorStats[]>> = [];
  let started = 0;
  for (let index = 0; index < order.length; index += 1) {
    while (inFlight.length < LAYERS_IN_FLIGHT && started < order.length) {
      const running = statsOfTensors(groups.get(order[started] ?? null) ?? [], options.sampled, options.signal);
      // A later layer may fail while an earlier one is awaited: its rejection counts when its turn
      // comes (or not at all once an earlier one has failed), never as an unhandled rejection.
      running.catch(() => undefined);
      inFlight.push(running);
      started += 1;
    }
    const layerStats = await (inFlight.shift() as Promise<TensorStats[]>);
    results.push(...layerStats);
    options.onLayer?.({
      checkpointId: summary.id,
      done: index + 1,
      total: order.length,
      layer: order[index] ?? null,
      tensors: layerStats,
      sampled: options.sampled,
    });
  }
  return {
    checkpointId: summary.id,
    tensors: results,
    skipped,
    notAvailable: [...notAvailable].sort().map((dtype) => `statistics not available for ${dtype}`),
    sampled: options.sampled,
    seconds: (performance.now() - startedAt) / 1000,
  };
}

async function statsOfTensors(tensors: readonly TensorInfo[], sampled: boolean, signal: AbortSignal | undefined): Promise<TensorStats[]> {
  const byFile = new Map<string, StatsRange[]>();
  for (const tensor of tensors) {
    const ranges = byFile.get(tensor.file) ?? [];
    ranges.push({ name: tensor.name, offset: tensor.offset, bytes: tensor.bytes, dtype: tensor.dtype as StatsRange['dtype'] });
    byFile.set(tensor.file, ranges);
  }
  // Offsets come from headers checked against each file's size at open: past the end means it shrank.
  const options: StatsOptions = { sizedAtOpen: true, ...(sampled ? { sampleBlocks: SAMPLE_EVERY_BLOCKS } : {}), ...(signal ? { signal } : {}) };
  const perFile = await Promise.all([...byFile].map(([file, ranges]) => tensorStats(file, ranges, options)));
  return perFile.flat();
}
