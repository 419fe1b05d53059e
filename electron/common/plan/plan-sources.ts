import type { CheckpointSummary, LayerInfo, LayerPlan, PlanSlice, TensorInfo } from '../../api/types.js';

/**
 * Open checkpoints by checkpoint id (= absolute path): the engine passes its map, the renderer a
 * view of the checkpoints it has open. Plan rules only look sources up.
 */
export type SourceLookup = Pick<ReadonlyMap<string, CheckpointSummary>, 'get' | 'has'>;

/** Distinct source ids of a plan's slices, in order of first use. */
export function planModels(plan: LayerPlan): string[] {
  return [...new Set(plan.slices.map((slice) => slice.model))];
}

/**
 * Every checkpoint a plan needs open: the slices' sources, then `base_model` when it is another
 * model (it gives the export its config.json and side files, and must fit the stacked tensors).
 */
export function planCheckpoints(plan: LayerPlan): string[] {
  const models = planModels(plan);
  if (plan.baseModel !== undefined && !models.includes(plan.baseModel)) models.push(plan.baseModel);
  return models;
}

/**
 * The model whose config.json and non-tokenizer side files an export carries: `base_model`, else
 * the first slice's source. mergekit's donor is `base_model or referenced_models()[0]` (merge.py
 * `_model_out_config`, `_get_donor_model`); without a base_model its first referenced model comes
 * from a set, which is only the first slice's source for certain when one model is used.
 */
export function configDonor(plan: LayerPlan): string | undefined {
  return plan.baseModel ?? plan.slices[0]?.model;
}

/**
 * The model whose tokenizer an export carries: `tokenizer_source` when given (mergekit builds the
 * tokenizer from it, tokenizer/build.py), else the config donor (merge.py `_copy_tokenizer`).
 */
export function tokenizerDonor(plan: LayerPlan): string | undefined {
  // 'base' (as an API caller may send it; the YAML reader resolves it) is base_model's tokenizer.
  if (plan.tokenizerSource === undefined || plan.tokenizerSource === 'base') return configDonor(plan);
  return plan.tokenizerSource;
}

/** The name a user knows a source by: its display name when open, else the last part of its path. */
export function sourceName(model: string, sources: SourceLookup): string {
  const summary = sources.get(model);
  if (summary !== undefined) return summary.name;
  const parts = model.split(/[\\/]+/).filter((part) => part.length > 0);
  return parts.at(-1) ?? model;
}

/** True when both ends of the slice's layer_range are whole numbers. */
export function hasWholeRange(slice: PlanSlice): boolean {
  return Number.isInteger(slice.start) && Number.isInteger(slice.end);
}

/**
 * The source layers a slice contributes, in order. Ranges that reach past the model are clipped to
 * the layers that exist (validation reports the overreach), so a half-broken plan still draws. A
 * source that is not open contributes nothing: without its layer count a range cannot be trusted.
 */
export function sliceLayers(slice: PlanSlice, source: CheckpointSummary | undefined): number[] {
  if (source === undefined || !hasWholeRange(slice)) return [];
  const first = Math.max(0, slice.start);
  const end = Math.min(slice.end, source.numLayers);
  const layers: number[] = [];
  for (let layer = first; layer < end; layer += 1) layers.push(layer);
  return layers;
}

const layerInfoCache = new WeakMap<CheckpointSummary, Map<number, LayerInfo>>();
const layerTensorCache = new WeakMap<CheckpointSummary, Map<number, TensorInfo[]>>();

/** The summary's LayerInfo by layer index (text and MTP layers), computed once per summary. */
export function layerInfoByIndex(summary: CheckpointSummary): ReadonlyMap<number, LayerInfo> {
  let byIndex = layerInfoCache.get(summary);
  if (byIndex === undefined) {
    byIndex = new Map(summary.layers.map((layer) => [layer.index, layer]));
    layerInfoCache.set(summary, byIndex);
  }
  return byIndex;
}

/** The summary's layer tensors grouped by layer index, computed once per summary. */
export function layerTensorsByIndex(summary: CheckpointSummary): ReadonlyMap<number, readonly TensorInfo[]> {
  let byIndex = layerTensorCache.get(summary);
  if (byIndex === undefined) {
    byIndex = new Map();
    for (const tensor of summary.tensors) {
      if (tensor.layer === null) continue;
      const group = byIndex.get(tensor.layer);
      if (group === undefined) byIndex.set(tensor.layer, [tensor]);
      else group.push(tensor);
    }
    layerTensorCache.set(summary, byIndex);
  }
  return byIndex;
}

/** Sorted layer indexes as short runs: [3, 8, 9, 10, 12] → "3, 8–10, 12". */
export function formatLayerRuns(indexes: Iterable<number>): string {
  const sorted = [...new Set(indexes)].sort((a, b) => a - b);
  const runs: string[] = [];
  let first = 0;
  while (first < sorted.length) {
    let last = first;
    while (last + 1 < sorted.length && sorted[last + 1] === (sorted[last] ?? 0) + 1) last += 1;
    runs.push(first === last ? `${sorted[first]}` : `${sorted[first]}–${sorted[last]}`);
    first = last + 1;
  }
  return runs.join(', ');
}
