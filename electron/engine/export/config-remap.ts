import type { CheckpointSummary, ResolvedPlan } from '../../api/types.js';
import { findLayerCountKey, getConfigPath } from '../checkpoint/model-config.js';
import { configDonor, formatLayerRuns } from '../../common/plan/plan-sources.js';
import { outputMtpLayers } from './output-tensors.js';

/**
 * config.json for an export: the config donor's (base_model, else the first source's) with the layer count set and every field
 * that describes layers one by one (DESIGN.md §5) rewritten for the new stack. mergekit only sets
 * the count; transformers then builds sliding/full attention, dense/MoE blocks or RoPE/NoPE layers
 * at the wrong places, or refuses a `layer_types` list of the wrong length.
 */

type ConfigObject = Record<string, unknown>;

export interface ConfigLayerSource {
  /** config.json of the source this output layer comes from (null when that source has none). */
  config: ConfigObject | null;
  /** The layer of that source that becomes this output layer. */
  sourceLayer: number;
}

export interface RemapConfigInput {
  /** The first source's config.json; deep-copied, never changed. */
  config: ConfigObject;
  /** Dotted path of the layer-count key (`num_hidden_layers`, `text_config.num_hidden_layers`). */
  layerCountKey: string | null;
  /** One entry per output layer, in output order. */
  layers: ConfigLayerSource[];
  /** Multi-token-prediction layers the export keeps after the text layers. */
  mtpLayers: number;
  /** Output dtype as mergekit names it (`bfloat16`) or as safetensors does (`BF16`); absent = unchanged. */
  dtype?: string;
}

export interface RemapConfigResult {
  config: ConfigObject;
  warnings: string[];
}

/** Per-layer lists whose entry i describes layer i; each output layer takes its source layer's entry. */
const PER_LAYER_LISTS = ['layer_types', 'mlp_layer_types', 'no_rope_layers', 'attention_layers'] as const;
type PerLayerList = (typeof PER_LAYER_LISTS)[number];

const TORCH_DTYPES: Record<string, string> = {
  bfloat16: 'bfloat16',
  float16: 'float16',
  float32: 'float32',
  float64: 'float64',
  BF16: 'bfloat16',
  F16: 'float16',
  F32: 'float32',
  F64: 'float64',
};

/** The output layer j's origin: the config section (text part) of its source and its source layer. */
interface LayerOrigin {
  section: ConfigObject;
  layer: number;
}

/**
 * The export's config: a deep copy of the donor's (base_model or the first source), its layer count set, per-layer lists
 * remapped (output layer j takes its source layer's entry from its own source's config), index
 * lists rebuilt, and layer rules kept, adjusted, replaced by explicit lists or flagged. Warnings say
 * what could not be expressed as the source stated it.
 */
export function remapConfig(input: RemapConfigInput): RemapConfigResult {
  const config = structuredClone(input.config);
  const warnings: string[] = [];
  const countKey = input.layerCountKey ?? findLayerCountKey(config);
  if (countKey === null) {
    warnings.push('config.json names no layer count (num_hidden_layers, n_layer, n_layers or num_layers); it was copied unchanged');
    setOutputDtype(config, null, input.dtype);
    return { config, warnings };
  }
  const sectionPath = countKey.includes('.') ? countKey.slice(0, countKey.lastIndexOf('.')) : '';
  const countField = countKey.slice(countKey.lastIndexOf('.') + 1);
  const section = sectionOf(config, sectionPath);
  if (section === null) {
    warnings.push(`config.json has no object at ${sectionPath}; it was copied unchanged`);
    setOutputDtype(config, null, input.dtype);
    return { config, warnings };
  }
  const firstSection = sectionOf(input.config, sectionPath) ?? input.config;
  let missingConfig = false;
  const origins: LayerOrigin[] = input.layers.map((layer) => {
    if (layer.config === null) missingConfig = true;
    const sourceConfig = layer.config ?? input.config;
    return { section: sectionOf(sourceConfig, sectionPath) ?? sourceConfig, layer: layer.sourceLayer };
  });
  if (missingConfig) {
    warnings.push('a source has no config.json; its layers were assumed to be laid out like the first source\'s');
  }
  const remapper = new ConfigRemapper(section, firstSection, origins, warnings);
  section[countField] = origins.length;
  remapper.remapPerLayerLists();
  remapper.remapGptNeoAttentionTypes();
  remapper.reexpressAttentionRules();
  remapper.reexpressSparseStep();
  remapper.reexpressFirstKDense();
  remapper.reexpressJambaPeriods();
  remapper.rebuildMoeLayers();
  remapper.reexpressNoRopeInterval();
  if (typeof section.num_nextn_predict_layers === 'number' && section.num_nextn_predict_layers !== input.mtpLayers) {
    section.num_nextn_predict_layers = input.mtpLayers;
  }
  setOutputDtype(config, sectionPath === '' ? null : section, input.dtype);
  return { config, warnings: [...new Set(warnings)] };
}

