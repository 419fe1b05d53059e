import { describe, expect, it } from 'vitest';
import { isStudioError } from '../../../electron/api/errors.js';
import type { PlanRecipe } from '../../../electron/api/types.js';
import { resolvePlan } from '../../../electron/common/plan/layer-plan.js';
import { MAX_RECIPE_LAYERS, buildPlanFromRecipe, recognizeRecipe, sameSlices } from '../../../electron/common/plan/plan-recipes.js';
import { IDENTITY_BLOCK_SCALE } from '../../../electron/common/plan/scale-rules.js';
import { lookupOf, makeSummary } from './summary-factory.js';

const mistral = makeSummary({ name: 'Mistral-7B', numLayers: 32 });
const other = makeSummary({ name: 'Other-7B', numLayers: 32 });
const sources = lookupOf(mistral, other);

function sourceLayers(recipe: PlanRecipe): string[] {
  return resolvePlan(buildPlanFromRecipe(recipe, sources), sources).layers.map(
    (layer) => `${layer.model === mistral.id ? 'M' : 'O'}${layer.sourceLayer}`,
  );
}

function range(start: number, end: number, prefix = 'M'): string[] {
  return Array.from({ length: end - start }, (_, offset) => `${prefix}${start + offset}`);
}

describe('buildPlanFromRecipe', () => {
  it('builds SOLAR DUS 32/8 as 48 layers with one seam from base 23 to base 8', () => {
    const plan = buildPlanFromRecipe({ kind: 'dus', model: mistral.id, drop: 8 }, sources);
    expect(plan.slices).toEqual([
      { model: mistral.id, start: 0, end: 24 },
      { model: mistral.id, start: 8, end: 32 },
    ]);
    const resolved = resolvePlan(plan, sources);
    expect(resolved.numLayers).toBe(48);
    expect(resolved.layers.slice(0, 24).map((layer) => layer.sourceLayer)).toEqual([...Array(24).keys()]);
    expect(resolved.layers.slice(24).map((layer) => layer.sourceLayer)).toEqual([...Array(24).keys()].map((layer) => layer + 8));
    expect(resolved.seams).toEqual([
      { afterOutputLayer: 23, from: { model: mistral.id, layer: 23 }, to: { model: mistral.id, layer: 8 } },
    ]);
    // The overlap region: base 8..23 appears twice, the second time with repeat 1.
    expect(resolved.layers.filter((layer) => layer.repeat === 1).map((layer) => layer.sourceLayer)).toEqual(
      [...Array(16).keys()].map((layer) => layer + 8),
    );
    expect(resolved.ok).toBe(true);
  });

  it('allows dropping nothing, which doubles the stack', () => {
    expect(sourceLayers({ kind: 'dus', model: mistral.id, drop: 0 })).toEqual([...range(0, 32), ...range(0, 32)]);
  });

  it('builds splice points 20:12 as [0, 20) then [12, 32)', () => {
    const plan = buildPlanFromRecipe({ kind: 'splice', model: mistral.id, a: 20, b: 12 }, sources);
    expect(plan.slices).toEqual([
      { model: mistral.id, start: 0, end: 20 },
      { model: mistral.id, start: 12, end: 32 },
    ]);
    expect(sourceLayers({ kind: 'splice', model: mistral.id, a: 20, b: 12 })).toEqual([...range(0, 20), ...range(12, 32)]);
  });

  it('builds a splice with a gap (a < b) and lets validation warn about it', () => {
    const plan = buildPlanFromRecipe({ kind: 'splice', model: mistral.id, a: 10, b: 14 }, sources);
    const resolved = resolvePlan(plan, sources);
    expect(resolved.numLayers).toBe(28);
    expect(resolved.ok).toBe(true);
    expect(resolved.problems.map((problem) => problem.code)).toEqual(['GapInSplice']);
  });

  it('builds LLaMA-Pro with every 4 as 40 layers, each inserted copy zeroing o_proj and down_proj', () => {
    const plan = buildPlanFromRecipe({ kind: 'llama-pro', model: mistral.id, every: 4 }, sources);
    expect(plan.slices.slice(0, 4)).toEqual([
      { model: mistral.id, start: 0, end: 4 },
      { model: mistral.id, start: 3, end: 4, scale: IDENTITY_BLOCK_SCALE },
      { model: mistral.id, start: 4, end: 8 },
      { model: mistral.id, start: 7, end: 8, scale: IDENTITY_BLOCK_SCALE },
    ]);
    const resolved = resolvePlan(plan, sources);
    expect(resolved.numLayers).toBe(40);
    const inserted = resolved.layers.filter((layer) => layer.scale.length > 0);
    expect(inserted.map((layer) => layer.sourceLayer)).toEqual([3, 7, 11, 15, 19, 23, 27, 31]);
    expect(inserted.map((layer) => layer.index)).toEqual([4, 9, 14, 19, 24, 29, 34, 39]);
    expect(inserted.every((layer) => layer.repeat === 1)).toBe(true);
    // Each inserted copy repeats the layer before it, then the stack continues in order.
    expect(resolved.seams.map((seam) => [seam.from.layer, seam.to.layer])).toEqual(inserted.map((layer) => [layer.sourceLayer, layer.sourceLayer]));
  });

  it('does not share the identity scale rules between plans', () => {
    const plan = buildPlanFromRecipe({ kind: 'llama-pro', model: mistral.id, every: 8 }, sources);
    expect(plan.slices[1]?.scale).not.toBe(IDENTITY_BLOCK_SCALE);
  });

  it('inserts no copy after a short last group in LLaMA-Pro', () => {
    const ten = makeSummary({ name: 'Ten', numLayers: 10 });
    const plan = buildPlanFromRecipe({ kind: 'llama-pro', model: ten.id, every: 4 }, lookupOf(ten));
    expect(plan.slices.map((slice) => [slice.start, slice.end, slice.scale !== undefined])).toEqual([
      [0, 4, false],
      [3, 4, true],
      [4, 8, false],
      [7, 8, true],
      [8, 10, false],
    ]);
  });

  it('stacks the whole model times over', () => {
    const six = makeSummary({ name: 'Six', numLayers: 6 });
    const lookup = lookupOf(six);
    const resolved = resolvePlan(buildPlanFromRecipe({ kind: 'stack', model: six.id, times: 4 }, lookup), lookup);
    expect(resolved.numLayers).toBe(24);
    expect(resolved.layers.map((layer) => layer.sourceLayer)).toEqual([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]);
    expect(resolved.layers.at(-1)?.repeat).toBe(3);
    expect(resolved.seams).toHaveLength(3);
  });

  it('interleaves two models in windows of 16 overlapping by 8', () => {
    const plan = buildPlanFromRecipe({ kind: 'interleave', models: [mistral.id, other.id], window: 16, overlap: 8 }, sources);
    expect(plan.slices.map((slice) => [slice.model === mistral.id ? 'M' : 'O', slice.start, slice.end])).toEqual([
      ['M', 0, 16],
      ['O', 8, 24],
      ['M', 16, 32],
      ['O', 24, 32],
    ]);
    expect(sourceLayers({ kind: 'interleave', models: [mistral.id, other.id], window: 16, overlap: 8 })).toEqual([
      ...range(0, 16),
      ...range(8, 24, 'O'),
      ...range(16, 32),
      ...range(24, 32, 'O'),
    ]);
  });

  it('clips each interleave window to its own model and stops at the first that would start past it', () => {
    const short = makeSummary({ name: 'Short', numLayers: 12 });
    const lookup = lookupOf(mistral, short);
    const plan = buildPlanFromRecipe({ kind: 'interleave', models: [mistral.id, short.id], window: 8, overlap: 2 }, lookup);
    expect(plan.slices.map((slice) => [slice.model === mistral.id ? 'M' : 'S', slice.start, slice.end])).toEqual([
      ['M', 0, 8],
      ['S', 6, 12],
      ['M', 12, 20],
      // slice 3 would start at 18 ≥ 12 layers of Short: stop.
    ]);
  });

  const refusals: { title: string; recipe: PlanRecipe; words: string[] }[] = [
    { title: 'a drop that leaves no layers', recipe: { kind: 'dus', model: mistral.id, drop: 32 }, words: ['Mistral-7B', 'drop 32', '32'] },
    { title: 'a negative drop', recipe: { kind: 'dus', model: mistral.id, drop: -1 }, words: ['Mistral-7B', '-1'] },
    { title: 'a fractional drop', recipe: { kind: 'dus', model: mistral.id, drop: 2.5 }, words: ['Mistral-7B', '2.5'] },
    { title: 'splice point a of 0', recipe: { kind: 'splice', model: mistral.id, a: 0, b: 4 }, words: ['Mistral-7B', 'a = 0', '1..32'] },
    { title: 'splice point a past the model', recipe: { kind: 'splice', model: mistral.id, a: 33, b: 4 }, words: ['Mistral-7B', 'a = 33'] },
    { title: 'splice point b at n', recipe: { kind: 'splice', model: mistral.id, a: 20, b: 32 }, words: ['Mistral-7B', 'b = 32', '0..31'] },
    { title: 'LLaMA-Pro every 0', recipe: { kind: 'llama-pro', model: mistral.id, every: 0 }, words: ['Mistral-7B', 'every 0'] },
    { title: 'LLaMA-Pro every beyond the model', recipe: { kind: 'llama-pro', model: mistral.id, every: 33 }, words: ['Mistral-7B', '33', '32 layers'] },
    { title: 'stacking zero times', recipe: { kind: 'stack', model: mistral.id, times: 0 }, words: ['Mistral-7B', 'times 0'] },
    { title: 'a stack past the layer limit', recipe: { kind: 'stack', model: mistral.id, times: 1_000_000 }, words: ['Mistral-7B', `${MAX_RECIPE_LAYERS}`] },
    { title: 'an interleave without models', recipe: { kind: 'interleave', models: [], window: 8, overlap: 0 }, words: ['no models'] },
    { title: 'an overlap as large as the window', recipe: { kind: 'interleave', models: [mistral.id, other.id], window: 8, overlap: 8 }, words: ['Mistral-7B', 'overlap 8', 'window of 8'] },
    { title: 'a window of 0', recipe: { kind: 'interleave', models: [mistral.id], window: 0, overlap: 0 }, words: ['Mistral-7B', 'window 0'] },
    { title: 'a model that is not open', recipe: { kind: 'dus', model: '/nowhere/Missing', drop: 8 }, words: ['/nowhere/Missing', 'not open'] },
  ];

  it.each(refusals)('refuses $title with InvalidPlan naming the model and numbers', ({ recipe, words }) => {
    let caught: unknown;
    try {
      buildPlanFromRecipe(recipe, sources);
    } catch (error) {
      caught = error;
    }
    expect(isStudioError(caught)).toBe(true);
    const error = caught as { code: string; message: string };
    expect(error.code).toBe('InvalidPlan');
    for (const word of words) expect(error.message).toContain(word);
  });
});

