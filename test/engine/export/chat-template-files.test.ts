import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckpointSummary, LayerPlan } from '../../../electron/api/types.js';
import { NAMED_CHAT_TEMPLATES } from '../../../electron/common/plan/chat-templates.js';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { folderChatTemplate, withoutTopLevelKey } from '../../../electron/engine/export/chat-template-files.js';
import { exportPlan } from '../../../electron/engine/export/export-plan.js';
import { GGUF_CHAT_TEMPLATE_KEY } from '../../../electron/engine/export/gguf-export-metadata.js';
import { ggufScalar, readGgufHeader } from '../../../electron/engine/formats/gguf.js';
import { buildPlanFromRecipe } from '../../../electron/common/plan/plan-recipes.js';
import { TempFolders, folderNames, ggufWithMetadata, openFixture, slice, sourceMap } from './export-fixtures.js';

const GGUF_DIR = path.resolve(import.meta.dirname, '../../../../shared/models/gguf');

const folders = new TempFolders();
afterAll(() => folders.removeAll());

async function exportTo(plan: LayerPlan, sources: CheckpointSummary[], name = 'export'): Promise<{ dir: string; warnings: string[]; files: string[] }> {
  const dir = path.join(await folders.make(), name);
  const report = await exportPlan({ plan, target: { dir }, sources: sourceMap(...sources) });
  expect(report.verify?.ok).toBe(true);
  return { dir, warnings: report.warnings, files: report.files };
}

/** A fixture with a tokenizer, whose folder then gets `files` (name → text) and is opened again. */
async function fixtureWith(seed: number, files: Record<string, string>, sideFiles = true): Promise<CheckpointSummary> {
  const opened = await openFixture(folders, { layers: 4, seed, sideFiles });
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(opened.folder, name), text);
  return openCheckpoint(opened.folder);
}

async function tokenizerConfigWith(summary: CheckpointSummary, template: string | undefined): Promise<void> {
  const file = path.join(summary.folder, 'tokenizer_config.json');
  const config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  if (template === undefined) delete config.chat_template;
  else config.chat_template = template;
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
}

const read = (dir: string, name: string): Promise<string> => readFile(path.join(dir, name), 'utf8');

describe('withoutTopLevelKey (transformers save_chat_templates pops chat_template from tokenizer_config.json)', () => {
  const file = '/models/m/tokenizer_config.json';

  it('cuts the member wherever it stands and keeps every other byte', () => {
    expect(withoutTopLevelKey('{\n  "a": 1,\n  "chat_template": "x",\n  "b": [1, {"c": "}"}]\n}\n', 'chat_template', file)).toBe('{\n  "a": 1,\n  "b": [1, {"c": "}"}]\n}\n');
    expect(withoutTopLevelKey('{\n  "chat_template": "x",\n  "b": 2\n}', 'chat_template', file)).toBe('{\n  "b": 2\n}');
    expect(withoutTopLevelKey('{\n  "a": 1e30,\n  "chat_template": [{"name": "default", "template": "{{ x }}"}]\n}', 'chat_template', file)).toBe('{\n  "a": 1e30\n}');
    expect(withoutTopLevelKey('{"chat_template":"x"}', 'chat_template', file)).toBe('{}');
  });

  it('removes every occurrence of a repeated key, and leaves nested keys of that name alone', () => {
    expect(withoutTopLevelKey('{"a": 1, "chat_template": "x", "chat_template": "y"}', 'chat_template', file)).toBe('{"a": 1}');
    expect(withoutTopLevelKey('{"chat_template": "x", "b": 2, "chat_template": "y"}', 'chat_template', file)).toBe('{"b": 2}');
    const nested = '{"a": {"chat_template": "\\"{x}"}, "b": true}';
    expect(withoutTopLevelKey(nested, 'chat_template', file)).toBe(nested);
  });

  it('refuses a file that is not a JSON object, naming it', () => {
    expect(() => withoutTopLevelKey('{"a": ', 'chat_template', file)).toThrow(/tokenizer_config\.json is not valid JSON/);
    expect(() => withoutTopLevelKey('[1]', 'chat_template', file)).toThrow(/not a JSON object/);
  });
});

