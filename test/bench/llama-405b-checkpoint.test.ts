import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../electron/engine/checkpoint/open-checkpoint.js';
import { LLAMA_31_405B, llamaStateDict, shardLikeHub, tensorDataBytes, writeSparseLlama405b, type SparseCheckpoint } from './llama-405b-checkpoint.js';

let dir: string;
let written: SparseCheckpoint;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
  written = await writeSparseLlama405b(path.join(dir, 'llama-405b'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the sparse Llama-3.1-405B checkpoint', () => {
  it('has the published parameter count and 191 shards of at most 5 GB', () => {
    const tensors = llamaStateDict(LLAMA_31_405B);
    expect(tensors.reduce((sum, tensor) => sum + tensorDataBytes(tensor) / 2, 0)).toBe(405_853_388_800);
    const shards = shardLikeHub(tensors, 5e9);
    expect(shards).toHaveLength(191);
    for (const shard of shards) expect(shard.reduce((sum, tensor) => sum + tensorDataBytes(tensor), 0)).toBeLessThanOrEqual(5e9);
    expect(written.shardCount).toBe(191);
    expect(written.dataBytes).toBe(811_706_777_600);
  });

  it('starts a new shard when the next tensor would pass the limit, and keeps an oversized tensor alone', () => {
    const tensor = (name: string, elements: number) => ({ name, dtype: 'BF16' as const, shape: [elements] });
    const shards = shardLikeHub([tensor('a', 3), tensor('b', 2), tensor('c', 9), tensor('d', 1)], 10);
    expect(shards.map((shard) => shard.map((entry) => entry.name))).toEqual([['a', 'b'], ['c'], ['d']]);
  });

  it('opens as the real model: 126 layers of the right shapes, without using the disk', async () => {
    const summary = await openCheckpoint(written.dir);
    expect(summary.numLayers).toBe(126);
    expect(summary.shards).toHaveLength(191);
    expect(summary.parameters).toBe(405_853_388_800);
    expect(summary.hiddenSize).toBe(16_384);
    expect(summary.numKeyValueHeads).toBe(8);
    expect(summary.warnings).toEqual([]);
    expect(summary.tensors.find((tensor) => tensor.name === 'model.layers.125.mlp.down_proj.weight')?.shape).toEqual([16_384, 53_248]);
    expect(summary.tensors.find((tensor) => tensor.name === 'model.layers.0.self_attn.k_proj.weight')?.shape).toEqual([1024, 16_384]);
    // Holes: the shards claim 812 GB and occupy (almost) nothing.
    const first = await stat(summary.shards[0]?.file as string);
    expect(first.size).toBeGreaterThan(4e9);
    expect(first.blocks * 512).toBeLessThan(1e6);
  });
});
