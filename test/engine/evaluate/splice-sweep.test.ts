import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckpointSummary } from '../../../electron/api/types.js';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { createLlamaRuntime, type LlamaRuntime } from '../../../electron/engine/evaluate/llama-runtime.js';
import { evaluateModel } from '../../../electron/engine/evaluate/model-evaluation.js';
import { evaluatePlanOutput } from '../../../electron/engine/evaluate/plan-evaluation.js';
import { fullGrid, rankCorrelation, rankSweep, spliceCandidates, sweepSplices } from '../../../electron/engine/evaluate/splice-sweep.js';
import { resolvePlan } from '../../../electron/common/plan/layer-plan.js';
import { buildPlanFromRecipe } from '../../../electron/common/plan/plan-recipes.js';

const DEMO = path.resolve(import.meta.dirname, '../../../build/demo/stories260K');
const REFERENCE_DUS = path.resolve(import.meta.dirname, '../../../../shared/models/gguf/stories260K-dus-drop1-f32.reference.gguf');
const TEXT = readFileSync(path.resolve(import.meta.dirname, '../../../build/demo/evaluation/tiny-stories.txt'), 'utf8');

describe('spliceCandidates', () => {
  it('lists SOLAR drops as splice points', () => {
    expect(spliceCandidates(32, { kind: 'drop', from: 7, to: 9 })).toEqual([
      { a: 25, b: 7 },
      { a: 24, b: 8 },
      { a: 23, b: 9 },
    ]);
  });
  it('lists the full grid of a 5-layer model', () => {
    const grid = spliceCandidates(5, fullGrid(5));
    expect(grid).toHaveLength(25);
    expect(grid[0]).toEqual({ a: 1, b: 0 });
    expect(grid.at(-1)).toEqual({ a: 5, b: 4 });
  });
  it('refuses points outside the model', () => {
    expect(() => spliceCandidates(5, { kind: 'drop', from: 0, to: 5 })).toThrow(/0\.\.4/);
    expect(() => spliceCandidates(5, { kind: 'grid', aFrom: 0, aTo: 5, bFrom: 0, bTo: 4 })).toThrow(/1\.\.5/);
  });
});

describe('rankCorrelation', () => {
  it('is 1 for the same order, -1 for the reverse, and handles ties', () => {
    expect(rankCorrelation([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1, 12);
    expect(rankCorrelation([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    expect(rankCorrelation([1, 1, 2], [1, 1, 2])).toBeCloseTo(1, 12);
  });
});

describe('evaluating plans of stories260K in llama.cpp', { timeout: 300_000 }, () => {
  let runtime: LlamaRuntime;
  let demo: CheckpointSummary;
  let sources: Map<string, CheckpointSummary>;
  beforeAll(async () => {
    runtime = await createLlamaRuntime({ gpu: false });
    demo = await openCheckpoint(DEMO);
    sources = new Map([[demo.id, demo]]);
  }, 120_000);
  afterAll(async () => {
    await runtime?.dispose();
  });

  const evaluate = (recipe: Parameters<typeof buildPlanFromRecipe>[0]) =>
    evaluatePlanOutput(runtime, resolvePlan(buildPlanFromRecipe(recipe, sources), sources), sources, { text: TEXT, threads: 1, prompt: 'Once upon a time' });

  it('gives the source its own perplexity for the identity plan and for LLaMA-Pro identity blocks', async () => {
    const source = await evaluate({ kind: 'stack', model: demo.id, times: 1 });
    const llamaPro = await evaluate({ kind: 'llama-pro', model: demo.id, every: 2 });
    expect(llamaPro.negativeLogLikelihoods).toEqual(source.negativeLogLikelihoods);
    expect(llamaPro.perplexity).toBe(source.perplexity);
    expect(llamaPro.continuation).toBe(source.continuation);
    expect(source.continuation).toContain('there was a little girl named Lily');
    const dus = await evaluate({ kind: 'dus', model: demo.id, drop: 1 });
    expect(dus.perplexity).toBeGreaterThan(source.perplexity);
    // llama.cpp's own converter's GGUF of the same DUS scores exactly the same.
    const reference = await evaluateModel(runtime, REFERENCE_DUS, { text: TEXT, threads: 1 });
    expect(dus.negativeLogLikelihoods).toEqual(reference.negativeLogLikelihoods);
  });

  it('streams a sweep whose rows equal single evaluations of the same plans', async () => {
    const streamed: number[] = [];
    const candidates = spliceCandidates(5, { kind: 'drop', from: 1, to: 2 });
    const rows = await sweepSplices(runtime, demo, candidates, { text: TEXT, threads: 1, onResult: (_row, index) => streamed.push(index) });
    expect(streamed).toEqual([0, 1]);
    expect(rows.map((row) => [row.a, row.b, row.layers])).toEqual([
      [4, 1, 8],
      [3, 2, 6],
    ]);
    const single = await evaluate({ kind: 'splice', model: demo.id, a: 3, b: 2 });
    expect(rows[1]?.perplexity).toBe(single.perplexity);
    expect(rankSweep(rows)[0]?.perplexity).toBe(Math.min(...rows.map((row) => row.perplexity)));
  });
});
