import { StudioError } from '../../api/errors.js';
import type { CheckpointSummary, LayerPlan, PlanRecipe, PlanSlice } from '../../api/types.js';
import type { SourceLookup } from './plan-sources.js';
import { llamaProEvery, withLlamaPro } from './llama-pro.js';
import { noDecoderLayers } from './plan-validation.js';
import { scalesAnything } from './scale-rules.js';

/** No real model has this many layers; the bound keeps a mistyped `times` from building millions of slices. */
export const MAX_RECIPE_LAYERS = 10_000;

/**
 * Builds the plan of a recipe over open sources, as mergekit passthrough slices (half-open layer
 * ranges), so the plan round-trips through mergekit YAML. Throws InvalidPlan naming the model and
 * the numbers when the arguments cannot make a plan.
 */
export function buildPlanFromRecipe(recipe: PlanRecipe, sources: SourceLookup): LayerPlan {
  switch (recipe.kind) {
    case 'dus':
      return dusPlan(recipe.model, recipe.drop, sources);
    case 'splice':
      return splicePlan(recipe.model, recipe.a, recipe.b, sources);
    case 'llama-pro':
      return llamaProPlan(recipe.model, recipe.every, sources);
    case 'stack':
      return stackPlan(recipe.model, recipe.times, sources);
    case 'interleave':
      return interleavePlan(recipe.models, recipe.window, recipe.overlap, sources);
    default:
      throw new StudioError('InvalidPlan', `unknown recipe '${String((recipe as { kind?: unknown }).kind)}'`);
  }
}

function openSource(model: string, sources: SourceLookup, recipe: string): CheckpointSummary {
  const source = sources.get(model);
  if (source === undefined) throw new StudioError('InvalidPlan', `${recipe}: checkpoint ${model} is not open`, { path: model });
  if (source.layerPrefix === null || source.numLayers < 1) {
    throw new StudioError('InvalidPlan', `${recipe}: ${noDecoderLayers(source)}`, { path: model });
  }
  return source;
}

function refuse(source: CheckpointSummary, recipe: string, message: string): never {
  throw new StudioError('InvalidPlan', `${recipe} on ${source.name}: ${message}`, { path: source.id });
}

function requireWhole(source: CheckpointSummary, recipe: string, name: string, value: number): void {
  if (!Number.isInteger(value)) refuse(source, recipe, `${name} ${value} is not a whole number`);
}

function requireSize(source: CheckpointSummary, recipe: string, layers: number): void {
  if (layers > MAX_RECIPE_LAYERS) refuse(source, recipe, `${layers} output layers exceed the limit of ${MAX_RECIPE_LAYERS}`);
}

/** SOLAR DUS: copy one keeps [0, n − drop), copy two keeps [drop, n): 2(n − drop) layers. */
function dusPlan(model: string, drop: number, sources: SourceLookup): LayerPlan {
  const recipe = 'SOLAR DUS';
  const source = openSource(model, sources, recipe);
  const n = source.numLayers;
  requireWhole(source, recipe, 'drop', drop);
  if (drop < 0) refuse(source, recipe, `drop ${drop} is negative`);
  if (n - drop < 1) refuse(source, recipe, `drop ${drop} leaves no layers of its ${n} (drop must be below ${n})`);
  return {
    slices: [
      { model, start: 0, end: n - drop },
      { model, start: drop, end: n },
    ],
  };
}

/** Splice points: copy one keeps [0, a), copy two keeps [b, n). a − b layers overlap (a gap when negative). */
function splicePlan(model: string, a: number, b: number, sources: SourceLookup): LayerPlan {
  const recipe = 'Splice';
  const source = openSource(model, sources, recipe);
  const n = source.numLayers;
  requireWhole(source, recipe, 'a', a);
  requireWhole(source, recipe, 'b', b);
  if (a < 1 || a > n) refuse(source, recipe, `a = ${a} must be within 1..${n} (copy one keeps layers [0, a) of ${n})`);
  if (b < 0 || b >= n) refuse(source, recipe, `b = ${b} must be within 0..${n - 1} (copy two keeps layers [b, ${n}))`);
  return {
    slices: [
      { model, start: 0, end: a },
      { model, start: b, end: n },
    ],
  };
}

/** LLaMA-Pro: after layers every−1, 2·every−1, … an identity copy of that layer. */
function llamaProPlan(model: string, every: number, sources: SourceLookup): LayerPlan {
  const recipe = 'LLaMA-Pro';
  const source = openSource(model, sources, recipe);
  const n = source.numLayers;
  requireWhole(source, recipe, 'every', every);
  if (every < 1) refuse(source, recipe, `every ${every} must be at least 1`);
  if (every > n) refuse(source, recipe, `every ${every} exceeds the model's ${n} layers, so no block would be inserted`);
  requireSize(source, recipe, n + Math.floor(n / every));
  return withLlamaPro({ slices: [{ model, start: 0, end: n }] }, every);
}

/** G_stack: the whole stack `times` times; embeddings and head stay single. */
function stackPlan(model: string, times: number, sources: SourceLookup): LayerPlan {
  const recipe = 'Stack';
  const source = openSource(model, sources, recipe);
  requireWhole(source, recipe, 'times', times);
  if (times < 1) refuse(source, recipe, `times ${times} must be at least 1`);
  requireSize(source, recipe, source.numLayers * times);
  return { slices: Array.from({ length: times }, () => ({ model, start: 0, end: source.numLayers })) };
}

