import type { CheckpointSummary, LayerPlan, OutputLayer, PlanProblem, ResolvedPlan, Seam } from '../../api/types.js';
import { type SourceLookup, layerInfoByIndex, sliceLayers, sourceName } from './plan-sources.js';
import { validatePlan } from './plan-validation.js';

export type { SourceLookup } from './plan-sources.js';
export { planModels } from './plan-sources.js';

/** Non-layer tensors that mergekit takes from the last slice's source; all others come from the first's. */
const HEAD_KINDS: ReadonlySet<string> = new Set(['final_norm', 'head']);

/**
 * Resolves a plan into its output stack as mergekit's passthrough would write it: output layers
 * numbered in slice order, embeddings (and every other non-layer tensor) from the first slice's
 * source, final norm and lm_head from the last slice's. MTP layers are never part of a slice;
 * unless `plan.mtp` is 'drop' they follow the new last layer, taken from the last slice's source
 * (they read its final hidden state and share its head), and count in the totals but not in
 * `numLayers`. Totals are source bytes: a plan `dtype` cast is not reflected in them.
 */
export function resolvePlan(plan: LayerPlan, sources: SourceLookup): ResolvedPlan {
  const problems = validatePlan(plan, sources);
  const layers: OutputLayer[] = [];
  const uses = new Map<string, number>();
  let parameters = 0;
  let totalBytes = 0;
  const missing = new Map<number, number[]>();

  plan.slices.forEach((slice, sliceIndex) => {
    const source = sources.get(slice.model);
    if (source === undefined) return;
    for (const sourceLayer of sliceLayers(slice, source)) {
      const useKey = `${slice.model}\u0000${sourceLayer}`;
      const repeat = uses.get(useKey) ?? 0;
      uses.set(useKey, repeat + 1);
      layers.push({
        index: layers.length,
        model: slice.model,
        sourceLayer,
        slice: sliceIndex,
        scale: (slice.scale ?? []).map((rule) => ({ ...rule })),
        repeat,
      });
      const info = layerInfoByIndex(source).get(sourceLayer);
      if (info === undefined) {
        missing.set(sliceIndex, [...(missing.get(sliceIndex) ?? []), sourceLayer]);
        continue;
      }
      parameters += info.parameters;
      totalBytes += info.bytes;
    }
  });

  for (const [sliceIndex, sourceLayers] of missing) {
    const model = plan.slices[sliceIndex]?.model ?? '';
    problems.push({
      severity: 'error',
      code: 'MissingLayer',
      message: `slice ${sliceIndex + 1} (${sourceName(model, sources)}): no tensors found for layer ${sourceLayers.join(', ')}`,
      slice: sliceIndex,
      model,
      layer: sourceLayers[0] as number,
    });
  }

  const embeddingsFrom = plan.slices[0]?.model ?? null;
  const headFrom = plan.slices.at(-1)?.model ?? null;
  const first = embeddingsFrom === null ? undefined : sources.get(embeddingsFrom);
  const last = headFrom === null ? undefined : sources.get(headFrom);
  if (first !== undefined) {
    for (const tensor of first.tensors) {
      if (tensor.layer !== null || HEAD_KINDS.has(tensor.kind)) continue;
      parameters += tensor.elements;
      totalBytes += tensor.bytes;
    }
  }
  if (last !== undefined) {
    for (const tensor of last.tensors) {
      if (tensor.layer !== null || !HEAD_KINDS.has(tensor.kind)) continue;
      parameters += tensor.elements;
      totalBytes += tensor.bytes;
    }
    if (plan.mtp !== 'drop') {
      for (const index of last.mtpLayers) {
        const info = layerInfoByIndex(last).get(index);
        if (info === undefined) continue;
        parameters += info.parameters;
        totalBytes += info.bytes;
      }
    }
  }
  if (plan.mtp !== 'drop') problems.push(...mtpLeftBehind(plan, sources, last));

  return {
    plan,
    layers,
    numLayers: layers.length,
    parameters,
    totalBytes,
    embeddingsFrom,
    headFrom,
    seams: findSeams(layers),
    problems,
    ok: !problems.some((problem) => problem.severity === 'error'),
  };
}

/** A seam wherever the next output layer is not the next layer of the same source. */
function findSeams(layers: readonly OutputLayer[]): Seam[] {
  const seams: Seam[] = [];
  for (let index = 0; index + 1 < layers.length; index += 1) {
    const before = layers[index] as OutputLayer;
    const after = layers[index + 1] as OutputLayer;
    if (after.model === before.model && after.sourceLayer === before.sourceLayer + 1) continue;
    seams.push({
      afterOutputLayer: before.index,
      from: { model: before.model, layer: before.sourceLayer },
      to: { model: after.model, layer: after.sourceLayer },
    });
  }
  return seams;
}

/** MTP layers only travel with the last slice's source; say so when another source's would be lost. */
function mtpLeftBehind(plan: LayerPlan, sources: SourceLookup, last: CheckpointSummary | undefined): PlanProblem[] {
  if (last === undefined || last.mtpLayers.length > 0) return [];
  const index = plan.slices.findIndex((slice) => (sources.get(slice.model)?.mtpLayers.length ?? 0) > 0);
  const slice = plan.slices[index];
  if (slice === undefined) return [];
  return [
    {
      severity: 'warning',
      code: 'MtpDropped',
      message: `slice ${index + 1} (${sourceName(slice.model, sources)}): its MTP layers are not kept; they come from the last slice's source ${last.name}, which has none`,
      slice: index,
      model: slice.model,
    },
  ];
}