describe('folderChatTemplate (a model\'s tokenizer.chat_template as transformers loads it)', () => {
  it('prefers chat_template.jinja (newlines read as Python text mode reads them), else tokenizer_config.json, else the list entry named default', async () => {
    const withJinja = await fixtureWith(40, { 'chat_template.jinja': '{{ a }}\r\n{{ b }}\r' });
    expect(await folderChatTemplate(withJinja.folder)).toBe('{{ a }}\n{{ b }}\n');
    const plain = await openFixture(folders, { layers: 4, seed: 41, sideFiles: true });
    expect(await folderChatTemplate(plain.folder)).toMatch(/^\{\{ bos_token \}\}/);
    await writeFile(path.join(plain.folder, 'tokenizer_config.json'), JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] }));
    expect(await folderChatTemplate(plain.folder)).toBe('D');
    const bare = await openFixture(folders, { layers: 4, seed: 42 });
    expect(await folderChatTemplate(bare.folder)).toBeNull();
  });
});

describe('exporting a plan with chat_template (merge.py _set_chat_template, then tokenizer.save_pretrained)', () => {
  it('writes a built-in template to chat_template.jinja, takes chat_template out of tokenizer_config.json and drops the processor chat_template.json', async () => {
    const source = await fixtureWith(43, { 'chat_template.json': '{"chat_template": "{{ old }}"}' });
    const { dir, files } = await exportTo({ slices: [slice(source, 0, 4)], chatTemplate: 'chatml' }, [source]);
    expect(await read(dir, 'chat_template.jinja')).toBe(NAMED_CHAT_TEMPLATES.chatml);
    const config = await read(source.folder, 'tokenizer_config.json');
    // The fixture writes chat_template last: its member goes with the comma before it.
    expect(await read(dir, 'tokenizer_config.json')).toBe(config.replace(/,\n {2}"chat_template": ".*"\n/, '\n'));
    expect(await folderNames(dir)).not.toContain('chat_template.json');
    expect(files).toContain('chat_template.jinja');
    for (const name of ['tokenizer.json', 'special_tokens_map.json', 'generation_config.json']) expect(await read(dir, name), name).toBe(await read(source.folder, name));
    expect(await read(dir, 'mergekit_config.yml')).toContain('chat_template: chatml\n');
    expect(await read(dir, 'README.md')).toContain('Chat template: chatml (built in).');
  });

  it('writes a literal template as it is, and replaces a chat_template.jinja the donor has', async () => {
    const literal = "{%- for m in messages -%}\n  {{ m['content'] }}\n{%- endfor -%}\n";
    const source = await fixtureWith(44, { 'chat_template.jinja': '{{ old }}' });
    const { dir } = await exportTo({ slices: [slice(source, 0, 4)], chatTemplate: literal }, [source]);
    expect(await read(dir, 'chat_template.jinja')).toBe(literal);
  });

  it('auto: the most common stripped template among base_model and the slices\' sources, each model counted once', async () => {
    const shared = '{{ shared_template_for_two_models }}';
    const first = await openFixture(folders, { layers: 4, seed: 45, sideFiles: true }); // the fixture's own template
    const second = await fixtureWith(46, { 'chat_template.jinja': `${shared}\r\n` }); // overrides its tokenizer_config.json
    const third = await openFixture(folders, { layers: 4, seed: 47, sideFiles: true });
    await tokenizerConfigWith(third, `  ${shared}`);
    // The first source is used twice and still votes once: 2 to 1 for the shared template.
    const plan: LayerPlan = { slices: [slice(first, 0, 2), slice(first, 1, 3), slice(second, 2, 4), slice(third, 3, 4)], chatTemplate: 'auto' };
    const { dir } = await exportTo(plan, [first, second, third]);
    expect(await read(dir, 'chat_template.jinja')).toBe(shared);
    expect(await read(dir, 'tokenizer_config.json')).not.toContain('chat_template');
  });

  it('auto with no template among the models leaves the donor\'s tokenizer files as they are', async () => {
    const source = await openFixture(folders, { layers: 4, seed: 48, sideFiles: true });
    await tokenizerConfigWith(source, undefined);
    const reopened = await openCheckpoint(source.folder);
    const { dir } = await exportTo({ slices: [slice(reopened, 0, 4)], chatTemplate: 'auto' }, [reopened]);
    expect(await folderNames(dir)).not.toContain('chat_template.jinja');
    expect(await read(dir, 'tokenizer_config.json')).toBe(await read(source.folder, 'tokenizer_config.json'));
  });

  it('writes no template, with a warning, when the donor has no tokenizer (mergekit saves a template only with one)', async () => {
    const source = await openFixture(folders, { layers: 4, seed: 49 });
    const { dir, warnings } = await exportTo({ slices: [slice(source, 0, 4)], chatTemplate: 'llama3' }, [source]);
    expect(await folderNames(dir)).not.toContain('chat_template.jinja');
    expect(warnings).toContainEqual(expect.stringContaining('no chat template was written'));
    expect(await read(dir, 'README.md')).toContain('no chat template was written');
  });

  it('refuses an invalid chat_template sent through the API before writing anything', async () => {
    const source = await openFixture(folders, { layers: 4, seed: 50, sideFiles: true });
    const dir = path.join(await folders.make(), 'export');
    await expect(exportPlan({ plan: { slices: [slice(source, 0, 4)], chatTemplate: 'chatml3' }, target: { dir }, sources: sourceMap(source) })).rejects.toMatchObject({
      code: 'InvalidPlan',
      message: expect.stringContaining("chat_template 'chatml3' is not 'auto', a built-in template (alpaca, chatml, exaone, llama3, mistral)"),
    });
  });
});

