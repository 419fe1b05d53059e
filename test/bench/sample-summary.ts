/**
 * Medians and spreads of repeated measurements. The benchmark machine is shared and noisy, so every
 * figure is the median of several runs, printed with its minimum and maximum.
 */

export interface SampleSummary {
  median: number;
  min: number;
  max: number;
  /** How many samples the summary is made of. */
  count: number;
}

/** Median (mean of the middle two for an even count), minimum and maximum; refuses an empty or non-finite list. */
export function summarize(samples: readonly number[]): SampleSummary {
  if (samples.length === 0) throw new Error('no samples to summarize');
  for (const sample of samples) {
    if (!Number.isFinite(sample)) throw new Error(`a sample is not a finite number: ${sample}`);
  }
  const sorted = [...samples].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number, count: sorted.length };
}

/** The value at quantile `q` (0..1) by nearest rank, for tail figures such as the 95th percentile frame. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) throw new Error('no samples for a quantile');
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile must be within [0, 1], got ${q}`);
  const sorted = [...samples].sort((left, right) => left - right);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1] as number;
}
