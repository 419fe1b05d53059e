/**
 * The definition of a tensor's statistics, in plain TypeScript: the native addon computes the
 * same figures on many threads, and tests hold it to this one.
 */
import type { StatsDtype, TensorStats } from '../../api/types.js';
import { decodeToFloat64 } from './float-codec.js';

/** Running sums of a tensor (or a sample of it). NaN and ±Inf are counted, not summed. */
export interface StatsSums {
  /** Every element looked at, NaN and Inf included. */
  elements: number;
  /** Sum of the finite elements, accumulated in f64. */
  sum: number;
  /** Sum of squares of the finite elements, accumulated in f64. */
  sumSquares: number;
  /** Largest |x| over the finite elements (0 when there are none). */
  maxAbs: number;
  nanCount: number;
  infCount: number;
}

/**
 * The figures of a tensor from its sums: l2 = √Σx², and mean and rms over the finite elements
 * (Σx / n and √(Σx² / n) with n = elements − NaN − Inf; 0 when no element is finite).
 */
export function statsFromSums(name: string, sums: StatsSums, sampled: boolean): TensorStats {
  const finite = sums.elements - sums.nanCount - sums.infCount;
  return {
    name,
    elements: sums.elements,
    l2: Math.sqrt(sums.sumSquares),
    rms: finite > 0 ? Math.sqrt(sums.sumSquares / finite) : 0,
    mean: finite > 0 ? sums.sum / finite : 0,
    maxAbs: sums.maxAbs,
    nanCount: sums.nanCount,
    infCount: sums.infCount,
    sampled,
  };
}

/** Statistics of a whole tensor held in memory (tests and tiny tensors only: it decodes all of `bytes`). */
export function referenceTensorStats(name: string, bytes: Uint8Array, dtype: StatsDtype): TensorStats {
  const values = decodeToFloat64(bytes, dtype);
  const sums: StatsSums = { elements: values.length, sum: 0, sumSquares: 0, maxAbs: 0, nanCount: 0, infCount: 0 };
  for (const value of values) {
    if (Number.isNaN(value)) {
      sums.nanCount += 1;
    } else if (!Number.isFinite(value)) {
      sums.infCount += 1;
    } else {
      sums.sum += value;
      sums.sumSquares += value * value;
      sums.maxAbs = Math.max(sums.maxAbs, Math.abs(value));
    }
  }
  return statsFromSums(name, sums, false);
}
