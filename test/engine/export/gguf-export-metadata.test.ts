import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { exportPlan } from '../../../electron/engine/export/export-plan.js';
import { verifyExport } from '../../../electron/engine/export/verify-export.js';
import { readGgufHeader, type GgufValue } from '../../../electron/engine/formats/gguf.js';
import { ggufFileBytes } from '../../../electron/engine/formats/gguf-writer.js';
import { ggufFilter, ggufScaleRules, HF_TO_GGUF_TENSOR_PARTS } from '../../../electron/engine/formats/gguf-tensor-names.js';
import { zeroBlocksAreZero } from '../../../electron/engine/formats/ggml-zero.js';
import { IDENTITY_BLOCK_SCALE } from '../../../electron/common/plan/scale-rules.js';
import { buildPlanFromRecipe } from '../../../electron/common/plan/plan-recipes.js';
import { sourceMap, TempFolders } from './export-fixtures.js';

const STORIES_GGUF = path.resolve(import.meta.dirname, '../../../../shared/models/gguf/stories260K-f32.gguf');

const folders = new TempFolders();
afterAll(() => folders.removeAll());

/** stories260K-f32.gguf rewritten by the project's writer with extra metadata keys (same tensors, same bytes). */
async function storiesWith(extra: Array<[string, GgufValue]>): Promise<string> {
  const header = await readGgufHeader(STORIES_GGUF);
  const bytes = await readFile(STORIES_GGUF);
  const metadata = new Map(header.metadata);
  for (const [key, value] of extra) metadata.set(key, value);
  const tensors = header.tensors.map((tensor) => ({
    name: tensor.name,
    type: tensor.type,
    shape: tensor.shape,
    data: bytes.subarray(header.dataStart + tensor.offset, header.dataStart + tensor.offset + tensor.bytes),
  }));
  const file = path.join(await folders.make(), 'stories-extra.gguf');
  await writeFile(file, ggufFileBytes(metadata, tensors));
  return file;
}

async function dusOf(file: string, name = 'out.gguf') {
  const source = await openCheckpoint(file);
  const plan = buildPlanFromRecipe({ kind: 'dus', model: source.id, drop: 1 }, sourceMap(source));
  const out = path.join(await folders.make(), name);
  return { out, run: () => exportPlan({ plan, target: { dir: out }, sources: sourceMap(source) }) };
}

