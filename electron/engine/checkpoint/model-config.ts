import path from 'node:path';
import { StudioError } from '../../api/errors.js';
import { nestsDeeperThan, readTextFileWithin } from '../formats/bounded-read.js';

export const CONFIG_FILE_NAME = 'config.json';

/** Largest config.json read: model configs are a few kB, the largest on the Hub (label maps) about 1 MB. */
export const MAX_CONFIG_BYTES = 10_000_000;

/**
 * Deepest nesting of objects and arrays accepted in config.json. Real configs nest three or four
 * levels; the summary carries the config across IPC and HTTP, whose serializers recurse, and
 * Python's json module (transformers) stops at about a thousand.
 */
export const MAX_CONFIG_DEPTH = 100;

/** Layer-count keys, most common first (DESIGN.md §5). */
export const LAYER_COUNT_KEYS = ['num_hidden_layers', 'n_layer', 'n_layers', 'num_layers'] as const;

/** Per-family aliases of the size fields, most common first. */
const HIDDEN_KEYS = ['hidden_size', 'n_embd', 'd_model'];
const INTERMEDIATE_KEYS = ['intermediate_size', 'n_inner', 'ffn_hidden_size'];
const VOCAB_KEYS = ['vocab_size', 'padded_vocab_size'];
const HEAD_KEYS = ['num_attention_heads', 'n_head', 'n_heads'];
const KV_HEAD_KEYS = ['num_key_value_heads', 'num_kv_heads', 'multi_query_group_num'];

/** The sub-config that describes the text decoder of multimodal models. */
const TEXT_CONFIG_KEY = 'text_config';

/** What the engine needs from config.json, read once. */
export interface ModelConfigFacts {
  architecture: string | null;
  /** `model_type`, of `text_config` for multimodal models. */
  modelType: string | null;
  /** Dotted path of the layer-count key (`num_hidden_layers`, `text_config.num_hidden_layers`). */
  layerCountKey: string | null;
  numLayers: number | null;
  hiddenSize: number | null;
  intermediateSize: number | null;
  vocabSize: number | null;
  numAttentionHeads: number | null;
  numKeyValueHeads: number | null;
  /** `tie_word_embeddings` when the config states it (top level, else `text_config`). */
  tieWordEmbeddings: boolean | null;
  /** DeepSeek's `num_nextn_predict_layers`: multi-token-prediction layers after the decoder; 0 when absent. */
  numNextnPredictLayers: number;
  /** True when layers past the layer count are multi-token-prediction layers (nextn > 0, or model_type deepseek_v3). */
  hasMtp: boolean;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const UNSAFE_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor']);

function pathSegments(dotted: string): string[] {
  const segments = dotted.split('.');
  for (const segment of segments) {
    if (segment.length === 0 || UNSAFE_SEGMENTS.has(segment)) {
      throw new StudioError('InvalidConfig', `"${dotted}" is not a usable config key path`);
    }
  }
  return segments;
}

/** The value at a dotted path (`text_config.num_hidden_layers`), or undefined when any step is missing. */
export function getConfigPath(config: Record<string, unknown>, dotted: string): unknown {
  let current: unknown = config;
  for (const segment of pathSegments(dotted)) {
    if (!isPlainObject(current) || !Object.hasOwn(current, segment)) return undefined;
    current = current[segment];
  }
  return current;
}

/** Sets the value at a dotted path, creating missing intermediate objects; refuses to walk through a non-object. */
export function setConfigPath(config: Record<string, unknown>, dotted: string, value: unknown): void {
  const segments = pathSegments(dotted);
  let current: Record<string, unknown> = config;
  for (const segment of segments.slice(0, -1)) {
    const next = Object.hasOwn(current, segment) ? current[segment] : undefined;
    if (next === undefined) {
      const created: Record<string, unknown> = {};
      current[segment] = created;
      current = created;
    } else if (isPlainObject(next)) {
      current = next;
    } else {
      throw new StudioError('InvalidConfig', `cannot set "${dotted}": "${segment}" is not an object`);
    }
  }
  current[segments[segments.length - 1] as string] = value;
}

/** Reads config.json: InvalidConfig (naming the file) for bad JSON or a non-object. */
export async function readModelConfig(configPath: string): Promise<Record<string, unknown>> {
  const text = await readTextFileWithin(configPath, { what: 'config file', maxBytes: MAX_CONFIG_BYTES, invalidCode: 'InvalidConfig' });
  const file = path.basename(configPath);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new StudioError('InvalidConfig', `${file}: not valid JSON (${error instanceof Error ? error.message : String(error)})`, {
      path: configPath,
      cause: error,
    });
  }
  if (!isPlainObject(parsed)) throw new StudioError('InvalidConfig', `${file}: must be a JSON object`, { path: configPath });
  if (nestsDeeperThan(parsed, MAX_CONFIG_DEPTH)) {
    throw new StudioError('InvalidConfig', `${file}: nests objects or lists more than ${MAX_CONFIG_DEPTH} levels deep`, { path: configPath });
  }
  return parsed;
}

