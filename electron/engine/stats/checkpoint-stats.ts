import { isStudioError } from '../../api/errors.js';
import { GGML_TYPES } from '../../api/dtypes.js';
import { STATS_DTYPES, type CheckpointSummary, type StatsDtype, type StatsProgress, type StatsReport, type TensorInfo, type TensorStats } from '../../api/types.js';
import { tensorStats, type StatsRange } from '../native.js';

export interface CheckpointStatsOptions {
  /** A quick estimate over every `SAMPLE_EVERY_BLOCKS`-th block instead of every element. */
  sampled: boolean;
  /** Called as each layer (and the group of non-layer tensors, layer null) finishes. */
  onLayer?: (progress: StatsProgress) => void;
}

/** A sampled estimate reads one 64 KiB block in this many: a 1/16 sample is within a few percent for trained weights. */
export const SAMPLE_EVERY_BLOCKS = 16;

/**
 * Layer groups whose native calls run at once. With one, the cores idle between layers while a
 * result crosses back into JS and the next call maps its span (about 10 % of a full pass over a
 * 2 GB model); with two, the next layer is already being summed. Results still arrive in order.
 */
export const LAYERS_IN_FLIGHT = 2;

function isStatsDtype(dtype: string): dtype is StatsDtype {
  return (STATS_DTYPES as readonly string[]).includes(dtype);
}

/**
 * GGML block types go to the addon by their gguf-py name like any dtype: the addon decides which
 * it dequantises, and a type it refuses is reported as not available rather than failing the rest.
 */
function isGgmlBlockType(dtype: string): boolean {
  return Object.hasOwn(GGML_TYPES, dtype) && !isStatsDtype(dtype);
}

/**
 * Statistics of every float tensor of a checkpoint, one layer at a time so results stream to the
 * window as they finish (in layer order; LAYERS_IN_FLIGHT layers are computed at once). The native
 * addon spreads each layer's work over all cores.
 */
export async function computeCheckpointStats(summary: CheckpointSummary, options: CheckpointStatsOptions): Promise<StatsReport> {
  const startedAt = performance.now();
  const groups = new Map<number | null, TensorInfo[]>();
  const skipped: string[] = [];
  for (const tensor of summary.tensors) {
    if (!isStatsDtype(tensor.dtype) && !isGgmlBlockType(tensor.dtype)) {
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
  const notAvailable = new Set<string>();
  const inFlight: Array<Promise<TensorStats[]>> = [];
  let started = 0;
  for (let index = 0; index < order.length; index += 1) {
    while (inFlight.length < LAYERS_IN_FLIGHT && started < order.length) {
      const running = statsOfTensors(groups.get(order[started] ?? null) ?? [], options.sampled, (dtype, names) => {
        notAvailable.add(dtype);
        skipped.push(...names);
      });
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

async function statsOfTensors(
  tensors: readonly TensorInfo[],
  sampled: boolean,
  onNotAvailable: (dtype: string, names: string[]) => void,
): Promise<TensorStats[]> {
  // One call per file for the float dtypes; one per file and GGML block type, so a type the addon refuses costs only its own tensors.
  const groups = new Map<string, { file: string; ranges: StatsRange[]; blockType: string | null }>();
  for (const tensor of tensors) {
    const blockType = isGgmlBlockType(tensor.dtype) ? tensor.dtype : null;
    const key = `${tensor.file}\u0000${blockType ?? ''}`;
    const group = groups.get(key) ?? { file: tensor.file, ranges: [], blockType };
    group.ranges.push({ name: tensor.name, offset: tensor.offset, bytes: tensor.bytes, dtype: tensor.dtype as StatsDtype });
    groups.set(key, group);
  }
  const options = sampled ? { sampleBlocks: SAMPLE_EVERY_BLOCKS } : {};
  const perGroup = await Promise.all(
    [...groups.values()].map(async ({ file, ranges, blockType }) => {
      try {
        return await tensorStats(file, ranges, options);
      } catch (error) {
        if (blockType === null || !isStudioError(error) || error.code !== 'UnsupportedDtype') throw error;
        onNotAvailable(blockType, ranges.map((range) => range.name));
        return [];
      }
    }),
  );
  // Back in the tensors' order, whatever the grouping.
  const byName = new Map(perGroup.flat().map((stats) => [stats.name, stats]));
  return tensors.flatMap((tensor) => byName.get(tensor.name) ?? []);
}
