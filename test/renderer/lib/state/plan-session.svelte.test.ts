import { describe, expect, it } from 'vitest';
import { CheckpointsState } from '../../../../renderer/lib/state/checkpoints.svelte.js';
import { PlanSession } from '../../../../renderer/lib/state/plan-session.svelte.js';
import { IDENTITY_BLOCK_SCALE } from '../../../../electron/common/plan/scale-rules.js';
import type { PlanRecipe } from '../../../../electron/api/types.js';
import { buildPlanFromRecipe } from '../../../../electron/common/plan/plan-recipes.js';
import { planYaml } from '../../../bench/goliath-plan.js';
import { createFakeStudio, goliathPlan, LLAMA_E_PATH, LLAMA_X_PATH, STORIES_PATH } from '../../fake-studio.js';

async function sessionWith(paths: string[] = [STORIES_PATH], planFiles: Record<string, string> = {}) {
  const host = createFakeStudio({ planFiles });
  const checkpoints = new CheckpointsState(host);
  for (const path of paths) await checkpoints.open(path);
  const plan = new PlanSession(host, { checkpointOf: (id) => checkpoints.byId(id), debounceMs: 0 });
  return { host, checkpoints, plan };
}

function ranges(plan: PlanSession): string {
  return plan.plan.slices.map((slice) => `[${slice.start},${slice.end})${slice.scale ? '*' : ''}`).join(' ');
}

