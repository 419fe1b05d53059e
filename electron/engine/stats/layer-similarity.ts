/**
 * Layer × layer cosine similarity of one tensor kind, to help pick splice points: SOLAR's seam
 * should join a layer to one that is alike. A layer's tensors of the kind (q_proj.weight, and
 * q_proj.bias where there is one) count as one long vector, so their dot products and squares are
 * summed before the cosine is taken. Rows are computed one at a time, each by one native call over
 * all its pairs, and streamed as they finish; a checkpoint against itself computes only the upper
 * triangle and mirrors it.
 */
import { StudioError } from '../../api/errors.js';
import {
  type CheckpointSummary,
  type SimilarityMatrix,
  type SimilarityProgress,
  type TensorInfo,
  type TensorKind,
} from '../../api/types.js';
import { isStatsElementType, tensorDotProducts, type DotOptions, type DotPair, type DotRange } from '../native.js';
import { addDotSums, cosineFromSums, DOT_SAMPLE_BLOCK_ELEMENTS, emptyDotSums, type DotSums } from './reference-dot-products.js';

export interface LayerSimilarityOptions {
  /** An estimate from a sample of each tensor; default: true when either checkpoint holds more than SIMILARITY_SAMPLED_ABOVE_BYTES. */
  sampled?: boolean;
  /** Threads for the native addon; default: all the CPUs this process may use. */
  threads?: number;
  /** Called as each row (layer of A) finishes, in row order. */
  onRow?: (progress: SimilarityProgress) => void;
  /** Stops the work between chunks; the promise then rejects with Cancelled. */
  signal?: AbortSignal;
}

/**
 * Above this many bytes of tensors (either checkpoint), the default is a sampled estimate: the full
 * matrix reads every tensor of the kind n times (an 80-layer 70B model: 6,400 pairs of 67 M elements).
 */
export const SIMILARITY_SAMPLED_ABOVE_BYTES = 1_000_000_000;
/** A sampled estimate reads at least one block in this many (as statistics' sampling does)… */
export const SIMILARITY_MIN_SAMPLE_STRIDE = 16;
/**
 * …and at most this many blocks of DOT_SAMPLE_BLOCK_ELEMENTS per tensor (2 M elements): the standard
 * error of a cosine estimated from n elements is about 1/√n, here under 0.001.
 */
export const SIMILARITY_MAX_SAMPLE_BLOCKS = 64;

/** The tensors of one kind in one layer, in local-name order, with a signature of their names and shapes. */
interface KindGroup {
  tensors: TensorInfo[];
  /** `localName:shape` of each tensor, joined: two groups are comparable when these are equal. */
  signature: string;
  /** True when every tensor has a float dtype the kernels read. */
  float: boolean;
}

/** Per text layer (MTP layers excluded), the group of tensors of `kind`, or null where the layer has none. */
export function kindGroups(summary: CheckpointSummary, kind: TensorKind): (KindGroup | null)[] {
  const byLayer: TensorInfo[][] = Array.from({ length: summary.numLayers }, () => []);
  for (const tensor of summary.tensors) {
    if (tensor.kind !== kind || tensor.layer === null || tensor.layer >= summary.numLayers) continue;
    byLayer[tensor.layer]!.push(tensor);
  }
  return byLayer.map((tensors) => {
    if (tensors.length === 0) return null;
    tensors.sort((left, right) => (left.localName < right.localName ? -1 : left.localName > right.localName ? 1 : 0));
    return {
      tensors,
      signature: tensors.map((tensor) => `${tensor.localName}:[${tensor.shape.join(',')}]`).join(' '),
      float: tensors.every((tensor) => isStatsElementType(tensor.dtype)),
    };
  });
}

/** The first layer's group that can be compared at all, for the shape check and the error messages. */
function firstUsable(groups: readonly (KindGroup | null)[], summary: CheckpointSummary, kind: TensorKind): KindGroup {
  const present = groups.filter((group): group is KindGroup => group !== null);
  if (present.length === 0) {
    throw new StudioError('InvalidRequest', `${summary.name} has no ${kind} tensors in its layers, so there is nothing to compare`, {
      path: summary.id,
      detail: { kind, checkpoint: summary.id },
    });
  }
  const usable = present.find((group) => group.float);
  if (!usable) {
    const dtype = present[0]!.tensors.find((tensor) => !isStatsElementType(tensor.dtype))?.dtype;
    throw new StudioError('UnsupportedDtype', `${summary.name} holds its ${kind} tensors as ${String(dtype)}, which has no float values to compare`, {
      path: summary.id,
      detail: { kind, checkpoint: summary.id, dtype },
    });
  }
  return usable;
}

