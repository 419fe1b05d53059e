import { describe, expect, it } from 'vitest';
import {
  defaultDrop,
  defaultLlamaProEvery,
  dusSlices,
  isIdentityCopy,
  llamaProEvery,
  spliceBoundaries,
  withLlamaPro,
  withoutLlamaPro,
} from '../../../../renderer/lib/plan/recipes.js';
import { expandPlan, findSeams, useCounts, sourceKey } from '../../../../renderer/lib/plan/output-stack.js';

describe('recipes', () => {
  it('builds SOLAR 10.7B from a 32-layer base: 48 layers, seam from base 23 to base 8', () => {
    const plan = { slices: dusSlices('mistral', 32, defaultDrop(32)) };
    expect(plan.slices).toEqual([
      { model: 'mistral', start: 0, end: 24 },
      { model: 'mistral', start: 8, end: 32 },
    ]);
    const layers = expandPlan(plan);
    expect(layers).toHaveLength(48);
    expect(layers[24]).toMatchObject({ index: 24, sourceLayer: 8, slice: 1, repeat: 1 });
    expect(findSeams(layers)).toEqual([{ afterOutputLayer: 23, from: { model: 'mistral', layer: 23 }, to: { model: 'mistral', layer: 8 } }]);
    const counts = useCounts(layers);
    expect([...Array(32).keys()].filter((layer) => counts.get(sourceKey('mistral', layer)) === 2)).toEqual([...Array(16).keys()].map((layer) => layer + 8));
  });

  it('suggests a quarter of the layers as the drop and LLaMA-Pro-8B spacing', () => {
    expect(defaultDrop(32)).toBe(8);
    expect(defaultDrop(5)).toBe(1);
    expect(defaultDrop(1)).toBe(0);
    expect(defaultLlamaProEvery(32)).toBe(4);
    expect(defaultLlamaProEvery(5)).toBe(2);
  });

  it('expands LLaMA-Pro-8B: 32 layers + an identity copy after every 4th = 40', () => {
    const plan = withLlamaPro({ slices: [{ model: 'llama', start: 0, end: 32 }] }, 4);
    const layers = expandPlan(plan);
    expect(layers).toHaveLength(40);
    const copies = plan.slices.filter(isIdentityCopy);
    expect(copies.map((slice) => slice.start)).toEqual([3, 7, 11, 15, 19, 23, 27, 31]);
    expect(llamaProEvery(plan)).toBe(4);
    expect(spliceBoundaries(plan)).toEqual([]);
    expect(withoutLlamaPro(plan)).toEqual({ slices: [{ model: 'llama', start: 0, end: 32 }] });
  });

  it('does not join slices a user split on purpose when removing LLaMA-Pro copies', () => {
    const plan = { slices: [{ model: 'm', start: 0, end: 2 }, { model: 'm', start: 2, end: 4 }] };
    expect(withoutLlamaPro(plan)).toEqual(plan);
  });

  it('clips expansion to the source size when it is known', () => {
    expect(expandPlan({ slices: [{ model: 'm', start: 3, end: 99 }] }, () => 5).map((layer) => layer.sourceLayer)).toEqual([3, 4]);
  });
});
