import type { ProblemCode } from '../../api/errors.js';
import type { CheckpointSummary, Dtype, LayerPlan, PlanProblem, PlanSlice } from '../../api/types.js';
import {
  type SourceLookup,
  formatLayerRuns,
  hasWholeRange,
  layerTensorsByIndex,
  planModels,
  sliceLayers,
  sourceName,
} from './plan-sources.js';
import { chatTemplateChoice, invalidChatTemplateMessage } from './chat-templates.js';
import { scaleFactorFor, scalesAnything, slicePosition } from './scale-rules.js';

/** Output dtypes mergekit's `dtype` accepts for a passthrough merge. */
export const PLAN_DTYPES = ['float32', 'float16', 'bfloat16'] as const;

/** Dtypes a scale factor can be applied to; scaling packed, quantised or integer data is meaningless. */
const SCALABLE_DTYPES: ReadonlySet<Dtype> = new Set<Dtype>(['F64', 'F32', 'F16', 'BF16']);

/** At most this many tensor names are quoted in one message; the rest are counted. */
const QUOTED_NAMES = 3;

/**
 * Every problem of a plan against the open sources: slice ranges, sources that are missing or do
 * not fit together, the output dtype, scale rules, and notes on gaps and repeated layers. Slices
 * are numbered from 1 in messages (`slice 2` is `plan.slices[1]`); the `slice` field is the index.
 */
export function validatePlan(plan: LayerPlan, sources: SourceLookup): PlanProblem[] {
  const problems: PlanProblem[] = [];
  if (plan.slices.length === 0) {
    problems.push({ severity: 'error', code: 'EmptyPlan', message: 'the plan has no slices: add at least one layer range' });
  }
  if (plan.dtype !== undefined && !(PLAN_DTYPES as readonly string[]).includes(plan.dtype)) {
    problems.push({
      severity: 'error',
      code: 'UnsupportedDtype',
      message: `output dtype '${plan.dtype}' is not one of ${PLAN_DTYPES.join(', ')}`,
    });
  }
  if (plan.chatTemplate !== undefined && chatTemplateChoice(plan.chatTemplate) === null) {
    problems.push({ severity: 'error', code: 'InvalidPlan', message: invalidChatTemplateMessage(plan.chatTemplate) });
  }
  checkSourcesOpen(plan, sources, problems);
  checkBaseModel(plan, sources, problems);
  checkGgufTokenizerSource(plan, sources, problems);
  plan.slices.forEach((slice, index) => {
    checkRange(slice, index, sources, problems);
    checkScaleRules(slice, index, sources, problems);
  });
  checkCompatibility(plan, sources, problems);
  checkGaps(plan, sources, problems);
  checkRepeats(plan, sources, problems);
  checkScaleOnNonFloat(plan, sources, problems);
  return problems;
}

function label(index: number, model: string, sources: SourceLookup): string {
  return `slice ${index + 1} (${sourceName(model, sources)})`;
}

function problemAt(
  severity: PlanProblem['severity'],
  code: ProblemCode,
  index: number,
  model: string,
  message: string,
  layer?: number,
): PlanProblem {
  const problem: PlanProblem = { severity, code, message, slice: index, model };
  if (layer !== undefined) problem.layer = layer;
  return problem;
}

/** One SourceNotOpen per missing model, at its first slice, so a Goliath plan does not list it nine times. */
function checkSourcesOpen(plan: LayerPlan, sources: SourceLookup, problems: PlanProblem[]): void {
  for (const model of planModels(plan)) {
    if (sources.has(model)) continue;
    const users = plan.slices.flatMap((slice, index) => (slice.model === model ? [index] : []));
    const first = users[0] ?? 0;
    const also = users.length > 1 ? ` (used by ${users.length} slices)` : '';
    problems.push(problemAt('error', 'SourceNotOpen', first, model, `${label(first, model, sources)}: checkpoint ${model} is not open${also}`));
  }
}

