/**
 * The rules of a splice sweep that the engine and the window share: which splice points a range
 * holds (the window checks a range and counts its plans before asking), how results rank (the CLI's
 * table, rows ranked as they stream into the window) and how a proxy's ranking is compared with
 * perplexity's.
 */
import { StudioError } from '../../api/errors.js';
import type { SweepRange, SweepRow } from '../../api/types.js';

export type SpliceCandidate = Pick<SweepRow, 'a' | 'b'>;

/** The candidates of a range on a model of `layers` layers, in sweep order; out-of-range points are refused. */
export function spliceCandidates(layers: number, range: SweepRange): SpliceCandidate[] {
  const candidates: SpliceCandidate[] = [];
  if (range.kind === 'drop') {
    if (range.from < 0 || range.to >= layers || range.from > range.to) {
      throw new StudioError('InvalidRequest', `drop must run within 0..${layers - 1} (from ≤ to), not ${range.from}..${range.to}`);
    }
    for (let drop = range.from; drop <= range.to; drop += 1) candidates.push({ a: layers - drop, b: drop });
    return candidates;
  }
  if (range.aFrom < 1 || range.aTo > layers || range.bFrom < 0 || range.bTo > layers - 1 || range.aFrom > range.aTo || range.bFrom > range.bTo) {
    throw new StudioError('InvalidRequest', `a must run within 1..${layers} and b within 0..${layers - 1}`);
  }
  for (let a = range.aFrom; a <= range.aTo; a += 1) {
    for (let b = range.bFrom; b <= range.bTo; b += 1) candidates.push({ a, b });
  }
  return candidates;
}

/** Best first: lowest perplexity, then fewer layers, then the splice points. */
export function rankSweep(rows: readonly SweepRow[]): SweepRow[] {
  return [...rows].sort((left, right) => left.perplexity - right.perplexity || left.layers - right.layers || left.a - right.a || left.b - right.b);
}

/** Spearman's rank correlation (average ranks for ties) of two equally long series. */
export function rankCorrelation(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length || xs.length < 2) return Number.NaN;
  const ranks = (values: readonly number[]): number[] => {
    const order = values.map((value, index) => ({ value, index })).sort((left, right) => left.value - right.value);
    const result = new Array<number>(values.length);
    for (let start = 0; start < order.length; ) {
      let end = start;
      while (end + 1 < order.length && order[end + 1]?.value === order[start]?.value) end += 1;
      for (let position = start; position <= end; position += 1) result[(order[position] as { index: number }).index] = (start + end) / 2;
      start = end + 1;
    }
    return result;
  };
  const rx = ranks(xs);
  const ry = ranks(ys);
  const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
  const mx = mean(rx);
  const my = mean(ry);
  let covariance = 0;
  let varianceX = 0;
  let varianceY = 0;
  for (let index = 0; index < rx.length; index += 1) {
    const dx = (rx[index] as number) - mx;
    const dy = (ry[index] as number) - my;
    covariance += dx * dy;
    varianceX += dx * dx;
    varianceY += dy * dy;
  }
  return covariance / Math.sqrt(varianceX * varianceY);
}
