/**
 * GGUF exports run in llama.cpp (node-llama-cpp's prebuilt CPU build, one thread so the sums are
 * done in one order): plans that must not change the model give exactly the source's next-token
 * probabilities.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { createLlamaRuntime, type LlamaRuntime } from '../../../electron/engine/evaluate/llama-runtime.js';
import { exportPlan } from '../../../electron/engine/export/export-plan.js';
import { buildPlanFromRecipe } from '../../../electron/common/plan/plan-recipes.js';
import { ggufScalar, readGgufHeader, type GgufValue } from '../../../electron/engine/formats/gguf.js';
import { ggufWithMetadata, sourceMap, TempFolders } from './export-fixtures.js';

const GGUF_DIR = path.resolve(import.meta.dirname, '../../../../shared/models/gguf');
const TEXT = 'Once upon a time, there was a little girl named Lily. She loved to play outside.';
/** Loading llama.cpp and evaluating on a busy machine: bounds that catch a hang, not a slow run. */
const LLAMA_TIMEOUT_MS = 600_000;

const folders = new TempFolders();
let runtime: LlamaRuntime;

beforeAll(async () => {
  runtime = await createLlamaRuntime({ gpu: false });
}, LLAMA_TIMEOUT_MS);
afterAll(async () => {
  await runtime?.dispose();
  await folders.removeAll();
});