function checkRange(slice: PlanSlice, index: number, sources: SourceLookup, problems: PlanProblem[]): void {
  const where = label(index, slice.model, sources);
  const range = `layer_range [${slice.start}, ${slice.end}]`;
  if (!hasWholeRange(slice)) {
    problems.push(problemAt('error', 'NonIntegerRange', index, slice.model, `${where}: ${range} is not a pair of whole layer numbers`));
    return;
  }
  if (slice.start === slice.end) {
    problems.push(problemAt('error', 'EmptySlice', index, slice.model, `${where}: ${range} is empty`, slice.start));
  } else if (slice.start > slice.end) {
    problems.push(problemAt('error', 'ReversedSlice', index, slice.model, `${where}: ${range} starts after it ends`, slice.start));
  }
  if (slice.start < 0) {
    problems.push(problemAt('error', 'RangeOutsideModel', index, slice.model, `${where}: ${range} starts before layer 0`, slice.start));
  }
  const source = sources.get(slice.model);
  if (source !== undefined && source.layerPrefix === null) {
    // mamba's backbone.layers, phi-1's MixFormer, encoders: say what is wrong, not that the range is.
    problems.push(problemAt('error', 'NoDecoderLayers', index, slice.model, `${where}: ${noDecoderLayers(source)}`));
    return;
  }
  if (source !== undefined && slice.end > source.numLayers) {
    problems.push(
      problemAt(
        'error',
        'RangeOutsideModel',
        index,
        slice.model,
        `${where}: ${range} ends past the model's ${source.numLayers} layers`,
        slice.end - 1,
      ),
    );
  }
}

/**
 * mergekit takes config.json, the tokenizer and the other side files from `base_model` (merge.py
 * `_model_out_config`, `_get_donor_model`) and sets only the layer count: a base_model whose
 * architecture, hidden size or vocabulary differs from the stacked tensors' would give a config
 * that describes another model. The first slice's source stands for the slices (checkCompatibility
 * holds the others to it). mergekit refuses mixed architectures unless run with --allow-crimes
 * (architecture/__init__.py `get_architecture_info`, which counts base_model among the models).
 */
function checkBaseModel(plan: LayerPlan, sources: SourceLookup, problems: PlanProblem[]): void {
  const baseId = plan.baseModel;
  const firstId = plan.slices[0]?.model;
  if (baseId === undefined || firstId === undefined || baseId === firstId) return;
  const base = sources.get(baseId);
  const push = (code: ProblemCode, message: string, severity: PlanProblem['severity'] = 'error'): void => {
    problems.push({ severity, code, message: `base_model ${baseId}: ${message}`, model: baseId, planKey: 'base_model' });
  };
  if (base === undefined) {
    push('SourceNotOpen', 'is not open; it gives the export its config.json and side files');
    return;
  }
  const first = sources.get(firstId);
  if (first === undefined) return;
  const slices = `${first.name} (the first slice's source)`;
  if (base.format === 'gguf' || first.format === 'gguf') {
    push('UnsupportedMergeOption', `a GGUF export takes its metadata from the first slice's source ${first.name}; drop base_model or make it that model`);
    return;
  }
  if (base.config === null) push('InvalidConfig', `has no config.json, which mergekit takes from base_model`);
  if (base.architecture !== first.architecture) {
    const message = `config.json names architecture ${base.architecture ?? '(none)'} but ${slices} is ${first.architecture ?? '(none)'}`;
    if (plan.allowCrimes === true) push('ArchitectureMismatch', `${message}; its config.json is used anyway (--allow-crimes)`, 'warning');
    else push('ArchitectureMismatch', `${message}; mergekit refuses to mix architectures unless run with --allow-crimes, and so does DUS Studio`);
  }
  if (base.hiddenSize !== first.hiddenSize) {
    push('HiddenSizeMismatch', `config.json gives hidden size ${base.hiddenSize ?? '(none)'} but ${slices} has ${first.hiddenSize ?? '(none)'}: its config would not describe the stacked tensors`);
  }
  if (base.vocabSize !== first.vocabSize) {
    push('VocabMismatch', `config.json gives a vocabulary of ${base.vocabSize ?? '(none)'} but ${slices} has ${first.vocabSize ?? '(none)'}: its config would not describe the embeddings`);
  }
}

