import path from 'node:path';
import {
  Composer,
  CST,
  Document,
  Lexer,
  LineCounter,
  Parser,
  type YAMLError,
  YAMLParseError,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  visit,
} from 'yaml';
import type { ProblemCode } from '../../api/errors.js';
import { MAX_CHAT_TEMPLATE_LENGTH, MAX_GRADIENT_POINTS, MAX_LAYER_COUNT, MAX_PATH_LENGTH, MAX_SCALE_RULES, MAX_SLICES } from '../../api/limits.js';
import type { LayerPlan, PlanProblem, PlanSlice, ScaleRule, YamlImport } from '../../api/types.js';
import { chatTemplateChoice, invalidChatTemplateMessage } from '../../common/plan/chat-templates.js';
import { PLAN_DTYPES } from '../../common/plan/plan-validation.js';
import { sliceLayers, type SourceLookup } from '../../common/plan/plan-sources.js';

/**
 * Deepest nesting of collections read. mergekit configs nest about eight levels; the yaml
 * library composes recursively, and a stack overflow inside its regular expressions aborts the
 * whole process instead of throwing, so depth is checked on the parser's tokens before composing.
 */
export const MAX_YAML_DEPTH = 64;

/**
 * Most aliases a plan may use. A mergekit config repeats a source or a scale list with a few of
 * them; thousands make parsing and composing take seconds, so they are counted on the lexer's
 * tokens and refused before anything is parsed.
 */
export const MAX_YAML_ALIASES = 300;

/**
 * Most gradient numbers one YAML may hold in all, counting every alias reference: aliases can
 * repeat a gradient in every rule of every slice, which would otherwise build billions of numbers.
 */
export const MAX_YAML_GRADIENT_POINTS = 65_536;

/** Longest scale filter, as the API contract allows. */
const MAX_FILTER_LENGTH = 256;

/** mergekit options DUS Studio recognises but cannot carry out, with what to tell the user. */
const UNSUPPORTED_TOP_LEVEL: Readonly<Record<string, string>> = {
  modules: "per-module merges ('modules') are not supported",
  tokenizer: "the 'tokenizer' block (vocabulary merging) is not supported; use 'tokenizer_source'",
};

const UNSUPPORTED_IN_SLICE: Readonly<Record<string, string>> = {
  base_model: "a slice's own 'base_model' is not supported by passthrough",
  residual_weight: "'residual_weight' is not supported by passthrough",
};

type YamlValue = unknown;

interface Entry {
  key: string;
  keyNode: YamlValue;
  value: YamlValue;
}

/** Reads one document, collecting problems with their 1-based lines instead of stopping at the first. */
class PassthroughReader {
  readonly problems: PlanProblem[] = [];
  /** Gradient numbers read so far (alias references included), against MAX_YAML_GRADIENT_POINTS. */
  private gradientPoints = 0;

  constructor(
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    private readonly baseDir: string,
    private readonly fileName: string | undefined,
    private readonly layerCountOf: ((model: string) => number | undefined) | undefined,
  ) {}

  lineOf(node: YamlValue): number {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range === undefined ? 1 : this.lines.linePos(range[0]).line;
  }

  report(severity: PlanProblem['severity'], code: ProblemCode, node: YamlValue, message: string, slice?: number, line = this.lineOf(node)): void {
    const where = this.fileName === undefined ? '' : `${this.fileName}:${line}: `;
    const problem: PlanProblem = { severity, code, message: `${where}${message}`, line };
    if (slice !== undefined) problem.slice = slice;
    this.problems.push(problem);
  }

  /** Alias → the node it names, found in one pass over the document (yaml's own resolve walks the whole document per alias). */
  private aliasTargets: Map<unknown, unknown> | undefined;

  deref(node: YamlValue): YamlValue {
    if (!isAlias(node)) return node;
    this.aliasTargets ??= resolveAliases(this.doc);
    return this.aliasTargets.get(node);
  }

  entries(node: YamlValue, what: string, slice?: number): Entry[] | undefined {
    const map = this.deref(node);
    if (!isMap(map)) {
      this.report('error', 'InvalidYaml', node, `${what} must be a mapping`, slice);
      return undefined;
    }
    const entries: Entry[] = [];
    for (const pair of map.items) {
      const key = this.deref(pair.key);
      if (!isScalar(key) || typeof key.value !== 'string') {
        this.report('error', 'InvalidYaml', pair.key, `${what} has a key that is not a name`, slice);
        continue;
      }
      entries.push({ key: key.value, keyNode: pair.key, value: pair.value });
    }
    return entries;
  }

  items(node: YamlValue, what: string, slice?: number): YamlValue[] | undefined {
    const seq = this.deref(node);
    if (!isSeq(seq)) {
      this.report('error', 'InvalidYaml', node, `${what} must be a list`, slice);
      return undefined;
    }
    return seq.items;
  }

  text(node: YamlValue, what: string, slice?: number): string | undefined {
    const scalar = this.deref(node);
    if (isScalar(scalar) && typeof scalar.value === 'string' && scalar.value.length > 0) return scalar.value;
    this.report('error', 'InvalidYaml', node, `${what} must be a non-empty string`, slice);
    return undefined;
  }