describe('PlanSession', () => {
  it('builds SOLAR DUS slices from a drop: copy A keeps [0, n−m), copy B keeps [m, n)', async () => {
    const { plan } = await sessionWith();
    await plan.applyRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 });
    expect(ranges(plan)).toBe('[0,4) [1,5)');
    expect(plan.layers.map((layer) => layer.sourceLayer)).toEqual([0, 1, 2, 3, 1, 2, 3, 4]);
    expect(plan.drop).toBe(1);
    expect(plan.recipe).toBe('dus');
    plan.setDrop(2);
    expect(ranges(plan)).toBe('[0,3) [2,5)');
    expect(plan.seams).toHaveLength(1);
    expect(plan.seams[0]).toMatchObject({ afterOutputLayer: 2, from: { layer: 2 }, to: { layer: 2 } });
  });

  it('refuses a drop that leaves no layers with the engine recipe message, keeping the plan', async () => {
    const { plan } = await sessionWith();
    await plan.applyRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 });
    plan.setDrop(5);
    expect(ranges(plan)).toBe('[0,4) [1,5)');
    expect(plan.lastError).toMatch(/drop 5 leaves no layers of its 5/);
  });

  it('undoes and redoes each edit in order', async () => {
    const { plan } = await sessionWith();
    await plan.applyRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 });
    plan.setDrop(2);
    plan.moveSplice('A', 4);
    expect(ranges(plan)).toBe('[0,4) [2,5)');
    expect(plan.recipe).toBe('splice');

    plan.undo();
    expect(ranges(plan)).toBe('[0,3) [2,5)');
    expect(plan.recipe).toBe('dus');
    plan.undo();
    expect(ranges(plan)).toBe('[0,4) [1,5)');
    plan.undo();
    expect(plan.plan.slices).toHaveLength(0);
    expect(plan.canUndo).toBe(false);

    plan.redo();
    plan.redo();
    expect(ranges(plan)).toBe('[0,3) [2,5)');
    plan.redo();
    expect(ranges(plan)).toBe('[0,4) [2,5)');
    expect(plan.canRedo).toBe(false);
  });

  it('forgets the redo history when a new edit follows an undo', async () => {
    const { plan } = await sessionWith();
    await plan.applyRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 });
    plan.setDrop(2);
    plan.undo();
    expect(plan.canRedo).toBe(true);
    plan.removeSlice(1);
    expect(plan.canRedo).toBe(false);
    expect(ranges(plan)).toBe('[0,4)');
  });

  it('records a whole drag as one undo step, and nothing for a drag that moved nothing', async () => {
    const { plan } = await sessionWith();
    await plan.applyRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 });
    plan.startGesture();
    plan.moveSplice('B', 2);
    plan.moveSplice('B', 3);
    plan.moveSplice('B', 2);
    plan.endGesture();
    expect(ranges(plan)).toBe('[0,4) [2,5)');
    plan.undo();
    expect(ranges(plan)).toBe('[0,4) [1,5)');

    plan.redo();
    plan.startGesture();
    plan.endGesture();
    plan.undo();
    expect(ranges(plan)).toBe('[0,4) [1,5)');
  });

  it('keeps splice points inside the source and each copy non-empty', async () => {
    const { plan } = await sessionWith();
    await plan.applyRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 });
    plan.moveSplice('A', 99);
    expect(plan.splice?.a.layer).toBe(5);
    plan.moveSplice('A', -3);
    expect(plan.splice?.a.layer).toBe(1);
    plan.moveSplice('B', 42);
    expect(plan.splice?.b.layer).toBe(4);
    plan.moveSplice('B', -1);
    expect(plan.splice?.b.layer).toBe(0);
    expect(plan.layers.length).toBe(1 + 5);
  });

  it('sends at most one resolve at a time and resolves the latest plan last', async () => {
    const { host, plan } = await sessionWith();
    const release = host.holdResolves();
    await plan.applyRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(host.callsOf('resolvePlan')).toHaveLength(1);
    for (const drop of [2, 3, 2, 4]) {
      plan.setDrop(drop);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(host.callsOf('resolvePlan')).toHaveLength(1);
    expect(plan.isCurrent).toBe(false);
    release();
    await plan.whenSettled();
    const sent = host.callsOf('resolvePlan');
    expect(sent).toHaveLength(2);
    expect((sent[1]!.payload as { plan: unknown }).plan).toEqual(plan.plan);
    expect(plan.isCurrent).toBe(true);
    expect(plan.resolved?.numLayers).toBe(2);
    expect(plan.canExport).toBe(true);
  });

  it('inserts a LLaMA-Pro identity copy after every k-th layer and removes them again', async () => {
    const { plan } = await sessionWith();
    await plan.applyRecipe({ kind: 'stack', model: STORIES_PATH, times: 1 });
    plan.toggleLlamaPro(2);
    expect(ranges(plan)).toBe('[0,2) [1,2)* [2,4) [3,4)* [4,5)');
    expect(plan.plan.slices[1]!.scale).toEqual(IDENTITY_BLOCK_SCALE);
    expect(plan.llamaProEvery).toBe(2);
    expect(plan.layers.filter((layer) => layer.scale.length > 0).map((layer) => layer.sourceLayer)).toEqual([1, 3]);
    plan.toggleLlamaPro(null);
    expect(ranges(plan)).toBe('[0,5)');
    expect(plan.llamaProEvery).toBeNull();
  });

  it('moves splice points of a DUS plan under LLaMA-Pro and re-spaces the identity copies', async () => {
    const { plan } = await sessionWith();
    await plan.applyRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 });
    plan.toggleLlamaPro(4);
    expect(ranges(plan)).toBe('[0,4) [3,4)* [1,5) [4,5)*');
    expect(plan.splice?.b.layer).toBe(1);
    plan.moveSplice('B', 2);
    expect(ranges(plan)).toBe('[0,4) [3,4)* [2,5)');
    expect(plan.llamaProEvery).toBe(4);
    plan.setDrop(1);
    expect(ranges(plan)).toBe('[0,4) [3,4)* [1,5) [4,5)*');
  });

  it("fits a slice's range to the model it is moved to", async () => {
    const { plan } = await sessionWith([LLAMA_X_PATH, STORIES_PATH]);
    plan.replace({ slices: [{ model: LLAMA_X_PATH, start: 0, end: 32 }, { model: LLAMA_X_PATH, start: 40, end: 44 }, { model: LLAMA_X_PATH, start: 2, end: 4 }] });
    plan.setSliceModel(0, STORIES_PATH);
    plan.setSliceModel(1, STORIES_PATH);
    plan.setSliceModel(2, STORIES_PATH);
    // stories260K has 5 layers: 0–32 becomes the whole model, 40–44 keeps its 4 layers at the end, 2–4 fits as it is.
    expect(ranges(plan)).toBe('[0,5) [1,5) [2,4)');
    expect(plan.layers).toHaveLength(11);
  });

  it('edits slices: add, duplicate, move, range, scale, remove', async () => {
    const { plan } = await sessionWith();
    await plan.applyRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 });
    plan.duplicateSlice(0);
    expect(ranges(plan)).toBe('[0,4) [0,4) [1,5)');
    plan.moveSlice(2, 0);
    expect(ranges(plan)).toBe('[1,5) [0,4) [0,4)');
    plan.setSliceRange(1, 2, 3);
    plan.setSliceScale(1, [{ filter: 'o_proj', value: 0.5 }]);
    expect(ranges(plan)).toBe('[1,5) [2,3)* [0,4)');
    plan.setSliceScale(1, []);
    expect(plan.plan.slices[1]!.scale).toBeUndefined();
    plan.addSlice();
    expect(ranges(plan)).toBe('[1,5) [2,3) [0,4) [0,5)');
    plan.removeSlice(0);
    expect(ranges(plan)).toBe('[2,3) [0,4) [0,5)');
    expect(plan.recipe).toBe('custom');
  });

  it('reads YAML through the engine and keeps the problems with their line numbers', async () => {
    const { host, plan } = await sessionWith();
    const taken = await plan.setYaml(`slices:\n  - sources:\n      - model: ${STORIES_PATH}\n        layer_range: [0, 3]\n  - sources:\n      - model: ${STORIES_PATH}\n        layer_range: [1, 5]\nmerge_method: passthrough\n`);
    expect(taken).toBe(true);
    expect(ranges(plan)).toBe('[0,3) [1,5)');
    expect(host.callsOf('planFromYaml')).toHaveLength(1);
    // Two copies of one model with free splice points: the recipe is recognised from the plan's shape.
    expect(plan.recipe).toBe('splice');

    const refused = await plan.setYaml(`slices:\n  - sources:\n      - model: ${STORIES_PATH}\n        layer_range: [0, x]\n`);
    expect(refused).toBe(false);
    expect(ranges(plan)).toBe('[0,3) [1,5)');
    expect(plan.yamlProblems[0]).toMatchObject({ severity: 'error', line: 4 });
    expect(plan.hasErrors).toBe(true);
  });

  it('names the recipe of YAML that a recipe builds, and leaves a near miss custom', async () => {
    const { plan } = await sessionWith();
    const yaml = (second: string) => `slices:\n  - sources:\n      - model: ${STORIES_PATH}\n        layer_range: [0, 4]\n  - sources:\n      - model: ${STORIES_PATH}\n        layer_range: ${second}\nmerge_method: passthrough\n`;
    expect(await plan.setYaml(yaml('[1, 5]'))).toBe(true);
    expect(plan.recipe).toBe('dus');
    expect(plan.drop).toBe(1);
    expect(await plan.setYaml(yaml('[1, 4]'))).toBe(true);
    expect(plan.recipe).toBe('custom');
    plan.undo();
    expect(plan.recipe).toBe('dus');
  });

  it("carries the recognised recipe's own parameters, from YAML, undo and a recipe chosen by hand", async () => {
    const { plan, checkpoints } = await sessionWith([LLAMA_X_PATH, LLAMA_E_PATH]);
    const lookup = { get: (id: string) => checkpoints.byId(id), has: (id: string) => checkpoints.byId(id) !== undefined };
    const interleave: PlanRecipe = { kind: 'interleave', models: [LLAMA_E_PATH, LLAMA_X_PATH], window: 10, overlap: 3 };
    expect(await plan.setYaml(planYaml(buildPlanFromRecipe(interleave, lookup)))).toBe(true);
    expect(plan.recipe).toBe('interleave');
    expect(plan.recipeParameters).toEqual(interleave);

    const dus = `slices:\n  - sources:\n      - model: ${LLAMA_X_PATH}\n        layer_range: [0, 67]\n  - sources:\n      - model: ${LLAMA_X_PATH}\n        layer_range: [13, 80]\nmerge_method: passthrough\n`;
    expect(await plan.setYaml(dus)).toBe(true);
    expect(plan.recipeParameters).toEqual({ kind: 'dus', model: LLAMA_X_PATH, drop: 13 });
    // LLaMA-Pro copies on top leave the DUS numbers readable.
    plan.toggleLlamaPro(8);
    expect(plan.recipeParameters).toEqual({ kind: 'dus', model: LLAMA_X_PATH, drop: 13 });
    plan.undo();
    plan.undo();
    expect(plan.recipeParameters).toEqual(interleave);

    // The same symmetric slices chosen as "Splice points" keep their a and b.
    await plan.applyRecipe({ kind: 'splice', model: LLAMA_X_PATH, a: 67, b: 13 });
    expect(plan.recipeParameters).toEqual({ kind: 'splice', model: LLAMA_X_PATH, a: 67, b: 13 });
    plan.setSliceRange(0, 0, 60);
    expect(plan.recipe).toBe('custom');
    expect(plan.recipeParameters).toBeNull();
  });

  it('loads a YAML plan file picked in Open… and reports a missing one as a YAML problem', async () => {
    const yaml = `slices:\n  - sources:\n      - model: ${STORIES_PATH}\n        layer_range: [0, 4]\n  - sources:\n      - model: ${STORIES_PATH}\n        layer_range: [2, 5]\nmerge_method: passthrough\n`;
    const { host, plan } = await sessionWith([STORIES_PATH], { '/plans/solar.yml': yaml });
    expect(await plan.loadYamlFile('/plans/solar.yml')).toBe(true);
    expect(ranges(plan)).toBe('[0,4) [2,5)');
    expect(host.callsOf('loadPlanFile')).toEqual([{ method: 'loadPlanFile', payload: { path: '/plans/solar.yml' } }]);

    expect(await plan.loadYamlFile('/plans/missing.yml')).toBe(false);
    expect(ranges(plan)).toBe('[0,4) [2,5)');
    expect(plan.yamlProblems[0]).toMatchObject({ severity: 'error', code: 'NotFound' });
  });

  it('does not allow export while the engine reports an error for the current plan', async () => {
    const { plan } = await sessionWith();
    await plan.applyRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 });
    plan.setSliceRange(1, 1, 9);
    await plan.whenSettled();
    expect(plan.problems.map((problem) => problem.code)).toContain('RangeOutsideModel');
    expect(plan.canExport).toBe(false);
    plan.undo();
    await plan.whenSettled();
    expect(plan.canExport).toBe(true);
  });

  it('builds an interleave plan with the shared recipe rules and puts the handles on the chosen seam', async () => {
    const { host, plan } = await sessionWith([LLAMA_X_PATH, LLAMA_E_PATH]);
    plan.replace(goliathPlan());
    expect(plan.layers).toHaveLength(137);
    expect(plan.boundaries).toHaveLength(8);
    expect(plan.splice?.a).toMatchObject({ model: LLAMA_X_PATH, layer: 16 });
    expect(plan.splice?.b).toMatchObject({ model: LLAMA_E_PATH, layer: 8 });
    plan.selectBoundary(1);
    expect(plan.splice?.a).toMatchObject({ model: LLAMA_E_PATH, layer: 24 });
    expect(plan.splice?.b).toMatchObject({ model: LLAMA_X_PATH, layer: 17 });

    // Every recipe, interleave included, is built here by the engine's own rules: no round trip.
    await plan.applyRecipe({ kind: 'interleave', models: [LLAMA_X_PATH, LLAMA_E_PATH], window: 16, overlap: 8 });
    expect(host.callsOf('buildPlan')).toHaveLength(0);
    expect(plan.recipe).toBe('interleave');
    expect(plan.plan.slices[1]).toMatchObject({ model: LLAMA_E_PATH, start: 8, end: 24 });
  });
});
