import type { CheckpointSummary, LayerPlan, OutputLayer, PlanProblem, ResolvedPlan, Seam, TensorInfo } from '../../api/types.js';
import { type SourceLookup, layerInfoByIndex, sliceLayers, sourceName } from './plan-sources.js';
import { validatePlan } from './plan-validation.js';
import { rulesAt, slicePosition } from './scale-rules.js';

export type { SourceLookup } from './plan-sources.js';
export { planModels } from './plan-sources.js';

const HEAD_KINDS: ReadonlySet<string> = new Set(['final_norm', 'head']);

/** Heads that no tensor kind names, as mergekit's architecture JSONs list them in post_weights. */
const POST_WEIGHT_MODULES = [
  // phi2-old.json: lm_head.linear.{weight,bias}, lm_head.ln.{weight,bias}
  'lm_head.',
  // *-sequence-classification.json: score.weight, score.bias
  'score.',
];

/**
 * True for a non-layer tensor that mergekit takes from the last slice's source (its architecture
 * JSONs' post_weights: final norm, head, and the heads above); all others come from the first's.
 */
export function isPostWeight(tensor: Pick<TensorInfo, 'kind' | 'name'>): boolean {
  return HEAD_KINDS.has(tensor.kind) || POST_WEIGHT_MODULES.some((prefix) => tensor.name.startsWith(prefix));
}

/** Parameters and tensor bytes of a plan's output, in source dtypes. */
export interface PlanSize {
  numLayers: number;
  parameters: number;
  totalBytes: number;
}

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
  const layers = expandPlan(plan, sources);
  problems.push(...missingLayers(plan, layers, sources));
  if (plan.mtp !== 'drop') problems.push(...mtpLeftBehind(plan, sources, lastSource(plan, sources)));
  const { parameters, totalBytes } = planSize(plan, layers, sources);
  return {
    plan,
    layers,
    numLayers: layers.length,
    parameters,
    totalBytes,
    embeddingsFrom: plan.slices[0]?.model ?? null,
    headFrom: plan.slices.at(-1)?.model ?? null,
    seams: findSeams(layers),
    problems,
    ok: !problems.some((problem) => problem.severity === 'error'),
  };
}

/**
 * The output layers of a plan, numbered in slice order. Only open sources contribute, and ranges
 * are clipped to their layers (validation reports the rest), so the canvas can draw a half-broken
 * plan on every drag frame without waiting for the engine.
 */
export function expandPlan(plan: LayerPlan, sources: SourceLookup): OutputLayer[] {
  const layers: OutputLayer[] = [];
  const uses = new Map<string, number>();
  plan.slices.forEach((slice, sliceIndex) => {
    const length = slice.end - slice.start;
    for (const sourceLayer of sliceLayers(slice, sources.get(slice.model))) {
      const key = sourceKey(slice.model, sourceLayer);
      const repeat = uses.get(key) ?? 0;
      uses.set(key, repeat + 1);
      layers.push({
        index: layers.length,
        model: slice.model,
        sourceLayer,
        slice: sliceIndex,
        // Gradients are evaluated here, at the layer's position in its slice (mergekit's t).
        scale: rulesAt(slice.scale, slicePosition(sourceLayer - slice.start, length)),
        repeat,
      });
    }
  });
  return layers;
}

/**
 * Parameters and bytes of the output: the copied layers, the first source's non-layer tensors,
 * the last source's final norm and head, and (unless dropped) the last source's MTP layers.
 */
export function planSize(plan: LayerPlan, layers: readonly OutputLayer[], sources: SourceLookup): PlanSize {
  let parameters = 0;
  let totalBytes = 0;
  for (const layer of layers) {
    const source = sources.get(layer.model);
    const info = source === undefined ? undefined : layerInfoByIndex(source).get(layer.sourceLayer);
    if (info === undefined) continue;
    parameters += info.parameters;
    totalBytes += info.bytes;
  }
  const first = plan.slices[0] === undefined ? undefined : sources.get(plan.slices[0].model);
  const last = lastSource(plan, sources);
  for (const tensor of first?.tensors ?? []) {
    if (tensor.layer !== null || isPostWeight(tensor)) continue;
    parameters += tensor.elements;
    totalBytes += tensor.bytes;
  }
  if (last !== undefined) {
    for (const tensor of last.tensors) {
      if (tensor.layer !== null || !isPostWeight(tensor)) continue;
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
  return { numLayers: layers.length, parameters, totalBytes };
}

/** A seam wherever the next output layer is not the next layer of the same source. */
export function findSeams(layers: readonly OutputLayer[]): Seam[] {
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

/** Key of one source layer (model id, layer index) in maps of uses. */
export function sourceKey(model: string, layer: number): string {
  return `${model}\u0000${layer}`;
}

/** How many output layers copy each source layer, keyed by `sourceKey`. */
export function useCounts(layers: readonly OutputLayer[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const layer of layers) {
    const key = sourceKey(layer.model, layer.sourceLayer);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

function lastSource(plan: LayerPlan, sources: SourceLookup): CheckpointSummary | undefined {
  const model = plan.slices.at(-1)?.model;
  return model === undefined ? undefined : sources.get(model);
}

/** One MissingLayer per slice whose source has no tensors for some of its layers. */
function missingLayers(plan: LayerPlan, layers: readonly OutputLayer[], sources: SourceLookup): PlanProblem[] {
  const missing = new Map<number, number[]>();
  for (const layer of layers) {
    const source = sources.get(layer.model);
    if (source === undefined || layerInfoByIndex(source).has(layer.sourceLayer)) continue;
    missing.set(layer.slice, [...(missing.get(layer.slice) ?? []), layer.sourceLayer]);
  }
  return [...missing].map(([sliceIndex, sourceLayers]) => {
    const model = plan.slices[sliceIndex]?.model ?? '';
    return {
      severity: 'error',
      code: 'MissingLayer',
      message: `slice ${sliceIndex + 1} (${sourceName(model, sources)}): no tensors found for layer ${sourceLayers.join(', ')}`,
      slice: sliceIndex,
      model,
      layer: sourceLayers[0] as number,
    };
  });
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
