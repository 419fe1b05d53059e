import type { LayerPlan, PlanSlice, ScaleRule } from '../../../electron/api/types.js';
import { isScaled } from './output-stack.js';

/**
 * The recipes the session builds locally (DESIGN.md §2), so a drag or a typed number redraws at once.
 * The engine's `buildPlan`/`resolvePlan` remain the authority; these produce the same slices.
 */

/** LLaMA-Pro's inserted block: o_proj and down_proj zeroed, everything else copied. */
export const IDENTITY_SCALE: readonly ScaleRule[] = [
  { filter: 'o_proj', value: 0 },
  { filter: 'down_proj', value: 0 },
  { value: 1 },
];

/** SOLAR DUS: copy A keeps [0, n − drop), copy B keeps [drop, n). */
export function dusSlices(model: string, layers: number, drop: number): PlanSlice[] {
  const m = clamp(Math.round(drop), 0, Math.max(0, layers - 1));
  return spliceSlices(model, layers, layers - m, m);
}

/** Splice points: copy A keeps [0, a), copy B keeps [b, n). */
export function spliceSlices(model: string, layers: number, a: number, b: number): PlanSlice[] {
  return [
    { model, start: 0, end: clamp(Math.round(a), 1, layers) },
    { model, start: clamp(Math.round(b), 0, layers - 1), end: layers },
  ];
}

/** G_stack: the whole stack `times` times. */
export function stackSlices(model: string, layers: number, times: number): PlanSlice[] {
  return Array.from({ length: Math.max(1, Math.round(times)) }, () => ({ model, start: 0, end: layers }));
}

/** The drop SOLAR's proportions suggest: 8 of 32, i.e. n/4 rounded, at least 1 when there are 2 layers. */
export function defaultDrop(layers: number): number {
  if (layers < 2) return 0;
  return clamp(Math.round(layers / 4), 1, layers - 1);
}

/** LLaMA-Pro's spacing for a base of n layers: 32 → every 4th (LLaMA-Pro-8B), at least every 2nd. */
export function defaultLlamaProEvery(layers: number): number {
  return clamp(Math.round(layers / 8), Math.min(2, layers), Math.max(1, layers));
}

/** True for a slice that is a LLaMA-Pro identity copy: one layer, o_proj and down_proj at 0, rest 1. */
export function isIdentityCopy(slice: PlanSlice): boolean {
  if (slice.end - slice.start !== 1 || !slice.scale) return false;
  const rules = slice.scale;
  if (rules.length !== IDENTITY_SCALE.length) return false;
  return rules.every((rule, index) => {
    const expected = IDENTITY_SCALE[index]!;
    return (rule.filter ?? '') === (expected.filter ?? '') && rule.value === expected.value;
  });
}

/**
 * Inserts a LLaMA-Pro identity copy after every k-th output layer of the plan (after removing copies
 * already there). Counting is over the output stack, so it applies to any plan, DUS included.
 */
export function withLlamaPro(plan: LayerPlan, every: number): LayerPlan {
  const k = Math.max(1, Math.round(every));
  const base = withoutLlamaPro(plan);
  const slices: PlanSlice[] = [];
  let position = 0;
  for (const slice of base.slices) {
    let runStart = slice.start;
    for (let layer = slice.start; layer < slice.end; layer++) {
      position++;
      if (position % k !== 0) continue;
      slices.push({ ...slice, start: runStart, end: layer + 1 });
      slices.push({ model: slice.model, start: layer, end: layer + 1, scale: IDENTITY_SCALE.map((rule) => ({ ...rule })) });
      runStart = layer + 1;
    }
    if (runStart < slice.end) slices.push({ ...slice, start: runStart, end: slice.end });
  }
  return { ...base, slices };
}

/** Removes LLaMA-Pro identity copies and joins the pieces they had split (same model, contiguous, unscaled). */
export function withoutLlamaPro(plan: LayerPlan): LayerPlan {
  const slices: PlanSlice[] = [];
  let removedBefore = false;
  for (const slice of plan.slices) {
    if (isIdentityCopy(slice)) {
      removedBefore = true;
      continue;
    }
    const previous = slices.at(-1);
    if (
      removedBefore &&
      previous &&
      previous.model === slice.model &&
      previous.end === slice.start &&
      !isScaled(previous) &&
      !isScaled(slice)
    ) {
      slices[slices.length - 1] = { ...previous, end: slice.end };
    } else {
      slices.push(slice);
    }
    removedBefore = false;
  }
  return { ...plan, slices };
}

/** The k of a LLaMA-Pro plan (output layers before its first identity copy), or null without copies. */
export function llamaProEvery(plan: LayerPlan): number | null {
  let position = 0;
  for (const slice of plan.slices) {
    if (isIdentityCopy(slice)) return position;
    position += Math.max(0, slice.end - slice.start);
  }
  return null;
}

/** Index of the slice boundaries a pair of splice handles can hold: both neighbours unscaled. */
export function spliceBoundaries(plan: LayerPlan): number[] {
  const boundaries: number[] = [];
  for (let index = 0; index + 1 < plan.slices.length; index++) {
    if (!isScaled(plan.slices[index]!) && !isScaled(plan.slices[index + 1]!)) boundaries.push(index);
  }
  return boundaries;
}

export function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