  number(node: YamlValue): number | undefined {
    const scalar = this.deref(node);
    return isScalar(scalar) && typeof scalar.value === 'number' && Number.isFinite(scalar.value) ? scalar.value : undefined;
  }

  /** A model reference: a local path, resolved against baseDir. LoRA (`model+lora`) references are refused. */
  modelPath(node: YamlValue, what: string, slice?: number): string | undefined {
    const raw = this.text(node, what, slice);
    if (raw === undefined) return undefined;
    if (raw.length > MAX_PATH_LENGTH) {
      this.report('error', 'InvalidYaml', node, `${what} is ${raw.length} characters long, more than the ${MAX_PATH_LENGTH} a path may have`, slice);
      return undefined;
    }
    if (raw.includes('+')) {
      this.report('error', 'UnsupportedMergeOption', node, `${what} '${raw}': LoRA references (model+lora) are not supported`, slice);
      return undefined;
    }
    const resolved = path.resolve(this.baseDir, raw);
    if (resolved.length > MAX_PATH_LENGTH) {
      this.report('error', 'InvalidYaml', node, `${what} '${raw}' resolves to a path longer than ${MAX_PATH_LENGTH} characters`, slice);
      return undefined;
    }
    return resolved;
  }

  read(): LayerPlan | null {
    const root = this.doc.contents;
    if (root === null) {
      this.report('error', 'InvalidYaml', null, 'the file is empty: expected mergekit options with slices', undefined, 1);
      return null;
    }
    const entries = this.entries(root, 'the top level');
    if (entries === undefined) return null;
    const plan: LayerPlan = { slices: [] };
    let sawSlices = false;
    let sawMethod = false;
    let tokenizerNode: YamlValue;
    let tokenizerValue: string | undefined;
    let globalScale: ScaleRule[] | undefined;
    let dtypeNode: YamlValue;
    let outDtypeNode: YamlValue;
    let modelsNode: YamlValue;
    for (const { key, keyNode, value } of entries) {
      switch (key) {
        case 'slices':
          if (sawSlices) this.report('error', 'InvalidYaml', keyNode, "give either 'slices' or 'models', not both");
          sawSlices = true;
          plan.slices = this.slices(value);
          break;
        case 'models':
          if (sawSlices) this.report('error', 'InvalidYaml', keyNode, "give either 'slices' or 'models', not both");
          sawSlices = true;
          modelsNode = value;
          plan.slices = this.wholeModel(value);
          break;
        case 'merge_method': {
          sawMethod = true;
          const method = this.text(value, 'merge_method');
          if (method !== undefined && method !== 'passthrough') {
            this.report('error', 'UnsupportedMergeOption', value, `merge_method '${method}' is not supported: DUS Studio reads passthrough merges only`);
          }
          break;
        }
        case 'dtype':
          dtypeNode = value;
          break;
        case 'out_dtype':
          outDtypeNode = value;
          break;
        case 'parameters':
          globalScale = this.parameters(value, 'the top level', undefined);
          break;
        case 'base_model': {
          const baseModel = this.modelPath(value, 'base_model');
          if (baseModel !== undefined) plan.baseModel = baseModel;
          break;
        }
        case 'tokenizer_source':
          tokenizerNode = value;
          tokenizerValue = this.text(value, 'tokenizer_source');
          break;
        case 'chat_template':
          this.chatTemplate(plan, value);
          break;
        default: {
          const unsupported = UNSUPPORTED_TOP_LEVEL[key];
          if (unsupported !== undefined) this.report('error', 'UnsupportedMergeOption', keyNode, unsupported);
          else this.report('error', 'InvalidYaml', keyNode, `unknown key '${key}'`);
        }
      }
    }
    if (!sawMethod) this.report('error', 'InvalidYaml', root, "merge_method is missing (mergekit requires it): add 'merge_method: passthrough'");
    if (!sawSlices) this.report('error', 'InvalidYaml', root, "slices is missing: a passthrough merge lists its layer ranges under 'slices'");
    if (modelsNode !== undefined) this.baseModelBesideModels(plan, modelsNode);
    if (tokenizerValue !== undefined) this.tokenizerSource(plan, tokenizerNode, tokenizerValue);
    this.outputDtype(plan, dtypeNode, outDtypeNode);
    if (globalScale !== undefined) this.applyGlobalScale(plan, globalScale, root);
    return this.problems.some((problem) => problem.severity === 'error') ? null : plan;
  }

