import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckpointSummary, LayerPlan } from '../../../electron/api/types.js';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { exportPlan, type ExportPlanProgress } from '../../../electron/engine/export/export-plan.js';
import { readSafetensorsHeader } from '../../../electron/engine/formats/safetensors.js';
import { resolvePlan } from '../../../electron/common/plan/layer-plan.js';
import { buildPlanFromRecipe } from '../../../electron/common/plan/plan-recipes.js';
import { scalesAnything } from '../../../electron/common/plan/scale-rules.js';
import {
  STORIES_260K,
  TempFolders,
  dusPlan,
  expectLayersCopied,
  folderNames,
  layerOrigins,
  openFixture,
  slice,
  sourceMap,
  tensorByName,
  tensorBytes,
} from './export-fixtures.js';

const folders = new TempFolders();
afterAll(() => folders.removeAll());

async function exportTo(plan: LayerPlan, sources: CheckpointSummary[], options: { shardSize?: number; onProgress?: (progress: ExportPlanProgress) => void } = {}) {
  const dir = path.join(await folders.make(), 'export');
  const report = await exportPlan({
    plan,
    target: { dir, ...(options.shardSize === undefined ? {} : { shardSize: options.shardSize }) },
    sources: sourceMap(...sources),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
  expect(report.verify?.problems).toEqual([]);
  expect(report.verify?.ok).toBe(true);
  const exported = await openCheckpoint(dir);
  const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  return { dir, report, exported, config };
}

/** Size and mtime of every file of a checkpoint, to show that exporting never touches a source. */
async function fileStates(summary: CheckpointSummary): Promise<string[]> {
  const names = await folderNames(summary.folder);
  return Promise.all(
    names.map(async (name) => {
      const info = await stat(path.join(summary.folder, name));
      return `${name}:${info.size}:${info.mtimeMs}`;
    }),
  );
}

describe('exportPlan', () => {
  it('exports a SOLAR DUS of a 32-layer bf16 model in three shards to 48 layers, tensor by tensor', async () => {
    const source = await openFixture(folders, { layers: 32, shards: 3, sideFiles: true });
    const before = await fileStates(source);
    const { dir, report, exported, config } = await exportTo(dusPlan(source, 8), [source]);

    expect(exported.numLayers).toBe(48);
    expect(exported.shards.map((shard) => path.basename(shard.file))).toEqual(['model.safetensors']);
    const compared = await expectLayersCopied(exported, layerOrigins(source, [0, 24], [8, 32]), source);
    expect(compared).toBe(2 + 1 + 48 * 9);
    expect(report).toMatchObject({ dir, numLayers: 48, tensorCount: compared, totalBytes: exported.totalBytes });
    expect(report.verify).toMatchObject({ checkedTensors: compared, checkedBytes: exported.totalBytes });
    expect(config.num_hidden_layers).toBe(48);
    expect(await folderNames(dir)).toEqual(
      ['README.md', 'config.json', 'generation_config.json', 'mergekit_config.yml', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'].sort(),
    );
    expect(report.files.sort()).toEqual(await folderNames(dir));
    expect(await readFile(path.join(dir, 'tokenizer.json'), 'utf8')).toBe(await readFile(path.join(source.folder, 'tokenizer.json'), 'utf8'));
    // Nothing but the export appears beside it, and the source is untouched.
    expect(await folderNames(path.dirname(dir))).toEqual(['export']);
    expect(await fileStates(source)).toEqual(before);
  });

  it('splits the export into shards of at most the shard size, with an index of the actual placement', async () => {
    const source = await openFixture(folders, { layers: 32, shards: 3 });
    const shardSize = 120_000;
    const { dir, exported } = await exportTo(dusPlan(source, 8), [source], { shardSize });
    const index = JSON.parse(await readFile(path.join(dir, 'model.safetensors.index.json'), 'utf8')) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    const shardNames = [...new Set(Object.values(index.weight_map))].sort();
    expect(shardNames.length).toBeGreaterThan(3);
    shardNames.forEach((name, position) => expect(name).toBe(`model-${String(position + 1).padStart(5, '0')}-of-${String(shardNames.length).padStart(5, '0')}.safetensors`));
    expect(Object.keys(index.weight_map)).toEqual(Object.keys(index.weight_map).sort());
    expect(index.metadata.total_size).toBe(exported.totalBytes);
    for (const name of shardNames) {
      const header = await readSafetensorsHeader(path.join(dir, name));
      const dataBytes = header.tensors.reduce((sum, tensor) => sum + tensor.end - tensor.begin, 0);
      if (header.tensors.length > 1) expect(dataBytes).toBeLessThanOrEqual(shardSize);
      expect(header.metadata).toEqual({ format: 'pt' });
      for (const tensor of header.tensors) expect(index.weight_map[tensor.name]).toBe(name);
    }
    await expectLayersCopied(exported, layerOrigins(source, [0, 24], [8, 32]), source);
  });

  it('interleaves two models, each output layer from its own source, head from the last slice', async () => {
    const first = await openFixture(folders, { layers: 8, seed: 11 });
    const second = await openFixture(folders, { layers: 8, seed: 12 });
    const plan = { slices: [slice(first, 0, 4), slice(second, 2, 6), slice(first, 4, 8), slice(second, 6, 8)] };
    const { exported, config } = await exportTo(plan, [first, second]);
    const origins = [...layerOrigins(first, [0, 4]), ...layerOrigins(second, [2, 6]), ...layerOrigins(first, [4, 8]), ...layerOrigins(second, [6, 8])];
    expect(await expectLayersCopied(exported, origins, first, second)).toBe(exported.tensors.length);
    expect(config.num_hidden_layers).toBe(14);
  });

  it('zeroes o_proj and down_proj of the blocks LLaMA-Pro inserts and copies everything else', async () => {
    const source = await openFixture(folders, { layers: 4 });
    const sources = sourceMap(source);
    const plan = buildPlanFromRecipe({ kind: 'llama-pro', model: source.id, every: 2 }, sources);
    const resolved = resolvePlan(plan, sources);
    const inserted = resolved.layers.filter((layer) => scalesAnything(layer.scale));
    expect(inserted.map((layer) => [layer.index, layer.sourceLayer])).toEqual([
      [2, 1],
      [5, 3],
    ]);
    const { exported } = await exportTo(plan, [source]);
    expect(exported.numLayers).toBe(6);
    for (const layer of resolved.layers) {
      for (const tensor of exported.tensors.filter((candidate) => candidate.layer === layer.index)) {
        const bytes = await tensorBytes(tensor);
        const sourceBytes = await tensorBytes(tensorByName(source, `model.layers.${layer.sourceLayer}.${tensor.localName}`));
        const zeroed = scalesAnything(layer.scale) && /o_proj|down_proj/.test(tensor.localName);
        if (zeroed) {
          // bf16 ±0: only the sign bit may be set.
          for (let offset = 0; offset < bytes.length; offset += 2) expect(bytes.readUInt16LE(offset) & 0x7fff).toBe(0);
          expect(sourceBytes.some((byte) => byte !== 0)).toBe(true);
        } else {
          expect(bytes.equals(sourceBytes), tensor.name).toBe(true);
        }
      }
    }
  });

  it('copies tokenizer files from the tokenizer source when the plan names one', async () => {
    const first = await openFixture(folders, { layers: 4, seed: 21, sideFiles: true });
    const second = await openFixture(folders, { layers: 4, seed: 22, sideFiles: true });
    // Same vocabulary (so mergekit would not reorder a row), but a tokenizer_config.json of its own.
    await writeFile(path.join(second.folder, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'LlamaTokenizerFast', model_max_length: 4096 }));
    const plan = { slices: [slice(first, 0, 4), slice(second, 2, 4)] };
    const plain = await exportTo(plan, [first, second]);
    expect(await readFile(path.join(plain.dir, 'tokenizer_config.json'), 'utf8')).toBe(await readFile(path.join(first.folder, 'tokenizer_config.json'), 'utf8'));
    const withTokenizer = await exportTo({ ...plan, tokenizerSource: second.id }, [first, second]);
    expect(await readFile(path.join(withTokenizer.dir, 'tokenizer_config.json'), 'utf8')).toBe(await readFile(path.join(second.folder, 'tokenizer_config.json'), 'utf8'));
    expect(withTokenizer.report.files).toContain('tokenizer.json');
  });

  it('refuses a tokenizer_source that is not a model with a tokenizer, and writes nothing', async () => {
    const first = await openFixture(folders, { layers: 4, seed: 23 });
    const plan = { slices: [slice(first, 0, 4)] };
    const missing = path.join(await folders.make(), 'export');
    await expect(exportPlan({ plan: { ...plan, tokenizerSource: path.join(first.folder, 'absent') }, target: { dir: missing }, sources: sourceMap(first) })).rejects.toMatchObject({
      code: 'NotFound',
    });
    await expect(stat(missing)).rejects.toMatchObject({ code: 'ENOENT' });
    const bare = path.join(await folders.make(), 'export');
    await expect(exportPlan({ plan: { ...plan, tokenizerSource: first.id }, target: { dir: bare }, sources: sourceMap(first) })).rejects.toMatchObject({
      code: 'InvalidPlan',
      message: expect.stringContaining('holds no tokenizer'),
    });
    await expect(stat(bare)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('keeps tied embeddings tied: no lm_head is added', async () => {
    const source = await openFixture(folders, { layers: 6, tied: true });
    const { exported, config } = await exportTo(dusPlan(source, 2), [source]);
    expect(exported.tensors.some((tensor) => tensor.kind === 'head')).toBe(false);
    expect(exported.tiedEmbeddings).toBe(true);
    expect(config.tie_word_embeddings).toBe(true);
  });

  it('remaps layer_types so its length is the new count and each entry follows its source layer', async () => {
    const source = await openFixture(folders, { layers: 32, layerTypes: true });
    const { config } = await exportTo({ slices: [slice(source, 0, 20), slice(source, 7, 32)] }, [source]);
    const sourceTypes = source.config?.layer_types as string[];
    const origins = [...layerOrigins(source, [0, 20]), ...layerOrigins(source, [7, 32])];
    expect(config.num_hidden_layers).toBe(45);
    expect(config.layer_types).toEqual(origins.map((origin) => sourceTypes[origin.layer]));
  });

  it('renumbers the text layers of a multimodal model and copies its vision tower untouched', async () => {
    const source = await openFixture(folders, { layers: 6, multimodal: true });
    const { exported, config } = await exportTo(dusPlan(source, 2), [source]);
    expect(exported.layerPrefix).toBe('language_model.model.layers.');
    expect(exported.numLayers).toBe(8);
    await expectLayersCopied(exported, layerOrigins(source, [0, 4], [2, 6]), source);
    const vision = exported.tensors.filter((tensor) => tensor.name.startsWith('vision_tower.'));
    expect(vision.map((tensor) => tensor.name)).toEqual(source.tensors.filter((tensor) => tensor.name.startsWith('vision_tower.')).map((tensor) => tensor.name).sort());
    expect((config.text_config as Record<string, unknown>).num_hidden_layers).toBe(8);
    expect(config.vision_config).toEqual(source.config?.vision_config);
  });

  it('moves MTP layers to the new last index', async () => {
    const source = await openFixture(folders, { layers: 8, mtp: true });
    const { exported, config } = await exportTo(dusPlan(source, 2), [source]);
    expect(exported.numLayers).toBe(12);
    expect(exported.mtpLayers).toEqual([12]);
    await expectLayersCopied(exported, [...layerOrigins(source, [0, 6], [2, 8]), { summary: source, layer: 8 }], source);
    expect(config.num_nextn_predict_layers).toBe(1);
  });

  it('drops MTP layers when the plan says so', async () => {
    const source = await openFixture(folders, { layers: 8, mtp: true });
    const { exported, config } = await exportTo(dusPlan(source, 2, { mtp: 'drop' }), [source]);
    expect(exported.mtpLayers).toEqual([]);
    expect(exported.tensors.some((tensor) => tensor.name.startsWith('model.layers.12.'))).toBe(false);
    expect(config.num_nextn_predict_layers).toBe(0);
  });

  it('converts bf16 tensors to f32 exactly when the plan asks for float32', async () => {
    const source = await openFixture(folders, { layers: 4, dtype: 'BF16' });
    const { exported, config } = await exportTo(dusPlan(source, 1, { dtype: 'float32' }), [source]);
    expect(config.torch_dtype).toBe('float32');
    expect(exported.dtypes).toEqual({ F32: exported.parameters });
    const sample = ['model.embed_tokens.weight', 'model.layers.4.mlp.down_proj.weight', 'lm_head.weight'];
    for (const name of sample) {
      const converted = await tensorBytes(tensorByName(exported, name));
      const sourceName = name.replace('layers.4.', 'layers.2.');
      const original = await tensorBytes(tensorByName(source, sourceName));
      expect(converted.length).toBe(original.length * 2);
      // bfloat16 is the top half of a float32: widening appends two zero bytes.
      for (let element = 0; element < original.length / 2; element += 1) {
        expect(converted.readUInt32LE(element * 4)).toBe(original.readUInt16LE(element * 2) << 16 >>> 0);
      }
    }
  });

  it('exports a DUS of the real stories260K model to 8 layers, byte for byte', async () => {
    const source = await openCheckpoint(STORIES_260K);
    expect(source.numLayers).toBe(5);
    const { report, exported, config, dir } = await exportTo(dusPlan(source, 1), [source]);
    expect(exported.numLayers).toBe(8);
    expect(await expectLayersCopied(exported, layerOrigins(source, [0, 4], [1, 5]), source)).toBe(exported.tensors.length);
    expect(report.verify?.checkedBytes).toBe(exported.totalBytes);
    expect(config).toEqual({ ...source.config, num_hidden_layers: 8 });
    expect(await readFile(path.join(dir, 'tokenizer.model'))).toEqual(await readFile(path.join(STORIES_260K, 'tokenizer.model')));
    const card = await readFile(path.join(dir, 'README.md'), 'utf8');
    expect(card).toContain('| 4 | stories260K | 1 |');
    const plan = parse(await readFile(path.join(dir, 'mergekit_config.yml'), 'utf8')) as { slices: Array<{ sources: Array<{ model: string; layer_range: number[] }> }> };
    expect(plan.slices.map((item) => item.sources[0])).toEqual([
      { model: source.id, layer_range: [0, 4] },
      { model: source.id, layer_range: [1, 5] },
    ]);
  });

  it('reports progress per shard up to the total bytes, then finishing and verifying', async () => {
    const source = await openFixture(folders, { layers: 8, shards: 2 });
    const events: ExportPlanProgress[] = [];
    const { report } = await exportTo(dusPlan(source, 2), [source], { shardSize: 40_000, onProgress: (progress) => events.push(progress) });
    const copying = events.filter((event) => event.phase === 'copying');
    expect(copying.length).toBeGreaterThan(1);
    copying.forEach((event, position) => {
      expect(event.file).toMatch(/^model-\d{5}-of-\d{5}\.safetensors$/);
      if (position > 0) expect(event.doneBytes).toBeGreaterThan((copying[position - 1] as ExportPlanProgress).doneBytes);
    });
    expect(copying.at(-1)?.doneBytes).toBe(report.totalBytes);
    expect([...new Set(events.map((event) => event.phase))]).toEqual(['preparing', 'copying', 'finishing', 'verifying']);
  });

  it('refuses a plan with errors, listing them, and writes nothing', async () => {
    const source = await openFixture(folders, { layers: 4 });
    const dir = path.join(await folders.make(), 'export');
    const plan = { slices: [slice(source, 0, 3), slice(source, 2, 9)] };
    await expect(exportPlan({ plan, target: { dir }, sources: sourceMap(source) })).rejects.toMatchObject({
      code: 'InvalidPlan',
      message: expect.stringMatching(/cannot be exported: .*9/),
    });
    expect(await folderNames(path.dirname(dir))).toEqual([]);
  });
});
