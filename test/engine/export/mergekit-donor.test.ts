/**
 * mergekit's donors (merge.py): config.json from base_model, else the first model
 * (`_model_out_config`); the tokenizer from tokenizer_source (tokenizer/build.py `build_tokenizer`),
 * else from the same donor (`_copy_tokenizer`); the architecture's tagalong files from the donor
 * (`_copy_tagalong_files`). Exercised the way users reach them: `dus-studio merge` on the real
 * engine (the CLI), the engine's planFromYaml/resolvePlan/exportPlan (the app's YAML pane over
 * IPC or serve), and exportPlan itself.
 */
import { cp, mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StudioHost } from '../../../electron/api/studio-api.js';
import type { CheckpointSummary } from '../../../electron/api/types.js';
import { main } from '../../../electron/cli/cli.js';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { exportPlan } from '../../../electron/engine/export/export-plan.js';
import { buildFixtureCheckpoint, type FixtureOptions } from '../../fixtures/checkpoint-builder.js';
import { memoryIo } from '../../cli/memory-io.js';
import { STORIES_260K, TempFolders, pathExists, expectLayersCopied, folderNames, layerOrigins, slice, sourceMap, startRealEngine } from './export-fixtures.js';

const folders = new TempFolders();
let studio: StudioHost;
let work: string;

beforeAll(async () => {
  ({ studio, work } = await startRealEngine(folders));
});
afterAll(() => folders.removeAll());

async function model(name: string, options: Omit<FixtureOptions, 'dir'>): Promise<string> {
  const dir = path.join(work, name);
  await buildFixtureCheckpoint({ ...options, dir });
  return dir;
}

async function json(file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
}

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const memory = memoryIo(studio, { cwd: work });
  const code = await main(argv, memory.io);
  return { code, stdout: memory.stdout(), stderr: memory.stderr() };
}

/** Files a VL/whisper donor carries beside the tokenizer: mergekit copies them from the donor. */
const TAGALONG = ['preprocessor_config.json', 'processor_config.json', 'video_preprocessor_config.json', 'normalizer.json'];

describe('base_model gives config.json and the side files (merge.py _model_out_config, _copy_tokenizer, _copy_tagalong_files)', () => {
  let slices: string;
  let base: string;

  beforeAll(async () => {
    slices = await model('slices-6', { layers: 6, seed: 1, extraConfig: { rope_theta: 10000 } });
    base = await model('base-4', { layers: 4, seed: 2, sideFiles: true, extraConfig: { rope_theta: 500000, max_position_embeddings: 4096 } });
    for (const name of TAGALONG) await writeFile(path.join(base, name), JSON.stringify({ from: 'base', name }));
  });

  it('dus-studio merge takes config.json (layer count set) and every side file from a base_model that is not the first slice\'s source', async () => {
    await writeFile(
      path.join(work, 'donor.yml'),
      ['merge_method: passthrough', 'base_model: ./base-4', 'slices:', '  - sources:', '      - model: ./slices-6', '        layer_range: [0, 6]', '  - sources:', '      - model: ./slices-6', '        layer_range: [2, 6]', ''].join('\n'),
    );
    const out = path.join(work, 'donor-out');
    const result = await cli(['merge', 'donor.yml', '--out', out]);
    expect(result.code, result.stderr).toBe(0);

    // mergekit: res = base_model.config(); set_config_value(res, num_hidden_layers, sum of slice lengths).
    expect(await json(path.join(out, 'config.json'))).toEqual({ ...(await json(path.join(base, 'config.json'))), num_hidden_layers: 10 });
    const baseSideFiles = ['generation_config.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', ...TAGALONG];
    for (const name of baseSideFiles) {
      expect(await readFile(path.join(out, name), 'utf8'), name).toBe(await readFile(path.join(base, name), 'utf8'));
    }
    expect(await folderNames(out)).toEqual(['README.md', 'config.json', 'mergekit_config.yml', 'model.safetensors', ...baseSideFiles].sort());
    // The tensors are still the slices' own.
    const source = await openCheckpoint(slices);
    expect(await expectLayersCopied(await openCheckpoint(out), layerOrigins(source, [0, 6], [2, 6]), source)).toBeGreaterThan(0);
    expect(await readFile(path.join(out, 'mergekit_config.yml'), 'utf8')).toContain(`base_model: ${base}`);

    // The written plan names the base model, so verify (which reads it back) expects the same config.
    const verified = await cli(['verify', out]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);

    // --replace recognises the export, tagalong files and all, as a previous export.
    const again = await cli(['merge', 'donor.yml', '--out', out, '--replace']);
    expect(again.code, again.stderr).toBe(0);
  });

  it('the YAML pane\'s engine calls reach the same donor: resolvePlan opens base_model, exportPlan writes its config', async () => {
    const imported = await studio.planFromYaml({
      text: ['merge_method: passthrough', 'base_model: ./base-4', 'slices:', '  - sources:', '      - model: ./slices-6', '        layer_range: [1, 5]', ''].join('\n'),
      baseDir: work,
    });
    expect(imported.problems).toEqual([]);
    const plan = imported.plan;
    if (plan === null) throw new Error('no plan');
    const resolved = await studio.resolvePlan({ plan });
    expect(resolved.problems.filter((problem) => problem.severity !== 'info')).toEqual([]);
    const dir = path.join(work, 'pane-out');
    await studio.exportPlan({ exportId: 'pane-donor', plan, target: { dir } });
    expect((await json(path.join(dir, 'config.json'))).rope_theta).toBe(500000);
    expect(await pathExists(path.join(dir, 'normalizer.json'))).toBe(true);
  });
});