describe('recognizeRecipe', () => {
  const build = (recipe: PlanRecipe) => buildPlanFromRecipe(recipe, sources);
  const small = makeSummary({ name: 'Llama-12', numLayers: 12 });
  const withSmall = lookupOf(mistral, other, small);

  it.each<PlanRecipe>([
    { kind: 'dus', model: mistral.id, drop: 8 },
    { kind: 'dus', model: mistral.id, drop: 1 },
    { kind: 'splice', model: mistral.id, a: 20, b: 10 },
    { kind: 'llama-pro', model: mistral.id, every: 4 },
    { kind: 'stack', model: mistral.id, times: 3 },
    { kind: 'interleave', models: [mistral.id, other.id], window: 16, overlap: 8 },
    { kind: 'interleave', models: [other.id, mistral.id], window: 6, overlap: 2 },
  ])('names the $kind recipe its own plan came from, with its numbers', (recipe) => {
    expect(recognizeRecipe(build(recipe), sources)).toEqual(recipe);
  });

  it('reads a plan typed as YAML by its slices, whatever its plan-wide options', () => {
    const typed = { slices: [{ model: mistral.id, start: 0, end: 24 }, { model: mistral.id, start: 8, end: 32 }], dtype: 'bfloat16' as const };
    expect(recognizeRecipe(typed, sources)).toEqual({ kind: 'dus', model: mistral.id, drop: 8 });
  });

  it('reads the parameters of the recipe asked for: a symmetric splice keeps a and b, a shape the recipe cannot build is null', () => {
    const symmetric = build({ kind: 'dus', model: mistral.id, drop: 5 });
    expect(recognizeRecipe(symmetric, sources)).toEqual({ kind: 'dus', model: mistral.id, drop: 5 });
    expect(recognizeRecipe(symmetric, sources, 'splice')).toEqual({ kind: 'splice', model: mistral.id, a: 27, b: 5 });
    expect(recognizeRecipe(symmetric, sources, 'dus')).toEqual({ kind: 'dus', model: mistral.id, drop: 5 });
    expect(recognizeRecipe(symmetric, sources, 'interleave')).toBeNull();
    const interleave = build({ kind: 'interleave', models: [mistral.id, other.id], window: 10, overlap: 3 });
    expect(recognizeRecipe(interleave, sources, 'interleave')).toEqual({ kind: 'interleave', models: [mistral.id, other.id], window: 10, overlap: 3 });
    expect(recognizeRecipe(interleave, sources, 'stack')).toBeNull();
  });

  it('names an interleave of three models with its period', () => {
    const recipe: PlanRecipe = { kind: 'interleave', models: [mistral.id, other.id, mistral.id], window: 8, overlap: 4 };
    const recognized = recognizeRecipe(build(recipe), sources);
    expect(recognized?.kind).toBe('interleave');
    expect(sameSlices(build(recognized!).slices, build(recipe).slices)).toBe(true);
  });

  const dus = build({ kind: 'dus', model: mistral.id, drop: 8 }).slices;
  it.each([
    { title: 'copy two ending a layer short of the model', slices: [dus[0]!, { ...dus[1]!, end: 31 }] },
    { title: 'copy one not starting at layer 0', slices: [{ ...dus[0]!, start: 1 }, dus[1]!] },
    { title: 'the two copies from different models', slices: [dus[0]!, { ...dus[1]!, model: other.id }] },
    { title: 'a scale rule on one copy', slices: [dus[0]!, { ...dus[1]!, scale: [{ value: 0.5 }] }] },
    { title: 'a third slice', slices: [...dus, { model: mistral.id, start: 0, end: 4 }] },
    { title: 'a stack whose last copy is cut short', slices: [{ model: mistral.id, start: 0, end: 32 }, { model: mistral.id, start: 0, end: 31 }, { model: mistral.id, start: 0, end: 32 }] },
    { title: 'LLaMA-Pro with one identity copy moved', slices: build({ kind: 'llama-pro', model: mistral.id, every: 4 }).slices.map((slice, index) => (index === 1 ? { ...slice, start: 2, end: 3 } : slice)) },
    { title: 'an interleave whose second window starts a layer late', slices: build({ kind: 'interleave', models: [mistral.id, other.id], window: 16, overlap: 8 }).slices.map((slice, index) => (index === 1 ? { ...slice, start: 9 } : slice)) },
    { title: 'a range past the model (0–32 of a 12-layer model)', slices: [{ model: small.id, start: 0, end: 32 }, { model: small.id, start: 8, end: 12 }] },
  ])('leaves a near miss custom: $title', ({ slices }) => {
    expect(recognizeRecipe({ slices }, withSmall)).toBeNull();
  });

  it('leaves a plan over a model that is not open custom, and an empty plan too', () => {
    expect(recognizeRecipe({ slices: [{ model: '/not/open', start: 0, end: 4 }, { model: '/not/open', start: 1, end: 5 }] }, sources)).toBeNull();
    expect(recognizeRecipe({ slices: [] }, sources)).toBeNull();
  });
});
