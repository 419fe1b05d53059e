import { open, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckpointSummary, LayerPlan } from '../../../electron/api/types.js';
import { exportPlan } from '../../../electron/engine/export/export-plan.js';
import { TRANSFORM_CHUNK_BYTES } from '../../../electron/engine/export/tensor-transform.js';
import { jsonDifferences, verifyExport } from '../../../electron/engine/export/verify-export.js';
import { readSafetensorsHeader } from '../../../electron/engine/formats/safetensors.js';
import { writeSafetensors } from '../../../electron/engine/formats/safetensors-writer.js';
import { IDENTITY_BLOCK_SCALE } from '../../../electron/common/plan/scale-rules.js';
import { TempFolders, dusPlan, openFixture, slice, sourceMap, tensorBytes } from './export-fixtures.js';

const folders = new TempFolders();
afterAll(() => folders.removeAll());

interface Exported {
  dir: string;
  source: CheckpointSummary;
  sources: Map<string, CheckpointSummary>;
}

async function exported(plan: (source: CheckpointSummary) => LayerPlan = (source) => dusPlan(source, 2), shardSize?: number): Promise<Exported> {
  const source = await openFixture(folders, { layers: 6 });
  const sources = sourceMap(source);
  const dir = path.join(await folders.make(), 'export');
  const report = await exportPlan({ plan: plan(source), target: { dir, ...(shardSize === undefined ? {} : { shardSize }) }, sources });
  expect(report.verify?.ok).toBe(true);
  return { dir, source, sources };
}

/** Where a tensor's data lies in the export's single shard. */
async function locate(dir: string, name: string, file = 'model.safetensors'): Promise<{ file: string; offset: number; bytes: number }> {
  const header = await readSafetensorsHeader(path.join(dir, file));
  const entry = header.tensors.find((tensor) => tensor.name === name);
  if (entry === undefined) throw new Error(`${name} is not in ${file}`);
  return { file: path.join(dir, file), offset: header.dataStart + entry.begin, bytes: entry.end - entry.begin };
}

async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] = (byte[0] as number) ^ 0x01;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

/** Rewrites the export's single shard with the project's writer after `change` edits its tensor list. */
async function rewriteShard(dir: string, change: (tensors: Array<{ name: string; dtype: 'BF16'; shape: number[]; data: Uint8Array }>) => void): Promise<void> {
  const file = path.join(dir, 'model.safetensors');
  const header = await readSafetensorsHeader(file);
  const tensors = await Promise.all(
    header.tensors.map(async (entry) => ({
      name: entry.name,
      dtype: entry.dtype as 'BF16',
      shape: entry.shape,
      data: await tensorBytes({ file, offset: header.dataStart + entry.begin, bytes: entry.end - entry.begin }),
    })),
  );
  change(tensors);
  await writeSafetensors(file, tensors);
}

function codes(report: { problems: Array<{ code: string }> }): string[] {
  return report.problems.map((problem) => problem.code);
}

