import type { ScaleRule } from '../../api/types.js';

/**
 * The factor mergekit's passthrough `scale` parameter applies to one output tensor. As in
 * mergekit's `evaluate_setting`, the first rule whose filter is a substring of the tensor name
 * wins; a rule without a filter, or with the filter `*`, matches every name; when no rule matches
 * the tensor is copied unscaled.
 */
export function scaleFactorFor(rules: readonly ScaleRule[] | undefined, tensorName: string): number {
  if (rules === undefined) return 1;
  for (const rule of rules) {
    if (rule.filter === undefined || rule.filter === '*' || tensorName.includes(rule.filter)) return rule.value;
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

/** True when the rules can change some tensor (a rule with a value other than 1). */
export function scalesAnything(rules: readonly ScaleRule[] | undefined): boolean {
  return rules !== undefined && rules.some((rule) => rule.value !== 1);
}
