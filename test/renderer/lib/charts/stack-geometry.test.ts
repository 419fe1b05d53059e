import type { CheckpointSummary } from '../../../../electron/api/types.js';
import { describe, expect, it } from 'vitest';
import { copyNumbers, stackGeometry, STACK_TOP } from '../../../../renderer/lib/charts/stack-geometry.js';
import { boundaryAt, MAGNIFIED_ROW, READABLE_ROW, rowAt, rowCentre, rowHeight, rowScale } from '../../../../renderer/lib/charts/row-scale.js';
import { withLlamaPro } from '../../../../electron/common/plan/llama-pro.js';
import { expandPlan, findSeams } from '../../../../electron/common/plan/layer-plan.js';
import { defaultSources, goliathPlan, LLAMA_E_PATH, LLAMA_X_PATH } from '../../fake-studio.js';

/** Sources for plans whose slices say their own ranges: every model long enough for any slice. */
const ANY_LENGTH = { get: (model: string) => ({ id: model, numLayers: 1_000 }) as CheckpointSummary, has: () => true };


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
    height: STACK_TOP + 137 * 4 + 8,
    splice: { a: { model: LLAMA_X_PATH, layer: 16 }, b: { model: LLAMA_E_PATH, layer: 8 } },
  });

  it('puts the first source left of the output and the second right of it', () => {
    const [x, e] = geometry.columns;
    expect(x!.side).toBe('left');
    expect(e!.side).toBe('right');
    expect(x!.x + x!.width).toBeLessThan(geometry.output.x);
    expect(e!.x).toBeGreaterThan(geometry.output.x + geometry.output.width);
    expect(geometry.height).toBeCloseTo(STACK_TOP + 137 * 4 + 8);
    // Each 80-layer parent fills the height on its own scale, not the 137-layer output's.
    expect(x!.scale.boundaries[80]).toBeCloseTo(STACK_TOP + 137 * 4);
  });

  it('links each output layer from the facing edge of its source column', () => {
    expect(geometry.links).toHaveLength(137);
    const fromE = geometry.links[16]!;
    expect(layers[16]).toMatchObject({ model: LLAMA_E_PATH, sourceLayer: 8 });
    const e = geometry.columns[1]!;
    const [startX, startY] = fromE.d.match(/-?\d+(\.\d+)?/g)!.map(Number);
    expect(startX).toBeCloseTo(e.x);
    expect(startY).toBeCloseTo(rowCentre(e.scale, 8), 2);
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
    const [x, e] = geometry.columns;
    expect(a).toMatchObject({ handle: 'A', side: 'left', y: x!.scale.boundaries[16] });
    expect(b).toMatchObject({ handle: 'B', side: 'right', y: e!.scale.boundaries[8] });
  });

  it('stacks a third source under the first, so no link crosses another column and nothing overflows 700 px', () => {
    const three = stackGeometry({
      sources: [
        { id: 'a', name: 'llama-a', numLayers: 12, colour: '#111' },
        { id: 'b', name: 'llama-b', numLayers: 12, colour: '#222' },
        { id: 'c', name: 'other', numLayers: 12, colour: '#333' },
      ],
      layers: expandPlan({ slices: [0, 1, 2, 3].map((index) => ({ model: ['a', 'b', 'c', 'a'][index]!, start: 3 * index, end: 3 * index + 3 })) }, ANY_LENGTH),
      seams: [],
      width: 700,
      height: 560,
      splice: { a: { model: 'a', layer: 3 }, b: { model: 'b', layer: 3 } },
    });
    const [a, b, c] = ['a', 'b', 'c'].map((id) => three.columns.find((column) => column.id === id));
    expect(a!.x).toBe(c!.x);
    expect(c!.scale.boundaries[0]).toBeGreaterThan(a!.scale.boundaries[12]! + 20);
    expect(b!.side).toBe('right');
    expect(three.width).toBe(700);
    expect(Math.max(...three.handles.map((handle) => handle.tabX + handle.tabWidth))).toBeLessThanOrEqual(700);
    expect(Math.min(...three.handles.map((handle) => handle.tabX))).toBeGreaterThanOrEqual(0);
  });

  it('numbers copies of a source: DUS copy 2 starts where the plan goes back; identity copies stay in their copy', () => {
    expect(copyNumbers(expandPlan({ slices: [{ model: 'm', start: 0, end: 5 }, { model: 'm', start: 1, end: 6 }] }, ANY_LENGTH))).toEqual([1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    expect(new Set(copyNumbers(expandPlan(withLlamaPro({ slices: [{ model: 'm', start: 0, end: 6 }] }, 2), ANY_LENGTH)))).toEqual(new Set([1]));
    expect(new Set(copyNumbers(expandPlan(goliathPlan(), defaultSources())))).toEqual(new Set([1]));
  });
});

describe('row scale', () => {
  it('is uniform while rows are readable and capped at 30 px', () => {
    const scale = rowScale(48, 0, 480);
    expect(scale.banded).toBe(false);
    expect(rowHeight(scale, 0)).toBe(10);
    expect(rowHeight(rowScale(5, 0, 500), 4)).toBe(30);
  });

  it('magnifies a band around each focus when rows would be too thin, and keeps the total height', () => {
    const scale = rowScale(137, 10, 500, [20, 100]);
    expect(scale.banded).toBe(true);
    expect(rowHeight(scale, 20)).toBe(MAGNIFIED_ROW);
    expect(rowHeight(scale, 16)).toBe(MAGNIFIED_ROW);
    expect(rowHeight(scale, 60)).toBeLessThan(READABLE_ROW);
    expect(scale.boundaries[137]).toBeCloseTo(510);
  });

  it('keeps given row heights (a drag) and maps y back to rows and boundaries', () => {
    const fixed = rowScale(60, 0, 300, [30], { compressed: 3, magnified: 12 });
    expect(rowHeight(fixed, 30)).toBe(12);
    expect(rowHeight(fixed, 0)).toBe(3);
    expect(rowAt(fixed, fixed.boundaries[30]! + 1)).toBe(30);
    expect(rowAt(fixed, -1)).toBeNull();
    expect(boundaryAt(fixed, fixed.boundaries[31]! + 2, 0, 60)).toBe(31);
    expect(boundaryAt(fixed, -50, 4, 60)).toBe(4);
  });
});
