import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { exportPlan } from '../../../electron/engine/export/export-plan.js';
import { verifyExport } from '../../../electron/engine/export/verify-export.js';
import { readGgufHeader, type GgufValue } from '../../../electron/engine/formats/gguf.js';
import { ggufFileBytes } from '../../../electron/engine/formats/gguf-writer.js';
import { buildPlanFromRecipe } from '../../../electron/common/plan/plan-recipes.js';
import { ggufWithMetadata, sourceMap, TempFolders } from './export-fixtures.js';

const STORIES_GGUF = path.resolve(import.meta.dirname, '../../../../shared/models/gguf/stories260K-f32.gguf');

const folders = new TempFolders();
afterAll(() => folders.removeAll());

/** stories260K-f32.gguf rewritten by the project's writer with extra metadata keys (same tensors, same bytes). */
function storiesWith(extra: Array<[string, GgufValue]>, dropKey?: (key: string) => boolean): Promise<string> {
  return ggufWithMetadata(folders, STORIES_GGUF, extra, dropKey);
}

/** stories260K-f32.gguf under another architecture name: every `llama.*` key renamed, plus `extra` keys under the new prefix. */
async function storiesAs(architecture: string, extra: Array<[string, GgufValue]>): Promise<string> {
  const header = await readGgufHeader(STORIES_GGUF);
  const renamed: Array<[string, GgufValue]> = [['general.architecture', { type: 'STRING', value: architecture }]];
  for (const [key, value] of header.metadata) {
    if (key.startsWith('llama.')) renamed.push([`${architecture}.${key.slice('llama.'.length)}`, value]);
  }
  for (const [key, value] of extra) renamed.push([`${architecture}.${key}`, value]);
  return storiesWith(renamed, (key) => key.startsWith('llama.'));
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

  it('keeps a per-layer sliding-window array remapped, and a scalar flag as it is, where llama.cpp reads the key per layer', async () => {
    const flags = [true, false, true, true, false];
    const gemma4 = await storiesAs('gemma4', [['attention.sliding_window_pattern', { type: 'ARRAY', itemType: 'BOOL', values: flags }]]);
    const { out, run } = await dusOf(gemma4);
    expect((await run()).verify?.ok).toBe(true);
    // DUS of 5 layers with drop 1: source layers 0,1,2,3,1,2,3,4.
    expect((await readGgufHeader(out)).metadata.get('gemma4.attention.sliding_window_pattern')).toEqual({
      type: 'ARRAY',
      itemType: 'BOOL',
      values: [0, 1, 2, 3, 1, 2, 3, 4].map((layer) => flags[layer]),
    });

    const flag = await storiesAs('gemma4', [['attention.sliding_window_pattern', { type: 'UINT32', value: 1 }]]);
    const scalar = await dusOf(flag);
    await scalar.run();
    expect((await readGgufHeader(scalar.out)).metadata.get('gemma4.attention.sliding_window_pattern')).toEqual({ type: 'UINT32', value: 1 });
  });

  it("refuses an order that breaks an architecture's built-in sliding-window period, naming the key llama.cpp would read", async () => {
    // Without a window (sliding_window absent or 0) llama.cpp runs no sliding window, and any order is exported.
    expect((await (await dusOf(await storiesAs('gemma3', []))).run()).verify?.ok).toBe(true);
    const gemma3 = await storiesAs('gemma3', [['attention.sliding_window', { type: 'UINT32', value: 512 }]]);
    const { out, run } = await dusOf(gemma3);
    await expect(run()).rejects.toMatchObject({
      code: 'InvalidPlan',
      message: expect.stringMatching(/gemma3 has no gemma3\.attention\.sliding_window_pattern, so llama\.cpp uses its built-in sliding-window period of 6/),
    });
    await expect(readFile(out)).rejects.toMatchObject({ code: 'ENOENT' });
    // An order that keeps every layer's place in the period is exported.
    const source = await openCheckpoint(gemma3);
    const identity = buildPlanFromRecipe({ kind: 'stack', model: source.id, times: 1 }, sourceMap(source));
    const kept = path.join(await folders.make(), 'identity.gguf');
    expect((await exportPlan({ plan: identity, target: { dir: kept }, sources: sourceMap(source) })).verify?.ok).toBe(true);
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

describe('scale factors on quantised tensors', () => {
  it('refuses another factor on a quantised tensor, naming the tensor and its type', async () => {
    const source = await openCheckpoint(path.resolve(STORIES_GGUF, '../quantzoo-q4_k_m.gguf'));
    const plan = { slices: [{ model: source.id, start: 0, end: 2, scale: [{ filter: 'down_proj', value: 0.5 }, { value: 1 }] }] };
    await expect(exportPlan({ plan, target: { dir: path.join(await folders.make(), 'half.gguf') }, sources: sourceMap(source) })).rejects.toMatchObject({
      code: 'UnsupportedDtype',
      message: expect.stringMatching(/blk\.0\.ffn_down\.weight .* by 0\.5: its type is Q\d_K/),
    });
  });
});