  /**
   * mergekit computes in `dtype` and writes `out_dtype` (default: `dtype`); names may carry a
   * `torch.` prefix (common.py `dtype_from_name`). A passthrough copy is written in one dtype, so
   * both given and different is refused: casting twice rounds differently from casting once.
   */
  outputDtype(plan: LayerPlan, dtypeNode: YamlValue, outDtypeNode: YamlValue): void {
    const read = (node: YamlValue, key: string): string | undefined => {
      if (node === undefined) return undefined;
      const raw = this.text(node, key);
      if (raw === undefined) return undefined;
      const name = raw.startsWith('torch.') ? raw.slice('torch.'.length) : raw;
      if (!(PLAN_DTYPES as readonly string[]).includes(name)) {
        this.report('error', 'UnsupportedDtype', node, `${key} '${raw}' is not one of ${PLAN_DTYPES.join(', ')} (with or without 'torch.')`);
        return undefined;
      }
      return name;
    };
    const dtype = read(dtypeNode, 'dtype');
    const outDtype = read(outDtypeNode, 'out_dtype');
    if (dtype !== undefined && outDtype !== undefined && dtype !== outDtype) {
      this.report(
        'error',
        'UnsupportedMergeOption',
        outDtypeNode,
        `out_dtype '${outDtype}' differs from dtype '${dtype}': DUS Studio writes each tensor cast once, so give one of them (or the same name in both)`,
      );
      return;
    }
    const chosen = outDtype ?? dtype;
    if (chosen !== undefined) plan.dtype = chosen;
  }

  /**
   * Top-level `parameters` are mergekit's last fallback (config.py `ConfigReader.parameter`:
   * source, then slice, then global, each level passing on only when none of its rules matched).
   * Appending the global rules to every slice's list gives the same first match.
   */
  applyGlobalScale(plan: LayerPlan, rules: readonly ScaleRule[], node: YamlValue): void {
    for (const [index, slice] of plan.slices.entries()) {
      const combined = [...(slice.scale ?? []), ...rules.map((rule) => ({ ...rule }))];
      if (combined.length > MAX_SCALE_RULES) {
        this.report('error', 'InvalidYaml', node, `slice ${index + 1}: ${combined.length} scale rules with the top-level ones, more than the ${MAX_SCALE_RULES} a slice may have`, index);
        return;
      }
      slice.scale = combined;
    }
  }

  /**
   * The `models:` form: mergekit turns each model into a source covering all its layers, in one
   * slice (plan.py `normalize_config`); passthrough takes exactly one source, so one model, whose
   * `parameters` are that source's.
   */
  wholeModel(node: YamlValue): PlanSlice[] {
    const items = this.items(node, 'models');
    if (items === undefined) return [];
    if (items.length !== 1) {
      this.report('error', 'InvalidYaml', node, `models lists ${items.length} models; passthrough copies exactly one (mergekit: "passthrough merge expects exactly one tensor")`);
      return [];
    }
    const entries = this.entries(items[0], 'models entry', 0);
    if (entries === undefined) return [];
    let model: string | undefined;
    let scale: ScaleRule[] | undefined;
    for (const { key, keyNode, value } of entries) {
      if (key === 'model') model = this.modelPath(value, 'models model', 0);
      else if (key === 'parameters') scale = this.parameters(value, 'the model', 0);
      else this.report('error', 'InvalidYaml', keyNode, `unknown key '${key}' in a models entry`, 0);
    }
    if (model === undefined) {
      if (!entries.some((entry) => entry.key === 'model')) this.report('error', 'InvalidYaml', items[0], 'the models entry has no model', 0);
      return [];
    }
    const layers = this.layerCountOf?.(model);
    if (layers === undefined || layers < 1) {
      this.report('error', 'SourceNotOpen', items[0], `no decoder layers could be counted in ${model}: the models form copies all of a model's layers`, 0);
      return [];
    }
    const slice: PlanSlice = { model, start: 0, end: layers };
    if (scale !== undefined) slice.scale = scale;
    return [slice];
  }

  /**
   * `auto`, a built-in name or a Jinja template (merge.py `_set_chat_template`, whose rule
   * chatTemplateChoice follows). Empty or null is no template, as mergekit treats a falsy value.
   */
  chatTemplate(plan: LayerPlan, node: YamlValue): void {
    const scalar = this.deref(node);
    if (isScalar(scalar) && (scalar.value === null || scalar.value === '')) return;
    if (!isScalar(scalar) || typeof scalar.value !== 'string') {
      this.report('error', 'InvalidYaml', node, "chat_template must be a string: 'auto', a template name or a Jinja template");
      return;
    }
    const value = scalar.value;
    if (value.length > MAX_CHAT_TEMPLATE_LENGTH) {
      this.report('error', 'InvalidYaml', node, `chat_template is ${value.length} characters long, more than the ${MAX_CHAT_TEMPLATE_LENGTH} a template may have`);
    } else if (chatTemplateChoice(value) === null) {
      this.report('error', 'InvalidYaml', node, invalidChatTemplateMessage(value));
    } else plan.chatTemplate = value;
  }

  /**
   * In the `models:` form mergekit adds a base_model that is not listed as one more source of the
   * same slice (plan.py `normalize_config`), and passthrough then refuses two tensors per weight.
   */
  baseModelBesideModels(plan: LayerPlan, node: YamlValue): void {
    const listed = plan.slices[0]?.model;
    if (plan.baseModel === undefined || listed === undefined || plan.baseModel === listed) return;
    this.report(
      'error',
      'InvalidYaml',
      node,
      `base_model ${plan.baseModel} is not the listed model: mergekit adds it to the models form as a second source, and passthrough copies exactly one ("passthrough merge expects exactly one tensor")`,
    );
  }

