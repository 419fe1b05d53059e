import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StudioError } from '../../../electron/api/errors.js';
import { INDEX_FILE_NAME, readSafetensorsIndex, unsafeShardNameReason } from '../../../electron/engine/formats/safetensors-index.js';
import { writeSafetensors } from '../../../electron/engine/formats/safetensors-writer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
/** A fresh folder with shard files (one U8 tensor each) and an index file holding `index`. */
async function folderWith(index: unknown, shardFiles: string[] = []): Promise<string> {
  counter += 1;
  const folder = path.join(dir, `case-${counter}`);
  await mkdir(folder, { recursive: true });
  for (const shard of shardFiles) {
    await mkdir(path.dirname(path.join(folder, shard)), { recursive: true });
    await writeSafetensors(path.join(folder, shard), [{ name: `in_${path.basename(shard)}`, dtype: 'U8', shape: [1], data: new Uint8Array([1]) }]);
  }
  const indexPath = path.join(folder, INDEX_FILE_NAME);
  await writeFile(indexPath, typeof index === 'string' ? index : JSON.stringify(index));
  return indexPath;
}

async function caught(promise: Promise<unknown>): Promise<StudioError> {
  const error = await promise.then(
    () => null,
    (value: unknown) => value,
  );
  expect(error).toBeInstanceOf(StudioError);
  return error as StudioError;
}

describe('readSafetensorsIndex', () => {
  it('reads the weight map, the metadata and the shards in order of first appearance', async () => {
    const indexPath = await folderWith(
      {
        metadata: { total_size: 3 },
        weight_map: { 'b.weight': 'model-00002-of-00002.safetensors', 'a.weight': 'model-00001-of-00002.safetensors', 'c.weight': 'model-00002-of-00002.safetensors' },
      },
      ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'],
    );
    const index = await readSafetensorsIndex(indexPath);
    expect(index.path).toBe(indexPath);
    expect(index.folder).toBe(path.dirname(indexPath));
    expect(index.metadata).toEqual({ total_size: 3 });
    expect(index.shards).toEqual(['model-00002-of-00002.safetensors', 'model-00001-of-00002.safetensors']);
    expect(index.weightMap['a.weight']).toBe('model-00001-of-00002.safetensors');
    expect(Object.keys(index.weightMap)).toHaveLength(3);
  });

  it('accepts a shard in a subfolder and a tensor named __proto__', async () => {
    const indexPath = await folderWith('{"weight_map": {"__proto__": "shards/part.safetensors"}}', ['shards/part.safetensors']);
    const index = await readSafetensorsIndex(indexPath);
    expect(Object.keys(index.weightMap)).toEqual(['__proto__']);
    expect(index.weightMap['__proto__']).toBe('shards/part.safetensors');
    expect(index.metadata).toEqual({});
  });

  it.each([
    ['a parent reference', '../outside.safetensors'],
    ['a parent reference inside the name', 'shards/../../outside.safetensors'],
    ['an absolute path', '/etc/passwd'],
    ['a Windows absolute path', '\\server\\share.safetensors'],
    ['a backslash', 'shards\\part.safetensors'],
    ['a URL', 'https://example.com/model.safetensors'],
    ['a drive letter', 'C:model.safetensors'],
    ['a drive letter and backslash', 'C:\\models\\model.safetensors'],
    ['an empty name', ''],
  ])('refuses a shard name with %s as UnsafeShardPath', async (_, shard) => {
    const indexPath = await folderWith({ weight_map: { 'model.embed_tokens.weight': shard } });
    const error = await caught(readSafetensorsIndex(indexPath));
    expect(error.code).toBe('UnsafeShardPath');
    expect(error.message).toContain(INDEX_FILE_NAME);
    expect(error.message).toContain('model.embed_tokens.weight');
    expect(unsafeShardNameReason(shard)).not.toBeNull();
  });

  it('refuses a listed shard that is not in the folder as MissingShard', async () => {
    const indexPath = await folderWith({ weight_map: { 'a.weight': 'present.safetensors', 'b.weight': 'absent.safetensors' } }, ['present.safetensors']);
    const error = await caught(readSafetensorsIndex(indexPath));
    expect(error.code).toBe('MissingShard');
    expect(error.message).toContain('absent.safetensors');
    expect(error.message).toContain('b.weight');
    expect(error.message).toContain(INDEX_FILE_NAME);
  });

  it('refuses a shard name that is a folder as MissingShard', async () => {
    const indexPath = await folderWith({ weight_map: { 'a.weight': 'sub' } }, ['sub/x.safetensors']);
    expect((await caught(readSafetensorsIndex(indexPath))).code).toBe('MissingShard');
  });

  it.each([
    ['invalid JSON', '{"weight_map": {'],
    ['a JSON array', '[]'],
    ['no weight_map', { metadata: {} }],
    ['a weight_map that is an array', { weight_map: ['model.safetensors'] }],
    ['a weight_map that is null', { weight_map: null }],
    ['a non-string shard name', { weight_map: { 'a.weight': 3 } }],
    ['metadata that is not an object', { metadata: 'big', weight_map: {} }],
  ])('refuses %s as InvalidIndex, naming the index file', async (_, index) => {
    const indexPath = await folderWith(index);
    const error = await caught(readSafetensorsIndex(indexPath));
    expect(error.code).toBe('InvalidIndex');
    expect(error.message).toContain(INDEX_FILE_NAME);
    expect(error.path).toBe(indexPath);
  });

  it('reports a missing index file as NotFound', async () => {
    expect((await caught(readSafetensorsIndex(path.join(dir, 'nowhere', INDEX_FILE_NAME)))).code).toBe('NotFound');
  });
});