describe('exporting GGUF with chat_template: tokenizer.chat_template in the metadata', () => {
  it('sets a built-in template, and auto takes the sources\' own, and verify accepts both', async () => {
    const plain = await openCheckpoint(path.join(GGUF_DIR, 'stories260K-f32.gguf'));
    const named = buildPlanFromRecipe({ kind: 'dus', model: plain.id, drop: 1 }, sourceMap(plain));
    const out = path.join(await folders.make(), 'stories-mistral.gguf');
    const report = await exportPlan({ plan: { ...named, chatTemplate: 'mistral' }, target: { dir: out }, sources: sourceMap(plain) });
    expect(report.verify?.ok).toBe(true);
    expect(ggufScalar((await readGgufHeader(out)).metadata, GGUF_CHAT_TEMPLATE_KEY)).toBe(NAMED_CHAT_TEMPLATES.mistral);

    const own = '\n{{ own_template_of_this_gguf }}\n';
    const withTemplate = await openCheckpoint(await ggufWithMetadata(folders, plain.shards[0]?.file as string, [[GGUF_CHAT_TEMPLATE_KEY, { type: 'STRING', value: own }]]));
    const auto = { ...buildPlanFromRecipe({ kind: 'dus', model: withTemplate.id, drop: 1 }, sourceMap(withTemplate)), chatTemplate: 'auto' };
    const autoOut = path.join(await folders.make(), 'stories-auto.gguf');
    const autoReport = await exportPlan({ plan: auto, target: { dir: autoOut }, sources: sourceMap(withTemplate) });
    expect(autoReport.verify?.ok).toBe(true);
    expect(ggufScalar((await readGgufHeader(autoOut)).metadata, GGUF_CHAT_TEMPLATE_KEY)).toBe(own.trim());
  });
});
