/**
 * The Goliath-120B recipe (DESIGN.md §2): two 80-layer models X and E interleaved in nine half-open
 * slices, X[0,16) E[8,24) X[17,32) E[25,40) X[33,48) E[41,56) X[49,64) E[57,72) X[65,80) → 137
 * layers; as a LayerPlan and as the mergekit YAML a user would paste.
 */
import type { LayerPlan, PlanSlice } from '../../electron/api/types.js';

export const GOLIATH_SOURCE_LAYERS = 80;
export const GOLIATH_LAYERS = 137;

/** [source, start, end): 0 = X, 1 = E. */
const GOLIATH_RANGES: ReadonlyArray<readonly [0 | 1, number, number]> = [
  [0, 0, 16],
  [1, 8, 24],
  [0, 17, 32],
  [1, 25, 40],
  [0, 33, 48],
  [1, 41, 56],
  [0, 49, 64],
  [1, 57, 72],
  [0, 65, 80],
];

export function goliathPlan(modelX: string, modelE: string): LayerPlan {
  const slices: PlanSlice[] = GOLIATH_RANGES.map(([source, start, end]) => ({ model: source === 0 ? modelX : modelE, start, end }));
  return { slices, dtype: 'bfloat16' };
}

/** One slice: the whole of a model, the plan the first-render baseline draws. */
export function wholeModelPlan(model: string, layers: number): LayerPlan {
  return { slices: [{ model, start: 0, end: layers }], dtype: 'bfloat16' };
}

/** mergekit passthrough YAML for a plan; model paths as JSON strings, which YAML reads as double-quoted scalars. */
export function planYaml(plan: LayerPlan): string {
  const lines = ['slices:'];
  for (const slice of plan.slices) {
    lines.push('  - sources:', `      - model: ${JSON.stringify(slice.model)}`, `        layer_range: [${slice.start}, ${slice.end}]`);
  }
  lines.push('merge_method: passthrough');
  if (plan.dtype !== undefined) lines.push(`dtype: ${plan.dtype}`);
  return `${lines.join('\n')}\n`;
}

export function planLayerCount(plan: LayerPlan): number {
  return plan.slices.reduce((sum, slice) => sum + (slice.end - slice.start), 0);
}
