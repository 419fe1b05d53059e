import path from 'node:path';
import { StudioError } from '../../api/errors.js';
import type { CheckpointSummary, ResolvedPlan } from '../../api/types.js';
import { ggufScalar, readGgufHeader, type GgufScalar, type GgufValue } from '../formats/gguf.js';
import { outputMtpLayers } from './output-tensors.js';

/** The key a GGUF export carries its plan in (mergekit YAML, absolute model paths), read back by verify. */
export const GGUF_PLAN_KEY = 'dus_studio.plan';

/**
 * Scalar keys that state a rule over layer positions (llama.cpp reads a period, an interval or a
 * leading count and derives each layer's kind from its index). A new layer order keeps the rule
 * only when every output layer sits where its source layer's kind is the same; otherwise the key
 * is refused by name (llama.cpp reads no array for these, so it cannot be re-expressed).
 */
const PERIOD_KEYS = ['attention.sliding_window_pattern', 'interleave_moe_layer_step', 'full_attention_interval', 'attention.chunk_layer_pattern'];
const LEADING_COUNT_KEYS = ['leading_dense_block_count'];
/** Layers counted from the end (MTP blocks): any order but the source's own breaks them. */
const TRAILING_COUNT_KEYS = ['nextn_predict_layers'];

/** Each output layer's source: the checkpoint id and its layer index. */
interface LayerSource {
  model: string;
  sourceLayer: number;
}

/** The raw header metadata of each source (the summary's view shortens long arrays). */
async function sourceMetadata(sources: ReadonlyMap<string, CheckpointSummary>, models: Iterable<string>): Promise<Map<string, Map<string, GgufValue>>> {
  const byModel = new Map<string, Map<string, GgufValue>>();
  for (const model of new Set(models)) {
    const summary = sources.get(model);
    const file = summary?.shards[0]?.file;
    if (summary === undefined || file === undefined) throw new StudioError('InvalidPlan', `the plan's source ${model} is not open`, { path: model });
    byModel.set(model, (await readGgufHeader(file)).metadata);
  }
  return byModel;
}

function layerCount(metadata: ReadonlyMap<string, GgufValue>, architecture: string): number | null {
  const value = ggufScalar(metadata, `${architecture}.block_count`);
  return typeof value === 'number' ? value : null;
}

/** Why a rule key's value no longer describes the new order, or null when it still does. */
function brokenRule(key: string, value: GgufValue, architecture: string, layers: readonly LayerSource[], sameOrder: boolean): string | null {
  const local = key.slice(architecture.length + 1);
  if (value.type === 'ARRAY' || typeof value.value !== 'number') return null;
  const setting = value.value;
  if (PERIOD_KEYS.includes(local) && setting > 1) {
    const moved = layers.findIndex((layer, index) => layer.sourceLayer % setting !== index % setting);
    return moved === -1 ? null : `${key} = ${setting} is a period over layer indexes, and output layer ${moved} comes from source layer ${(layers[moved] as LayerSource).sourceLayer}`;
  }
  if (LEADING_COUNT_KEYS.includes(local) && setting > 0) {
    const moved = layers.findIndex((layer, index) => index < setting !== layer.sourceLayer < setting);
    return moved === -1 ? null : `${key} = ${setting} counts the first layers, and output layer ${moved} comes from source layer ${(layers[moved] as LayerSource).sourceLayer}`;
  }
  if (TRAILING_COUNT_KEYS.includes(local) && setting > 0 && !sameOrder) {
    return `${key} = ${setting} counts the last layers, which a new layer order moves`;
  }
  return null;
}

export interface GgufExportMetadataInput {
  resolved: ResolvedPlan;
  sources: ReadonlyMap<string, CheckpointSummary>;
  /** general.name of the export. */
  name: string;
  /** The plan as mergekit YAML (stored under GGUF_PLAN_KEY). */
  planYaml: string;
}

/**
 * The export's header metadata: the first source's keys in their order (tokenizer and all),
 * `ARCH.block_count` set to the new count, every per-layer array (length = the source's block
 * count) remapped so output layer j takes its source layer's entry from its own source, rule keys
 * a new order would break refused by name, split keys dropped (the layout writes its own),
 * `general.name` and `general.base_model.*` naming the sources, and the plan.
 */