/** transformers' name of a dtype (`bfloat16`), from mergekit's or safetensors' spelling; null when unknown. */
function torchDtypeName(dtype: string): string | null {
  return TORCH_DTYPES[dtype] ?? null;
}

function setOutputDtype(config: ConfigObject, textSection: ConfigObject | null, dtype: string | undefined): void {
  if (dtype === undefined) return;
  const name = torchDtypeName(dtype);
  if (name === null) return;
  config.torch_dtype = name;
  // transformers ≥ 4.56 writes `dtype`; keep both spellings in step where the source has the new one.
  if ('dtype' in config) config.dtype = name;
  if (textSection !== null) {
    if ('torch_dtype' in textSection) textSection.torch_dtype = name;
    if ('dtype' in textSection) textSection.dtype = name;
  }
}

/** A JSON object (not an array, not null), as config.json and its sections are. */
export function isConfigObject(value: unknown): value is ConfigObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sectionOf(config: ConfigObject, sectionPath: string): ConfigObject | null {
  if (sectionPath === '') return config;
  const value = getConfigPath(config, sectionPath);
  return isConfigObject(value) ? value : null;
}

function numberField(section: ConfigObject, key: string): number | null {
  const value = section[key];
  return typeof value === 'number' && Number.isInteger(value) ? value : null;
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index);
}

/** GPT-Neo's `attention_types` ([[["global", "local"], 12]]) expanded to one entry per layer, as transformers does. */
export function expandAttentionTypes(attentionTypes: unknown): string[] | null {
  if (!Array.isArray(attentionTypes)) return null;
  const layers: string[] = [];
  for (const item of attentionTypes) {
    if (!Array.isArray(item) || item.length !== 2) return null;
    const [pattern, repeat] = item as [unknown, unknown];
    if (!Array.isArray(pattern) || typeof repeat !== 'number') return null;
    for (let time = 0; time < repeat; time += 1) {
      for (const kind of pattern) {
        if (typeof kind !== 'string') return null;
        layers.push(kind);
      }
    }
  }
  return layers;
}

/**
 * Attention kind of one layer as transformers derives it when `layer_types` is absent: Qwen3-Next's
 * `full_attention_interval`, Gemma 3 / Cohere 2's `sliding_window_pattern` (defaults 6 and 4),
 * Gemma 2's fixed alternation, Qwen2's `max_window_layers` (sliding iff i ≥ max_window_layers and
 * sliding is on). Undefined for configs that describe no per-layer attention.
 */
function derivedAttentionType(section: ConfigObject, layer: number): string | undefined {
  const interval = numberField(section, 'full_attention_interval');
  if (interval !== null && interval > 0) return (layer + 1) % interval !== 0 ? 'linear_attention' : 'full_attention';
  const pattern = slidingWindowPattern(section);
  if (pattern !== null) return (layer + 1) % pattern !== 0 ? 'sliding_attention' : 'full_attention';
  const maxWindowLayers = numberField(section, 'max_window_layers');
  if (maxWindowLayers !== null) {
    const sliding = section.use_sliding_window === true && section.sliding_window !== null && section.sliding_window !== undefined;
    return sliding && layer >= maxWindowLayers ? 'sliding_attention' : 'full_attention';
  }
  return undefined;
}

