/**
 * A splice sweep: evaluate the SOLAR plan of one model at many splice points (copy one keeps
 * [0, a), copy two keeps [b, n)) with one loaded llama.cpp runtime, streaming each result.
 */
import type { CheckpointSummary, SweepRange, SweepRow } from '../../api/types.js';
import { resolvePlan } from '../../common/plan/layer-plan.js';
import { buildPlanFromRecipe } from '../../common/plan/plan-recipes.js';
import type { SpliceCandidate } from '../../common/evaluation/sweep-rules.js';
import type { LlamaRuntime } from './llama-runtime.js';
import { evaluatePlanOutput, type PlanEvaluationOptions } from './plan-evaluation.js';

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

// Candidates, ranking and rank correlation are shared pure rules: the window checks ranges and orders streamed rows the same way.
export { rankCorrelation, rankSweep, spliceCandidates, type SpliceCandidate } from '../../common/evaluation/sweep-rules.js';
