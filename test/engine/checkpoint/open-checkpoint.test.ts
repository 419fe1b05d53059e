import { mkdir, mkdtemp, open, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StudioError, type ErrorCode } from '../../../electron/api/errors.js';
import type { CheckpointSummary } from '../../../electron/api/types.js';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { INDEX_FILE_NAME } from '../../../electron/engine/formats/safetensors-index.js';
import { layoutSafetensors, writeSafetensors } from '../../../electron/engine/formats/safetensors-writer.js';
import { buildFixtureCheckpoint, type FixtureCheckpoint } from '../../fixtures/checkpoint-builder.js';

const STORIES = path.resolve(import.meta.dirname, '../../../build/demo/stories260K');

let dir: string;
let sharded: FixtureCheckpoint;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
  sharded = await buildFixtureCheckpoint({ dir: path.join(dir, 'sharded-32'), layers: 32, shards: 3, sideFiles: true, seed: 7 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refusal(promise: Promise<unknown>, code: ErrorCode): Promise<StudioError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(StudioError);
  expect((error as StudioError).code).toBe(code);
  return error as StudioError;
}

function tensor(summary: CheckpointSummary, name: string) {
  const found = summary.tensors.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no tensor ${name}`);
  return found;
}

describe('openCheckpoint on the real stories260K', () => {
  it('summarises a trained, tied, float32 Llama', async () => {
    const summary = await openCheckpoint(STORIES);
    expect(summary).toMatchObject({
      name: 'stories260K',
      format: 'safetensors',
      architecture: 'LlamaForCausalLM',
      modelType: 'llama',
      family: 'llama',
      layerPrefix: 'model.layers.',
      layerCountKey: 'num_hidden_layers',
      numLayers: 5,
      configNumLayers: 5,
      hiddenSize: 64,
      intermediateSize: 172,
      vocabSize: 512,
      numAttentionHeads: 8,
      numKeyValueHeads: 4,
      parameters: 260_032,
      totalBytes: 260_032 * 4,
      dtypes: { F32: 260_032 },
      tiedEmbeddings: true,
      mtpLayers: [],
      sideFiles: ['tokenizer.model', 'tokenizer_config.json'],
      warnings: [],
    });
    expect(path.isAbsolute(summary.id)).toBe(true);
    expect(summary.folder).toBe(summary.id);
    expect(summary.layers.map((layer) => layer.index)).toEqual([0, 1, 2, 3, 4]);
    expect(summary.layers.every((layer) => layer.tensorNames.length === 9 && !layer.isMtp)).toBe(true);
    expect(summary.tensors).toHaveLength(47);
    expect(summary.shards).toHaveLength(1);
    const file = path.join(summary.folder, 'model.safetensors');
    expect(summary.diskBytes).toBe((await readFile(file)).byteLength);

    const q = tensor(summary, 'model.layers.2.self_attn.q_proj.weight');
    expect(q).toMatchObject({ layer: 2, localName: 'self_attn.q_proj.weight', kind: 'q', shape: [64, 64], elements: 4096, bytes: 16384, file });
    // The absolute offset points at the tensor's bytes: compare with a parse of the header by hand.
    const bytes = await readFile(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
    expect(q.offset).toBe(8 + headerLength + header['model.layers.2.self_attn.q_proj.weight']!.data_offsets[0]);
    expect(tensor(summary, 'model.embed_tokens.weight')).toMatchObject({ layer: null, kind: 'embed', localName: 'model.embed_tokens.weight' });
    expect(tensor(summary, 'model.norm.weight').kind).toBe('final_norm');
  });
});

describe('openCheckpoint on a 32-layer, 3-shard checkpoint', () => {
  it('opens the folder with every shard, layer and side file', async () => {
    const summary = await openCheckpoint(sharded.dir);
    expect(summary.numLayers).toBe(32);
    expect(summary.configNumLayers).toBe(32);
    expect(summary.name).toBe('sharded-32');
    expect(summary.shards.map((shard) => path.basename(shard.file))).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
    ]);
    expect(summary.shards.reduce((sum, shard) => sum + shard.tensorCount, 0)).toBe(sharded.tensors.length);
    expect(summary.tensors).toHaveLength(sharded.tensors.length);
    expect(summary.tiedEmbeddings).toBe(false);
    expect(summary.warnings).toEqual([]);
    expect(summary.sideFiles).toEqual(['generation_config.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    expect(summary.architecture).toBe('MistralForCausalLM');
    expect(summary.dtypes).toEqual({ BF16: summary.parameters });
    expect(summary.totalBytes).toBe(summary.parameters * 2);
    expect(summary.layers).toHaveLength(32);
    expect(summary.layers.every((layer, index) => layer.index === index && layer.parameters === summary.layers[0]!.parameters)).toBe(true);
    expect(tensor(summary, 'lm_head.weight').kind).toBe('head');
    for (const shard of summary.shards) expect(shard.mtimeMs).toBeGreaterThan(0);

    // Every offset lands on the bytes the builder wrote for that tensor.
    const index = JSON.parse(await readFile(path.join(sharded.dir, INDEX_FILE_NAME), 'utf8')) as { weight_map: Record<string, string> };
    for (const info of summary.tensors) {
      expect(path.basename(info.file)).toBe(index.weight_map[info.name]);
      expect(info.offset % 2).toBe(0);
    }
  });

  it('opens the same checkpoint through its index file', async () => {
    const viaFolder = await openCheckpoint(sharded.dir);
    const viaIndex = await openCheckpoint(path.join(sharded.dir, INDEX_FILE_NAME));
    expect(viaIndex.id).toBe(path.join(viaFolder.folder, INDEX_FILE_NAME));
    expect(viaIndex.name).toBe('sharded-32');
    expect(viaIndex.folder).toBe(viaFolder.folder);
    expect(viaIndex.tensors).toEqual(viaFolder.tensors);
    expect(viaIndex.numLayers).toBe(32);
  });

  it('opens a lone shard path as that file alone, with holes and the config mismatch as warnings', async () => {
    const shardPath = path.join(sharded.dir, 'model-00002-of-00003.safetensors');
    const summary = await openCheckpoint(shardPath);
    expect(summary.name).toBe('model-00002-of-00003.safetensors');
    expect(summary.shards).toHaveLength(1);
    const found = summary.layers.filter((layer) => layer.tensorNames.length > 0).map((layer) => layer.index);
    expect(found.length).toBeGreaterThan(0);
    expect(found.length).toBeLessThan(32);
    expect(summary.tensors.every((info) => info.file === summary.shards[0]!.file)).toBe(true);
    expect(summary.config).not.toBeNull();
    expect(summary.warnings.some((warning) => warning.includes('holes'))).toBe(true);
  });

  it('opens a 191-shard checkpoint with CPU time far below what per-shard rescans would cost', async () => {
    const many = await buildFixtureCheckpoint({ dir: path.join(dir, 'shards-191'), layers: 126, shards: 191, hidden: 16, intermediate: 32, vocab: 64, heads: 2, kvHeads: 1 });
    const first = await openCheckpoint(many.dir);
    expect(first.shards).toHaveLength(191);
    expect(first.numLayers).toBe(126);
    // CPU time, not wall time: a busy machine stretches the wall clock, not the work. The target
    // (≤ 50 ms wall) is the benchmark's row open-405b; this bound, ten times it, catches work that
    // grows with shards × tensors without flaking beside other processes.
    const cpuMs: number[] = [];
    for (let run = 0; run < 5; run += 1) {
      const started = process.cpuUsage();
      await openCheckpoint(many.dir);
      const used = process.cpuUsage(started);
      cpuMs.push((used.user + used.system) / 1000);
    }
    expect(Math.min(...cpuMs)).toBeLessThan(500);
  });
});

describe('openCheckpoint on special layouts', () => {
  it('counts only text layers of a multimodal checkpoint', async () => {
    const fixture = await buildFixtureCheckpoint({ dir: path.join(dir, 'multimodal'), layers: 4, multimodal: true });
    const summary = await openCheckpoint(fixture.dir);
    expect(summary).toMatchObject({
      family: 'multimodal',
      layerPrefix: 'language_model.model.layers.',
      layerCountKey: 'text_config.num_hidden_layers',
      numLayers: 4,
      configNumLayers: 4,
      architecture: 'LlavaForConditionalGeneration',
      modelType: 'mistral',
      hiddenSize: 32,
      warnings: [],
    });
    const vision = summary.tensors.filter((info) => info.name.startsWith('vision_tower.'));
    expect(vision.length).toBeGreaterThan(0);
    expect(vision.every((info) => info.layer === null)).toBe(true);
    expect(tensor(summary, 'language_model.lm_head.weight').kind).toBe('head');
    expect(tensor(summary, 'language_model.model.norm.weight').kind).toBe('final_norm');
  });

  it('marks a DeepSeek-style multi-token-prediction layer', async () => {
    const fixture = await buildFixtureCheckpoint({ dir: path.join(dir, 'mtp'), layers: 4, mtp: true });
    const summary = await openCheckpoint(fixture.dir);
    expect(summary.numLayers).toBe(4);
    expect(summary.mtpLayers).toEqual([4]);
    expect(summary.layers.map((layer) => [layer.index, layer.isMtp])).toEqual([
      [0, false],
      [1, false],
      [2, false],
      [3, false],
      [4, true],
    ]);
    expect(summary.warnings).toEqual([]);
    expect(tensor(summary, 'model.layers.4.eh_proj.weight').layer).toBe(4);
  });

  it('warns about layers past the layer count when the config announces no MTP', async () => {
    const fixture = await buildFixtureCheckpoint({ dir: path.join(dir, 'mtp-unannounced'), layers: 4, mtp: true, extraConfig: { num_nextn_predict_layers: 0 } });
    const summary = await openCheckpoint(fixture.dir);
    expect(summary.mtpLayers).toEqual([]);
    expect(summary.numLayers).toBe(5);
    expect(summary.warnings.some((warning) => warning.includes('num_hidden_layers = 4'))).toBe(true);
    expect(summary.warnings.some((warning) => warning.includes('Layer 4 lies beyond'))).toBe(true);
  });

  it('keeps layer_types in the config and warns when its length differs from the layer count', async () => {
    const fixture = await buildFixtureCheckpoint({ dir: path.join(dir, 'layer-types'), layers: 6, layerTypes: true });
    const summary = await openCheckpoint(fixture.dir);
    expect(summary.warnings).toEqual([]);
    expect(summary.config?.layer_types).toEqual(['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention', 'sliding_attention', 'full_attention']);

    const broken = await buildFixtureCheckpoint({ dir: path.join(dir, 'layer-types-short'), layers: 6, layerTypes: true, extraConfig: { layer_types: ['full_attention'] } });
    const brokenSummary = await openCheckpoint(broken.dir);
    expect(brokenSummary.warnings.some((warning) => warning.includes('layer_types'))).toBe(true);
  });

  it('reports tied embeddings when the head is absent', async () => {
    const fixture = await buildFixtureCheckpoint({ dir: path.join(dir, 'tied'), layers: 2, tied: true });
    const summary = await openCheckpoint(fixture.dir);
    expect(summary.tiedEmbeddings).toBe(true);
    expect(summary.tensors.some((info) => info.kind === 'head')).toBe(false);
    expect(summary.warnings).toEqual([]);
  });

  it('warns when the config ties embeddings but a head is on disk', async () => {
    const fixture = await buildFixtureCheckpoint({ dir: path.join(dir, 'tied-with-head'), layers: 2, extraConfig: { tie_word_embeddings: true } });
    const summary = await openCheckpoint(fixture.dir);
    expect(summary.tiedEmbeddings).toBe(true);
    expect(summary.warnings.some((warning) => warning.includes('tie_word_embeddings'))).toBe(true);
  });

  it('reads only headers: a checkpoint whose data region is a sparse terabyte opens at once', async () => {
    const folder = path.join(dir, 'sparse');
    await mkdir(folder);
    const terabyte = 2 ** 40;
    const layout = layoutSafetensors([
      { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [8, 4] },
      { name: 'model.layers.0.mlp.up_proj.weight', dtype: 'U8', shape: [terabyte] },
    ]);
    const filePath = path.join(folder, 'model.safetensors');
    await writeFile(filePath, layout.header);
    const handle = await open(filePath, 'r+');
    await handle.truncate(layout.header.byteLength + layout.dataBytes);
    await handle.close();
    // Reading the sparse terabyte would take hours: the test's timeout catches that.
    const summary = await openCheckpoint(folder);
    expect(summary.diskBytes).toBe(layout.header.byteLength + 64 + terabyte);
    expect(summary.numLayers).toBe(1);
    expect(summary.config).toBeNull();
    expect(summary.warnings.some((warning) => warning.includes('config.json'))).toBe(true);
  });

  it('accepts a folder with exactly one other .safetensors file and names a lone file after itself', async () => {
    const folder = path.join(dir, 'one-file');
    await mkdir(folder);
    const filePath = path.join(folder, 'consolidated.safetensors');
    await writeSafetensors(filePath, [{ name: 'h.0.attn.c_attn.weight', dtype: 'F16', shape: [2, 2], data: new Uint8Array(8) }]);
    const viaFolder = await openCheckpoint(folder);
    expect(viaFolder).toMatchObject({ name: 'one-file', family: 'gpt2', numLayers: 1 });
    const viaFile = await openCheckpoint(filePath);
    expect(viaFile).toMatchObject({ name: 'consolidated.safetensors', id: filePath, folder });
  });

  it('keeps the link folder of a file opened through a symbolic link', async () => {
    const blobs = path.join(dir, 'cache-blobs');
    const snapshot = path.join(dir, 'cache-snapshot');
    await mkdir(blobs);
    await mkdir(snapshot);
    await writeSafetensors(path.join(blobs, 'f00d'), [{ name: 'model.layers.0.mlp.up_proj.weight', dtype: 'F32', shape: [1], data: new Uint8Array(4) }]);
    await symlink(path.join(blobs, 'f00d'), path.join(snapshot, 'model.safetensors'));
    await writeFile(path.join(snapshot, 'config.json'), '{"num_hidden_layers": 1}');
    const summary = await openCheckpoint(snapshot);
    expect(summary.shards[0]!.file).toBe(path.join(snapshot, 'model.safetensors'));
    expect(summary.configNumLayers).toBe(1);
    const viaLink = await openCheckpoint(path.join(snapshot, 'model.safetensors'));
    expect(viaLink.id).toBe(path.join(blobs, 'f00d'));
    expect(viaLink.folder).toBe(snapshot);
  });

  it('warns about a layer that lacks tensors the others have, and about holes', async () => {
    const folder = path.join(dir, 'gappy');
    await mkdir(folder);
    const data = (bytes: number) => new Uint8Array(bytes);
    const layer = (index: number, names: string[]) => names.map((name) => ({ name: `model.layers.${index}.${name}`, dtype: 'F32' as const, shape: [2], data: data(8) }));
    const full = ['self_attn.q_proj.weight', 'mlp.up_proj.weight', 'input_layernorm.weight'];
    await writeSafetensors(path.join(folder, 'model.safetensors'), [
      ...layer(0, full),
      ...layer(1, full.slice(0, 2)),
      ...layer(3, full),
    ]);
    await writeFile(path.join(folder, 'config.json'), '{"num_hidden_layers": 4}');
    const summary = await openCheckpoint(folder);
    expect(summary.numLayers).toBe(4);
    expect(summary.layers[2]).toMatchObject({ index: 2, parameters: 0, tensorNames: [] });
    expect(summary.warnings).toEqual([
      'Layer index 2 has no tensors (holes in the layer stack).',
      'Layer 1 lacks input_layernorm.weight, which layer 0 has.',
    ]);
  });

  it('does not flag dense and mixture-of-experts layers that differ both ways', async () => {
    const folder = path.join(dir, 'moe');
    await mkdir(folder);
    const entry = (name: string) => ({ name, dtype: 'F32' as const, shape: [1], data: new Uint8Array(4) });
    await writeSafetensors(path.join(folder, 'model.safetensors'), [
      entry('model.layers.0.mlp.gate_proj.weight'),
      entry('model.layers.0.self_attn.q_proj.weight'),
      entry('model.layers.1.mlp.gate.weight'),
      entry('model.layers.1.mlp.experts.0.gate_proj.weight'),
      entry('model.layers.1.self_attn.q_proj.weight'),
    ]);
    await writeFile(path.join(folder, 'config.json'), '{"num_hidden_layers": 2}');
    const summary = await openCheckpoint(folder);
    expect(summary.warnings).toEqual([]);
    expect(tensor(summary, 'model.layers.1.mlp.gate.weight').kind).toBe('router');
  });
});

describe('openCheckpoint refusals', () => {
  it('refuses a missing path as NotFound', async () => {
    await refusal(openCheckpoint(path.join(dir, 'does-not-exist')), 'NotFound');
  });

  it('refuses a folder without safetensors as NotACheckpoint', async () => {
    const folder = path.join(dir, 'empty');
    await mkdir(folder);
    await writeFile(path.join(folder, 'config.json'), '{}');
    const error = await refusal(openCheckpoint(folder), 'NotACheckpoint');
    expect(error.message).toContain('empty');
  });

  it('refuses a folder of several unindexed safetensors files as NotACheckpoint', async () => {
    const folder = path.join(dir, 'several');
    await mkdir(folder);
    for (const name of ['a.safetensors', 'b.safetensors']) {
      await writeSafetensors(path.join(folder, name), [{ name: 'w', dtype: 'U8', shape: [1], data: new Uint8Array(1) }]);
    }
    await refusal(openCheckpoint(folder), 'NotACheckpoint');
  });

  it.each(['notes.txt', 'config.json', 'pytorch_model.bin.index.json'])('refuses %s, which is neither safetensors nor a safetensors index', async (name) => {
    const filePath = path.join(dir, name);
    await writeFile(filePath, '{}');
    await refusal(openCheckpoint(filePath), 'NotACheckpoint');
  });

  it('refuses a config.json that is not JSON as InvalidConfig', async () => {
    const fixture = await buildFixtureCheckpoint({ dir: path.join(dir, 'bad-config'), layers: 1 });
    await writeFile(path.join(fixture.dir, 'config.json'), '{ nope');
    const error = await refusal(openCheckpoint(fixture.dir), 'InvalidConfig');
    expect(error.message).toContain('config.json');
  });

  it('passes a malformed shard header through with its own code', async () => {
    const folder = path.join(dir, 'truncated');
    await mkdir(folder);
    await writeFile(path.join(folder, 'model.safetensors'), Buffer.from([1, 2, 3]));
    await refusal(openCheckpoint(folder), 'HeaderTooSmall');
  });
});

describe('openCheckpoint index cross-checks', () => {
  const entry = (name: string) => ({ name, dtype: 'F32' as const, shape: [1], data: new Uint8Array(4) });

  /** Two shards holding the given tensors, and an index with the given weight map. */
  async function shardedFolder(label: string, shardA: string[], shardB: string[], weightMap: Record<string, string>): Promise<string> {
    const folder = path.join(dir, `cross-${label}`);
    await mkdir(folder);
    await writeSafetensors(path.join(folder, 'a.safetensors'), shardA.map(entry));
    await writeSafetensors(path.join(folder, 'b.safetensors'), shardB.map(entry));
    await writeFile(path.join(folder, INDEX_FILE_NAME), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    return folder;
  }

  it('refuses a tensor listed in the index but absent from its shard as TensorNotInShard', async () => {
    const folder = await shardedFolder('absent', ['x'], ['y'], { x: 'a.safetensors', y: 'b.safetensors', ghost: 'b.safetensors' });
    const error = await refusal(openCheckpoint(folder), 'TensorNotInShard');
    expect(error.message).toContain('"ghost"');
    expect(error.message).toContain(INDEX_FILE_NAME);
    expect(error.message).toContain('b.safetensors');
  });

  it('refuses a tensor present in two shards as DuplicateTensor', async () => {
    const folder = await shardedFolder('twice', ['x', 'shared'], ['y', 'shared'], { x: 'a.safetensors', y: 'b.safetensors', shared: 'a.safetensors' });
    const error = await refusal(openCheckpoint(folder), 'DuplicateTensor');
    expect(error.message).toContain('"shared"');
    expect(error.message).toContain('a.safetensors');
    expect(error.message).toContain('b.safetensors');
  });

  it('refuses a tensor found in another shard than the listed one as DuplicateTensor', async () => {
    const folder = await shardedFolder('moved', ['x'], ['y', 'moved'], { x: 'a.safetensors', y: 'b.safetensors', moved: 'a.safetensors' });
    const error = await refusal(openCheckpoint(folder), 'DuplicateTensor');
    expect(error.message).toContain('"moved"');
  });

  it('refuses a shard tensor missing from the index as InvalidIndex', async () => {
    const folder = await shardedFolder('unlisted', ['x', 'stowaway'], ['y'], { x: 'a.safetensors', y: 'b.safetensors' });
    const error = await refusal(openCheckpoint(folder), 'InvalidIndex');
    expect(error.message).toContain('"stowaway"');
    expect(error.message).toContain('a.safetensors');
  });

  it('refuses an index that points outside the folder as UnsafeShardPath', async () => {
    const folder = await shardedFolder('escape', ['x'], ['y'], { x: 'a.safetensors', y: '../cross-absent/b.safetensors' });
    await refusal(openCheckpoint(folder), 'UnsafeShardPath');
  });

  it('refuses an index whose shard is missing as MissingShard', async () => {
    const folder = await shardedFolder('missing', ['x'], ['y'], { x: 'a.safetensors', y: 'c.safetensors' });
    await refusal(openCheckpoint(path.join(folder, INDEX_FILE_NAME)), 'MissingShard');
  });
});
