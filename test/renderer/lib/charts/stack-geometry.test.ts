import { describe, expect, it } from 'vitest';
import { boundaryAtY, fitLayerHeight, stackGeometry, STACK_TOP } from '../../../../renderer/lib/charts/stack-geometry.js';
import { expandPlan, findSeams } from '../../../../electron/common/plan/layer-plan.js';
import { defaultSources, goliathPlan, LLAMA_E_PATH, LLAMA_X_PATH } from '../../fake-studio.js';

describe('stack geometry', () => {
  const layers = expandPlan(goliathPlan(), defaultSources());
  const geometry = stackGeometry({
    sources: [
      { id: LLAMA_X_PATH, name: 'X', numLayers: 80, colour: '#111' },
      { id: LLAMA_E_PATH, name: 'E', numLayers: 80, colour: '#222' },
    ],
    layers,
    seams: findSeams(layers),
    width: 900,
    layerHeight: 4,
    splice: { a: { model: LLAMA_X_PATH, layer: 16 }, b: { model: LLAMA_E_PATH, layer: 8 } },
  });

  it('puts the first source left of the output and the second right of it', () => {
    const [x, e] = geometry.columns;
    expect(x!.side).toBe('left');
    expect(e!.side).toBe('right');
    expect(x!.x + x!.width).toBeLessThan(geometry.output.x);
    expect(e!.x).toBeGreaterThan(geometry.output.x + geometry.output.width);
    expect(geometry.height).toBe(STACK_TOP + 137 * 4 + 12);
  });

  it('links each output layer from the facing edge of its source column', () => {
    expect(geometry.links).toHaveLength(137);
    const fromE = geometry.links[16]!;
    expect(layers[16]).toMatchObject({ model: LLAMA_E_PATH, sourceLayer: 8 });
    expect(fromE.d.startsWith(`M${geometry.columns[1]!.x},${STACK_TOP + 8.5 * 4}`)).toBe(true);
  });

  it('marks the layers both parents share between windows as overlap', () => {
    // X[0,16) and X[17,32): each X layer is used once; E[8,24) and E[25,40) likewise. Goliath has no repeats.
    expect(geometry.overlaps).toEqual([]);
    expect(geometry.sourceLayers.filter((layer) => layer.uses === 0).map((layer) => `${layer.model === LLAMA_X_PATH ? 'X' : 'E'}${layer.index}`)).toEqual([
      'X16',
      'X32',
      'X48',
      'X64',
      'E0',
      'E1',
      'E2',
      'E3',
      'E4',
      'E5',
      'E6',
      'E7',
      'E24',
      'E40',
      'E56',
      'E72',
      'E73',
      'E74',
      'E75',
      'E76',
      'E77',
      'E78',
      'E79',
    ]);
  });

  it('places handle A on the left parent and handle B on the right one, each at its boundary', () => {
    const [a, b] = geometry.handles;
    expect(a).toMatchObject({ handle: 'A', side: 'left', y: STACK_TOP + 16 * 4 });
    expect(b).toMatchObject({ handle: 'B', side: 'right', y: STACK_TOP + 8 * 4 });
  });

  it('fits layers to the height and maps a drag position to the nearest boundary', () => {
    expect(fitLayerHeight(800, 137)).toBe(5.5);
    expect(fitLayerHeight(500, 5)).toBe(30);
    expect(fitLayerHeight(437, 137)).toBe(2.75);
    expect(fitLayerHeight(100, 137)).toBe(2);
    expect(boundaryAtY(STACK_TOP + 3 * 10 + 4, 10, 0, 5)).toBe(3);
    expect(boundaryAtY(STACK_TOP + 3 * 10 + 6, 10, 0, 5)).toBe(4);
    expect(boundaryAtY(-50, 10, 1, 5)).toBe(1);
  });
});
