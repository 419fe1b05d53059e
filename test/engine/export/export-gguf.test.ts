import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { exportPlan } from '../../../electron/engine/export/export-plan.js';
import { verifyExport } from '../../../electron/engine/export/verify-export.js';
import { GGUF_PLAN_KEY } from '../../../electron/engine/export/gguf-export-metadata.js';
import { readGgufHeader, ggufScalar } from '../../../electron/engine/formats/gguf.js';
import { buildPlanFromRecipe } from '../../../electron/common/plan/plan-recipes.js';
import { slice, sourceMap, TempFolders } from './export-fixtures.js';

const GGUF_DIR = path.resolve(import.meta.dirname, '../../../../shared/models/gguf');
const STORIES = path.resolve(import.meta.dirname, '../../../build/demo/stories260K');

const folders = new TempFolders();
afterAll(() => folders.removeAll());

/** Every tensor's bytes by name, read from the file the reader placed it in. */
async function tensorBytesByName(file: string): Promise<Map<string, Buffer>> {
  const header = await readGgufHeader(file);
  const bytes = await readFile(file);
  return new Map(header.tensors.map((tensor) => [tensor.name, bytes.subarray(header.dataStart + tensor.offset, header.dataStart + tensor.offset + tensor.bytes)]));
}

describe('exporting GGUF sources', () => {
  it('refuses a plan that mixes GGUF and safetensors sources, naming both', async () => {
    const gguf = await openCheckpoint(path.join(GGUF_DIR, 'stories260K-f32.gguf'));
    const safetensors = await openCheckpoint(STORIES);
    const plan = { slices: [slice(gguf, 0, 3), slice(safetensors, 2, 5)] };
    await expect(exportPlan({ plan, target: { dir: path.join(await folders.make(), 'out') }, sources: sourceMap(gguf, safetensors) })).rejects.toMatchObject({
      code: 'MixedFormats',
      message: expect.stringMatching(/stories260K-f32\.gguf \(gguf\).*stories260K \(safetensors\)/),
    });
  });

  it('refuses a GGUF export to a folder: the output is NAME.gguf', async () => {
    const gguf = await openCheckpoint(path.join(GGUF_DIR, 'stories260K-f32.gguf'));
    const plan = buildPlanFromRecipe({ kind: 'dus', model: gguf.id, drop: 1 }, sourceMap(gguf));
    await expect(exportPlan({ plan, target: { dir: path.join(await folders.make(), 'out') }, sources: sourceMap(gguf) })).rejects.toMatchObject({
      code: 'InvalidPlan',
      message: expect.stringMatching(/name the output NAME\.gguf/),
    });
  });

  it('writes the DUS of stories260K (drop 1) with the tensor bytes of llama.cpp converter reference, and verifies it', async () => {
    const gguf = await openCheckpoint(path.join(GGUF_DIR, 'stories260K-f32.gguf'));
    const plan = buildPlanFromRecipe({ kind: 'dus', model: gguf.id, drop: 1 }, sourceMap(gguf));
    const out = path.join(await folders.make(), 'stories-dus.gguf');
    const report = await exportPlan({ plan, target: { dir: out }, sources: sourceMap(gguf) });
    expect(report.verify?.ok).toBe(true);
    expect(report.files).toEqual(['stories-dus.gguf']);

    const written = await tensorBytesByName(out);
    const reference = await tensorBytesByName(path.join(GGUF_DIR, 'stories260K-dus-drop1-f32.reference.gguf'));
    expect([...written.keys()].sort()).toEqual([...reference.keys()].sort());
    for (const [name, bytes] of reference) expect(written.get(name)?.equals(bytes), name).toBe(true);

    const header = await readGgufHeader(out);
    const names = header.tensors.map((tensor) => tensor.name);
    // Natural order: embeddings, blocks 0…7, final norm (stories260K ties its head to the embeddings).
    expect(names[0]).toBe('token_embd.weight');
    expect(names.at(-1)).toBe('output_norm.weight');
    expect(names.filter((name) => name.startsWith('blk.7.')).length).toBeGreaterThan(0);
    expect(ggufScalar(header.metadata, 'llama.block_count')).toBe(8);
    expect(ggufScalar(header.metadata, 'general.name')).toBe('stories-dus');
    expect(ggufScalar(header.metadata, 'general.base_model.count')).toBe(1);
    expect(typeof ggufScalar(header.metadata, GGUF_PLAN_KEY)).toBe('string');
    const source = await readGgufHeader(path.join(GGUF_DIR, 'stories260K-f32.gguf'));
    expect(header.metadata.get('tokenizer.ggml.tokens')).toEqual(source.metadata.get('tokenizer.ggml.tokens'));

    // verify of the file alone reads its plan from the metadata.
    const verified = await verifyExport(out);
    expect(verified.problems).toEqual([]);
    expect(verified.checkedTensors).toBe(reference.size);
  });

  it('writes a llama.cpp split set with a shard size: NAME-0000i-of-0000N.gguf, split keys, the same tensor bytes', async () => {
    const gguf = await openCheckpoint(path.join(GGUF_DIR, 'stories260K-f32.gguf'));
    const plan = buildPlanFromRecipe({ kind: 'dus', model: gguf.id, drop: 1 }, sourceMap(gguf));
    const folder = await folders.make();
    const report = await exportPlan({ plan, target: { dir: path.join(folder, 'split.gguf'), shardSize: 600_000 }, sources: sourceMap(gguf) });
    expect(report.verify?.ok).toBe(true);
    expect(report.files).toEqual(['split-00001-of-00003.gguf', 'split-00002-of-00003.gguf', 'split-00003-of-00003.gguf']);
    expect(report.dir).toBe(path.join(folder, 'split-00001-of-00003.gguf'));
    expect((await readdir(folder)).sort()).toEqual(report.files);
    const first = await readGgufHeader(report.dir);
    expect(ggufScalar(first.metadata, 'split.count')).toBe(3);
    expect(ggufScalar(first.metadata, 'split.tensors.count')).toBe(74);
    const opened = await openCheckpoint(report.dir);
    const reference = await tensorBytesByName(path.join(GGUF_DIR, 'stories260K-dus-drop1-f32.reference.gguf'));
    expect(opened.tensors.length).toBe(reference.size);
    for (const tensor of opened.tensors) {
      const bytes = (await readFile(tensor.file)).subarray(tensor.offset, tensor.offset + tensor.bytes);
      expect(bytes.equals(reference.get(tensor.name) as Buffer), tensor.name).toBe(true);
    }
    expect((await verifyExport(report.dir)).problems).toEqual([]);
  });

  it('verify of a GGUF file names the tensor whose bytes changed', async () => {
    const gguf = await openCheckpoint(path.join(GGUF_DIR, 'stories260K-f32.gguf'));
    const plan = buildPlanFromRecipe({ kind: 'dus', model: gguf.id, drop: 1 }, sourceMap(gguf));
    const out = path.join(await folders.make(), 'damaged.gguf');
    await exportPlan({ plan, target: { dir: out }, sources: sourceMap(gguf) });
    const header = await readGgufHeader(out);
    const bytes = await readFile(out);
    const victim = header.tensors.find((tensor) => tensor.name === 'blk.3.attn_q.weight');
    if (victim === undefined) throw new Error('blk.3.attn_q.weight missing');
    const at = header.dataStart + victim.offset + 5;
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    await writeFile(out, bytes);
    const report = await verifyExport(out);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'TensorBytesDiffer', tensor: 'blk.3.attn_q.weight' })]);
  });

  it('never replaces a file that is not a GGUF, and replaces a GGUF only when asked', async () => {
    const gguf = await openCheckpoint(path.join(GGUF_DIR, 'stories260K-f32.gguf'));
    const plan = buildPlanFromRecipe({ kind: 'dus', model: gguf.id, drop: 1 }, sourceMap(gguf));
    const folder = await folders.make();
    const notGguf = path.join(folder, 'notes.gguf');
    await writeFile(notGguf, 'my notes');
    await expect(exportPlan({ plan, target: { dir: notGguf, replace: true }, sources: sourceMap(gguf) })).rejects.toMatchObject({ code: 'TargetNotExport' });
    expect(await readFile(notGguf, 'utf8')).toBe('my notes');

    const out = path.join(folder, 'dus.gguf');
    await exportPlan({ plan, target: { dir: out }, sources: sourceMap(gguf) });
    const first = await stat(out);
    await expect(exportPlan({ plan, target: { dir: out }, sources: sourceMap(gguf) })).rejects.toMatchObject({ code: 'TargetExists' });
    await exportPlan({ plan, target: { dir: out, replace: true }, sources: sourceMap(gguf) });
    expect((await stat(out)).ino).not.toBe(first.ino);
    // Nothing but the two files: no temporary folder left behind.
    expect((await readdir(folder)).sort()).toEqual(['dus.gguf', 'notes.gguf']);
  });

  it.each(['copying', 'verifying'] as const)('leaves neither the file nor a temporary folder when cancelled while %s', async (phase) => {
    const gguf = await openCheckpoint(path.join(GGUF_DIR, 'stories260K-f32.gguf'));
    const plan = buildPlanFromRecipe({ kind: 'dus', model: gguf.id, drop: 1 }, sourceMap(gguf));
    const folder = await folders.make();
    const controller = new AbortController();
    const pending = exportPlan({
      plan,
      target: { dir: path.join(folder, 'dus.gguf') },
      sources: sourceMap(gguf),
      signal: controller.signal,
      onProgress: (progress) => {
        if (progress.phase === phase) controller.abort();
      },
    });
    await expect(pending).rejects.toMatchObject({ code: 'Cancelled' });
    expect(await readdir(folder)).toEqual([]);
  });

  it('refuses the target that is the source file itself', async () => {
    const folder = await folders.make();
    const copy = path.join(folder, 'src.gguf');
    await writeFile(copy, await readFile(path.join(GGUF_DIR, 'stories260K-f32.gguf')));
    const gguf = await openCheckpoint(copy);
    const plan = buildPlanFromRecipe({ kind: 'dus', model: gguf.id, drop: 1 }, sourceMap(gguf));
    await expect(exportPlan({ plan, target: { dir: copy, replace: true }, sources: sourceMap(gguf) })).rejects.toMatchObject({ code: 'TargetExists' });
  });
});
