import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckpointSummary, LayerPlan } from '../../../electron/api/types.js';
import { exportPlan } from '../../../electron/engine/export/export-plan.js';
import { parseMergekitYaml } from '../../../electron/engine/plan/mergekit-yaml.js';
import { TempFolders, folderNames, openFixture, slice, sourceMap } from './export-fixtures.js';

const folders = new TempFolders();
afterAll(() => folders.removeAll());

/** Exports into a fresh folder named `export` (the model card's title is the folder's name). */
async function exportOnce(plan: LayerPlan, sources: CheckpointSummary[]): Promise<string> {
  const dir = path.join(await folders.make(), 'export');
  const report = await exportPlan({ plan, target: { dir }, sources: sourceMap(...sources) });
  expect(report.verify?.ok).toBe(true);
  return dir;
}

/** Exports `plan`, re-reads the export's mergekit_config.yml, exports that, and compares every file byte for byte. */
async function expectSameExportAfterRoundTrip(plan: LayerPlan, sources: CheckpointSummary[]): Promise<string[]> {
  const original = await exportOnce(plan, sources);
  const yaml = await readFile(path.join(original, 'mergekit_config.yml'), 'utf8');
  const reread = parseMergekitYaml(yaml, { baseDir: original });
  expect(reread.problems).toEqual([]);
  expect(reread.plan).toEqual(plan);
  const again = await exportOnce(reread.plan as LayerPlan, sources);

  const names = await folderNames(original);
  expect(await folderNames(again)).toEqual(names);
  for (const name of names) {
    const [left, right] = await Promise.all([readFile(path.join(original, name)), readFile(path.join(again, name))]);
    expect(Buffer.compare(left, right), name).toBe(0);
  }
  return names;
}

describe('mergekit_config.yml round trip', () => {
  it('re-running an export\'s mergekit_config.yml gives the same export, byte for byte', async () => {
    const first = await openFixture(folders, { layers: 4, seed: 1, dtype: 'F32', sideFiles: true });
    const second = await openFixture(folders, { layers: 4, seed: 2, dtype: 'F32' });
    // Every scale form the YAML can carry: a gradient inside a filter rule, a plain factor, a cast.
    const plan: LayerPlan = {
      slices: [
        slice(first, 0, 3, { scale: [{ filter: 'o_proj', value: [1, 0.5] }, { value: 1 }] }),
        slice(second, 1, 4, { scale: [{ value: 0.5 }] }),
      ],
      dtype: 'bfloat16',
    };
    const names = await expectSameExportAfterRoundTrip(plan, [first, second]);
    expect(names).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'mergekit_config.yml', 'README.md']));
  });

  it.each([
    ['a built-in name', 'exaone'],
    ['auto', 'auto'],
    ['a Jinja template with indentation, blank lines and a trailing newline', "{%- for m in messages -%}\n\n  {{ m['role'] }}: {{ m['content'] }}\t\n{%- endfor -%}\n"],
  ])('keeps chat_template (%s) through the round trip (merge.py _set_chat_template)', async (_title, chatTemplate) => {
    const first = await openFixture(folders, { layers: 4, seed: 3, dtype: 'F32', sideFiles: true });
    const names = await expectSameExportAfterRoundTrip({ slices: [slice(first, 0, 4), slice(first, 2, 4)], chatTemplate }, [first]);
    expect(names).toEqual(expect.arrayContaining(['chat_template.jinja', 'tokenizer_config.json']));
  });

  it('keeps base_model and tokenizer_source: the re-run takes config.json and side files from the same donors (merge.py _model_out_config)', async () => {
    const first = await openFixture(folders, { layers: 4, seed: 3, sideFiles: true });
    const base = await openFixture(folders, { layers: 6, seed: 4, sideFiles: true, extraConfig: { rope_theta: 500000 } });
    const plan: LayerPlan = { slices: [slice(first, 0, 4), slice(first, 1, 4)], baseModel: base.id, tokenizerSource: first.id };
    await expectSameExportAfterRoundTrip(plan, [first, base]);
  });
});

