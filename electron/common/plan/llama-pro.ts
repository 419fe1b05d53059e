import type { LayerPlan, PlanSlice } from '../../api/types.js';
import { IDENTITY_BLOCK_SCALE, scalesAnything } from './scale-rules.js';

/**
 * LLaMA-Pro block expansion over any plan (DESIGN.md §2): an identity copy of an output layer is a
 * one-layer slice of the same source layer whose o_proj and down_proj are scaled to zero, which is
 * how mergekit expresses it.
 */

/** True for a slice that is a LLaMA-Pro identity copy: one layer, with exactly IDENTITY_BLOCK_SCALE. */
export function isIdentityCopy(slice: PlanSlice): boolean {
  if (slice.end - slice.start !== 1 || slice.scale === undefined) return false;
  const rules = slice.scale;
  if (rules.length !== IDENTITY_BLOCK_SCALE.length) return false;
  return rules.every((rule, index) => {
    const expected = IDENTITY_BLOCK_SCALE[index];
    return expected !== undefined && (rule.filter ?? '') === (expected.filter ?? '') && rule.value === expected.value;
  });
}

/**
 * Inserts an identity copy after every k-th output layer of the plan (after removing copies already
 * there). Counting is over the output stack, so it applies to any plan, SOLAR DUS included; on a
 * single whole-model slice it gives [0, k) [k−1, k)·identity [k, 2k) [2k−1, 2k)·identity …
 */
export function withLlamaPro(plan: LayerPlan, every: number): LayerPlan {
  const k = Math.max(1, Math.round(every));
  const base = withoutLlamaPro(plan);
  const slices: PlanSlice[] = [];
  let position = 0;
  for (const slice of base.slices) {
    let runStart = slice.start;
    for (let layer = slice.start; layer < slice.end; layer += 1) {
      position += 1;
      if (position % k !== 0) continue;
      slices.push({ ...slice, start: runStart, end: layer + 1 });
      slices.push({ model: slice.model, start: layer, end: layer + 1, scale: IDENTITY_BLOCK_SCALE.map((rule) => ({ ...rule })) });
      runStart = layer + 1;
    }
    if (runStart < slice.end) slices.push({ ...slice, start: runStart, end: slice.end });
  }
  return { ...base, slices };
}

/** Removes identity copies and joins the pieces they had split (same model, contiguous, unscaled). */
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
      previous !== undefined &&
      previous.model === slice.model &&
      previous.end === slice.start &&
      !scalesAnything(previous.scale) &&
      !scalesAnything(slice.scale)
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

/** LLaMA-Pro's spacing for a base of n layers: 32 → every 4th (LLaMA-Pro-8B), at least every 2nd. */
export function defaultLlamaProEvery(layers: number): number {
  return Math.min(Math.max(1, layers), Math.max(Math.min(2, layers), Math.round(layers / 8)));
}