  /**
   * 'base' names base_model's tokenizer, or without a base_model the first model referenced
   * (tokenizer/build.py `build_tokenizer`: `config.base_model` else `referenced_models()[0]`; here
   * the first slice's source, where mergekit's order comes from a set). 'union' merges vocabularies,
   * which a passthrough copy cannot do.
   */
  tokenizerSource(plan: LayerPlan, node: YamlValue, value: string): void {
    if (value === 'union') {
      this.report('error', 'UnsupportedMergeOption', node, "tokenizer_source 'union' (a merged vocabulary) is not supported");
    } else if (value === 'base') {
      const base = plan.baseModel ?? plan.slices[0]?.model;
      if (base !== undefined) plan.tokenizerSource = base;
    } else {
      const source = this.modelPath(node, 'tokenizer_source');
      if (source !== undefined) plan.tokenizerSource = source;
    }
  }

  slices(node: YamlValue): PlanSlice[] {
    const items = this.items(node, 'slices');
    if (items === undefined) return [];
    if (items.length === 0) this.report('error', 'EmptyPlan', node, 'slices is empty: add at least one layer range');
    if (items.length > MAX_SLICES) {
      // Aliases can repeat one slice without limit: refuse before building any of them.
      this.report('error', 'InvalidYaml', node, `slices lists ${items.length} slices, more than the ${MAX_SLICES} a plan may have`);
      return [];
    }
    const slices: PlanSlice[] = [];
    items.forEach((item, index) => {
      const slice = this.slice(item, index);
      if (slice !== undefined) slices.push(slice);
    });
    return slices;
  }

  slice(node: YamlValue, index: number): PlanSlice | undefined {
    const what = `slice ${index + 1}`;
    const entries = this.entries(node, what, index);
    if (entries === undefined) return undefined;
    let sourceNode: YamlValue;
    let sawSources = false;
    let sliceScale: ScaleRule[] | undefined;
    for (const { key, keyNode, value } of entries) {
      if (key === 'sources') {
        sawSources = true;
        const sources = this.items(value, `${what} sources`, index);
        if (sources === undefined) continue;
        if (sources.length !== 1) {
          this.report('error', 'InvalidYaml', value, `${what}: passthrough takes exactly one source per slice, found ${sources.length}`, index);
          continue;
        }
        sourceNode = sources[0];
      } else if (key === 'parameters') {
        sliceScale = this.parameters(value, what, index);
      } else {
        const unsupported = UNSUPPORTED_IN_SLICE[key];
        if (unsupported !== undefined) this.report('error', 'UnsupportedMergeOption', keyNode, `${what}: ${unsupported}`, index);
        else this.report('error', 'InvalidYaml', keyNode, `${what}: unknown key '${key}'`, index);
      }
    }
    if (!sawSources) this.report('error', 'InvalidYaml', node, `${what} has no sources`, index);
    if (sourceNode === undefined) return undefined;
    const slice = this.source(sourceNode, what, index);
    if (slice === undefined) return undefined;
    // mergekit looks a parameter up on the source first and falls back to the slice when no
    // source rule matched, which is the source's rules followed by the slice's under first-match.
    const rules = [...(slice.scale ?? []), ...(sliceScale ?? [])];
    if (rules.length > MAX_SCALE_RULES) {
      this.report('error', 'InvalidYaml', node, `${what}: ${rules.length} scale rules, more than the ${MAX_SCALE_RULES} a slice may have`, index);
      return undefined;
    }
    if (rules.length > 0) slice.scale = rules;
    else delete slice.scale;
    return slice;
  }

  source(node: YamlValue, what: string, index: number): PlanSlice | undefined {
    const entries = this.entries(node, `${what} source`, index);
    if (entries === undefined) return undefined;
    let model: string | undefined;
    let range: [number, number] | undefined;
    let scale: ScaleRule[] | undefined;
    let sawModel = false;
    let sawRange = false;
    for (const { key, keyNode, value } of entries) {
      if (key === 'model') {
        sawModel = true;
        model = this.modelPath(value, `${what} model`, index);
      } else if (key === 'layer_range') {
        sawRange = true;
        range = this.layerRange(value, what, index);
      } else if (key === 'parameters') {
        scale = this.parameters(value, what, index);
      } else {
        this.report('error', 'InvalidYaml', keyNode, `${what}: unknown key '${key}' in a source`, index);
      }
    }
    if (!sawModel) this.report('error', 'InvalidYaml', node, `${what}: the source has no model`, index);
    if (!sawRange) this.report('error', 'InvalidYaml', node, `${what}: the source has no layer_range (mergekit requires one)`, index);
    if (model === undefined || range === undefined) return undefined;
    const slice: PlanSlice = { model, start: range[0], end: range[1] };
    if (scale !== undefined) slice.scale = scale;
    return slice;
  }