describe('verifyExport', () => {
  it('opens the sources named in mergekit_config.yml by itself and finds a fresh export intact', async () => {
    const { dir } = await exported();
    const report = await verifyExport(dir);
    expect(report).toMatchObject({ dir, ok: true, problems: [] });
    expect(report.checkedTensors).toBe(3 + 8 * 9);
  });

  it('reports a tampered byte, naming the tensor and the file', async () => {
    const { dir, sources } = await exported();
    const where = await locate(dir, 'model.layers.5.self_attn.k_proj.weight');
    await flipByte(where.file, where.offset + 17);
    const report = await verifyExport(dir, { sources });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      {
        code: 'TensorBytesDiffer',
        tensor: 'model.layers.5.self_attn.k_proj.weight',
        file: 'model.safetensors',
        message: expect.stringMatching(/model\.layers\.5\.self_attn\.k_proj\.weight in model\.safetensors differs from model\.layers\.3\.self_attn\.k_proj\.weight in .*model\.safetensors/),
      },
    ]);
  });

  it('checks scaled tensors against the scaled source bytes', async () => {
    const { dir, sources } = await exported((source) => ({ slices: [slice(source, 0, 6), slice(source, 5, 6, { scale: IDENTITY_BLOCK_SCALE })] }));
    expect((await verifyExport(dir, { sources })).ok).toBe(true);
    const where = await locate(dir, 'model.layers.6.mlp.down_proj.weight');
    await flipByte(where.file, where.offset + where.bytes - 1);
    const report = await verifyExport(dir, { sources });
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatchObject({
      code: 'TensorBytesDiffer',
      tensor: 'model.layers.6.mlp.down_proj.weight',
      message: expect.stringMatching(/differs from the scaled ×0 bytes of model\.layers\.5\.mlp\.down_proj\.weight .*first difference at byte \d+/),
    });
  });

  it('checks converted tensors against the converted source bytes', async () => {
    const { dir, sources } = await exported((source) => dusPlan(source, 2, { dtype: 'float32' }));
    const where = await locate(dir, 'model.embed_tokens.weight');
    await flipByte(where.file, where.offset + 4);
    const report = await verifyExport(dir, { sources });
    expect(report.problems).toEqual([expect.objectContaining({ code: 'TensorBytesDiffer', tensor: 'model.embed_tokens.weight', message: expect.stringMatching(/converted BF16→F32/) })]);
  });

  it.each([
    { transform: 'scaled ×0', plan: (source: CheckpointSummary): LayerPlan => ({ slices: [slice(source, 0, 2), slice(source, 1, 2, { scale: IDENTITY_BLOCK_SCALE })] }), outputBytesPerElement: 2 },
    { transform: 'converted BF16→F32', plan: (source: CheckpointSummary): LayerPlan => ({ slices: [slice(source, 0, 2), slice(source, 1, 2)], dtype: 'float32' }), outputBytesPerElement: 4 },
  ])('finds a byte changed past the first $transform chunk of a tensor larger than one chunk', async ({ transform, plan, outputBytesPerElement }) => {
    // down_proj is 1024 × 2816 bf16 (5.8 MB of source): more than one TRANSFORM_CHUNK_BYTES chunk.
    const source = await openFixture(folders, { layers: 2, hidden: 1024, intermediate: 2816, heads: 8, kvHeads: 2 });
    const sources = sourceMap(source);
    const dir = path.join(await folders.make(), 'export');
    const report = await exportPlan({ plan: plan(source), target: { dir }, sources });
    expect(report.verify?.ok).toBe(true);
    const where = await locate(dir, 'model.layers.2.mlp.down_proj.weight');
    expect(where.bytes).toBe(1024 * 2816 * outputBytesPerElement);
    const byte = where.bytes - 3;
    expect(byte).toBeGreaterThan(TRANSFORM_CHUNK_BYTES);
    await flipByte(where.file, where.offset + byte);
    const verified = await verifyExport(dir, { sources });
    expect(verified.problems).toEqual([
      expect.objectContaining({
        code: 'TensorBytesDiffer',
        tensor: 'model.layers.2.mlp.down_proj.weight',
        message: expect.stringContaining(`${transform} bytes of model.layers.1.mlp.down_proj.weight`),
      }),
    ]);
    expect(verified.problems[0]?.message).toContain(`first difference at byte ${byte} of the tensor`);
  });

  it('reports a missing tensor and an unexpected one', async () => {
    const { dir, sources } = await exported();
    await rewriteShard(dir, (tensors) => {
      const index = tensors.findIndex((tensor) => tensor.name === 'model.layers.7.mlp.up_proj.weight');
      const [removed] = tensors.splice(index, 1);
      tensors.push({ ...(removed as (typeof tensors)[number]), name: 'model.layers.8.mlp.up_proj.weight' });
    });
    const report = await verifyExport(dir, { sources });
    expect(report.problems).toEqual([
      expect.objectContaining({ code: 'MissingTensor', tensor: 'model.layers.7.mlp.up_proj.weight', message: expect.stringMatching(/missing from the export/) }),
      expect.objectContaining({ code: 'UnexpectedTensor', tensor: 'model.layers.8.mlp.up_proj.weight', file: 'model.safetensors' }),
    ]);
  });

  it('reports a tensor whose shape or dtype differs from the plan', async () => {
    const { dir, sources } = await exported();
    await rewriteShard(dir, (tensors) => {
      const norm = tensors.find((tensor) => tensor.name === 'model.norm.weight');
      if (norm === undefined) throw new Error('no final norm');
      norm.shape = [2, norm.shape[0] as number / 2];
    });
    const report = await verifyExport(dir, { sources });
    expect(report.problems).toEqual([
      expect.objectContaining({ code: 'ShapeMismatch', tensor: 'model.norm.weight', message: 'model.norm.weight in model.safetensors has shape [2, 16], expected [32]' }),
    ]);
  });

  it('reports an index whose total_size differs from the data it indexes', async () => {
    const { dir, sources } = await exported(undefined, 20_000);
    const indexPath = path.join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(indexPath, 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    const total = index.metadata.total_size;
    index.metadata.total_size = total + 2;
    await writeFile(indexPath, JSON.stringify(index));
    const report = await verifyExport(dir, { sources });
    expect(report.problems).toEqual([
      expect.objectContaining({ code: 'IndexTotalSize', message: `model.safetensors.index.json: metadata.total_size is ${total + 2}, but the shards hold ${total} bytes of tensor data` }),
    ]);
  });

  it('reads the export through the safetensors reader, which refuses a weight_map entry naming the wrong shard', async () => {
    const { dir, sources } = await exported(undefined, 20_000);
    const indexPath = path.join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(indexPath, 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    const moved = 'model.layers.0.self_attn.q_proj.weight';
    const actual = index.weight_map[moved] as string;
    const other = Object.values(index.weight_map).find((shard) => shard !== actual) as string;
    index.weight_map[moved] = other;
    await writeFile(indexPath, JSON.stringify(index));
    const report = await verifyExport(dir, { sources });
    expect(report.problems).toEqual([
      expect.objectContaining({ code: 'DuplicateTensor', message: expect.stringContaining(`"${moved}" is listed in shard ${other} but found in shard ${actual}`) }),
    ]);
  });

  it('reports a config.json whose layer count is wrong', async () => {
    const { dir, sources } = await exported();
    const configPath = path.join(dir, 'config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    await writeFile(configPath, JSON.stringify({ ...config, num_hidden_layers: 7 }));
    const report = await verifyExport(dir, { sources });
    expect(report.problems).toEqual([{ code: 'ConfigMismatch', file: 'config.json', message: 'config.json: num_hidden_layers is 7, expected 8' }]);
  });

  it('reports a shard that is not in the pt format', async () => {
    const { dir, sources } = await exported();
    const file = path.join(dir, 'model.safetensors');
    const header = await readSafetensorsHeader(file);
    const tensors = await Promise.all(
      header.tensors.map(async (entry) => ({ ...entry, data: await tensorBytes({ file, offset: header.dataStart + entry.begin, bytes: entry.end - entry.begin }) })),
    );
    // The writer always adds format "pt"; splice the metadata by hand (same length keeps offsets).
    await writeSafetensors(file, tensors);
    const bytes = await readFile(file);
    const text = bytes.subarray(8, header.dataStart).toString('utf8').replace('"format":"pt"', '"format":"tf"');
    bytes.write(text, 8, 'utf8');
    await writeFile(file, bytes);
    expect(codes(await verifyExport(dir, { sources }))).toEqual(['NotPtFormat']);
  });

  it('says when the plan file is missing', async () => {
    const { dir } = await exported();
    await rm(path.join(dir, 'mergekit_config.yml'));
    const report = await verifyExport(dir);
    expect(report).toMatchObject({ ok: false, checkedTensors: 0, problems: [{ code: 'MissingPlan', file: 'mergekit_config.yml' }] });
  });

  it('accepts an export whose MTP layers were dropped, judging by the export itself', async () => {
    const source = await openFixture(folders, { layers: 4, mtp: true });
    const dir = path.join(await folders.make(), 'export');
    await exportPlan({ plan: dusPlan(source, 1, { mtp: 'drop' }), target: { dir }, sources: sourceMap(source), verify: false });
    expect(await verifyExport(dir)).toMatchObject({ ok: true, problems: [] });
    // Told that the layers were moved, the same export lacks them.
    const moved = await verifyExport(dir, { mtp: 'move' });
    expect(codes(moved)).toContain('MissingTensor');
    expect(codes(moved)).toContain('ConfigMismatch');
  });
});

describe('jsonDifferences', () => {
  it('names each differing path with what it found and expected', () => {
    expect(jsonDifferences({ a: 1, b: { c: [1, 2] }, d: 'x' }, { a: 1, b: { c: [1, 2, 3] }, e: true })).toEqual([
      'b.c has 3 entries, expected 2',
      'd is missing (expected "x")',
      'e is not expected (found true)',
    ]);
    expect(jsonDifferences({ a: [1, 2] }, { a: [1, 2] })).toEqual([]);
  });
});