/** The period of sliding/full alternation for the Gemma 2/3 and Cohere 2 rule, or null for other models. */
function slidingWindowPattern(section: ConfigObject): number | null {
  const pattern = numberField(section, 'sliding_window_pattern');
  if (pattern !== null && pattern > 0) return pattern;
  switch (section.model_type) {
    case 'gemma3':
    case 'gemma3_text':
      return 6;
    case 'cohere2':
      return 4;
    case 'gemma2':
      return 2;
    default:
      return null;
  }
}

/** DeepSeek's rule: MoE iff routed experts exist, i ≥ first_k_dense_replace and i % moe_layer_freq = 0. */
function firstKDenseRule(section: ConfigObject): ((layer: number, k?: number) => string) | null {
  const firstK = numberField(section, 'first_k_dense_replace');
  if (firstK === null) return null;
  const hasExperts = section.n_routed_experts !== null;
  const frequency = numberField(section, 'moe_layer_freq') ?? 1;
  return (layer, k = firstK) => (hasExperts && layer >= k && layer % frequency === 0 ? 'sparse' : 'dense');
}

function firstKDenseType(section: ConfigObject, layer: number): string | undefined {
  return firstKDenseRule(section)?.(layer);
}

function listEntry(section: ConfigObject, field: PerLayerList, layer: number): unknown {
  const list = field === 'attention_layers' ? (section.attention_layers ?? expandAttentionTypes(section.attention_types)) : section[field];
  return Array.isArray(list) && layer < list.length ? list[layer] : undefined;
}

/** One layer's entry for a per-layer list: the source's own list, else what its rule implies. */
function perLayerEntry(section: ConfigObject, field: PerLayerList, layer: number): unknown {
  const entry = listEntry(section, field, layer);
  if (entry !== undefined) return entry;
  switch (field) {
    case 'layer_types':
      return derivedAttentionType(section, layer);
    case 'mlp_layer_types':
      return firstKDenseType(section, layer);
    case 'no_rope_layers': {
      const interval = numberField(section, 'no_rope_layer_interval');
      return interval !== null && interval > 0 ? Number((layer + 1) % interval !== 0) : undefined;
    }
    case 'attention_layers':
      return undefined;
  }
}

/** The first parameter (the current one first) under which `predict` yields `sequence`, or null. */
function fitRule<P>(sequence: readonly unknown[], candidates: Iterable<P>, predict: (parameter: P, layer: number) => unknown): P | null {
  for (const candidate of candidates) {
    if (sequence.every((value, layer) => predict(candidate, layer) === value)) return candidate;
  }
  return null;
}

function* withCurrent<P>(current: P, rest: Iterable<P>): Iterable<P> {
  yield current;
  yield* rest;
}

class ConfigRemapper {
  constructor(
    private readonly section: ConfigObject,
    private readonly firstSection: ConfigObject,
    private readonly origins: readonly LayerOrigin[],
    private readonly warnings: string[],
  ) {}

  private get count(): number {
    return this.origins.length;
  }

  /** Entry j of `field` for the output: from layer j's own source, else the first source's, with a warning. */
  private outputEntries(field: PerLayerList): unknown[] {
    return this.origins.map((origin, index) => {
      const own = perLayerEntry(origin.section, field, origin.layer);
      if (own !== undefined) return own;
      const fallback = perLayerEntry(this.firstSection, field, origin.layer);
      this.warnings.push(
        `the source of output layer ${index} states no ${field} entry for its layer ${origin.layer}; the first source's entry was used`,
      );
      if (fallback !== undefined) return fallback;
      const first = listEntry(this.firstSection, field, 0);
      return first;
    });
  }

  remapPerLayerLists(): void {
    for (const field of PER_LAYER_LISTS) {
      if (Array.isArray(this.section[field])) this.section[field] = this.outputEntries(field);
    }
  }