  layerRange(node: YamlValue, what: string, index: number): [number, number] | undefined {
    const items = this.items(node, `${what} layer_range`, index);
    if (items === undefined) return undefined;
    const values = items.map((item) => this.number(item));
    const [start, end] = values;
    if (items.length !== 2 || start === undefined || end === undefined) {
      this.report('error', 'InvalidYaml', node, `${what}: layer_range must be two layer numbers [start, end]`, index);
      return undefined;
    }
    const range = `layer_range [${start}, ${end}]`;
    if (!Number.isInteger(start) || !Number.isInteger(end)) {
      this.report('error', 'NonIntegerRange', node, `${what}: ${range} is not a pair of whole layer numbers`, index);
      return undefined;
    }
    if (start === end) this.report('error', 'EmptySlice', node, `${what}: ${range} is empty`, index);
    if (start > end) this.report('error', 'ReversedSlice', node, `${what}: ${range} starts after it ends`, index);
    if (start < 0) this.report('error', 'RangeOutsideModel', node, `${what}: ${range} starts before layer 0`, index);
    if (Math.max(start, end) > MAX_LAYER_COUNT) {
      this.report('error', 'RangeOutsideModel', node, `${what}: ${range} reaches past layer ${MAX_LAYER_COUNT}, more layers than a model may have`, index);
    }
    return [start, end];
  }

  parameters(node: YamlValue, what: string, index: number | undefined): ScaleRule[] | undefined {
    const entries = this.entries(node, `${what} parameters`, index);
    if (entries === undefined) return undefined;
    let scale: ScaleRule[] | undefined;
    for (const { key, keyNode, value } of entries) {
      if (key === 'scale') scale = this.scale(value, what, index);
      else this.report('error', 'UnsupportedMergeOption', keyNode, `${what}: parameter '${key}' is not supported: passthrough takes only 'scale'`, index);
    }
    return scale;
  }

  /**
   * `scale: 0.5`, a gradient `scale: [1.0, 0.5]` (interpolated over the slice's layers), or rules
   * `scale: [{filter: o_proj, value: 0}, {value: 1}]` whose values may be gradients too
   * (config.py `evaluate_setting`). A bare value is a rule without filter.
   */
  scale(node: YamlValue, what: string, index: number | undefined): ScaleRule[] | undefined {
    const value = this.deref(node);
    const single = this.number(value);
    if (single !== undefined) return [{ value: single }];
    if (!isSeq(value)) {
      this.report('error', 'InvalidYaml', node, `${what}: scale must be a number, a list of numbers (a gradient) or a list of {filter, value}`, index);
      return undefined;
    }
    if (value.items.length > 0 && value.items.every((item) => this.number(item) !== undefined)) {
      const gradient = this.gradient(value, what, index);
      return gradient === undefined ? undefined : [{ value: gradient }];
    }
    if (value.items.length > MAX_SCALE_RULES) {
      this.report('error', 'InvalidYaml', node, `${what}: scale lists ${value.items.length} rules, more than the ${MAX_SCALE_RULES} a slice may have`, index);
      return undefined;
    }
    const rules: ScaleRule[] = [];
    for (const item of value.items) {
      const entries = this.entries(item, `${what} scale rule`, index);
      if (entries === undefined) continue;
      const rule: Partial<ScaleRule> = {};
      for (const entry of entries) {
        if (entry.key === 'value') {
          const number = this.number(entry.value);
          const list = this.deref(entry.value);
          if (number !== undefined) rule.value = number;
          else if (isSeq(list)) {
            const gradient = this.gradient(list, what, index);
            if (gradient !== undefined) rule.value = gradient;
          } else this.report('error', 'InvalidYaml', entry.value, `${what}: scale value must be a number or a list of numbers`, index);
        } else if (entry.key === 'filter') {
          const filter = this.text(entry.value, `${what} scale filter`, index);
          if (filter !== undefined && filter.length > MAX_FILTER_LENGTH) {
            this.report('error', 'InvalidYaml', entry.value, `${what}: a scale filter of ${filter.length} characters, more than ${MAX_FILTER_LENGTH}`, index);
          } else if (filter !== undefined) rule.filter = filter;
        } else {
          this.report('error', 'InvalidYaml', entry.keyNode, `${what}: unknown key '${entry.key}' in a scale rule`, index);
        }
      }
      if (!entries.some((entry) => entry.key === 'value')) this.report('error', 'InvalidYaml', item, `${what}: scale rule has no value`, index);
      if (rule.value !== undefined) rules.push(rule.filter === undefined ? { value: rule.value } : { filter: rule.filter, value: rule.value });
    }
    return rules.length > 0 ? rules : undefined;
  }

  /** A gradient: 1 to MAX_GRADIENT_POINTS finite numbers. */
  gradient(node: YamlValue, what: string, index: number | undefined): number[] | undefined {
    const list = this.deref(node);
    const items = isSeq(list) ? list.items : [];
    this.gradientPoints += items.length;
    if (this.gradientPoints > MAX_YAML_GRADIENT_POINTS) {
      this.report('error', 'InvalidYaml', node, `${what}: the gradients hold more than ${MAX_YAML_GRADIENT_POINTS} numbers in all`, index);
      return undefined;
    }
    const points = items.map((item) => this.number(item));
    if (items.length === 0 || items.length > MAX_GRADIENT_POINTS || points.some((point) => point === undefined || !Number.isFinite(point))) {
      this.report('error', 'InvalidYaml', node, `${what}: a gradient is 1 to ${MAX_GRADIENT_POINTS} numbers`, index);
      return undefined;
    }
    return points as number[];
  }
}

