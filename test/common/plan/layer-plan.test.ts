import { describe, expect, it } from 'vitest';
import type { LayerPlan } from '../../../electron/api/types.js';
import { expandPlan, planModels, planSize, resolvePlan } from '../../../electron/common/plan/layer-plan.js';
import { lookupOf, makeSummary } from './summary-factory.js';

// With the factory's defaults (hidden 16, intermediate 40, vocab 32, 4 heads, 2 KV heads) a layer
// holds 16 + 16·16 + 8·16 + 8·16 + 16·16 + 16 + 3·40·16 = 2720 parameters; embeddings and head
// 32·16 = 512 each, the final norm 16.
const LAYER_PARAMETERS = 2720;
const EMBED_PARAMETERS = 512;
const HEAD_PARAMETERS = 512;
const NORM_PARAMETERS = 16;

describe('resolvePlan', () => {
  it('sums layer and non-layer sizes of a SOLAR plan from the summaries', () => {
    const base = makeSummary({ name: 'Base', numLayers: 4, dtype: 'BF16' });
    const plan: LayerPlan = {
      slices: [
        { model: base.id, start: 0, end: 3 },
        { model: base.id, start: 1, end: 4 },
      ],
    };
    const resolved = resolvePlan(plan, lookupOf(base));
    const parameters = 6 * LAYER_PARAMETERS + EMBED_PARAMETERS + NORM_PARAMETERS + HEAD_PARAMETERS;
    expect(resolved.numLayers).toBe(6);
    expect(resolved.parameters).toBe(parameters);
    expect(resolved.totalBytes).toBe(parameters * 2);
    // Sanity: a plain copy of the model has exactly the source's totals.
    const copy = resolvePlan({ slices: [{ model: base.id, start: 0, end: 4 }] }, lookupOf(base));
    expect(copy.parameters).toBe(base.parameters);
    expect(copy.totalBytes).toBe(base.totalBytes);
  });

  it('takes the embeddings from the first slice source and the final norm and head from the last', () => {
    const first = makeSummary({ name: 'First', numLayers: 2, dtype: 'F32' });
    const last = makeSummary({ name: 'Last', numLayers: 2, dtype: 'BF16' });
    const plan: LayerPlan = {
      slices: [
        { model: first.id, start: 0, end: 2 },
        { model: last.id, start: 0, end: 2 },
      ],
      dtype: 'bfloat16',
    };
    const resolved = resolvePlan(plan, lookupOf(first, last));
    expect(resolved.embeddingsFrom).toBe(first.id);
    expect(resolved.headFrom).toBe(last.id);
    expect(resolved.parameters).toBe(4 * LAYER_PARAMETERS + EMBED_PARAMETERS + NORM_PARAMETERS + HEAD_PARAMETERS);
    // Source bytes: F32 layers and embeddings from First, BF16 layers, norm and head from Last.
    expect(resolved.totalBytes).toBe(2 * LAYER_PARAMETERS * 4 + EMBED_PARAMETERS * 4 + 2 * LAYER_PARAMETERS * 2 + (NORM_PARAMETERS + HEAD_PARAMETERS) * 2);
  });

  it('counts no head tensor for tied sources', () => {
    const tied = makeSummary({ name: 'Tied', numLayers: 3, tied: true });
    const resolved = resolvePlan({ slices: [{ model: tied.id, start: 0, end: 3 }] }, lookupOf(tied));
    expect(resolved.parameters).toBe(3 * LAYER_PARAMETERS + EMBED_PARAMETERS + NORM_PARAMETERS);
  });

  it('keeps MTP layers out of the stack but in the totals, unless told to drop them', () => {
    const deep = makeSummary({ name: 'Deep', numLayers: 4, mtpLayers: 1 });
    const plan: LayerPlan = {
      slices: [
        { model: deep.id, start: 0, end: 3 },
        { model: deep.id, start: 1, end: 4 },
      ],
    };
    const kept = resolvePlan(plan, lookupOf(deep));
    expect(kept.numLayers).toBe(6);
    expect(kept.layers.every((layer) => layer.sourceLayer < 4)).toBe(true);
    const nonLayer = EMBED_PARAMETERS + NORM_PARAMETERS + HEAD_PARAMETERS;
    expect(kept.parameters).toBe(7 * LAYER_PARAMETERS + nonLayer);
    const dropped = resolvePlan({ ...plan, mtp: 'drop' }, lookupOf(deep));
    expect(dropped.numLayers).toBe(6);
    expect(dropped.parameters).toBe(6 * LAYER_PARAMETERS + nonLayer);
  });

  it('gives the renderer the same layers and size as resolvePlan, MTP layers included', () => {
    const deep = makeSummary({ name: 'Deep', numLayers: 4, mtpLayers: 1 });
    const plan: LayerPlan = { slices: [{ model: deep.id, start: 0, end: 3 }, { model: deep.id, start: 1, end: 4 }] };
    const resolved = resolvePlan(plan, lookupOf(deep));
    const layers = expandPlan(plan, lookupOf(deep));
    expect(layers).toEqual(resolved.layers);
    expect(planSize(plan, layers, lookupOf(deep))).toEqual({ numLayers: 6, parameters: resolved.parameters, totalBytes: resolved.totalBytes });
    expect(planSize(plan, layers, lookupOf(deep)).parameters).toBe(7 * LAYER_PARAMETERS + EMBED_PARAMETERS + NORM_PARAMETERS + HEAD_PARAMETERS);
  });

  it('warns when MTP layers of an earlier source cannot follow the last slice', () => {
    const deep = makeSummary({ name: 'Deep', numLayers: 4, mtpLayers: 1 });
    const plain = makeSummary({ name: 'Plain', numLayers: 4 });
    const resolved = resolvePlan(
      {
        slices: [
          { model: deep.id, start: 0, end: 4 },
          { model: plain.id, start: 0, end: 4 },
        ],
      },
      lookupOf(deep, plain),
    );
    const problem = resolved.problems.find((candidate) => candidate.code === 'MtpDropped');
    expect(problem?.severity).toBe('warning');
    expect(problem?.message).toContain('Deep');
    expect(problem?.message).toContain('Plain');
  });

  it('puts a seam at every source switch and jump, and none between adjacent ranges of one source', () => {
    const x = makeSummary({ name: 'X', numLayers: 8 });
    const e = makeSummary({ name: 'E', numLayers: 8 });
    const plan: LayerPlan = {
      slices: [
        { model: x.id, start: 0, end: 3 },
        { model: x.id, start: 3, end: 5 },
        { model: e.id, start: 5, end: 8 },
        { model: e.id, start: 2, end: 4 },
      ],
    };
    const resolved = resolvePlan(plan, lookupOf(x, e));
    expect(resolved.seams).toEqual([
      { afterOutputLayer: 4, from: { model: x.id, layer: 4 }, to: { model: e.id, layer: 5 } },
      { afterOutputLayer: 7, from: { model: e.id, layer: 7 }, to: { model: e.id, layer: 2 } },
    ]);
    expect(resolved.layers.map((layer) => layer.slice)).toEqual([0, 0, 0, 1, 1, 2, 2, 2, 3, 3]);
    expect(resolved.layers.map((layer) => layer.index)).toEqual([...Array(10).keys()]);
  });

  it('counts repeats per source and layer, not per layer number', () => {
    const x = makeSummary({ name: 'X', numLayers: 4 });
    const e = makeSummary({ name: 'E', numLayers: 4 });
    const plan: LayerPlan = {
      slices: [
        { model: x.id, start: 0, end: 2 },
        { model: e.id, start: 0, end: 2 },
        { model: x.id, start: 1, end: 2 },
        { model: x.id, start: 1, end: 2 },
      ],
    };
    expect(resolvePlan(plan, lookupOf(x, e)).layers.map((layer) => layer.repeat)).toEqual([0, 0, 0, 0, 1, 2]);
  });

  it('copies scale rules onto each output layer of a scaled slice', () => {
    const x = makeSummary({ name: 'X', numLayers: 4 });
    const scale = [{ filter: 'o_proj', value: 0 }];
    const resolved = resolvePlan({ slices: [{ model: x.id, start: 0, end: 2 }, { model: x.id, start: 1, end: 2, scale }] }, lookupOf(x));
    expect(resolved.layers.map((layer) => layer.scale)).toEqual([[], [], scale]);
    expect(resolved.layers[2]?.scale).not.toBe(scale);
  });

  it('reports problems and is not ok when a slice reaches past its model, drawing the layers that exist', () => {
    const x = makeSummary({ name: 'X', numLayers: 4 });
    const resolved = resolvePlan({ slices: [{ model: x.id, start: 2, end: 6 }] }, lookupOf(x));
    expect(resolved.ok).toBe(false);
    expect(resolved.layers.map((layer) => layer.sourceLayer)).toEqual([2, 3]);
    expect(resolved.problems.map((problem) => problem.code)).toEqual(['RangeOutsideModel']);
  });

  it('resolves a plan whose source is not open to no layers from it, with an error', () => {
    const resolved = resolvePlan({ slices: [{ model: '/models/Gone', start: 0, end: 3_000_000_000 }] }, new Map());
    expect(resolved.numLayers).toBe(0);
    expect(resolved.parameters).toBe(0);
    expect(resolved.ok).toBe(false);
    expect(resolved.problems[0]?.code).toBe('SourceNotOpen');
  });

  it('resolves an empty plan to nothing, with an error', () => {
    const resolved = resolvePlan({ slices: [] }, new Map());
    expect(resolved).toMatchObject({ numLayers: 0, parameters: 0, totalBytes: 0, embeddingsFrom: null, headFrom: null, seams: [], ok: false });
  });

  it('reports a layer the summary has no tensors for', () => {
    const x = makeSummary({ name: 'X', numLayers: 4 });
    const holed = { ...x, layers: x.layers.filter((layer) => layer.index !== 2) };
    const resolved = resolvePlan({ slices: [{ model: x.id, start: 0, end: 4 }] }, lookupOf(holed));
    const problem = resolved.problems.find((candidate) => candidate.code === 'MissingLayer');
    expect(problem).toMatchObject({ severity: 'error', slice: 0, layer: 2 });
    expect(problem?.message).toContain('X');
  });
});

describe('planModels', () => {
  it('lists distinct sources in order of first use', () => {
    const plan: LayerPlan = {
      slices: [
        { model: '/m/B', start: 0, end: 1 },
        { model: '/m/A', start: 0, end: 1 },
        { model: '/m/B', start: 1, end: 2 },
        { model: '/m/C', start: 0, end: 1 },
      ],
    };
    expect(planModels(plan)).toEqual(['/m/B', '/m/A', '/m/C']);
  });
});