/**
 * Alternates the models window by window: slice i comes from models[i mod k] and covers
 * [i·(window − overlap), + window) clipped to that model's layers; it stops at the first slice
 * that would start at or past its model's last layer.
 */
function interleavePlan(models: readonly string[], window: number, overlap: number, sources: SourceLookup): LayerPlan {
  const recipe = 'Interleave';
  if (models.length === 0) throw new StudioError('InvalidPlan', `${recipe}: no models given`);
  const opened = models.map((model) => openSource(model, sources, recipe));
  const first = opened[0] as CheckpointSummary;
  requireWhole(first, recipe, 'window', window);
  requireWhole(first, recipe, 'overlap', overlap);
  if (window < 1) refuse(first, recipe, `window ${window} must be at least 1`);
  if (overlap < 0 || overlap >= window) refuse(first, recipe, `overlap ${overlap} must be within 0..${window - 1} (below the window of ${window})`);
  const step = window - overlap;
  const slices: PlanSlice[] = [];
  let layers = 0;
  for (let index = 0; ; index += 1) {
    const model = models[index % models.length] as string;
    const source = opened[index % opened.length] as CheckpointSummary;
    const start = index * step;
    if (start >= source.numLayers) break;
    const end = Math.min(start + window, source.numLayers);
    slices.push({ model, start, end });
    layers += end - start;
    requireSize(source, recipe, layers);
  }
  return { slices };
}

/** The drop SOLAR's proportions suggest: 8 of 32, i.e. n/4 rounded, at least 1 when there are 2 layers. */
export function defaultDrop(layers: number): number {
  if (layers < 2) return 0;
  return Math.min(layers - 1, Math.max(1, Math.round(layers / 4)));
}

/** Indexes i of the slice boundaries (slice i | slice i + 1) that splice handles can hold: both neighbours unscaled. */
export function spliceBoundaries(plan: LayerPlan): number[] {
  const boundaries: number[] = [];
  for (let index = 0; index + 1 < plan.slices.length; index += 1) {
    if (!scalesAnything(plan.slices[index]?.scale) && !scalesAnything(plan.slices[index + 1]?.scale)) boundaries.push(index);
  }
  return boundaries;
}

/** True when two slice lists copy the same ranges of the same models with the same scale rules. */
export function sameSlices(left: readonly PlanSlice[], right: readonly PlanSlice[]): boolean {
  if (left.length !== right.length) return false;
  return left.every((slice, index) => {
    const other = right[index]!;
    if (slice.model !== other.model || slice.start !== other.start || slice.end !== other.end) return false;
    const rules = slice.scale ?? [];
    const otherRules = other.scale ?? [];
    return (
      rules.length === otherRules.length &&
      rules.every((rule, position) => (rule.filter ?? '') === (otherRules[position]!.filter ?? '') && rule.value === otherRules[position]!.value)
    );
  });
}

/**
 * The recipe, with its parameters, that builds exactly this plan's slices over these sources, or
 * null for a plan no recipe makes (a near miss, such as SOLAR DUS with one range off by a layer,
 * stays custom). Each candidate is read off the plan's shape and then rebuilt, so a recipe is named
 * only when its own rules give the same slices. Plan-wide options (dtype, tokenizer) do not matter.
 * With `kind`, only that recipe is tried: a symmetric splice the user chose as "Splice points"
 * keeps its a and b rather than being read as SOLAR DUS.
 */
export function recognizeRecipe(plan: LayerPlan, sources: SourceLookup, kind?: PlanRecipe['kind']): PlanRecipe | null {
  for (const candidate of recipeCandidates(plan.slices, sources)) {
    if (kind !== undefined && candidate.kind !== kind) continue;
    let rebuilt: LayerPlan;
    try {
      rebuilt = buildPlanFromRecipe(candidate, sources);
    } catch {
      continue;
    }
    if (sameSlices(rebuilt.slices, plan.slices)) return candidate;
  }
  return null;
}

/** Recipes a plan of this shape could come from, most specific first (DUS before a free splice, before a stack of two). */
function recipeCandidates(slices: readonly PlanSlice[], sources: SourceLookup): PlanRecipe[] {
  const first = slices[0];
  if (first === undefined) return [];
  const model = first.model;
  const layers = sources.get(model)?.numLayers;
  if (layers === undefined) return [];
  const candidates: PlanRecipe[] = [];
  const second = slices[1];
  if (slices.length === 2 && second !== undefined && second.model === model) {
    candidates.push({ kind: 'dus', model, drop: second.start }, { kind: 'splice', model, a: first.end, b: second.start });
  }
  const every = llamaProEvery({ slices: [...slices] });
  if (every !== null && every >= 1) candidates.push({ kind: 'llama-pro', model, every });
  if (slices.length >= 2 && slices.every((slice) => slice.model === model)) candidates.push({ kind: 'stack', model, times: slices.length });
  if (slices.length >= 2 && second !== undefined && first.start === 0) {
    const window = first.end - first.start;
    const overlap = window - second.start;
    // The models repeat with the period the recipe was given: try each period up to the slice count.
    for (let period = 2; period <= slices.length; period += 1) {
      const models = slices.slice(0, period).map((slice) => slice.model);
      if (slices.every((slice, index) => slice.model === models[index % period])) candidates.push({ kind: 'interleave', models, window, overlap });
    }
  }
  return candidates;
}
