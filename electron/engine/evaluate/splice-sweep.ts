/**
 * A splice sweep: evaluate the SOLAR plan of one model at many splice points (copy one keeps
 * [0, a), copy two keeps [b, n)) with one loaded llama.cpp runtime, streaming each result.
 */
import { StudioError } from '../../api/errors.js';
import type { CheckpointSummary, SweepRange, SweepRow } from '../../api/types.js';
import { resolvePlan } from '../../common/plan/layer-plan.js';
import { buildPlanFromRecipe } from '../../common/plan/plan-recipes.js';
import type { LlamaRuntime } from './llama-runtime.js';
import { evaluatePlanOutput, type PlanEvaluationOptions } from './plan-evaluation.js';

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

/** The whole (a, b) grid of a model. */
export function fullGrid(layers: number): SweepRange {
  return { kind: 'grid', aFrom: 1, aTo: layers, bFrom: 0, bTo: layers - 1 };
}

export interface SweepOptions extends Omit<PlanEvaluationOptions, 'onProgress' | 'prompt'> {
  onResult?: (row: SweepRow, index: number, total: number) => void;
}

export async function sweepSplices(
  runtime: LlamaRuntime,
  summary: CheckpointSummary,
  candidates: readonly SpliceCandidate[],
  options: SweepOptions,
): Promise<SweepRow[]> {
  const sources = new Map([[summary.id, summary]]);
  const rows: SweepRow[] = [];
  for (const [index, candidate] of candidates.entries()) {
    const plan = buildPlanFromRecipe({ kind: 'splice', model: summary.id, a: candidate.a, b: candidate.b }, sources);
    const resolved = resolvePlan(plan, sources);
    const { onResult, ...evaluationOptions } = options;
    const evaluation = await evaluatePlanOutput(runtime, resolved, sources, { ...evaluationOptions, prompt: '' });
    const row: SweepRow = { ...candidate, layers: resolved.layers.length, perplexity: evaluation.perplexity, tokens: evaluation.tokens };
    rows.push(row);
    onResult?.(row, index, candidates.length);
  }
  return rows;
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
