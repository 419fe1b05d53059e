import { describe, expect, it } from 'vitest';
import { expandPlan } from '../../../../electron/common/plan/layer-plan.js';
import { stackGeometry } from '../../../../renderer/lib/charts/stack-geometry.js';
import { StableItems } from '../../../../renderer/lib/charts/stable-items.js';
import { defaultSources, STORIES_PATH } from '../../fake-studio.js';

/** The stack geometry of a two-slice DUS plan with copy B starting at `b`, drawn at a fixed size. */
function geometryWithB(b: number, frozen?: Parameters<typeof stackGeometry>[0]['frozen']) {
  const plan = { slices: [{ model: STORIES_PATH, start: 0, end: 4 }, { model: STORIES_PATH, start: b, end: 5 }] };
  const layers = expandPlan(plan, defaultSources());
  return stackGeometry({
    sources: [{ id: STORIES_PATH, name: 'stories', numLayers: 5, colour: '#4e79a7' }],
    layers,
    seams: [],
    width: 700,
    height: 400,
    splice: null,
    ...(frozen ? { frozen } : {}),
  });
}

describe('StableItems', () => {
  it('hands back the previous object for an unchanged row and the new one for a changed row', () => {
    const stable = new StableItems<{ key: string; y: number; label: string }>();
    const first = stable.take([
      { key: 'a', y: 1, label: 'A' },
      { key: 'b', y: 2, label: 'B' },
    ]);
    const second = stable.take([
      { key: 'a', y: 1, label: 'A' },
      { key: 'b', y: 3, label: 'B' },
      { key: 'c', y: 4, label: 'C' },
    ]);
    expect(second[0]).toBe(first[0]);
    expect(second[1]).not.toBe(first[1]);
    expect(second[1]).toEqual({ key: 'b', y: 3, label: 'B' });
    expect(second[2]).toEqual({ key: 'c', y: 4, label: 'C' });
  });

  it('keeps the rows of a stack that a one-layer splice move leaves in place', () => {
    const stable = new StableItems<ReturnType<typeof geometryWithB>['outputLayers'][number]>();
    const before = geometryWithB(2);
    const frozen = { output: { compressed: before.output.scale.compressed, magnified: before.output.scale.magnified } };
    const first = stable.take(before.outputLayers);
    // Copy B starts one layer later: the output loses a row; copy A's rows keep their objects, except
    // row 2, whose source layer is no longer repeated; copy B's first row now copies layer 3.
    const second = stable.take(geometryWithB(3, frozen).outputLayers);
    expect(second).toHaveLength(first.length - 1);
    for (const index of [0, 1, 3]) expect(second[index]).toBe(first[index]);
    expect(second[2]).toMatchObject({ repeated: false });
    expect(second[2]).not.toBe(first[2]);
    expect(second[4]).toMatchObject({ sourceLayer: 3 });
  });
});
