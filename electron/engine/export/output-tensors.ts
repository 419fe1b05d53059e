import { StudioError } from '../../api/errors.js';
import type { CheckpointSummary, Dtype, ResolvedPlan, ScaleRule, TensorInfo } from '../../api/types.js';
import { type LayerFamily, layerTensorName } from '../checkpoint/layer-families.js';
import { isPostWeight } from '../../common/plan/layer-plan.js';
import { layerTensorsByIndex } from '../../common/plan/plan-sources.js';
import { scaleFactorFor } from '../../common/plan/scale-rules.js';
import { ggufScaleRules } from '../formats/gguf-tensor-names.js';
import { zeroBlocksAreZero } from '../formats/ggml-zero.js';
import { bytesPerElement, type EncodeDtype } from '../stats/float-codec.js';

/** Where an output tensor's bytes come from: one tensor of one source file. */
export interface OutputTensorSource {
  /** Absolute path of the source shard. */
  file: string;
  /** Absolute byte offset of the tensor's first data byte in `file`. */
  offset: number;
  bytes: number;
  dtype: Dtype;
  /** The tensor's name in the source. */
  name: string;
  /** Checkpoint id of the source. */
  model: string;
}

/** One tensor of the export, as the exporter writes it and the verifier expects it. */
export interface OutputTensor {
  name: string;
  /** Output dtype (the source's unless the plan casts). */
  dtype: Dtype;
  shape: number[];
  /** Output data bytes (differs from `source.bytes` when converted). */
  bytes: number;
  source: OutputTensorSource;
  /** Factor applied to every element; 1 = the bytes are copied as they are (before any conversion). */
  scale: number;
  /** Set when the tensor is converted from `source.dtype` to `dtype`. */
  convertTo?: EncodeDtype;
  /** Output text-layer index (MTP layers included), or null for tensors outside the layer stack. */
  layer: number | null;
}

/** mergekit's `dtype` names and the safetensors dtype each one writes. */
const PLAN_DTYPES: Record<string, EncodeDtype> = {
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
};

/**
 * Floating dtypes a plan's cast converts and a scale rule may multiply (float-codec's encodings).
 * Integer and 8-bit tensors are copied as they are: an FP8 weight cast without its block scales
 * would be wrong.
 */
const TRANSFORMABLE_DTYPES: ReadonlySet<Dtype> = new Set<Dtype>(['F32', 'F16', 'BF16']);

export function isTransformableDtype(dtype: Dtype): dtype is EncodeDtype {
  return TRANSFORMABLE_DTYPES.has(dtype);
}

/** The naming family a summary's layers were read with (its prefix is authoritative for that checkpoint). */
function layerFamilyOf(summary: CheckpointSummary): LayerFamily {
  if (summary.layerPrefix === null) {
    throw new StudioError('InvalidPlan', `${summary.name} has no text decoder layers to take layers from`, { path: summary.folder });
  }
  return { id: summary.family, prefix: summary.layerPrefix };
}

/** The safetensors dtype a plan's `dtype` (mergekit's name) writes; undefined keeps the source dtypes. */
export function planOutputDtype(planDtype: string | undefined): EncodeDtype | undefined {
  if (planDtype === undefined) return undefined;
  const dtype = PLAN_DTYPES[planDtype];
  if (dtype === undefined) {
    throw new StudioError('InvalidPlan', `unknown output dtype "${planDtype}"; use one of ${Object.keys(PLAN_DTYPES).join(', ')}`);
  }
  return dtype;
}

/**
 * Every tensor of the export, in natural order: the first source's non-layer tensors (embeddings,
 * vision tower, projector), the output layers 0…n−1, the MTP layers moved behind them, then the
 * last source's final norm and head. Output layer j takes its source layer's tensors under the
 * name `layerTensorName(family, j, localName)`. Scale rules are mergekit's: a slice's rules match
 * the source tensor's name at the layer's position t in the slice; the first slice's rules also
 * scale the tensors before the layers and the last slice's those after (t = 0); MTP layers,
 * which mergekit does not know, are copied as they are. A tied source has no lm_head on disk and the export adds none.
 * The exporter and the verifier both call this, so they cannot disagree about what an export holds.
 */
