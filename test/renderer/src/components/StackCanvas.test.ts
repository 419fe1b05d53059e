import type { CheckpointSummary } from '../../../../electron/api/types.js';
import { describe, expect, it, beforeEach } from 'vitest';
import { render } from '@testing-library/svelte';
import type { OutputLayer } from '../../../../electron/api/types.js';
import StackCanvas from '../../../../renderer/src/components/StackCanvas.svelte';
import { expandPlan, findSeams } from '../../../../electron/common/plan/layer-plan.js';
import { withLlamaPro } from '../../../../electron/common/plan/llama-pro.js';
import { buildPlanFromRecipe } from '../../../../electron/common/plan/plan-recipes.js';
import type { StackSourceInput } from '../../../../renderer/lib/charts/stack-geometry.js';
import { defaultSources, goliathPlan, LLAMA_E_PATH, LLAMA_X_PATH, STORIES_PATH } from '../../fake-studio.js';

/** Sources for plans whose slices say their own ranges: every model long enough for any slice. */
const ANY_LENGTH = { get: (model: string) => ({ id: model, numLayers: 1_000 }) as CheckpointSummary, has: () => true };


/** SOLAR slices of a `layers`-layer model: copy one keeps [0, a), copy two keeps [b, n). */
function spliceSlices(model: string, layers: number, a: number, b: number) {
  return [
    { model, start: 0, end: a },
    { model, start: b, end: layers },
  ];
}

function dusSlices(model: string, layers: number, drop: number) {
  return spliceSlices(model, layers, layers - drop, drop);
}

const checkpoints = defaultSources();

const stories: StackSourceInput = { id: STORIES_PATH, name: 'stories260K', numLayers: 5, colour: '#4e79a7' };

function renderStack(sources: StackSourceInput[], layers: OutputLayer[], splice: { a: { model: string; layer: number }; b: { model: string; layer: number } } | null = null) {
  const point = (position: { model: string; layer: number }, min: number, max: number) => ({ ...position, min, max });
  return render(StackCanvas, {
    props: {
      sources,
      layers,
      seams: findSeams(layers),
      splice: splice ? { a: point(splice.a, 1, 5), b: point(splice.b, 0, 4) } : null,
      seamJump: null,
    },
  });
}

/** Start and end point of a d3 link path ("M x,y C … x,y"). */
function endpoints(d: string): { start: [number, number]; end: [number, number] } {
  const numbers = d.match(/-?\d+(\.\d+)?/g)!.map(Number);
  return { start: [numbers[0]!, numbers[1]!], end: [numbers.at(-2)!, numbers.at(-1)!] };
}

