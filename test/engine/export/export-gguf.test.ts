import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { exportPlan } from '../../../electron/engine/export/export-plan.js';
import { buildPlanFromRecipe } from '../../../electron/common/plan/plan-recipes.js';
import { slice, sourceMap, TempFolders } from './export-fixtures.js';

const GGUF_DIR = path.resolve(import.meta.dirname, '../../../../shared/models/gguf');
const STORIES = path.resolve(import.meta.dirname, '../../../build/demo/stories260K');

const folders = new TempFolders();
afterAll(() => folders.removeAll());

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

  it('refuses a GGUF export by name instead of writing a file without its metadata', async () => {
    const gguf = await openCheckpoint(path.join(GGUF_DIR, 'stories260K-f32.gguf'));
    const plan = buildPlanFromRecipe({ kind: 'dus', model: gguf.id, drop: 1 }, sourceMap(gguf));
    const target = path.join(await folders.make(), 'out');
    await expect(exportPlan({ plan, target: { dir: target }, sources: sourceMap(gguf) })).rejects.toMatchObject({ code: 'InvalidPlan', message: expect.stringMatching(/gguf sources is not supported yet/) });
  });
});