/** The dotted path of the layer-count key: under `text_config` when that holds one, else at the top level. */
export function findLayerCountKey(config: Record<string, unknown>): string | null {
  const textConfig = config[TEXT_CONFIG_KEY];
  if (isPlainObject(textConfig)) {
    for (const key of LAYER_COUNT_KEYS) if (Object.hasOwn(textConfig, key)) return `${TEXT_CONFIG_KEY}.${key}`;
  }
  for (const key of LAYER_COUNT_KEYS) if (Object.hasOwn(config, key)) return key;
  return null;
}

/** A short description of a JSON value for a message: never the whole of a huge or deeply nested one. */
function describeJsonValue(value: unknown): string {
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (isPlainObject(value)) return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** The first alias present as a non-negative integer, in `text_config` first, then at the top level. */
function readCount(config: Record<string, unknown>, keys: readonly string[]): number | null {
  const textConfig = config[TEXT_CONFIG_KEY];
  for (const scope of isPlainObject(textConfig) ? [textConfig, config] : [config]) {
    for (const key of keys) {
      const value = scope[key];
      if (isCount(value)) return value;
    }
  }
  return null;
}

/**
 * The facts of a config.json the engine relies on. A layer count that is present but not a
 * non-negative integer is an InvalidConfig: every plan depends on it. Other odd fields read as null.
 */
export function readConfigFacts(config: Record<string, unknown>, configPath?: string): ModelConfigFacts {
  const textConfig = isPlainObject(config[TEXT_CONFIG_KEY]) ? (config[TEXT_CONFIG_KEY] as Record<string, unknown>) : null;
  const layerCountKey = findLayerCountKey(config);
  let numLayers: number | null = null;
  if (layerCountKey !== null) {
    const value = getConfigPath(config, layerCountKey);
    if (!isCount(value)) {
      const file = configPath === undefined ? CONFIG_FILE_NAME : path.basename(configPath);
      throw new StudioError('InvalidConfig', `${file}: "${layerCountKey}" must be a non-negative integer, found ${describeJsonValue(value)}`, {
        path: configPath,
      });
    }
    numLayers = value;
  }
  const architectures = config.architectures;
  const architecture = Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : null;
  const textModelType = textConfig?.model_type;
  const modelType = typeof textModelType === 'string' ? textModelType : typeof config.model_type === 'string' ? config.model_type : null;
  const tie = typeof config.tie_word_embeddings === 'boolean' ? config.tie_word_embeddings : textConfig?.tie_word_embeddings;
  const numNextnPredictLayers = readCount(config, ['num_nextn_predict_layers']) ?? 0;
  return {
    architecture,
    modelType,
    layerCountKey,
    numLayers,
    hiddenSize: readCount(config, HIDDEN_KEYS),
    intermediateSize: readCount(config, INTERMEDIATE_KEYS),
    vocabSize: readCount(config, VOCAB_KEYS),
    numAttentionHeads: readCount(config, HEAD_KEYS),
    numKeyValueHeads: readCount(config, KV_HEAD_KEYS),
    tieWordEmbeddings: typeof tie === 'boolean' ? tie : null,
    numNextnPredictLayers,
    hasMtp: numNextnPredictLayers > 0 || config.model_type === 'deepseek_v3' || textModelType === 'deepseek_v3',
  };
}
