import { describe, expect, it } from 'vitest';
import { expandPlan, findSeams, sourceKey, useCounts } from '../../../electron/common/plan/layer-plan.js';
import { defaultLlamaProEvery, isIdentityCopy, llamaProEvery, withLlamaPro, withoutLlamaPro } from '../../../electron/common/plan/llama-pro.js';
import { buildPlanFromRecipe, defaultDrop, spliceBoundaries } from '../../../electron/common/plan/plan-recipes.js';
import { lookupOf, makeSummary } from './summary-factory.js';

const mistral = makeSummary({ id: 'mistral', numLayers: 32 });
const llama = makeSummary({ id: 'llama', numLayers: 32 });
const sources = lookupOf(mistral, llama);

describe('LLaMA-Pro and the recipe defaults', () => {
  it('builds SOLAR 10.7B from a 32-layer base with the suggested drop: 48 layers, seam from base 23 to base 8', () => {
    const plan = buildPlanFromRecipe({ kind: 'dus', model: 'mistral', drop: defaultDrop(32) }, sources);
    expect(plan.slices).toEqual([
      { model: 'mistral', start: 0, end: 24 },
      { model: 'mistral', start: 8, end: 32 },
    ]);
    const layers = expandPlan(plan, sources);
    expect(layers).toHaveLength(48);
    expect(layers[24]).toMatchObject({ index: 24, sourceLayer: 8, slice: 1, repeat: 1 });
    expect(findSeams(layers)).toEqual([{ afterOutputLayer: 23, from: { model: 'mistral', layer: 23 }, to: { model: 'mistral', layer: 8 } }]);
    const counts = useCounts(layers);
    const twice = [...Array(32).keys()].filter((layer) => counts.get(sourceKey('mistral', layer)) === 2);
    expect(twice).toEqual([...Array(16).keys()].map((layer) => layer + 8));
  });

  it('suggests a quarter of the layers as the drop and LLaMA-Pro-8B spacing', () => {
    expect(defaultDrop(32)).toBe(8);
    expect(defaultDrop(5)).toBe(1);
    expect(defaultDrop(1)).toBe(0);
    expect(defaultLlamaProEvery(32)).toBe(4);
    expect(defaultLlamaProEvery(5)).toBe(2);
    expect(defaultLlamaProEvery(1)).toBe(1);
  });

  it('expands LLaMA-Pro-8B: 32 layers + an identity copy after every 4th = 40, the same slices as the recipe', () => {
    const plan = withLlamaPro({ slices: [{ model: 'llama', start: 0, end: 32 }] }, 4);
    expect(plan).toEqual(buildPlanFromRecipe({ kind: 'llama-pro', model: 'llama', every: 4 }, sources));
    expect(expandPlan(plan, sources)).toHaveLength(40);
    expect(plan.slices.filter(isIdentityCopy).map((slice) => slice.start)).toEqual([3, 7, 11, 15, 19, 23, 27, 31]);
    expect(llamaProEvery(plan)).toBe(4);
    expect(spliceBoundaries(plan)).toEqual([]);
    expect(withoutLlamaPro(plan)).toEqual({ slices: [{ model: 'llama', start: 0, end: 32 }] });
  });

  it('counts LLaMA-Pro positions over the output stack, so it applies to a DUS plan', () => {
    const dus = buildPlanFromRecipe({ kind: 'dus', model: 'mistral', drop: 8 }, sources);
    const plan = withLlamaPro(dus, 12);
    expect(plan.slices.filter(isIdentityCopy).map((slice) => [slice.start, slice.end])).toEqual([
      [11, 12],
      [23, 24],
      [19, 20],
      [31, 32],
    ]);
    expect(withoutLlamaPro(plan)).toEqual(dus);
  });

  it('does not join slices a user split on purpose when removing LLaMA-Pro copies', () => {
    const plan = { slices: [{ model: 'm', start: 0, end: 2 }, { model: 'm', start: 2, end: 4 }] };
    expect(withoutLlamaPro(plan)).toEqual(plan);
  });

  it('does not take a one-layer slice with other rules for an identity copy', () => {
    expect(isIdentityCopy({ model: 'm', start: 3, end: 4, scale: [{ filter: 'o_proj', value: 0 }, { value: 1 }] })).toBe(false);
    expect(isIdentityCopy({ model: 'm', start: 3, end: 5, scale: [{ filter: 'o_proj', value: 0 }, { filter: 'down_proj', value: 0 }, { value: 1 }] })).toBe(false);
  });
});
