import type { ScaleRule } from '../../api/types.js';

/**
 * A setting's value at position t ∈ [0, 1] of its slice, as mergekit's `evaluate_setting`: a number
 * is itself; a gradient [v0 … vk] is interpolated linearly between v_i0 and v_i0+1 where
 * i0 = trunc(t·k).
 */
export function settingAt(value: number | readonly number[], t: number): number {
  if (typeof value === 'number') return value;
  const scaled = t * (value.length - 1);
  const i0 = Math.trunc(scaled);
  const i1 = Math.min(value.length - 1, i0 + 1);
  const fraction = scaled - i0;
  return (1 - fraction) * (value[i0] as number) + fraction * (value[i1] as number);
}

/**
 * The position mergekit gives layer `offset` of a slice of `length` layers (plan.py `plan_slice`):
 * offset / (length − 1), and 1 for a one-layer slice. Tensors outside the layers use 0.
 */
export function slicePosition(offset: number, length: number): number {
  return length > 1 ? offset / (length - 1) : 1;
}

/** The rules with every gradient evaluated at t: what one output layer applies. */
export function rulesAt(rules: readonly ScaleRule[] | undefined, t: number): ScaleRule[] {
  return (rules ?? []).map((rule) => ({ ...rule, value: settingAt(rule.value, t) }));
}

/**
 * The factor mergekit's passthrough `scale` parameter applies to one tensor, named as in its
 * SOURCE (plan.py evaluates parameters `for_tensor(weight_in.name)`). As in `evaluate_setting`,
 * the first rule whose filter is a substring of the name wins; a rule without a filter, or with
 * the filter `*`, matches every name; when no rule matches the tensor is copied unscaled.
 */
export function scaleFactorFor(rules: readonly ScaleRule[] | undefined, sourceTensorName: string, t = 0): number {
  if (rules === undefined) return 1;
  for (const rule of rules) {
    if (rule.filter === undefined || rule.filter === '*' || sourceTensorName.includes(rule.filter)) return settingAt(rule.value, t);
  }
  return 1;
}

/**
 * LLaMA-Pro's identity block: the attention output and MLP down projections are zeroed, so the
 * inserted layer adds nothing to the residual stream until it is trained; everything else is copied.
 */
export const IDENTITY_BLOCK_SCALE: ScaleRule[] = [
  { filter: 'o_proj', value: 0 },
  { filter: 'down_proj', value: 0 },
  { value: 1 },
];

/** True when the rules can change some tensor (a rule with a value, or a gradient point, other than 1). */
export function scalesAnything(rules: readonly ScaleRule[] | undefined): boolean {
  return rules !== undefined && rules.some((rule) => (typeof rule.value === 'number' ? rule.value !== 1 : rule.value.some((point) => point !== 1)));
}
