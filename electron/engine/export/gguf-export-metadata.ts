import path from 'node:path';
import { StudioError } from '../../api/errors.js';
import type { CheckpointSummary, ResolvedPlan } from '../../api/types.js';
import { ggufArrayLength, ggufScalar, readGgufHeader, type GgufScalar, type GgufValue } from '../formats/gguf.js';
import { chosenChatTemplate } from './chat-template-files.js';
import { outputMtpLayers } from './output-tensors.js';

/** Where llama.cpp reads a GGUF's chat template (gguf-py `Keys.Tokenizer.CHAT_TEMPLATE`). */
export const GGUF_CHAT_TEMPLATE_KEY = 'tokenizer.chat_template';

/** The key a GGUF export carries its plan in (mergekit YAML, absolute model paths), read back by verify. */
export const GGUF_PLAN_KEY = 'dus_studio.plan';

/**
 * Scalar keys that state a rule over layer positions (llama.cpp reads a period, an interval or a
 * leading count and derives each layer's kind from its index). A new layer order keeps the rule
 * only when every output layer sits where its source layer's kind is the same; otherwise the key
 * is refused by name. llama.cpp reads these with get_key or with the scalar get_key_or_arr
 * overload, which ignores an array when the key is optional (the period then silently falls back to
 * the architecture's default), so none of them can be re-expressed as a per-layer array; the one
 * exception is LAYER_ARRAY_KEYS below.
 */
const PERIOD_KEYS = ['attention.sliding_window_pattern', 'interleave_moe_layer_step', 'full_attention_interval', 'attention.chunk_layer_pattern'];
const LEADING_COUNT_KEYS = ['leading_dense_block_count'];
/** Layers counted from the end (MTP blocks): any order but the source's own breaks them. */
const TRAILING_COUNT_KEYS = ['nextn_predict_layers'];

/**
 * Keys that llama.cpp reads per layer for some architectures (get_key_or_arr into an array of
 * n_layer entries: an array of that length, or one scalar that holds for every layer), by key and
 * architecture (llama-model.cpp: gemma4, mimo2 and step35 read sliding_window_pattern into
 * swa_layers). There a scalar is one flag for all layers, not a period: no order breaks it, and an
 * array is remapped like every per-layer array.
 */
const LAYER_ARRAY_KEYS: Readonly<Record<string, readonly string[]>> = {
  'attention.sliding_window_pattern': ['gemma4', 'mimo2', 'step35'],
};

/**
 * Periods llama.cpp builds in when the file has a sliding window (`ARCH.attention.sliding_window`
 * > 0) but no `ARCH.attention.sliding_window_pattern` (the swa_period it starts from before
 * reading the key, then set_swa_pattern): every N-th layer attends fully, the others through the
 * window. A new order is checked against them as against the key itself.
 */
const DEFAULT_SWA_PERIODS: Readonly<Record<string, number>> = { gemma2: 2, gemma3: 6, gemma3n: 5, 'gemma-embedding': 6, cohere2: 4 };
const SWA_WINDOW_KEY = 'attention.sliding_window';
const SWA_PATTERN_KEY = 'attention.sliding_window_pattern';

/** True when llama.cpp reads `key` (without the architecture prefix) as a per-layer array for this architecture. */
function readAsLayerArray(localKey: string, architecture: string): boolean {
  return LAYER_ARRAY_KEYS[localKey]?.includes(architecture) === true;
}

/** The first output layer whose position breaks a period over layer indexes, or -1. */
function breaksPeriod(layers: readonly LayerSource[], period: number): number {
  return layers.findIndex((layer, index) => layer.sourceLayer % period !== index % period);
}

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
  // A scalar read per layer holds for every layer: no order moves it.
  if (readAsLayerArray(local, architecture)) return null;
  const setting = value.value;
  if (PERIOD_KEYS.includes(local) && setting > 1) {
    const moved = breaksPeriod(layers, setting);
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
 * `general.name` and `general.base_model.*` naming the sources, the plan's chat_template as
 * `tokenizer.chat_template` (for `auto`, the open sources' own templates vote), and the plan.
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

  refuseBrokenDefaultPeriod(first, architecture, layers, firstFile);
  const metadata = new Map<string, GgufValue>();
  for (const [key, value] of first) {
    if (key.startsWith('split.') || key.startsWith('general.base_model.') || key === GGUF_PLAN_KEY) continue;
    if (key === blockCountKey) {
      metadata.set(key, { type: value.type, value: newCount } as GgufValue);
      continue;
    }
    if (value.type === 'ARRAY' && key.startsWith(`${architecture}.`) && ggufArrayLength(value) === oldCount) {
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
  const chatTemplate = await chosenChatTemplate(resolved.plan, async (model) => {
    const own = byModel.has(model) ? ggufScalar(byModel.get(model) as Map<string, GgufValue>, GGUF_CHAT_TEMPLATE_KEY) : undefined;
    return typeof own === 'string' ? own : null;
  });
  if (chatTemplate !== null) metadata.set(GGUF_CHAT_TEMPLATE_KEY, { type: 'STRING', value: chatTemplate });
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

/**
 * An architecture with a built-in sliding-window period and no key to state it: the new order must
 * keep every layer's kind, as for the key itself. No array can say otherwise (these architectures
 * read the key as a scalar only), so a broken one is refused, naming the key llama.cpp would read.
 */
function refuseBrokenDefaultPeriod(metadata: ReadonlyMap<string, GgufValue>, architecture: string, layers: readonly LayerSource[], firstFile: string): void {
  const period = DEFAULT_SWA_PERIODS[architecture];
  const key = `${architecture}.${SWA_PATTERN_KEY}`;
  const window = ggufScalar(metadata, `${architecture}.${SWA_WINDOW_KEY}`);
  if (period === undefined || metadata.has(key) || typeof window !== 'number' || window <= 0) return;
  const moved = breaksPeriod(layers, period);
  if (moved === -1) return;
  throw new StudioError(
    'InvalidPlan',
    `${path.basename(firstFile)}: ${architecture} has no ${key}, so llama.cpp uses its built-in sliding-window period of ${period} over layer indexes, and output layer ${moved} comes from source layer ${(layers[moved] as LayerSource).sourceLayer}; llama.cpp reads no per-layer array for it, so this layer order cannot be exported as GGUF`,
    { path: firstFile, detail: { key } },
  );
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