export interface MergekitYamlOptions {
  baseDir?: string;
  fileName?: string;
  /** Layer count of a model (absolute path), for the `models:` form; undefined when it cannot be read. */
  layerCountOf?: (model: string) => number | undefined;
}

/**
 * parseMergekitYaml for YAML that may use the `models:` form: a first read names the models whose
 * layer count it needs, `layerCount` opens them, a second read builds the plan.
 */
export async function parseMergekitYamlOpening(
  text: string,
  options: Omit<MergekitYamlOptions, 'layerCountOf'>,
  layerCount: (model: string) => Promise<number | undefined>,
): Promise<YamlImport> {
  const wanted = new Set<string>();
  const first = parseMergekitYaml(text, { ...options, layerCountOf: (model) => void wanted.add(model) });
  if (wanted.size === 0) return first;
  const counts = new Map<string, number>();
  for (const model of wanted) {
    const count = await layerCount(model);
    if (count !== undefined) counts.set(model, count);
  }
  return parseMergekitYaml(text, { ...options, layerCountOf: (model) => counts.get(model) });
}

/**
 * Reads mergekit passthrough YAML into a plan. Every problem carries its 1-based line; anything
 * outside the passthrough subset is reported, never ignored. Model paths are resolved against
 * `baseDir` (default: the working directory); Hugging Face hub ids are kept as such paths, since
 * nothing is downloaded. The plan is null when any problem is an error.
 *
 * Time and memory are linear in the text: nesting is capped, aliases are looked up, never
 * expanded, and a plan stays within the API contract's limits (slices, scale rules, layer
 * numbers, path lengths) however many aliases repeat a slice. The caller bounds the text's size
 * (MAX_YAML_BYTES at the API and the CLI).
 */
export function parseMergekitYaml(text: string, options: MergekitYamlOptions = {}): YamlImport {
  const lines = new LineCounter();
  const lexed = lexemesWithinAliasLimit(text, MAX_YAML_ALIASES);
  if ('excessAliasOffset' in lexed) {
    // Lines are counted by the Parser, which has not run: count them up to the alias.
    const line = text.slice(0, lexed.excessAliasOffset).split('\n').length;
    const where = options.fileName === undefined ? '' : `${options.fileName}:${line}: `;
    const message = `${where}more than ${MAX_YAML_ALIASES} aliases (*name); a mergekit config needs a few`;
    return { plan: null, problems: [{ severity: 'error', code: 'InvalidYaml', message, line }] };
  }
  // parseDocument's own steps, with the depth check between parsing and composing.
  const tokens = [...parseLexemes(lexed.lexemes, lines.addNewLine)];
  const tooDeep = firstTooDeepOffset(tokens, MAX_YAML_DEPTH);
  if (tooDeep !== null) {
    const line = lines.linePos(tooDeep).line;
    const where = options.fileName === undefined ? '' : `${options.fileName}:${line}: `;
    const message = `${where}collections nest more than ${MAX_YAML_DEPTH} levels deep; a mergekit config needs about eight`;
    return { plan: null, problems: [{ severity: 'error', code: 'InvalidYaml', message, line }] };
  }
  const doc = composeFirstDocument(tokens, text.length);
  const reader = new PassthroughReader(doc, lines, options.baseDir ?? process.cwd(), options.fileName, options.layerCountOf);
  for (const error of doc.errors) {
    const { offset, unclosed } = errorOffset(doc, error);
    const opened = unclosed === undefined ? '' : `the ${unclosed} opened here is never closed (`;
    const message = `YAML syntax: ${opened}${firstLine(error.message)}${opened === '' ? '' : ')'}`;
    reader.report('error', 'InvalidYaml', null, message, undefined, lines.linePos(offset).line);
  }
  for (const warning of doc.warnings) {
    reader.report('warning', 'InvalidYaml', null, `YAML: ${firstLine(warning.message)}`, undefined, lines.linePos(warning.pos[0]).line);
  }
  if (doc.errors.length > 0) return { plan: null, problems: reader.problems };
  const plan = reader.read();
  return { plan, problems: reader.problems };
}

/**
 * The first document of the tokens, as parseDocument composes it, with duplicate keys found in one
 * pass: yaml's own `uniqueKeys` check compares each key with all keys before it, which a map of
 * 100,000 keys turns into minutes.
 */
function composeFirstDocument(tokens: readonly CST.Token[], length: number): Document.Parsed {
  const composer = new Composer({ prettyErrors: false, uniqueKeys: false });
  let doc: Document.Parsed | undefined;
  for (const composed of composer.compose(tokens, true, length)) {
    if (doc === undefined) doc = composed;
    else {
      doc.errors.push(new YAMLParseError([composed.range[0], composed.range[1]], 'MULTIPLE_DOCS', 'Source contains multiple documents; please use YAML.parseAllDocuments()'));
      break;
    }
  }
  const parsed = doc as Document.Parsed;
  const duplicates = duplicateKeyErrors(parsed);
  if (duplicates.length > 0) {
    parsed.errors.push(...duplicates);
    parsed.errors.sort((left, right) => left.pos[0] - right.pos[0]);
  }
  return parsed;
}