  /** GPT-Neo: expand, remap, and write back; the original pattern's repeat count is adjusted when it still fits. */
  remapGptNeoAttentionTypes(): void {
    const original = this.section.attention_types;
    if (expandAttentionTypes(original) === null) return;
    const sequence = this.origins.map((origin) => listEntry(origin.section, 'attention_layers', origin.layer));
    if (sequence.some((kind) => typeof kind !== 'string')) {
      this.warnings.push('a source of the export states no attention_types entry for one of its layers; attention_types was left as the first source had it');
      return;
    }
    const kinds = sequence as string[];
    const items = original as [string[], number][];
    const pattern = items.length === 1 ? items[0]?.[0] : undefined;
    if (pattern !== undefined && pattern.length > 0 && kinds.length % pattern.length === 0 && kinds.every((kind, layer) => kind === pattern[layer % pattern.length])) {
      this.section.attention_types = [[pattern, kinds.length / pattern.length]];
    } else {
      this.section.attention_types = [[kinds, 1]];
    }
    if (Array.isArray(this.section.attention_layers)) this.section.attention_layers = kinds;
  }

  /**
   * Sliding/full/linear attention: keep or adjust `full_attention_interval`, `sliding_window_pattern`
   * and `max_window_layers` when they still describe the new order; otherwise the export states
   * `layer_types` explicitly (transformers prefers it over every rule).
   */
  reexpressAttentionRules(): void {
    const section = this.section;
    const hasList = Array.isArray(section.layer_types);
    const interval = numberField(section, 'full_attention_interval');
    const pattern = slidingWindowPattern(section);
    const maxWindowLayers = numberField(section, 'max_window_layers');
    if (!hasList && interval === null && pattern === null && maxWindowLayers === null) return;
    const attention = this.outputEntries('layer_types');
    const needsList: string[] = [];
    const upTo = this.count + 1;

    if (interval !== null) {
      const fitted = fitRule(attention, withCurrent(interval, range(upTo + 1).slice(1)), (period, layer) =>
        (layer + 1) % period !== 0 ? 'linear_attention' : 'full_attention',
      );
      if (fitted === null) needsList.push(`full_attention_interval (${interval})`);
      else section.full_attention_interval = fitted;
    } else if (pattern !== null) {
      const fitted = fitRule(attention, withCurrent(pattern, range(upTo + 1).slice(1)), (period, layer) =>
        (layer + 1) % period !== 0 ? 'sliding_attention' : 'full_attention',
      );
      const ruleName = 'sliding_window_pattern' in section ? `sliding_window_pattern (${pattern})` : `${String(section.model_type)}'s alternation of sliding and full attention every ${pattern} layers`;
      if (fitted === null) needsList.push(ruleName);
      else if ('sliding_window_pattern' in section) section.sliding_window_pattern = fitted;
      else if (fitted !== pattern) needsList.push(ruleName);
    }

    if (maxWindowLayers !== null) {
      // The rule's own reading (i ≥ max_window_layers), which also matters while sliding is off:
      // a user who turns it on later must get the source layers' windows back.
      const beyond = this.origins.map((origin) => {
        const sourceValue = numberField(origin.section, 'max_window_layers') ?? maxWindowLayers;
        return origin.layer >= sourceValue;
      });
      const fitted = fitRule(beyond, withCurrent(maxWindowLayers, range(upTo)), (k, layer) => layer >= k);
      if (fitted !== null) section.max_window_layers = fitted;
      else if (attention.includes('sliding_attention')) needsList.push(`max_window_layers (${maxWindowLayers})`);
    }

    if (needsList.length > 0) {
      section.layer_types = attention;
      for (const rule of needsList) {
        this.warnings.push(`${rule} cannot describe the new order of attention layers; the export's config.json lists each layer in layer_types`);
      }
    }
  }