describe('StackCanvas', () => {
  beforeEach(() => {
    window.__dusPerf = { marks: [] };
  });

  it('links every output layer to the source layer it copies', () => {
    const layers = expandPlan(buildPlanFromRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 }, checkpoints), checkpoints);
    const { getAllByTestId, container } = renderStack([stories], layers);
    const outputs = getAllByTestId('output-layer');
    const links = getAllByTestId('layer-link');
    expect(outputs).toHaveLength(8);
    expect(links).toHaveLength(8);
    const sourceRects = new Map(getAllByTestId('source-layer').map((rect) => [Number(rect.dataset.index), rect]));
    for (const link of links) {
      const index = Number(link.getAttribute('data-index'));
      const output = container.querySelector(`[data-testid="output-layer"][data-index="${index}"] rect`)!;
      const source = sourceRects.get(layers[index]!.sourceLayer)!;
      const { start, end } = endpoints(link.getAttribute('d')!);
      const sourceCentre = Number(source.getAttribute('y')) - 0.5 + Number(source.getAttribute('height')) / 2 + 0.5;
      expect(start[0]).toBeCloseTo(Number(source.getAttribute('x')) + Number(source.getAttribute('width')));
      expect(start[1]).toBeCloseTo(sourceCentre, 0);
      expect(end[0]).toBeCloseTo(Number(output.getAttribute('x')));
      expect(end[1]).toBeCloseTo(Number(output.getAttribute('y')) - 0.5 + (Number(output.getAttribute('height')) + 1) / 2, 0);
    }
  });

  it('marks layers used twice and shades the overlap on the source column', () => {
    const layers = expandPlan(buildPlanFromRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 }, checkpoints), checkpoints);
    const { getAllByTestId } = renderStack([stories], layers);
    const repeated = getAllByTestId('output-layer').filter((layer) => layer.dataset.repeated === 'true');
    expect(repeated.map((layer) => Number(layer.dataset.index))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(getAllByTestId('repeat-marker')).toHaveLength(6);
    const overlaps = getAllByTestId('overlap-region').filter((region) => region.dataset.model === STORIES_PATH);
    expect(overlaps).toHaveLength(1);
    // The output shades both runs of repeated rows the same way: 1–3 in copy 1, 4–6 in copy 2.
    expect(getAllByTestId('overlap-region').filter((region) => region.dataset.model === 'output')).toHaveLength(2);
    const row = (index: number) => getAllByTestId('source-layer').find((layer) => Number(layer.dataset.index) === index)!;
    const rowTop = (index: number) => Number(row(index).getAttribute('y')) - 0.5;
    expect(Number(overlaps[0]!.getAttribute('y'))).toBeCloseTo(rowTop(1));
    expect(Number(overlaps[0]!.getAttribute('height'))).toBeCloseTo(rowTop(4) - rowTop(1));
  });

  it('draws the two DUS copies apart: a darker second copy and a bracket per copy naming its source layers', () => {
    const layers = expandPlan({ slices: dusSlices(STORIES_PATH, 5, 1) }, ANY_LENGTH);
    const { getAllByTestId } = renderStack([stories], layers);
    const copies = getAllByTestId('output-layer').map((layer) => Number(layer.dataset.copy));
    expect(copies).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
    const fills = getAllByTestId('output-layer').map((layer) => layer.querySelector('rect')!.getAttribute('fill'));
    expect(fills[0]).toBe(stories.colour);
    expect(fills[4]).not.toBe(stories.colour);
    const brackets = getAllByTestId('copy-bracket');
    expect(brackets.map((bracket) => bracket.dataset.copy)).toEqual(['1', '2']);
    expect(brackets[1]!.querySelector('title')!.textContent).toContain('source layers 1–4');
    expect(getAllByTestId('seam-label')[0]!.textContent).toBe('seam 3→1');
  });

  it('numbers every row of both columns at 48 layers and magnifies a band of a 137-layer output', () => {
    const solar: StackSourceInput = { ...stories, numLayers: 32 };
    const layers = expandPlan({ slices: dusSlices(STORIES_PATH, 32, 8) }, ANY_LENGTH);
    const { getAllByTestId } = render(StackCanvas, {
      props: { sources: [solar], layers, seams: findSeams(layers), splice: null, seamJump: null, fallbackWidth: 700, fallbackHeight: 560 },
    });
    const shown = (labels: HTMLElement[]) => labels.filter((label) => label.getAttribute('display') !== 'none');
    expect(shown(getAllByTestId('output-label'))).toHaveLength(48);
    expect(shown(getAllByTestId('source-label'))).toHaveLength(32);
  });

  it('draws the seam as a line after the last layer of copy A', () => {
    const layers = expandPlan(buildPlanFromRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 }, checkpoints), checkpoints);
    const { getAllByTestId } = renderStack([stories], layers);
    const seams = getAllByTestId('seam-line');
    expect(seams).toHaveLength(1);
    const canvas = getAllByTestId('stack-canvas')[0]!;
    const expectedY = Number(canvas.dataset.top) + 4 * Number(canvas.dataset.layerHeight);
    expect(seams[0]!.dataset.after).toBe('3');
    expect(Number(seams[0]!.getAttribute('y1'))).toBeCloseTo(expectedY);
  });

  it('greys the layers a splice cuts out', () => {
    const layers = expandPlan(buildPlanFromRecipe({ kind: 'splice', model: STORIES_PATH, a: 2, b: 3 }, checkpoints), checkpoints);
    const { getAllByTestId } = renderStack([stories], layers);
    const cut = getAllByTestId('source-layer').filter((layer) => layer.classList.contains('cut'));
    expect(cut.map((layer) => Number(layer.dataset.index))).toEqual([2]);
    expect(cut[0]!.getAttribute('fill')).toBe('var(--cut)');
  });

  it('hatches scaled LLaMA-Pro copies', () => {
    const layers = expandPlan(withLlamaPro({ slices: [{ model: STORIES_PATH, start: 0, end: 5 }] }, 2), checkpoints);
    const { getAllByTestId } = renderStack([stories], layers);
    const scaled = getAllByTestId('output-layer').filter((layer) => layer.dataset.scaled === 'true');
    expect(scaled.map((layer) => Number(layer.dataset.sourceLayer))).toEqual([1, 3]);
    expect(getAllByTestId('hatch')).toHaveLength(2);
  });

  it('says the checkpoints are opening instead of showing the empty state while they load', async () => {
    const view = render(StackCanvas, { props: { sources: [], layers: [], seams: [], splice: null, seamJump: null, loading: true } });
    expect(view.getByTestId('stack-loading').textContent).toContain('Opening checkpoints');
    expect(view.queryByTestId('stack-empty')).toBeNull();
    await view.rerender({ sources: [], layers: [], seams: [], splice: null, seamJump: null, loading: false });
    expect(view.getByTestId('stack-empty').textContent).toContain('No plan yet');
  });

  it('points to Problems instead of "No plan yet" when the plan has slices but gives no output layers', async () => {
    const view = render(StackCanvas, { props: { sources: [stories], layers: [], seams: [], splice: null, seamJump: null } });
    expect(view.getByTestId('stack-empty').textContent).toContain('No plan yet');
    await view.rerender({ sources: [stories], layers: [], seams: [], splice: null, seamJump: null, planned: true });
    expect(view.getByTestId('stack-empty').textContent).toBe('The plan gives no output layers: see Problems.');
  });

  it('marks the output rows of a slice the engine reports an error for', () => {
    const layers = expandPlan({ slices: spliceSlices(STORIES_PATH, 5, 2, 3) }, ANY_LENGTH);
    const view = render(StackCanvas, { props: { sources: [stories], layers, seams: findSeams(layers), splice: null, seamJump: null, errorSlices: new Set([1]) } });
    expect(view.getAllByTestId('invalid-row').map((row) => Number(row.dataset.index))).toEqual([2, 3]);
  });

  it('records the first render when the plan arrives after the canvas', async () => {
    const layers = expandPlan(buildPlanFromRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 }, checkpoints), checkpoints);
    const view = renderStack([stories], []);
    expect(window.__dusPerf!.marks).toEqual([]);
    await view.rerender({ sources: [stories], layers, seams: findSeams(layers), splice: null, seamJump: null });
    expect(view.getAllByTestId('output-layer')).toHaveLength(8);
    expect(window.__dusPerf!.marks.map((mark) => mark.name)).toEqual(['first-render']);
    await view.rerender({ sources: [stories], layers: layers.slice(0, 4), seams: [], splice: null, seamJump: null });
    expect(window.__dusPerf!.marks).toHaveLength(1);
  });

  it('renders a 137-layer Goliath plan with one column per parent and records the first render', () => {
    const sources: StackSourceInput[] = [
      { id: LLAMA_X_PATH, name: 'Xwin-LM-70B', numLayers: 80, colour: '#4e79a7' },
      { id: LLAMA_E_PATH, name: 'Euryale-70B', numLayers: 80, colour: '#f28e2b' },
    ];
    const layers = expandPlan(goliathPlan(), checkpoints);
    const { getAllByTestId } = renderStack(sources, layers, { a: { model: LLAMA_X_PATH, layer: 16 }, b: { model: LLAMA_E_PATH, layer: 8 } });
    expect(getAllByTestId('output-layer')).toHaveLength(137);
    expect(getAllByTestId('layer-link')).toHaveLength(137);
    expect(getAllByTestId('source-layer')).toHaveLength(160);
    expect(getAllByTestId('seam-line')).toHaveLength(8);
    const sides = new Set(getAllByTestId('source-layer').map((layer) => `${layer.dataset.model}:${layer.getAttribute('x')}`));
    expect(sides.size).toBe(2);
    expect(getAllByTestId('splice-handle-a').length + getAllByTestId('splice-handle-b').length).toBe(2);
    const marks = window.__dusPerf!.marks.filter((mark) => mark.name === 'first-render');
    expect(marks).toHaveLength(1);
  });
});