/** yaml's DUPLICATE_KEY errors, found with a set per map: scalar keys are equal when their values are (NaN never is). */
function duplicateKeyErrors(doc: Document.Parsed): YAMLParseError[] {
  const errors: YAMLParseError[] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const key = pair.key;
        if (!isScalar(key) || Number.isNaN(key.value)) continue;
        if (seen.has(key.value)) {
          const offset = key.range?.[0] ?? 0;
          errors.push(new YAMLParseError([offset, offset + 1], 'DUPLICATE_KEY', 'Map keys must be unique'));
        } else seen.add(key.value);
      }
    },
  });
  return errors;
}

/** The offset of the first collection nested deeper than `limit`, walking the parser's tokens without recursion. */
function firstTooDeepOffset(tokens: readonly CST.Token[], limit: number): number | null {
  const pending: Array<{ token: CST.Token; depth: number }> = tokens.map((token) => ({ token, depth: 0 }));
  while (pending.length > 0) {
    const { token, depth } = pending.pop() as { token: CST.Token; depth: number };
    if (token.type === 'document') {
      if (token.value !== undefined) pending.push({ token: token.value, depth });
    } else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      if (depth + 1 > limit) return token.offset;
      for (const item of token.items) {
        if ('key' in item && item.key !== undefined && item.key !== null) pending.push({ token: item.key, depth: depth + 1 });
        if (item.value !== undefined) pending.push({ token: item.value, depth: depth + 1 });
      }
    }
  }
  return null;
}

/**
 * The text's lexemes, or the offset of alias number `limit + 1` when there are more aliases than
 * that. Typed as yaml's Parser types them (the lexeme after a scalar marker is scalar content, so
 * `*` there is text, not an alias), and counted before the Parser runs: parsing is the costly
 * step (seconds for 40,000 aliases), lexing a tenth of it.
 */
function lexemesWithinAliasLimit(text: string, limit: number): { lexemes: string[] } | { excessAliasOffset: number } {
  const lexemes: string[] = [];
  let aliases = 0;
  let offset = 0;
  let atScalar = false;
  for (const lexeme of new Lexer().lex(text)) {
    lexemes.push(lexeme);
    const type: ReturnType<typeof CST.tokenType> = atScalar ? null : CST.tokenType(lexeme);
    atScalar = type === 'scalar';
    // Markers the lexer adds take no room in the text.
    if (type === 'scalar' || type === 'doc-mode' || type === 'flow-error-end') continue;
    if (type === 'alias' && ++aliases > limit) return { excessAliasOffset: offset };
    offset += lexeme.length;
  }
  return { lexemes };
}

/** What `new Parser(onNewLine).parse(text)` yields, from lexemes already made. */
function* parseLexemes(lexemes: readonly string[], onNewLine: (offset: number) => void): Generator<CST.Token> {
  const parser = new Parser(onNewLine);
  onNewLine(0);
  for (const lexeme of lexemes) yield* parser.next(lexeme);
  yield* parser.end();
}

/** Every alias of the document with the node it names: the last node with its anchor before it, in document order, as yaml's resolve finds it. */
function resolveAliases(doc: Document.Parsed): Map<unknown, unknown> {
  const latest = new Map<string, unknown>();
  const targets = new Map<unknown, unknown>();
  visit(doc, {
    Node(_, node) {
      if (isAlias(node)) targets.set(node, latest.get(node.source));
      else if (node.anchor) latest.set(node.anchor, node);
    },
  });
  return targets;
}

/**
 * Where an error is best shown. yaml notices an unclosed quote, `[` or `{` only where the text
 * that follows cannot belong to it (often the next line); the line a user must fix is where the
 * quoted scalar or flow collection, which runs up to that point, opened.
 */
function errorOffset(doc: Document.Parsed, error: YAMLError): { offset: number; unclosed?: string } {
  let offset = error.pos[0];
  let unclosed: string | undefined;
  const unclosedQuote = error.code === 'MISSING_CHAR' && error.message.includes('quote');
  const unclosedFlow = /end with an? ([\]}])/.exec(error.message)?.[1];
  if (!unclosedQuote && unclosedFlow === undefined) return { offset };
  const endsHere = (range: readonly number[] | null | undefined): range is readonly number[] => range !== null && range !== undefined && range[1] === error.pos[0];
  visit(doc, {
    Scalar(_, scalar) {
      const quoted = scalar.type === 'QUOTE_DOUBLE' || scalar.type === 'QUOTE_SINGLE';
      if (unclosedQuote && quoted && endsHere(scalar.range)) {
        offset = scalar.range[0];
        unclosed = 'quote';
      }
    },
    // Visited outside in: the innermost unclosed collection of the kind is the one the message names.
    Seq(_, seq) {
      if (unclosedFlow === ']' && seq.flow === true && endsHere(seq.range)) {
        offset = seq.range[0];
        unclosed = '[';
      }
    },
    Map(_, map) {
      if (unclosedFlow === '}' && map.flow === true && endsHere(map.range)) {
        offset = map.range[0];
        unclosed = '{';
      }
    },
  });
  return unclosed === undefined ? { offset } : { offset, unclosed };
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/**
 * Writes a plan as mergekit passthrough YAML: a comment header, one commented slice per range,
 * flow-style layer ranges, paths relative to `relativeTo` when given. `plan.mtp` has no mergekit
 * equivalent and is written as a comment only.
 */