/** A GGUF export carries the first source's metadata, its tokenizer included: another tokenizer_source would be ignored. */
function checkGgufTokenizerSource(plan: LayerPlan, sources: SourceLookup, problems: PlanProblem[]): void {
  const firstId = plan.slices[0]?.model;
  const first = firstId === undefined ? undefined : sources.get(firstId);
  const requested = plan.tokenizerSource === 'base' ? plan.baseModel : plan.tokenizerSource;
  if (first?.format !== 'gguf' || requested === undefined || requested === firstId) return;
  problems.push({
    severity: 'error',
    code: 'UnsupportedMergeOption',
    message: `tokenizer_source ${requested}: a GGUF export carries the tokenizer of the first slice's source ${first.name} in its metadata; drop tokenizer_source or make it that model`,
    model: requested,
    planKey: 'tokenizer_source',
  });
}

/** The refusal for a source whose text decoder layers no known layer family names. */
export function noDecoderLayers(source: CheckpointSummary): string {
  const architecture = source.architecture === null ? '' : ` (${source.architecture})`;
  return `no decoder layers recognised in ${source.name}${architecture}: DUS Studio stacks text decoder layers such as model.layers.N or transformer.h.N`;
}

function checkScaleRules(slice: PlanSlice, index: number, sources: SourceLookup, problems: PlanProblem[]): void {
  for (const rule of slice.scale ?? []) {
    const points: unknown[] = Array.isArray(rule.value) ? rule.value : [rule.value];
    const finite = points.length > 0 && points.every((point) => typeof point === 'number' && Number.isFinite(point));
    if (finite && (rule.filter === undefined || typeof rule.filter === 'string')) continue;
    const filter = rule.filter === undefined ? '' : ` (filter '${String(rule.filter)}')`;
    problems.push(
      problemAt(
        'error',
        'InvalidScale',
        index,
        slice.model,
        `${label(index, slice.model, sources)}: scale value ${Array.isArray(rule.value) ? `[${rule.value.join(", ")}]` : String(rule.value)}${filter} is not a finite number or a gradient of them`,
      ),
    );
  }
}

/** Union of local layer tensor names of the text layers (MTP layers excluded), with each name's first shape and dtype. */
function layerTensorShapes(summary: CheckpointSummary): Map<string, { shape: number[]; dtype: Dtype; layer: number }> {
  const byName = new Map<string, { shape: number[]; dtype: Dtype; layer: number }>();
  const byLayer = layerTensorsByIndex(summary);
  const indexes = [...byLayer.keys()].filter((index) => index < summary.numLayers).sort((a, b) => a - b);
  for (const index of indexes) {
    for (const tensor of byLayer.get(index) ?? []) {
      if (!byName.has(tensor.localName)) byName.set(tensor.localName, { shape: tensor.shape, dtype: tensor.dtype, layer: index });
    }
  }
  return byName;
}