  /**
   * Qwen2-MoE / Qwen3-MoE / Qwen3-Next: a layer is MoE iff it is not in `mlp_only_layers` and
   * (i + 1) % decoder_sparse_step = 0. The list is rebuilt; the step is kept when every MoE layer
   * still falls on it, else it becomes 1 and the list names every dense layer.
   */
  reexpressSparseStep(): void {
    const section = this.section;
    const step = numberField(section, 'decoder_sparse_step');
    const experts = numberField(section, 'num_experts') ?? numberField(section, 'num_local_experts') ?? 0;
    // Without experts every block is dense whatever the rule says.
    if ((step === null && !Array.isArray(section.mlp_only_layers)) || experts <= 0) return;
    const sparse = this.origins.map((origin) => {
      const sourceExperts = numberField(origin.section, 'num_experts') ?? numberField(origin.section, 'num_local_experts') ?? 0;
      const sourceStep = numberField(origin.section, 'decoder_sparse_step') ?? 1;
      const denseList = Array.isArray(origin.section.mlp_only_layers) ? origin.section.mlp_only_layers : [];
      return sourceExperts > 0 && sourceStep > 0 && !denseList.includes(origin.layer) && (origin.layer + 1) % sourceStep === 0;
    });
    let outputStep = step ?? 1;
    if (outputStep <= 0 || !sparse.every((isSparse, layer) => !isSparse || (layer + 1) % outputStep === 0)) {
      this.warnings.push(
        `decoder_sparse_step (${String(step)}) cannot describe the new order of MoE layers; the export sets it to 1 and lists every dense layer in mlp_only_layers`,
      );
      outputStep = 1;
    }
    if (step !== null) section.decoder_sparse_step = outputStep;
    const denseOnStep = range(this.count).filter((layer) => !sparse[layer] && (layer + 1) % outputStep === 0);
    if (Array.isArray(section.mlp_only_layers) || denseOnStep.length > 0) section.mlp_only_layers = denseOnStep;
  }

  /**
   * DeepSeek V2/V3: dense iff i < first_k_dense_replace. Adjusted when the new order still starts
   * with all dense layers; otherwise `mlp_layer_types` (where the model has it) carries the order,
   * and where it does not, config.json cannot express it.
   */
  reexpressFirstKDense(): void {
    const section = this.section;
    const k = numberField(section, 'first_k_dense_replace');
    const rule = firstKDenseRule(section);
    if (k === null || rule === null) return;
    // Model-specific words for a MoE block ('sparse', 'moe') all mean "not dense" here.
    const kinds = this.origins.map((origin) => {
      const kind = listEntry(origin.section, 'mlp_layer_types', origin.layer) ?? firstKDenseType(origin.section, origin.layer);
      return kind === 'dense' ? 'dense' : 'sparse';
    });
    const fitted = fitRule(kinds, withCurrent(k, range(this.count + 1)), (candidate, layer) => rule(layer, candidate));
    if (fitted !== null) {
      section.first_k_dense_replace = fitted;
      return;
    }
    const misplaced = range(this.count).filter((layer) => kinds[layer] !== rule(layer));
    if (Array.isArray(section.mlp_layer_types)) {
      this.warnings.push(`first_k_dense_replace (${k}) cannot describe the new order of dense and MoE layers; mlp_layer_types lists each layer`);
    } else {
      this.warnings.push(
        `the export's config cannot express the layer order: no first_k_dense_replace puts the dense and MoE layers where the plan does (output layers ${formatLayerRuns(misplaced)} differ), so transformers would build the wrong block there`,
      );
    }
  }

  /** Jamba: attention iff i % attn_layer_period = attn_layer_offset; MoE iff i % expert_layer_period = expert_layer_offset. */
  reexpressJambaPeriods(): void {
    this.reexpressPeriod('attn_layer_period', 'attn_layer_offset', 'attention and Mamba layers');
    this.reexpressPeriod('expert_layer_period', 'expert_layer_offset', 'MoE and dense layers');
  }