/** After each token of TEXT (BOS first), the probability llama.cpp gives every candidate next token. */
async function nextTokenProbabilities(file: string): Promise<Array<Array<[number, number]>>> {
  const model = await runtime.loadModel(file);
  try {
    const context = await model.createContext({ contextSize: 256, sequences: 1, threads: 1 });
    try {
      const sequence = context.getSequence();
      const bos = model.tokens.bos;
      if (bos === null) throw new Error(`${file} has no BOS token`);
      const inputs = [bos, ...model.tokenize(TEXT)];
      const results = await sequence.controlledEvaluate(inputs.map((token) => [token, { generateNext: { probabilities: true } }]));
      return results.map((result) => [...(result?.next?.probabilities ?? new Map()).entries()].sort((a, b) => a[0] - b[0]));
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

async function exported(sourceFile: string, recipe: (id: string) => Parameters<typeof buildPlanFromRecipe>[0], name: string): Promise<string> {
  const source = await openCheckpoint(sourceFile);
  const plan = buildPlanFromRecipe(recipe(source.id), sourceMap(source));
  const out = path.join(await folders.make(), name);
  const report = await exportPlan({ plan, target: { dir: out }, sources: sourceMap(source) });
  expect(report.verify?.ok).toBe(true);
  return out;
}

describe('GGUF exports in llama.cpp', () => {
  it(
    'an identity plan of the Q4_K_M quant zoo model gives exactly its next-token probabilities',
    async () => {
      const source = path.join(GGUF_DIR, 'quantzoo-q4_k_m.gguf');
      const out = await exported(source, (model) => ({ kind: 'stack', model, times: 1 }) , 'identity.gguf');
      const expected = await nextTokenProbabilities(source);
      expect(expected.length).toBeGreaterThan(5);
      expect(expected[0]?.length).toBeGreaterThan(100);
      expect(await nextTokenProbabilities(out)).toEqual(expected);
    },
    LLAMA_TIMEOUT_MS,
  );

  it(
    'LLaMA-Pro (an identity block after every layer) of stories260K F32 gives exactly its probabilities; its DUS gives the reference DUS probabilities',
    async () => {
      const source = path.join(GGUF_DIR, 'stories260K-f32.gguf');
      const out = await exported(source, (model) => ({ kind: 'llama-pro', model, every: 1 }) , 'pro.gguf');
      expect((await readGgufHeader(out)).metadata.get('llama.block_count')).toMatchObject({ value: 10 });
      const expected = await nextTokenProbabilities(source);
      expect(await nextTokenProbabilities(out)).toEqual(expected);
      // The comparison can fail: a DUS of the same model changes the probabilities.
      const dus = await exported(source, (model) => ({ kind: 'dus', model, drop: 1 }), 'dus.gguf');
      const dusProbabilities = await nextTokenProbabilities(dus);
      expect(dusProbabilities).not.toEqual(expected);
      // …and equals what llama.cpp computes for its own converter's DUS of the same model.
      expect(dusProbabilities).toEqual(await nextTokenProbabilities(path.join(GGUF_DIR, 'stories260K-dus-drop1-f32.reference.gguf')));
    },
    LLAMA_TIMEOUT_MS,
  );

  it.each(['f16', 'bf16', 'q8_0', 'q4_0', 'q5_1', 'q2_k', 'q3_k_m', 'q4_k_m', 'q5_k_m', 'q6_k', 'iq4_nl', 'iq4_xs'])(
    'LLaMA-Pro of quantzoo-%s writes zero blocks of each type and gives exactly its probabilities',
    async (type) => {
      const source = path.join(GGUF_DIR, `quantzoo-${type}.gguf`);
      const out = await exported(source, (model) => ({ kind: 'llama-pro', model, every: 1 }), `pro-${type}.gguf`);
      expect(await nextTokenProbabilities(out)).toEqual(await nextTokenProbabilities(source));
    },
    LLAMA_TIMEOUT_MS,
  );

  it(
    'per-layer metadata arrays remapped through a DUS load in llama.cpp and give the probabilities of the scalar-keyed DUS',
    async () => {
      const plain = path.join(GGUF_DIR, 'stories260K-f32.gguf');
      const metadata = (await readGgufHeader(plain)).metadata;
      // The same hyperparameters stated per layer, as llama.cpp's get_key_or_arr reads them (n_layer entries).
      // attention.head_count stays a scalar: llama.cpp 3.21.1 computes slightly different
      // probabilities (about 1e-3 relative) for a per-layer head count even with equal entries.
      const perLayer = ['feed_forward_length', 'attention.head_count_kv'].map((key): [string, GgufValue] => {
        const value = ggufScalar(metadata, `llama.${key}`);
        if (typeof value !== 'number') throw new Error(`${plain} has no llama.${key}`);
        return [`llama.${key}`, { type: 'ARRAY', itemType: 'UINT32', values: Array.from({ length: 5 }, () => value) }];
      });
      const arrays = await ggufWithMetadata(folders, plain, perLayer);
      const out = await exported(arrays, (model) => ({ kind: 'dus', model, drop: 1 }), 'dus-arrays.gguf');
      const written = (await readGgufHeader(out)).metadata;
      for (const [key] of perLayer) expect((written.get(key) as { values: unknown[] }).values, key).toHaveLength(8);
      const scalarDus = await exported(plain, (model) => ({ kind: 'dus', model, drop: 1 }), 'dus-scalars.gguf');
      expect(await nextTokenProbabilities(out)).toEqual(await nextTokenProbabilities(scalarDus));
    },
    LLAMA_TIMEOUT_MS,
  );

  it(
    'a split set loads in llama.cpp from its first split and gives the single file probabilities',
    async () => {
      const source = await openCheckpoint(path.join(GGUF_DIR, 'stories260K-f32.gguf'));
      const plan = buildPlanFromRecipe({ kind: 'dus', model: source.id, drop: 1 }, sourceMap(source));
      const single = await exportPlan({ plan, target: { dir: path.join(await folders.make(), 'single.gguf') }, sources: sourceMap(source) });
      const split = await exportPlan({ plan, target: { dir: path.join(await folders.make(), 'split.gguf'), shardSize: 600_000 }, sources: sourceMap(source) });
      expect(split.files).toHaveLength(3);
      expect(await nextTokenProbabilities(split.dir)).toEqual(await nextTokenProbabilities(single.dir));
    },
    LLAMA_TIMEOUT_MS,
  );

  it(
    'an interleave of the Q4_K_M and Q5_K_M quant zoo models (types mixed per layer) runs in llama.cpp',
    async () => {
      const q4 = await openCheckpoint(path.join(GGUF_DIR, 'quantzoo-q4_k_m.gguf'));
      const q5 = await openCheckpoint(path.join(GGUF_DIR, 'quantzoo-q5_k_m.gguf'));
      const plan = { slices: [{ model: q4.id, start: 0, end: 2 }, { model: q5.id, start: 1, end: 2 }] };
      const report = await exportPlan({ plan, target: { dir: path.join(await folders.make(), 'mixed.gguf') }, sources: sourceMap(q4, q5) });
      expect(report.verify?.ok).toBe(true);
      const probabilities = await nextTokenProbabilities(report.dir);
      const sums = probabilities.map((row) => row.reduce((sum, [, probability]) => sum + probability, 0));
      for (const sum of sums) expect(sum).toBeCloseTo(1, 3);
    },
    LLAMA_TIMEOUT_MS,
  );
});
