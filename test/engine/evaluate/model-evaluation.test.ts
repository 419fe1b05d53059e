import path from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLlamaRuntime, type LlamaRuntime } from '../../../electron/engine/evaluate/llama-runtime.js';
import { evaluateModel, evaluationWindows, perplexityOf } from '../../../electron/engine/evaluate/model-evaluation.js';

const GGUF_MODELS = path.resolve(import.meta.dirname, '../../../../shared/models/gguf');
const EVALUATION_TEXT = readFileSync(path.resolve(import.meta.dirname, '../../../build/demo/evaluation/tiny-stories.txt'), 'utf8');

describe('evaluationWindows', () => {
  it('covers every token once, each window leaving room for its BOS', () => {
    expect(evaluationWindows(10, 4)).toEqual([
      { start: 0, end: 3 },
      { start: 3, end: 6 },
      { start: 6, end: 9 },
      { start: 9, end: 10 },
    ]);
    expect(evaluationWindows(3, 512)).toEqual([{ start: 0, end: 3 }]);
  });
});

describe('perplexityOf', () => {
  it('is exp of the mean negative log-likelihood', () => {
    expect(perplexityOf([Math.log(2), Math.log(8)])).toBeCloseTo(4, 12);
    expect(perplexityOf([])).toBeNaN();
  });
});

// llama.cpp on one thread: on a busy shared machine more threads spin against each other. Generous
// bounds: these catch hangs, they time nothing.
describe('evaluating a GGUF model in llama.cpp', { timeout: 300_000 }, () => {
  let runtime: LlamaRuntime;
  beforeAll(async () => {
    runtime = await createLlamaRuntime({ gpu: false });
  }, 120_000);
  afterAll(async () => {
    await runtime?.dispose();
  });

  it('scores the bundled text on stories260K and continues the prompt as llama2.c does', async () => {
    const progress: number[] = [];
    const result = await evaluateModel(runtime, path.join(GGUF_MODELS, 'stories260K-f32.gguf'), {
      text: EVALUATION_TEXT,
      threads: 1,
      prompt: 'Once upon a time',
      continuationTokens: 24,
      onProgress: ({ doneTokens }) => progress.push(doneTokens),
    });
    expect(result.tokens).toBe(result.negativeLogLikelihoods.length);
    expect(result.tokens).toBeGreaterThan(100);
    expect(progress.at(-1)).toBe(result.tokens);
    expect(result.perplexity).toBeGreaterThan(1);
    // A trained model on text of its own domain: far below the uniform 512-token vocabulary.
    expect(result.perplexity).toBeLessThan(10);
    expect(result.continuation).toContain('there was a little girl named Lily');
    expect(result.backend).toBe('cpu');
  });

  it('gives the same scores on a second run, and a reshaped model scores worse than its source', async () => {
    const source = await evaluateModel(runtime, path.join(GGUF_MODELS, 'stories260K-f32.gguf'), { text: EVALUATION_TEXT, threads: 1 });
    const again = await evaluateModel(runtime, path.join(GGUF_MODELS, 'stories260K-f32.gguf'), { text: EVALUATION_TEXT, threads: 1 });
    expect(again.negativeLogLikelihoods).toEqual(source.negativeLogLikelihoods);
    const dus = await evaluateModel(runtime, path.join(GGUF_MODELS, 'stories260K-dus-drop1-f32.reference.gguf'), { text: EVALUATION_TEXT, threads: 1 });
    expect(dus.tokens).toBe(source.tokens);
    expect(dus.perplexity).toBeGreaterThan(source.perplexity);
  });

  it('scores windows that each start with BOS when the text is longer than a window', async () => {
    const result = await evaluateModel(runtime, path.join(GGUF_MODELS, 'stories260K-f32.gguf'), { text: EVALUATION_TEXT, windowTokens: 65, maxTokens: 200, threads: 1 });
    expect(result.tokens).toBe(200);
  });

  it('stops when cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(evaluateModel(runtime, path.join(GGUF_MODELS, 'stories260K-f32.gguf'), { text: EVALUATION_TEXT, signal: controller.signal })).rejects.toMatchObject({
      code: 'Cancelled',
    });
  });

  it('names the file that llama.cpp cannot load', async () => {
    await expect(evaluateModel(runtime, path.join(GGUF_MODELS, 'SOURCE.md'), { text: EVALUATION_TEXT, threads: 1 })).rejects.toMatchObject({
      code: 'EvaluationFailed',
      path: path.join(GGUF_MODELS, 'SOURCE.md'),
    });
  });
});