  private reexpressPeriod(periodKey: string, offsetKey: string, what: string): void {
    const section = this.section;
    const period = numberField(section, periodKey);
    const offset = numberField(section, offsetKey);
    if (period === null || offset === null) return;
    const onRule = this.origins.map((origin) => {
      const sourcePeriod = numberField(origin.section, periodKey) ?? period;
      const sourceOffset = numberField(origin.section, offsetKey) ?? offset;
      return sourcePeriod > 0 && origin.layer % sourcePeriod === sourceOffset;
    });
    const candidates = function* (count: number): Iterable<[number, number]> {
      yield [period, offset];
      for (let p = 1; p <= Math.max(count, 1); p += 1) for (let o = 0; o < p; o += 1) yield [p, o];
    };
    const fitted = fitRule(onRule, candidates(this.count), ([p, o], layer) => p > 0 && layer % p === o);
    if (fitted === null) {
      this.warnings.push(
        `the export's config cannot express the layer order: no ${periodKey}/${offsetKey} pair places the ${what} where the plan puts them, and transformers has no per-layer list for this model`,
      );
      return;
    }
    section[periodKey] = fitted[0];
    section[offsetKey] = fitted[1];
  }

  /** Llama 4: `moe_layers` lists MoE layer indexes; without it, every interleave_moe_layer_step-th layer is MoE. */
  rebuildMoeLayers(): void {
    const section = this.section;
    const step = numberField(section, 'interleave_moe_layer_step');
    const hasList = Array.isArray(section.moe_layers);
    if (!hasList && step === null) return;
    const moeOf = (origin: LayerOrigin): boolean => {
      const list = origin.section.moe_layers;
      if (Array.isArray(list)) return list.includes(origin.layer);
      const sourceStep = numberField(origin.section, 'interleave_moe_layer_step') ?? step ?? 0;
      return sourceStep > 0 && (origin.layer + 1) % sourceStep === 0;
    };
    const moe = this.origins.map(moeOf);
    const indexes = range(this.count).filter((layer) => moe[layer]);
    if (hasList) {
      section.moe_layers = indexes;
      return;
    }
    const fitted = fitRule(moe, withCurrent(step ?? 1, range(this.count + 2).slice(1)), (candidate, layer) => (layer + 1) % candidate === 0);
    if (fitted !== null) {
      section.interleave_moe_layer_step = fitted;
      return;
    }
    section.moe_layers = indexes;
    this.warnings.push(`interleave_moe_layer_step (${String(step)}) cannot describe the new order of MoE layers; the export's config.json lists them in moe_layers`);
  }

  /** SmolLM3 / Llama 4: RoPE iff (i + 1) % no_rope_layer_interval ≠ 0, unless `no_rope_layers` lists each layer. */
  reexpressNoRopeInterval(): void {
    const section = this.section;
    const interval = numberField(section, 'no_rope_layer_interval');
    if (interval === null || Array.isArray(section.no_rope_layers)) return;
    const rope = this.outputEntries('no_rope_layers');
    const fitted = fitRule(rope, withCurrent(interval, range(this.count + 2).slice(1)), (candidate, layer) => Number((layer + 1) % candidate !== 0));
    if (fitted !== null) {
      section.no_rope_layer_interval = fitted;
      return;
    }
    section.no_rope_layers = rope;
    this.warnings.push(`no_rope_layer_interval (${interval}) cannot describe the new order of RoPE and NoPE layers; the export's config.json lists each layer in no_rope_layers`);
  }
}

/**
 * config.json of an export of `resolved`: the config donor's (base_model, else the first slice's
 * source), remapped; null when the donor has no config.json. The exporter writes it and the
 * verifier expects it.
 */
export function exportConfigFor(resolved: ResolvedPlan, sources: ReadonlyMap<string, CheckpointSummary>): RemapConfigResult | null {
  const donorId = configDonor(resolved.plan);
  const donor = donorId === undefined ? undefined : sources.get(donorId);
  if (donor === undefined || donor.config === null) return null;
  const input: RemapConfigInput = {
    config: donor.config,
    layerCountKey: donor.layerCountKey,
    layers: resolved.layers.map((layer) => ({ config: sources.get(layer.model)?.config ?? null, sourceLayer: layer.sourceLayer })),
    mtpLayers: outputMtpLayers(resolved, sources),
  };
  if (resolved.plan.dtype !== undefined) input.dtype = resolved.plan.dtype;
  return remapConfig(input);
}