describe('base_model that does not fit is refused before anything is written (merge.py _model_out_config)', () => {
  it('a base_model path that does not exist: a problem in resolvePlan and a refused export, naming the path', async () => {
    const slices = await model('absent-slices', { layers: 4 });
    const plan = { slices: [{ model: slices, start: 0, end: 4 }], baseModel: path.join(work, 'no-such-model') };
    const resolved = await studio.resolvePlan({ plan });
    expect(resolved.ok).toBe(false);
    const absent = resolved.problems.find((problem) => problem.severity === 'error');
    expect(absent?.message).toContain(`base_model ${path.join(work, 'no-such-model')}`);
    // Named by its key, so the YAML tab marks the base_model line.
    expect(absent?.planKey).toBe('base_model');
    const dir = path.join(work, 'absent-out');
    await expect(studio.exportPlan({ exportId: 'absent-base', plan, target: { dir } })).rejects.toThrow(/no-such-model/);
    expect(await pathExists(dir)).toBe(false);
  });

  it('a base_model of another hidden size: dus-studio merge names the model and both sizes and writes nothing', async () => {
    await model('narrow-4', { layers: 4, hidden: 32 });
    const wide = await model('wide-4', { layers: 4, hidden: 64, heads: 4 });
    await writeFile(path.join(work, 'wide.yml'), ['merge_method: passthrough', 'base_model: ./wide-4', 'slices:', '  - sources:', '      - model: ./narrow-4', '        layer_range: [0, 4]', ''].join('\n'));
    const out = path.join(work, 'wide-out');
    const result = await cli(['merge', 'wide.yml', '--out', out]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`base_model ${wide}`);
    expect(result.stderr).toMatch(/hidden size 64 .*narrow-4.* 32/);
    expect(await pathExists(out)).toBe(false);
  });

  it('a base_model of another architecture is refused unless --allow-crimes (architecture/__init__.py get_architecture_info)', async () => {
    await model('llama-4', { layers: 4, architecture: 'LlamaForCausalLM', modelType: 'llama' });
    await model('mistral-4', { layers: 4 });
    await writeFile(path.join(work, 'crimes.yml'), ['merge_method: passthrough', 'base_model: ./mistral-4', 'slices:', '  - sources:', '      - model: ./llama-4', '        layer_range: [0, 4]', ''].join('\n'));
    const refused = await cli(['merge', 'crimes.yml', '--out', path.join(work, 'crimes-out')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/MistralForCausalLM .*LlamaForCausalLM.*--allow-crimes/);
    const allowed = await cli(['merge', 'crimes.yml', '--allow-crimes', '--out', path.join(work, 'crimes-out')]);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect((await json(path.join(work, 'crimes-out', 'config.json'))).architectures).toEqual(['MistralForCausalLM']);
  });

  it('the models: form with a base_model that is not the listed model (plan.py normalize_config adds it as a second source)', async () => {
    await model('listed-4', { layers: 4 });
    await model('other-4', { layers: 4, seed: 3 });
    const imported = await studio.planFromYaml({ text: 'merge_method: passthrough\nbase_model: ./other-4\nmodels:\n  - model: ./listed-4\n', baseDir: work });
    expect(imported.plan).toBeNull();
    expect(imported.problems.map((problem) => [problem.code, problem.line])).toEqual([['InvalidYaml', 4]]);
    expect(imported.problems[0]?.message).toContain('exactly one');
    const same = await studio.planFromYaml({ text: 'merge_method: passthrough\nbase_model: ./listed-4\nmodels:\n  - model: ./listed-4\n', baseDir: work });
    expect(same.problems).toEqual([]);
  });
});

describe('tokenizer_source (tokenizer/build.py build_tokenizer, tokenizer/embed.py PermutedEmbeddings)', () => {
  let slices: CheckpointSummary;
  let base: CheckpointSummary;

  beforeAll(async () => {
    slices = await openCheckpoint(await model('tok-slices', { layers: 4, seed: 5, sideFiles: true }));
    base = await openCheckpoint(await model('tok-base', { layers: 4, seed: 6, sideFiles: true }));
    await writeFile(path.join(base.folder, 'generation_config.json'), JSON.stringify({ from: 'base', eos_token_id: 2 }));
  });

  async function exportWith(tokenizerSource: string, name: string): Promise<string> {
    const dir = path.join(work, name);
    await exportPlan({ plan: { slices: [slice(slices, 0, 4)], baseModel: base.id, tokenizerSource }, target: { dir }, sources: sourceMap(slices, base) });
    return dir;
  }

  it('takes the tokenizer from tokenizer_source and the generation config from base_model', async () => {
    const tokenizer = await model('tok-same', { layers: 1, seed: 7, sideFiles: true });
    await writeFile(path.join(tokenizer, 'tokenizer_config.json'), JSON.stringify({ from: 'tokenizer_source', model_max_length: 8192 }));
    await writeFile(path.join(tokenizer, 'generation_config.json'), JSON.stringify({ from: 'tokenizer_source' }));
    const dir = await exportWith(tokenizer, 'tok-out');
    expect(await json(path.join(dir, 'tokenizer_config.json'))).toEqual({ from: 'tokenizer_source', model_max_length: 8192 });
    expect(await json(path.join(dir, 'generation_config.json'))).toEqual({ from: 'base', eos_token_id: 2 });
  });

  it('refuses a tokenizer whose token count differs from the embedding rows, with both numbers, and writes nothing', async () => {
    const bigger = await model('tok-130', { layers: 1, vocab: 130, sideFiles: true });
    const dir = path.join(work, 'tok-130-out');
    await expect(exportWith(bigger, 'tok-130-out')).rejects.toThrow(/130 tokens .*embed_tokens\.weight.* 128 rows/);
    expect(await pathExists(dir)).toBe(false);
  });

  it('refuses a tokenizer of as many tokens that gives a token another id, which mergekit would move to another row', async () => {
    const swapped = await model('tok-swapped', { layers: 1, sideFiles: true });
    const file = path.join(swapped, 'tokenizer.json');
    const tokenizer = await json(file);
    const vocab = (tokenizer.model as { vocab: Record<string, number> }).vocab;
    [vocab.t5, vocab.t6] = [6, 5];
    await writeFile(file, JSON.stringify(tokenizer));
    await expect(exportWith(swapped, 'tok-swapped-out')).rejects.toThrow(/token "t5" id 6 .*tok-slices gives it id 5/);
  });

  it('counts a SentencePiece tokenizer.model with the added tokens of tokenizer_config.json, as get_vocab() does', async () => {
    const stories = await openCheckpoint(STORIES_260K);
    const copy = path.join(work, 'stories-tokenizer');
    await mkdir(copy);
    await cp(path.join(STORIES_260K, 'tokenizer.model'), path.join(copy, 'tokenizer.model'));
    const plan = { slices: [slice(stories, 0, 5)], tokenizerSource: copy };
    // 512 pieces for 512 embedding rows: nothing for mergekit to rebuild.
    await exportPlan({ plan, target: { dir: path.join(work, 'stories-512') }, sources: sourceMap(stories) });
    expect(await pathExists(path.join(work, 'stories-512', 'tokenizer.model'))).toBe(true);
    await writeFile(path.join(copy, 'tokenizer_config.json'), JSON.stringify({ added_tokens_decoder: { '512': { content: '<|im_end|>', special: true } } }));
    await expect(exportPlan({ plan, target: { dir: path.join(work, 'stories-513') }, sources: sourceMap(stories) })).rejects.toThrow(/513 tokens .*512 rows/);
  });

  it('refuses a tokenizer_source folder without a tokenizer', async () => {
    const bare = await model('tok-bare', { layers: 1 });
    await expect(exportWith(bare, 'tok-bare-out')).rejects.toThrow(/holds no tokenizer/);
  });

  it('resolvePlan reports a tokenizer of another token count as a problem with both numbers, and the engine export stays refused', async () => {
    const bigger = await model('tok-130-plan', { layers: 1, vocab: 130, sideFiles: true });
    const plan = { slices: [slice(slices, 0, 4)], baseModel: base.id, tokenizerSource: bigger };
    const resolved = await studio.resolvePlan({ plan });
    expect(resolved.ok).toBe(false);
    expect(resolved.problems).toEqual([
      expect.objectContaining({ severity: 'error', code: 'InvalidPlan', model: bigger, message: expect.stringMatching(/^tokenizer_source .*tok-130-plan has 130 tokens .*embed_tokens\.weight.* 128 rows/) }),
    ]);
    const dir = path.join(work, 'tok-130-plan-out');
    await expect(studio.exportPlan({ exportId: 'tok-130-plan', plan, target: { dir } })).rejects.toThrow(/130 tokens .* 128 rows/);
    expect(await pathExists(dir)).toBe(false);
  });

  it('resolvePlan has no tokenizer problem for a tokenizer that fits, and reports a folder without one', async () => {
    const same = await model('tok-same-plan', { layers: 1, seed: 8, sideFiles: true });
    const fits = await studio.resolvePlan({ plan: { slices: [slice(slices, 0, 4)], baseModel: base.id, tokenizerSource: same } });
    expect(fits.problems).toEqual([]);
    const bare = await model('tok-bare-plan', { layers: 1 });
    const none = await studio.resolvePlan({ plan: { slices: [slice(slices, 0, 4)], baseModel: base.id, tokenizerSource: bare } });
    expect(none.problems.map((problem) => problem.message)).toEqual([expect.stringMatching(/tok-bare-plan holds no tokenizer/)]);
  });

  it('resolvePlan reads a tokenizer again only when its size or modification time changed', async () => {
    const tokenizer = await model('tok-cached', { layers: 1, vocab: 130, sideFiles: true });
    const file = path.join(tokenizer, 'tokenizer.json');
    const plan = { slices: [slice(slices, 0, 4)], baseModel: base.id, tokenizerSource: tokenizer };
    const message = async (): Promise<string | undefined> => (await studio.resolvePlan({ plan })).problems[0]?.message;
    // Whole seconds, so that putting the time back below gives the same mtime to the nanosecond.
    const seconds = Math.floor((await stat(file)).mtimeMs / 1000) - 60;
    await utimes(file, seconds, seconds);
    expect(await message()).toMatch(/has 130 tokens/);
    // Token t129 renamed t128 (a repeated key, so 129 tokens) in as many bytes, the time put back:
    // the cached vocabulary is kept, as the resolves of a drag need.
    const text = await readFile(file, 'utf8');
    const edited = text.replace('"t129"', '"t128"');
    expect(edited).not.toBe(text);
    await writeFile(file, edited);
    await utimes(file, seconds, seconds);
    expect(await message()).toMatch(/has 130 tokens/);
    // Another modification time: read again.
    await utimes(file, seconds + 5, seconds + 5);
    expect(await message()).toMatch(/has 129 tokens/);
    // A tokenizer of 128 tokens (another size): read again, and it fits.
    const tokenizer128 = await model('tok-cached-128', { layers: 1, sideFiles: true });
    await cp(path.join(tokenizer128, 'tokenizer.json'), file);
    expect(await message()).toBeUndefined();
  });

  it('dus-studio merge --dry-run lists the tokenizer problem and fails', async () => {
    const bigger = await model('tok-130-dry', { layers: 1, vocab: 130, sideFiles: true });
    await writeFile(
      path.join(work, 'tok-dry.yml'),
      ['merge_method: passthrough', `base_model: ${base.folder}`, `tokenizer_source: ${bigger}`, 'slices:', '  - sources:', `      - model: ${slices.folder}`, '        layer_range: [0, 4]', ''].join('\n'),
    );
    const result = await cli(['merge', 'tok-dry.yml', '--dry-run']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/tokenizer_source .*tok-130-dry has 130 tokens .* 128 rows/);
    expect(result.stderr).toMatch(/1 error/);
  });
});