export async function ggufExportMetadata(input: GgufExportMetadataInput): Promise<Map<string, GgufValue>> {
  const { resolved, sources } = input;
  const firstId = resolved.embeddingsFrom ?? resolved.layers[0]?.model;
  if (firstId === undefined || firstId === null) throw new StudioError('InvalidPlan', 'the plan has no layers');
  const layers: LayerSource[] = resolved.layers.map((layer) => ({ model: layer.model, sourceLayer: layer.sourceLayer }));
  const byModel = await sourceMetadata(sources, [firstId, ...layers.map((layer) => layer.model)]);
  const first = byModel.get(firstId) as Map<string, GgufValue>;
  const firstFile = sources.get(firstId)?.shards[0]?.file ?? firstId;
  const architecture = ggufScalar(first, 'general.architecture');
  if (typeof architecture !== 'string') throw new StudioError('InvalidPlan', `${path.basename(firstFile)} has no general.architecture`, { path: firstFile });
  const blockCountKey = `${architecture}.block_count`;
  const oldCount = layerCount(first, architecture);
  if (oldCount === null) throw new StudioError('InvalidPlan', `${path.basename(firstFile)} has no ${blockCountKey}`, { path: firstFile });
  const newCount = resolved.numLayers + outputMtpLayers(resolved, sources);
  const sameOrder = layers.length === oldCount && layers.every((layer, index) => layer.model === firstId && layer.sourceLayer === index);

  const metadata = new Map<string, GgufValue>();
  for (const [key, value] of first) {
    if (key.startsWith('split.') || key.startsWith('general.base_model.') || key === GGUF_PLAN_KEY) continue;
    if (key === blockCountKey) {
      metadata.set(key, { type: value.type, value: newCount } as GgufValue);
      continue;
    }
    if (value.type === 'ARRAY' && value.values.length === oldCount && key.startsWith(`${architecture}.`)) {
      metadata.set(key, { ...value, values: remapLayerArray(key, layers, byModel, architecture, firstFile, newCount) });
      continue;
    }
    const broken = key.startsWith(`${architecture}.`) ? brokenRule(key, value, architecture, layers, sameOrder) : null;
    if (broken !== null) {
      throw new StudioError('InvalidPlan', `${path.basename(firstFile)}: ${broken}; llama.cpp reads no per-layer array for it, so this layer order cannot be exported as GGUF`, {
        path: firstFile,
        detail: { key },
      });
    }
    metadata.set(key, value);
  }
  metadata.set('general.name', { type: 'STRING', value: input.name });
  const sourceIds = [...new Set([firstId, ...layers.map((layer) => layer.model)])];
  metadata.set('general.base_model.count', { type: 'UINT32', value: sourceIds.length });
  sourceIds.forEach((id, index) => {
    const own = ggufScalar(byModel.get(id) as Map<string, GgufValue>, 'general.name');
    const name = typeof own === 'string' && own !== '' ? own : (sources.get(id)?.name ?? id);
    metadata.set(`general.base_model.${index}.name`, { type: 'STRING', value: name });
  });
  metadata.set(GGUF_PLAN_KEY, { type: 'STRING', value: input.planYaml });
  return metadata;
}

/** A per-layer array for the new order: output layer j takes entry sourceLayer of its own source's array; MTP entries follow from the first source's tail. */
function remapLayerArray(
  key: string,
  layers: readonly LayerSource[],
  byModel: ReadonlyMap<string, Map<string, GgufValue>>,
  architecture: string,
  firstFile: string,
  newCount: number,
): GgufScalar[] {
  const first = byModel.get(layers[0]?.model ?? '') ?? new Map<string, GgufValue>();
  const values = layers.map((layer) => {
    const own = byModel.get(layer.model)?.get(key);
    const count = layerCount(byModel.get(layer.model) ?? new Map(), architecture);
    if (own === undefined || own.type !== 'ARRAY' || own.values.length !== count) {
      throw new StudioError('InvalidPlan', `${key} is a per-layer array in ${path.basename(firstFile)} but not in the source of output layer ${layers.indexOf(layer)}`, {
        path: firstFile,
        detail: { key },
      });
    }
    return own.values[layer.sourceLayer] as GgufScalar;
  });
  // MTP blocks moved behind the text layers keep their own entries (the last ones of the source).
  const tail = first.get(key);
  const extra = newCount - layers.length;
  if (extra > 0 && tail !== undefined && tail.type === 'ARRAY') values.push(...tail.values.slice(tail.values.length - extra));
  return values;
}