/** The sampling stride for tensors of up to `largest` elements: every 16th block, or sparser so at most 64 blocks are read. */
export function similaritySampleStride(largest: number): number {
  const blocks = Math.ceil(largest / DOT_SAMPLE_BLOCK_ELEMENTS);
  return Math.max(SIMILARITY_MIN_SAMPLE_STRIDE, Math.ceil(blocks / SIMILARITY_MAX_SAMPLE_BLOCKS));
}

function rangeOf(tensor: TensorInfo): DotRange {
  return { file: tensor.file, offset: tensor.offset, bytes: tensor.bytes, dtype: tensor.dtype as DotRange['dtype'] };
}

/**
 * The cosine similarity of `kind` between every text layer of `a` (rows) and of `b` (columns).
 * Layers that lack the kind, hold it in another shape or dtype, or hold zeros give null. Fails with
 * InvalidRequest when the checkpoints hold the kind in different shapes (naming both and the kind),
 * or when either has none of it.
 */
export async function layerSimilarity(
  a: CheckpointSummary,
  b: CheckpointSummary,
  kind: TensorKind,
  options: LayerSimilarityOptions = {},
): Promise<SimilarityMatrix> {
  const started = performance.now();
  const symmetric = a.id === b.id;
  const groupsA = kindGroups(a, kind);
  const groupsB = symmetric ? groupsA : kindGroups(b, kind);
  const firstA = firstUsable(groupsA, a, kind);
  const firstB = symmetric ? firstA : firstUsable(groupsB, b, kind);
  if (firstA.signature !== firstB.signature) {
    throw new StudioError(
      'InvalidRequest',
      `${a.name} and ${b.name} hold their ${kind} tensors in different shapes (${firstA.signature} against ${firstB.signature}), so their layers cannot be compared`,
      { path: b.id, detail: { kind, checkpointA: a.id, checkpointB: b.id, shapeA: firstA.signature, shapeB: firstB.signature } },
    );
  }
  const sampled = options.sampled ?? Math.max(a.totalBytes, b.totalBytes) > SIMILARITY_SAMPLED_ABOVE_BYTES;
  const largest = Math.max(0, ...[...groupsA, ...groupsB].flatMap((group) => group?.tensors.map((tensor) => tensor.elements) ?? []));
  // Offsets come from headers checked against each file's size at open: past the end means it shrank.
  const dotOptions: DotOptions = { sizedAtOpen: true };
  if (options.signal !== undefined) dotOptions.signal = options.signal;
  if (options.threads !== undefined) dotOptions.threads = options.threads;
  if (sampled) dotOptions.sampleBlocks = similaritySampleStride(largest);

  const rows = a.numLayers;
  const cols = b.numLayers;
  const values: (number | null)[][] = Array.from({ length: rows }, () => Array.from({ length: cols }, () => null));
  let anySampled = false;
  for (let row = 0; row < rows; row += 1) {
    const groupA = groupsA[row];
    const pairs: DotPair[] = [];
    const columnOf: number[] = [];
    if (groupA?.float) {
      // Against itself, cells left of the diagonal were filled by earlier rows' mirror images.
      for (let col = symmetric ? row : 0; col < cols; col += 1) {
        const groupB = groupsB[col];
        if (!groupB?.float || groupB.signature !== groupA.signature) continue;
        groupA.tensors.forEach((tensor, index) => {
          const other = groupB.tensors[index]!;
          pairs.push({ name: `${tensor.name} · ${other.name}`, a: rangeOf(tensor), b: rangeOf(other) });
          columnOf.push(col);
        });
      }
    }
    const sums = new Map<number, DotSums>();
    if (pairs.length > 0) {
      const products = await tensorDotProducts(pairs, dotOptions);
      products.forEach((product, index) => {
        const col = columnOf[index]!;
        sums.set(col, addDotSums(sums.get(col) ?? emptyDotSums(), product));
      });
    }
    for (const [col, total] of sums) {
      anySampled ||= total.sampled;
      const cosine = cosineFromSums(total);
      values[row]![col] = cosine;
      if (symmetric) values[col]![row] = cosine;
    }
    options.onRow?.({
      checkpointA: a.id,
      checkpointB: b.id,
      kind,
      done: row + 1,
      total: rows,
      row,
      values: [...values[row]!],
      sampled: anySampled,
    });
  }
  return {
    checkpointA: a.id,
    checkpointB: b.id,
    kind,
    rows,
    cols,
    values,
    sampled: anySampled,
    seconds: (performance.now() - started) / 1000,
  };
}
