import type { CheckpointSummary, LayerPlan, OutputLayer, PlanSlice, ScaleRule, Seam } from '../../../electron/api/types.js';

/**
 * The output stack of a plan, computed in the renderer so the canvas can redraw on every drag frame
 * without waiting for the engine. The engine's `resolvePlan` stays the authority for validation;
 * this mirrors its numbering (DESIGN.md §2: output layers numbered in slice order, half-open ranges).
 */

/** Upper bound on expanded layers, so a mistyped range (0..1e9) cannot freeze the window. */
export const MAX_OUTPUT_LAYERS = 20_000;

/** Layer count of a source, or undefined when the checkpoint is not open. */
export type LayerCountOf = (model: string) => number | undefined;

/** Expands slices into output layers; ranges are clipped to the source's layers when its size is known. */
export function expandPlan(plan: LayerPlan, layerCountOf: LayerCountOf = () => undefined): OutputLayer[] {
  const layers: OutputLayer[] = [];
  const uses = new Map<string, number>();
  plan.slices.forEach((slice, sliceIndex) => {
    const count = layerCountOf(slice.model);
    const start = Math.max(0, Math.floor(slice.start));
    const end = Math.min(Math.floor(slice.end), count ?? Number.POSITIVE_INFINITY);
    for (let sourceLayer = start; sourceLayer < end && layers.length < MAX_OUTPUT_LAYERS; sourceLayer++) {
      const key = `${slice.model}\u0000${sourceLayer}`;
      const repeat = uses.get(key) ?? 0;
      uses.set(key, repeat + 1);
      layers.push({
        index: layers.length,
        model: slice.model,
        sourceLayer,
        slice: sliceIndex,
        scale: slice.scale ?? [],
        repeat,
      });
    }
  });
  return layers;
}

/** Where consecutive output layers are not consecutive layers of one source. */
export function findSeams(layers: readonly OutputLayer[]): Seam[] {
  const seams: Seam[] = [];
  for (let index = 1; index < layers.length; index++) {
    const before = layers[index - 1]!;
    const after = layers[index]!;
    if (before.model === after.model && after.sourceLayer === before.sourceLayer + 1) continue;
    seams.push({
      afterOutputLayer: before.index,
      from: { model: before.model, layer: before.sourceLayer },
      to: { model: after.model, layer: after.sourceLayer },
    });
  }
  return seams;
}

/** How many output layers copy each source layer, keyed `model \0 layer`. */
export function useCounts(layers: readonly OutputLayer[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const layer of layers) {
    const key = sourceKey(layer.model, layer.sourceLayer);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

export function sourceKey(model: string, layer: number): string {
  return `${model}\u0000${layer}`;
}

/** The value the first matching rule gives a tensor (mergekit: filter is a substring of the name; no filter matches all). */
export function scaleFor(tensorName: string, rules: readonly ScaleRule[]): number {
  for (const rule of rules) {
    if (rule.filter === undefined || rule.filter === '' || tensorName.includes(rule.filter)) return rule.value;
  }
  return 1;
}

/** True when a slice's rules change some tensor (any value other than 1). */
export function isScaled(slice: Pick<PlanSlice, 'scale'>): boolean {
  return (slice.scale ?? []).some((rule) => rule.value !== 1);
}

export interface PlanSizeEstimate {
  numLayers: number;
  parameters: number;
  totalBytes: number;
}

/**
 * Parameters and tensor bytes of the output, computed from the source summaries: the copied layers,
 * embeddings from the first slice's source, final norm and head from the last slice's (DESIGN.md §2).
 * Used while the engine's answer for the current plan is still on its way.
 */
export function estimatePlanSize(
  layers: readonly OutputLayer[],
  plan: LayerPlan,
  checkpointOf: (model: string) => CheckpointSummary | undefined,
): PlanSizeEstimate {
  let parameters = 0;
  let totalBytes = 0;
  for (const layer of layers) {
    const info = checkpointOf(layer.model)?.layers[layer.sourceLayer];
    if (!info) continue;
    parameters += info.parameters;
    totalBytes += info.bytes;
  }
  const first = plan.slices[0] ? checkpointOf(plan.slices[0].model) : undefined;
  const last = plan.slices.at(-1) ? checkpointOf(plan.slices.at(-1)!.model) : undefined;
  for (const tensor of first?.tensors ?? []) {
    if (tensor.layer === null && tensor.kind !== 'final_norm' && tensor.kind !== 'head') {
      parameters += tensor.elements;
      totalBytes += tensor.bytes;
    }
  }
  for (const tensor of last?.tensors ?? []) {
    if (tensor.layer === null && (tensor.kind === 'final_norm' || tensor.kind === 'head')) {
      parameters += tensor.elements;
      totalBytes += tensor.bytes;
    }
  }
  return { numLayers: layers.length, parameters, totalBytes };
}