function quoteNames(names: readonly string[]): string {
  const quoted = names.slice(0, QUOTED_NAMES).join(', ');
  return names.length > QUOTED_NAMES ? `${quoted} and ${names.length - QUOTED_NAMES} more` : quoted;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Every used source against the first one: the stacked layers must be interchangeable. */
function checkCompatibility(plan: LayerPlan, sources: SourceLookup, problems: PlanProblem[]): void {
  const models = planModels(plan).filter((model) => sources.has(model));
  const referenceModel = models[0];
  if (referenceModel === undefined) return;
  const reference = sources.get(referenceModel) as CheckpointSummary;
  const referenceTensors = layerTensorShapes(reference);
  for (const model of models.slice(1)) {
    const other = sources.get(model) as CheckpointSummary;
    const index = plan.slices.findIndex((slice) => slice.model === model);
    const where = label(index, model, sources);
    const push = (code: ProblemCode, message: string, severity: PlanProblem['severity'] = 'error'): void => {
      problems.push(problemAt(severity, code, index, model, `${where}: ${message}`));
    };
    // mergekit refuses to mix architectures unless run with --allow-crimes (architecture/__init__.py).
    if (other.architecture !== reference.architecture) {
      const message = `architecture ${other.architecture ?? '(none)'} differs from ${reference.architecture ?? '(none)'} of ${reference.name}`;
      if (plan.allowCrimes === true) push('ArchitectureMismatch', `${message}; stacked anyway (--allow-crimes)`, 'warning');
      else push('ArchitectureMismatch', `${message}; mergekit refuses to mix architectures unless run with --allow-crimes, and so does DUS Studio`);
    }
    if (other.family !== reference.family) {
      push('FamilyMismatch', `layer family '${other.family}' differs from '${reference.family}' of ${reference.name}`);
    }
    if (other.hiddenSize !== null && reference.hiddenSize !== null && other.hiddenSize !== reference.hiddenSize) {
      push('HiddenSizeMismatch', `hidden size ${other.hiddenSize} differs from ${reference.hiddenSize} of ${reference.name}`);
    }
    if (other.vocabSize !== null && reference.vocabSize !== null && other.vocabSize !== reference.vocabSize) {
      push('VocabMismatch', `vocabulary of ${other.vocabSize} differs from ${reference.vocabSize} of ${reference.name}`);
    }
    const otherTensors = layerTensorShapes(other);
    const missing = [...referenceTensors.keys()].filter((name) => !otherTensors.has(name)).sort();
    const extra = [...otherTensors.keys()].filter((name) => !referenceTensors.has(name)).sort();
    if (missing.length > 0 || extra.length > 0) {
      const parts: string[] = [];
      if (missing.length > 0) parts.push(`lacks ${quoteNames(missing)}`);
      if (extra.length > 0) parts.push(`adds ${quoteNames(extra)}`);
      push('LayerTensorsMismatch', `layer tensors differ from ${reference.name}: ${parts.join('; ')}`);
    }
    const shapeDiffs: string[] = [];
    const dtypeDiffs: string[] = [];
    for (const [name, mine] of otherTensors) {
      const theirs = referenceTensors.get(name);
      if (theirs === undefined) continue;
      if (shapeText(mine.shape) !== shapeText(theirs.shape)) {
        shapeDiffs.push(`${name} is ${shapeText(mine.shape)}, not ${shapeText(theirs.shape)}`);
      }
      if (mine.dtype !== theirs.dtype) dtypeDiffs.push(`${name} is ${mine.dtype}, not ${theirs.dtype}`);
    }
    if (shapeDiffs.length > 0) push('ShapeMismatch', `layer tensor shapes differ from ${reference.name}: ${quoteNames(shapeDiffs)}`);
    if (dtypeDiffs.length > 0 && other.format === 'gguf' && reference.format === 'gguf') {
      // GGUF stores a type per tensor and llama.cpp loads any mix: each tensor keeps its own type.
      push('DtypeMismatch', `layer types differ from ${reference.name}: ${quoteNames(dtypeDiffs)}; each tensor keeps its own type`, 'info');
    } else if (dtypeDiffs.length > 0) {
      // mergekit casts every tensor to `dtype` when it is set, so the mix only matters without it.
      const cast = plan.dtype !== undefined;
      const tail = cast ? `; all are cast to ${plan.dtype}` : '; set an output dtype to cast them';
      push('DtypeMismatch', `layer dtypes differ from ${reference.name}: ${quoteNames(dtypeDiffs)}${tail}`, cast ? 'warning' : 'error');
    }
  }
  checkTied(plan, sources, problems);
}

/** Embeddings come from the first slice's source, the head from the last's: they must agree on tying. */
function checkTied(plan: LayerPlan, sources: SourceLookup, problems: PlanProblem[]): void {
  const firstModel = plan.slices[0]?.model;
  const lastIndex = plan.slices.length - 1;
  const lastModel = plan.slices[lastIndex]?.model;
  if (firstModel === undefined || lastModel === undefined || firstModel === lastModel) return;
  const first = sources.get(firstModel);
  const last = sources.get(lastModel);
  if (first === undefined || last === undefined || first.tiedEmbeddings === last.tiedEmbeddings) return;
  const tied = (summary: CheckpointSummary): string => (summary.tiedEmbeddings ? 'ties' : 'does not tie');
  problems.push(
    problemAt(
      'error',
      'TiedMismatch',
      lastIndex,
      lastModel,
      `${label(lastIndex, lastModel, sources)}: ${last.name} ${tied(last)} lm_head to the embeddings but ${first.name} (first slice, embeddings) ${tied(first)}`,
    ),
  );
}

/** Neighbouring slices of one source that skip layers between them (a splice with a < b). */
function checkGaps(plan: LayerPlan, sources: SourceLookup, problems: PlanProblem[]): void {
  plan.slices.forEach((slice, index) => {
    const previous = plan.slices[index - 1];
    if (previous === undefined || previous.model !== slice.model) return;
    if (!hasWholeRange(previous) || !hasWholeRange(slice) || slice.start <= previous.end) return;
    const skipped = Array.from({ length: slice.start - previous.end }, (_, offset) => previous.end + offset);
    problems.push(
      problemAt(
        'warning',
        'GapInSplice',
        index,
        slice.model,
        `${label(index, slice.model, sources)}: layers ${formatLayerRuns(skipped)} are skipped between slice ${index} (ends at ${previous.end}) and slice ${index + 1} (starts at ${slice.start})`,
        previous.end,
      ),
    );
  });
}

/** One note (severity info) for the whole plan listing the source layers that appear more than once (overlap regions, identity copies). */
function checkRepeats(plan: LayerPlan, sources: SourceLookup, problems: PlanProblem[]): void {
  const uses = new Map<string, Map<number, number>>();
  let firstRepeat: { index: number; model: string; layer: number } | undefined;
  plan.slices.forEach((slice, index) => {
    let counts = uses.get(slice.model);
    if (counts === undefined) {
      counts = new Map();
      uses.set(slice.model, counts);
    }
    for (const layer of sliceLayers(slice, sources.get(slice.model))) {
      const count = (counts.get(layer) ?? 0) + 1;
      counts.set(layer, count);
      if (count === 2 && firstRepeat === undefined) firstRepeat = { index, model: slice.model, layer };
    }
  });
  if (firstRepeat === undefined) return;
  const parts: string[] = [];
  for (const [model, counts] of uses) {
    const repeated = [...counts].filter(([, count]) => count > 1);
    if (repeated.length === 0) continue;
    const most = Math.max(...repeated.map(([, count]) => count));
    const noun = repeated.length === 1 ? 'layer' : 'layers';
    parts.push(`${sourceName(model, sources)} ${noun} ${formatLayerRuns(repeated.map(([layer]) => layer))} (up to ${most}×)`);
  }
  // Repeats are what DUS, LLaMA-Pro and Goliath are made of: a note on the plan, not a problem with it.
  problems.push(
    problemAt(
      'info',
      'LayerRepeated',
      firstRepeat.index,
      firstRepeat.model,
      `${label(firstRepeat.index, firstRepeat.model, sources)} starts reusing layers; used more than once: ${parts.join('; ')}`,
      firstRepeat.layer,
    ),
  );
}

/**
 * Scale rules are matched against output tensor names, so the output index of each layer is
 * tracked here exactly as resolvePlan numbers them.
 */
function checkScaleOnNonFloat(plan: LayerPlan, sources: SourceLookup, problems: PlanProblem[]): void {
  plan.slices.forEach((slice, index) => {
    const source = sources.get(slice.model);
    const layers = sliceLayers(slice, source);
    if (source === undefined || source.layerPrefix === null || !scalesAnything(slice.scale)) return;
    const byLayer = layerTensorsByIndex(source);
    const hits: string[] = [];
    let firstLayer: number | undefined;
    for (const layer of layers) {
      const t = slicePosition(layer - slice.start, slice.end - slice.start);
      for (const tensor of byLayer.get(layer) ?? []) {
        if (SCALABLE_DTYPES.has(tensor.dtype)) continue;
        if (scaleFactorFor(slice.scale, tensor.name, t) === 1) continue;
        const hit = `${tensor.localName} (${tensor.dtype})`;
        if (!hits.includes(hit)) hits.push(hit);
        firstLayer ??= layer;
      }
    }
    if (hits.length === 0) return;
    problems.push(
      problemAt(
        'warning',
        'ScaleOnNonFloat',
        index,
        slice.model,
        `${label(index, slice.model, sources)}: scale applies to non-float tensors, which cannot be scaled: ${quoteNames(hits)}`,
        firstLayer,
      ),
    );
  });
}
