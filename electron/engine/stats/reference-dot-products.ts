/**
 * The definition of a pair of tensors' dot products, in plain TypeScript: the native addon computes
 * the same sums on many threads over mapped files, and tests hold it to this one. Cosine similarity
 * of two tensors (or of two groups of tensors, summed first) follows from the three sums.
 */
import type { StatsDtype } from '../../api/types.js';
import { decodeToFloat64 } from './float-codec.js';

/**
 * Elements per sampling block (64 KiB of a 16-bit dtype); `sampleBlocks` = k reads blocks 0, k, 2k, …
 * Counted in elements so both sides of a pair sample the same elements whatever their dtypes.
 * The addon's kDotSampleBlockElements (native/src/tensor-dot-products.h) must be the same.
 */
export const DOT_SAMPLE_BLOCK_ELEMENTS = 32768;

/** Sums over the elements of a pair of equally long tensors; NaN and ±Inf count as 0 on their side. */
export interface DotSums {
  /** Element pairs looked at (fewer than the tensors hold when sampled). */
  elements: number;
  /** Σ a·b, accumulated in f64. */
  dot: number;
  /** Σ a². */
  squaresA: number;
  /** Σ b². */
  squaresB: number;
  /** Elements of a that were NaN or ±Inf. */
  nonFiniteA: number;
  nonFiniteB: number;
  /** True when some elements were skipped by sampling. */
  sampled: boolean;
}

/** An all-zero sum, to add pairs into. */
export function emptyDotSums(): DotSums {
  return { elements: 0, dot: 0, squaresA: 0, squaresB: 0, nonFiniteA: 0, nonFiniteB: 0, sampled: false };
}

/** `next` added into `into` (a layer's tensors of one kind combine as one long vector). */
export function addDotSums(into: DotSums, next: DotSums): DotSums {
  into.elements += next.elements;
  into.dot += next.dot;
  into.squaresA += next.squaresA;
  into.squaresB += next.squaresB;
  into.nonFiniteA += next.nonFiniteA;
  into.nonFiniteB += next.nonFiniteB;
  into.sampled ||= next.sampled;
  return into;
}

/**
 * cos θ = Σab / (√Σa² · √Σb²), clamped to [−1, 1] against rounding; null when either side is all
 * zeros (the angle is undefined). The roots are taken separately so that a tensor against itself
 * (Σab = Σa² = Σb² exactly) gives 1 to within one rounding.
 */
export function cosineFromSums(sums: Pick<DotSums, 'dot' | 'squaresA' | 'squaresB'>): number | null {
  if (!(sums.squaresA > 0) || !(sums.squaresB > 0)) return null;
  const cosine = sums.dot / (Math.sqrt(sums.squaresA) * Math.sqrt(sums.squaresB));
  return Math.max(-1, Math.min(1, cosine));
}

/**
 * Dot products of two tensors held in memory (tests and tiny tensors only: it decodes both whole).
 * With `sampleBlocks` = k > 1 only blocks 0, k, 2k, … of DOT_SAMPLE_BLOCK_ELEMENTS elements count.
 */
export function referenceDotProducts(
  a: Uint8Array,
  dtypeA: StatsDtype,
  b: Uint8Array,
  dtypeB: StatsDtype,
  options: { sampleBlocks?: number } = {},
): DotSums {
  const valuesA = decodeToFloat64(a, dtypeA);
  const valuesB = decodeToFloat64(b, dtypeB);
  if (valuesA.length !== valuesB.length) {
    throw new RangeError(`${valuesA.length} ${dtypeA} elements against ${valuesB.length} ${dtypeB} elements: a pair must be equally long`);
  }
  const every = options.sampleBlocks ?? 1;
  const sums = emptyDotSums();
  for (let index = 0; index < valuesA.length; index += 1) {
    if (every > 1 && Math.floor(index / DOT_SAMPLE_BLOCK_ELEMENTS) % every !== 0) {
      sums.sampled = true;
      continue;
    }
    let x = valuesA[index]!;
    let y = valuesB[index]!;
    if (!Number.isFinite(x)) {
      sums.nonFiniteA += 1;
      x = 0;
    }
    if (!Number.isFinite(y)) {
      sums.nonFiniteB += 1;
      y = 0;
    }
    sums.elements += 1;
    sums.dot += x * y;
    sums.squaresA += x * x;
    sums.squaresB += y * y;
  }
  return sums;
}