export function emitMergekitYaml(plan: LayerPlan, options: { relativeTo?: string; sourceNames?: ReadonlyMap<string, string>; sources?: SourceLookup } = {}): string {
  const where = (model: string): string => modelReference(model, options.relativeTo);
  const nameOf = (model: string): string => options.sourceNames?.get(model) ?? path.basename(model);
  const data: Record<string, unknown> = {
    slices: plan.slices.map((slice) => {
      const source: Record<string, unknown> = { model: where(slice.model), layer_range: [slice.start, slice.end] };
      if (slice.scale !== undefined && slice.scale.length > 0) source.parameters = { scale: scaleValue(slice.scale) };
      return { sources: [source] };
    }),
    merge_method: 'passthrough',
  };
  if (plan.dtype !== undefined) data.dtype = plan.dtype;
  if (plan.baseModel !== undefined) data.base_model = where(plan.baseModel);
  if (plan.tokenizerSource !== undefined) data.tokenizer_source = where(plan.tokenizerSource);
  if (plan.chatTemplate !== undefined) data.chat_template = plan.chatTemplate;

  const doc = new Document(data);
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === 'layer_range' && isSeq(pair.value)) pair.value.flow = true;
    },
    Scalar(_, scalar) {
      // Only a double-quoted scalar can spell these with escapes (see escapeYaml11LineBreaks).
      if (typeof scalar.value === 'string' && YAML_11_LINE_BREAKS.test(scalar.value)) scalar.type = 'QUOTE_DOUBLE';
    },
  });
  // With the sources open, a range past its model counts the layers it gives, as the stack and the toolbar do.
  const given = (slice: PlanSlice): { first: number; count: number } => {
    const source = options.sources?.get(slice.model);
    if (source === undefined) return { first: slice.start, count: Math.max(0, slice.end - slice.start) };
    const layers = sliceLayers(slice, source);
    return { first: layers[0] ?? slice.start, count: layers.length };
  };
  const total = plan.slices.reduce((sum, slice) => sum + given(slice).count, 0);
  const header = [` Generated by DUS Studio: mergekit passthrough merge, ${total} output layers.`];
  if (plan.mtp === 'drop') header.push(' DUS Studio option without a mergekit equivalent: MTP layers are dropped.');
  doc.commentBefore = header.join('\n');
  const slices = doc.get('slices');
  if (isSeq(slices)) {
    let output = 0;
    slices.items.forEach((item, index) => {
      const slice = plan.slices[index] as PlanSlice;
      const { first, count } = given(slice);
      const outputs = count === 0 ? 'no output' : `output ${span(output, output + count - 1)}`;
      const scaled = slice.scale !== undefined && slice.scale.length > 0 ? ', scaled' : '';
      const layers = count === 1 ? `layer ${first}` : count === 0 ? `layers ${span(slice.start, slice.end - 1)}` : `layers ${span(first, first + count - 1)}`;
      const asked = count < slice.end - slice.start ? ` (layer_range asks for ${slice.end - slice.start})` : '';
      if (isMap(item)) item.commentBefore = ` slice ${index + 1}: ${nameOf(slice.model)} ${layers} → ${outputs}${asked}${scaled}`;
      output += count;
    });
  }
  return escapeYaml11LineBreaks(doc.toString({ lineWidth: 0, flowCollectionPadding: false }));
}

/** NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR: line breaks to YAML 1.1 (PyYAML, which mergekit reads with), text to YAML 1.2. */
const YAML_11_LINE_BREAKS = /[\u0085\u2028\u2029]/u;

/**
 * The `yaml` library writes these characters raw, even inside double quotes, and PyYAML would read a
 * path or chat template holding one as broken across lines. Every string holding one is written
 * double-quoted (the Scalar visit above), where YAML's own escapes \N, \L and \P spell them; in
 * a comment (a model's name) the escape is only text.
 */
function escapeYaml11LineBreaks(text: string): string {
  return text.replace(/[\u0085\u2028\u2029]/gu, (character) => (character === '\u0085' ? '\\N' : character === '\u2028' ? '\\L' : '\\P'));
}

function span(first: number, last: number): string {
  return first === last ? `${first}` : `${first}..${last}`;
}

/** A single rule without filter is written as a plain number, which mergekit reads the same way. */
function scaleValue(rules: readonly ScaleRule[]): number | number[] | ScaleRule[] {
  const only = rules[0];
  if (rules.length === 1 && only !== undefined && only.filter === undefined) return only.value;
  return rules.map((rule) => (rule.filter === undefined ? { value: rule.value } : { filter: rule.filter, value: rule.value }));
}

/** Relative paths start with `./` or `../`, so neither mergekit nor a reader takes them for hub ids. */
function modelReference(model: string, relativeTo: string | undefined): string {
  if (relativeTo === undefined) return model;
  const relative = path.relative(relativeTo, model);
  if (relative === '') return '.';
  if (path.isAbsolute(relative) || relative.startsWith('..')) return relative;
  return `.${path.sep}${relative}`;
}