export function planOutputTensors(resolved: ResolvedPlan, sources: ReadonlyMap<string, CheckpointSummary>): OutputTensor[] {
  const plan = resolved.plan;
  const outputDtype = planOutputDtype(plan.dtype);
  const sourceOf = (model: string | null): CheckpointSummary => {
    const summary = model === null ? undefined : sources.get(model);
    if (summary === undefined) throw new StudioError('InvalidPlan', `the plan's source ${model ?? '(none)'} is not open`, { path: model ?? undefined });
    return summary;
  };
  const first = sourceOf(resolved.embeddingsFrom ?? resolved.layers[0]?.model ?? null);
  const last = sourceOf(resolved.headFrom ?? resolved.layers.at(-1)?.model ?? null);
  const tensors: OutputTensor[] = [];
  const names = new Set<string>();

  const add = (tensor: TensorInfo, summary: CheckpointSummary, name: string, layer: number | null, scale: number): void => {
    if (names.has(name)) {
      throw new StudioError('Internal', `two tensors of the plan would both be written as "${name}"; please report this`, { path: summary.folder });
    }
    names.add(name);
    const convertTo = outputDtype !== undefined && outputDtype !== tensor.dtype && isTransformableDtype(tensor.dtype) ? outputDtype : undefined;
    if (scale !== 1 && !isTransformableDtype(tensor.dtype) && !(scale === 0 && zeroBlocksAreZero(tensor.dtype))) {
      const why = summary.format === 'gguf' ? 'only a factor of 0 (zero blocks) is exact in it without dequantising' : 'it is not a floating-point type';
      throw new StudioError('UnsupportedDtype', `cannot scale ${tensor.name} of ${summary.name} by ${scale}: its type is ${tensor.dtype}, and ${why}`, {
        path: tensor.file,
      });
    }
    const dtype = convertTo ?? tensor.dtype;
    const bytes = convertTo === undefined ? tensor.bytes : tensor.elements * bytesPerElement(convertTo);
    const output: OutputTensor = {
      name,
      dtype,
      shape: [...tensor.shape],
      bytes,
      source: { file: tensor.file, offset: tensor.offset, bytes: tensor.bytes, dtype: tensor.dtype, name: tensor.name, model: summary.id },
      scale,
      layer,
    };
    if (convertTo !== undefined) output.convertTo = convertTo;
    tensors.push(output);
  };

  const byKind = (order: readonly string[]) => (left: TensorInfo, right: TensorInfo): number =>
    kindRank(order, left.kind) - kindRank(order, right.kind);
  // mergekit's plan_module: tensors before the layers take the first slice's parameters, those
  // after take the last slice's, both at t = 0 and matched against the tensor's own name.
  const firstRules = rulesFor(first, plan.slices[0]?.scale);
  const lastRules = rulesFor(last, plan.slices.at(-1)?.scale);
  const leading = first.tensors.filter((tensor) => tensor.layer === null && !isPostWeight(tensor));
  for (const tensor of leading.sort(byKind(['embed']))) add(tensor, first, tensor.name, null, scaleFactorFor(firstRules, tensor.name, 0));

  for (const layer of resolved.layers) {
    const summary = sourceOf(layer.model);
    const layerTensors = layerTensorsByIndex(summary).get(layer.sourceLayer);
    if (layerTensors === undefined || layerTensors.length === 0) {
      throw new StudioError('InvalidPlan', `${summary.name} has no tensors for layer ${layer.sourceLayer}`, { path: summary.folder });
    }
    const family = layerFamilyOf(summary);
    for (const tensor of layerTensors) {
      const name = layerTensorName(family, layer.index, tensor.localName);
      // The rules match the SOURCE tensor's name (plan.py: `for_tensor(weight_in.name)`); the
      // layer's rules already hold its gradient values.
      add(tensor, summary, name, layer.index, scaleFactorFor(rulesFor(summary, layer.scale), tensor.name));
    }
  }

  if (plan.mtp !== 'drop') {
    // DeepSeek's MTP layers sit right after the text layers; they follow the new last layer.
    const mtpIndexes = [...last.mtpLayers].sort((a, b) => a - b);
    mtpIndexes.forEach((sourceIndex, position) => {
      const outputIndex = resolved.layers.length + position;
      for (const tensor of layerTensorsByIndex(last).get(sourceIndex) ?? []) {
        add(tensor, last, layerTensorName(layerFamilyOf(last), outputIndex, tensor.localName), outputIndex, 1);
      }
    });
  }

  const trailing = last.tensors.filter((tensor) => tensor.layer === null && isPostWeight(tensor));
  for (const tensor of trailing.sort(byKind(['final_norm', 'head']))) add(tensor, last, tensor.name, null, scaleFactorFor(lastRules, tensor.name, 0));
  return tensors;
}

/** Scale rules as they match the source's tensor names: GGUF names its layer tensors as llama.cpp does. */
function rulesFor(summary: CheckpointSummary, rules: readonly ScaleRule[] | undefined): readonly ScaleRule[] | undefined {
  return summary.format === 'gguf' ? ggufScaleRules(rules) : rules;
}

/** Position of a kind in `order` (stable sort key); kinds not listed come after. */
function kindRank(order: readonly string[], kind: string): number {
  const index = order.indexOf(kind);
  return index === -1 ? order.length : index;
}

/** How many MTP layers the export keeps (they follow the text layers). */
export function outputMtpLayers(resolved: ResolvedPlan, sources: ReadonlyMap<string, CheckpointSummary>): number {
  if (resolved.plan.mtp === 'drop' || resolved.headFrom === null) return 0;
  return sources.get(resolved.headFrom)?.mtpLayers.length ?? 0;
}