describe('GGUF export metadata', () => {
  it('remaps every per-layer array through the plan (output layer j takes its source layer entry) and verify checks it', async () => {
    const file = await storiesWith([
      ['llama.feed_forward_length', { type: 'ARRAY', itemType: 'UINT32', values: [172, 173, 174, 175, 176] }],
      ['llama.attention.head_count_kv', { type: 'ARRAY', itemType: 'UINT32', values: [4, 3, 2, 1, 4] }],
    ]);
    const { out, run } = await dusOf(file);
    const report = await run();
    expect(report.verify?.ok).toBe(true);
    const metadata = (await readGgufHeader(out)).metadata;
    // DUS of 5 layers with drop 1: source layers 0,1,2,3,1,2,3,4.
    expect(metadata.get('llama.feed_forward_length')).toEqual({ type: 'ARRAY', itemType: 'UINT32', values: [172, 173, 174, 175, 173, 174, 175, 176] });
    expect(metadata.get('llama.attention.head_count_kv')).toEqual({ type: 'ARRAY', itemType: 'UINT32', values: [4, 3, 2, 1, 3, 2, 1, 4] });
    expect(metadata.get('llama.block_count')).toMatchObject({ value: 8 });

    // A metadata key changed after the export: verify names it.
    const header = await readGgufHeader(out);
    const bytes = await readFile(out);
    const tampered = new Map(header.metadata);
    tampered.set('llama.feed_forward_length', { type: 'ARRAY', itemType: 'UINT32', values: [172, 173, 174, 175, 176, 174, 175, 176] });
    const tensors = header.tensors.map((tensor) => ({ ...tensor, data: bytes.subarray(header.dataStart + tensor.offset, header.dataStart + tensor.offset + tensor.bytes) }));
    await writeFile(out, ggufFileBytes(tampered, tensors));
    const verified = await verifyExport(out);
    expect(verified.problems).toEqual([expect.objectContaining({ code: 'ConfigMismatch', message: expect.stringMatching(/llama\.feed_forward_length/) })]);
  });

  it('refuses a rule key the new order breaks, naming it, and writes nothing', async () => {
    const file = await storiesWith([['llama.attention.sliding_window_pattern', { type: 'UINT32', value: 2 }]]);
    const { out, run } = await dusOf(file);
    await expect(run()).rejects.toMatchObject({ code: 'InvalidPlan', message: expect.stringMatching(/llama\.attention\.sliding_window_pattern = 2/) });
    await expect(readFile(out)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('keeps a leading dense count the order does not move', async () => {
    const file = await storiesWith([['llama.leading_dense_block_count', { type: 'UINT32', value: 1 }]]);
    const { out, run } = await dusOf(file);
    await run();
    expect((await readGgufHeader(out)).metadata.get('llama.leading_dense_block_count')).toEqual({ type: 'UINT32', value: 1 });
  });

  it('names the sources in general.base_model.* and drops the first source own base-model list', async () => {
    const file = await storiesWith([
      ['general.base_model.count', { type: 'UINT32', value: 1 }],
      ['general.base_model.0.name', { type: 'STRING', value: 'something older' }],
    ]);
    const { out, run } = await dusOf(file, 'named.gguf');
    await run();
    const metadata = (await readGgufHeader(out)).metadata;
    expect(metadata.get('general.name')).toEqual({ type: 'STRING', value: 'named' });
    expect(metadata.get('general.base_model.count')).toEqual({ type: 'UINT32', value: 1 });
    const sourceName = (await readGgufHeader(STORIES_GGUF)).metadata.get('general.name');
    expect(metadata.get('general.base_model.0.name')).toEqual(sourceName ?? expect.anything());
  });
});

describe('GGUF tensor names for scale rules', () => {
  it('maps LLaMA-Pro filters (Hugging Face names) to llama.cpp names', () => {
    expect(ggufFilter('o_proj')).toBe('attn_output');
    expect(ggufFilter('down_proj')).toBe('ffn_down');
    expect(ggufFilter('attn_v')).toBe('attn_v');
    expect(ggufScaleRules(IDENTITY_BLOCK_SCALE)).toEqual([{ filter: 'attn_output', value: 0 }, { filter: 'ffn_down', value: 0 }, { value: 1 }]);
  });

  it('maps no part to a GGUF name that another tensor name contains', () => {
    const names = ['token_embd.weight', 'output_norm.weight', 'output.weight', ...['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'].map((part) => `blk.0.${part}.weight`)];
    for (const part of Object.values(HF_TO_GGUF_TENSOR_PARTS)) expect(names.filter((name) => name.includes(part)), part).toHaveLength(1);
  });
});

describe('zero blocks', () => {
  it('are exact for the float, legacy, K and IQ4 types and refused for grid, ternary and FP4 types', () => {
    for (const type of ['F32', 'F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_NL', 'IQ4_XS'] as const) expect(zeroBlocksAreZero(type), type).toBe(true);
    for (const type of ['IQ2_XXS', 'IQ1_S', 'TQ1_0', 'MXFP4', 'NVFP4'] as const) expect(zeroBlocksAreZero(type), type).toBe(false);
  });

  it('refuses another factor on a quantised tensor, naming the tensor and its type', async () => {
    const source = await openCheckpoint(path.resolve(STORIES_GGUF, '../quantzoo-q4_k_m.gguf'));
    const plan = { slices: [{ model: source.id, start: 0, end: 2, scale: [{ filter: 'down_proj', value: 0.5 }, { value: 1 }] }] };
    await expect(exportPlan({ plan, target: { dir: path.join(await folders.make(), 'half.gguf') }, sources: sourceMap(source) })).rejects.toMatchObject({
      code: 'UnsupportedDtype',
      message: expect.stringMatching(/blk\.0\.ffn_down\.weight .* by 0\.5: its type is Q\d_K/),
    });
  });
});
