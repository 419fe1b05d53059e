import { describe, expect, it } from 'vitest';
import type { OutputTensor } from '../../../electron/engine/export/output-tensors.js';
import { DEFAULT_SHARD_SIZE, planShards, shardFileName } from '../../../electron/engine/export/shard-plan.js';

function tensor(name: string, bytes: number): OutputTensor {
  return {
    name,
    dtype: 'U8',
    shape: [bytes],
    bytes,
    source: { file: '/models/a/model.safetensors', offset: 0, bytes, dtype: 'U8', name, model: '/models/a' },
    scale: 1,
    layer: null,
  };
}

describe('planShards', () => {
  it('writes everything into model.safetensors when it fits one shard', () => {
    const shards = planShards([tensor('a', 10), tensor('b', 20)]);
    expect(shards.map((shard) => [shard.file, shard.dataBytes, shard.tensors.map((item) => item.name)])).toEqual([['model.safetensors', 30, ['a', 'b']]]);
  });

  it('uses 5 GB in decimal bytes as the default shard size', () => {
    expect(DEFAULT_SHARD_SIZE).toBe(5_000_000_000);
    const shards = planShards([tensor('a', 3_000_000_000), tensor('b', 2_000_000_000), tensor('c', 1)]);
    expect(shards.map((shard) => shard.tensors.map((item) => item.name))).toEqual([['a', 'b'], ['c']]);
  });

  it('splits in natural order without exceeding the limit and names shards as transformers does', () => {
    const tensors = Array.from({ length: 10 }, (_, index) => tensor(`t${index}`, 40));
    const shards = planShards(tensors, 100);
    expect(shards.map((shard) => shard.file)).toEqual([
      'model-00001-of-00005.safetensors',
      'model-00002-of-00005.safetensors',
      'model-00003-of-00005.safetensors',
      'model-00004-of-00005.safetensors',
      'model-00005-of-00005.safetensors',
    ]);
    expect(shards.flatMap((shard) => shard.tensors.map((item) => item.name))).toEqual(tensors.map((item) => item.name));
    for (const shard of shards) expect(shard.dataBytes).toBeLessThanOrEqual(100);
  });

  it('gives a tensor larger than the limit a shard of its own', () => {
    const shards = planShards([tensor('small', 10), tensor('huge', 500), tensor('after', 10)], 100);
    expect(shards.map((shard) => shard.tensors.map((item) => item.name))).toEqual([['small'], ['huge'], ['after']]);
    expect(shards[1]?.dataBytes).toBe(500);
  });

  it('pads shard numbers to five digits', () => {
    expect(shardFileName(0, 1)).toBe('model.safetensors');
    expect(shardFileName(11, 123)).toBe('model-00012-of-00123.safetensors');
  });

  it('refuses a shard size that is not a positive whole number', () => {
    expect(() => planShards([tensor('a', 1)], 0)).toThrow(/positive whole number/);
    expect(() => planShards([tensor('a', 1)], 1.5)).toThrow(/positive whole number/);
  });
});
