import { cp, mkdir, mkdtemp, readdir, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isStudioError, type StudioError } from '../../electron/api/errors.js';
import { PATH_FIELDS, type PathFieldKind } from '../../electron/api/schemas.js';
import { STUDIO_METHODS, type StudioHost, type StudioMethod } from '../../electron/api/studio-api.js';
import { createStudioEngine } from '../../electron/engine/studio-engine.js';
import type { DirectoryListing, LayerPlan } from '../../electron/api/types.js';
import { realPathOrAncestor, restrictToRoots } from '../../electron/serve/root-guard.js';
import { createFakeHost, type FakeHost } from './fake-host.js';
import { validPayloads } from './sample-payloads.js';

const DEMO = path.resolve(import.meta.dirname, '../../build/demo/stories260K');

let tempDir: string;
let root: string;
let outside: string;

async function outsideRootsError(promise: Promise<unknown>): Promise<{ code: string; path: string | undefined; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isStudioError(error)) return { code: error.code, path: error.path, message: error.message };
    throw error;
  }
  throw new Error('expected the call to be refused');
}

/** A browse answer from the real folder, as the engine would give (kinds simplified). */
async function listFolder(dir: string): Promise<DirectoryListing> {
  const names = (await readdir(dir)).sort();
  return {
    dir,
    kind: 'directory',
    parent: path.dirname(dir) === dir ? null : path.dirname(dir),
    entries: names.map((name) => ({ name, path: path.join(dir, name), kind: name === 'model' ? ('checkpoint' as const) : ('directory' as const) })),
  };
}

beforeAll(async () => {
  // Real path, so expectations hold where the temp folder is itself behind a symlink (macOS /tmp).
  tempDir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'dus-')));
  root = path.join(tempDir, 'root');
  outside = path.join(tempDir, 'outside');
  await mkdir(path.join(root, 'model'), { recursive: true });
  await mkdir(path.join(root, 'exports'), { recursive: true });
  await writeFile(path.join(root, 'model', 'config.json'), '{}');
  await mkdir(path.join(outside, 'model'), { recursive: true });
  await writeFile(path.join(outside, 'model', 'config.json'), '{}');
  await mkdir(path.join(tempDir, 'root-sibling'), { recursive: true });
  await symlink(outside, path.join(root, 'link-out'));
  await symlink(path.join(root, 'model'), path.join(root, 'link-in'));
  await symlink(root, path.join(tempDir, 'root-link'));
});

afterAll(async () => {
  await rm(tempDir, { recursive: true, force: true });
});

let host: FakeHost;
let guarded: StudioHost;
beforeEach(() => {
  host = createFakeHost();
  host.answer('browse', (payload) => listFolder(payload.dir));
  guarded = restrictToRoots(host, [root]);
});

describe('restrictToRoots', () => {
  it('passes a path inside a root through to the host', async () => {
    await guarded.openCheckpoint({ path: path.join(root, 'model') });
    await guarded.openCheckpoint({ path: path.join(root, 'link-in') });
    expect(host.callsOf('openCheckpoint')).toEqual([{ path: path.join(root, 'model') }, { path: path.join(root, 'link-in') }]);
  });

  it('refuses an absolute path outside the roots, naming it', async () => {
    const refused = await outsideRootsError(guarded.openCheckpoint({ path: path.join(outside, 'model') }));
    expect(refused.code).toBe('OutsideRoots');
    expect(refused.path).toBe(path.join(outside, 'model'));
    expect(host.calls).toHaveLength(0);
  });

  it('refuses `..` paths that climb out of a root', async () => {
    for (const attempt of [
      `${root}/../outside/model`,
      `${root}/model/../../outside`,
      `${root}/missing/../../outside/model`,
      `${root}/..`,
    ]) {
      expect((await outsideRootsError(guarded.openCheckpoint({ path: attempt }))).code, attempt).toBe('OutsideRoots');
    }
    expect(host.calls).toHaveLength(0);
  });

  it('refuses a symlink inside a root that points out of it', async () => {
    for (const attempt of [path.join(root, 'link-out'), path.join(root, 'link-out', 'model'), path.join(root, 'link-out', 'new-export')]) {
      expect((await outsideRootsError(guarded.openCheckpoint({ path: attempt }))).code, attempt).toBe('OutsideRoots');
    }
    expect(host.calls).toHaveLength(0);
  });

  it('never lets the kernel resolve `link/..` differently from the path it checked', async () => {
    // The kernel reads root/link-out/../outside/model as tempDir/outside/model; the guard hands the
    // engine the lexically normalised root/outside/model instead, which stays inside the root.
    await guarded.openCheckpoint({ path: `${root}/link-out/../outside/model` });
    expect(host.callsOf('openCheckpoint')).toEqual([{ path: path.join(root, 'outside', 'model') }]);
  });

  it('refuses a sibling folder whose name starts with the root name', async () => {
    expect((await outsideRootsError(guarded.browse({ dir: path.join(tempDir, 'root-sibling') }))).code).toBe('OutsideRoots');
  });

  it('refuses a relative path that resolves outside the roots', async () => {
    expect((await outsideRootsError(guarded.verifyExport({ dir: 'some-export' }))).code).toBe('OutsideRoots');
  });

  it('resolves the roots themselves through symlinks', async () => {
    const viaLink = restrictToRoots(host, [path.join(tempDir, 'root-link')]);
    await viaLink.openCheckpoint({ path: path.join(root, 'model') });
    expect(host.callsOf('openCheckpoint')).toHaveLength(1);
    expect((await viaLink.appInfo()).roots).toEqual([root]);
  });

  it('checks every path of a plan: slices, base model and tokenizer source', async () => {
    const inside = path.join(root, 'model');
    const plan: LayerPlan = { slices: [{ model: inside, start: 0, end: 2 }], baseModel: inside, tokenizerSource: inside };
    await guarded.resolvePlan({ plan });
    await guarded.planToYaml({ plan });
    expect(host.callsOf('resolvePlan')).toEqual([{ plan }]);
    const variants: LayerPlan[] = [
      { slices: [{ model: inside, start: 0, end: 1 }, { model: path.join(outside, 'model'), start: 0, end: 1 }] },
      { ...plan, baseModel: path.join(outside, 'model') },
      { ...plan, tokenizerSource: path.join(root, 'link-out', 'model') },
    ];
    for (const variant of variants) {
      expect((await outsideRootsError(guarded.resolvePlan({ plan: variant }))).code).toBe('OutsideRoots');
      expect((await outsideRootsError(guarded.exportPlan({ exportId: 'e1', plan: variant, target: { dir: path.join(root, 'exports', 'new') } }))).code).toBe(
        'OutsideRoots',
      );
    }
    expect(host.callsOf('resolvePlan')).toHaveLength(1);
    expect(host.callsOf('exportPlan')).toHaveLength(0);
  });

  it('checks recipe models', async () => {
    await guarded.buildPlan({ recipe: { kind: 'dus', model: path.join(root, 'model'), drop: 1 } });
    expect(host.callsOf('buildPlan')).toHaveLength(1);
    const refused = await outsideRootsError(
      guarded.buildPlan({ recipe: { kind: 'interleave', models: [path.join(root, 'model'), path.join(outside, 'model')], window: 2, overlap: 1 } }),
    );
    expect(refused.code).toBe('OutsideRoots');
    expect((await outsideRootsError(guarded.buildPlan({ recipe: { kind: 'stack', model: path.join(outside, 'model'), times: 2 } }))).code).toBe(
      'OutsideRoots',
    );
    expect(host.callsOf('buildPlan')).toHaveLength(1);
  });

  it('checks an export target that does not exist yet by its nearest existing ancestor', async () => {
    const plan: LayerPlan = { slices: [{ model: path.join(root, 'model'), start: 0, end: 1 }] };
    const target = path.join(root, 'exports', 'new', 'deeper');
    await guarded.exportPlan({ exportId: 'e1', plan, target: { dir: target, shardSize: 1000 } });
    expect(host.callsOf('exportPlan')).toEqual([{ exportId: 'e1', plan, target: { dir: target, shardSize: 1000 } }]);
    for (const dir of [path.join(root, 'link-out', 'new'), path.join(outside, 'new'), `${root}/new/../../outside/new`]) {
      const refused = await outsideRootsError(guarded.exportPlan({ exportId: 'e2', plan, target: { dir } }));
      expect(refused.code, dir).toBe('OutsideRoots');
    }
    expect(host.callsOf('exportPlan')).toHaveLength(1);
  });

  it('lets a GGUF export name a .gguf file inside the roots, and refuses one outside them', async () => {
    const plan: LayerPlan = { slices: [{ model: path.join(root, 'model'), start: 0, end: 1 }] };
    const target = path.join(root, 'exports', 'new-model.gguf');
    await guarded.exportPlan({ exportId: 'g1', plan, target: { dir: target, shardSize: 1000 } });
    expect(host.callsOf('exportPlan')).toEqual([{ exportId: 'g1', plan, target: { dir: target, shardSize: 1000 } }]);
    for (const dir of [path.join(outside, 'new-model.gguf'), path.join(root, 'link-out', 'new-model.gguf')]) {
      expect((await outsideRootsError(guarded.exportPlan({ exportId: 'g2', plan, target: { dir } }))).code, dir).toBe('OutsideRoots');
    }
    expect(host.callsOf('exportPlan')).toHaveLength(1);
  });

  it('hands the engine the normalised path it checked', async () => {
    host.answer('loadPlanFile', (payload) => ({ path: payload.path, text: '', plan: null, problems: [] }));
    await guarded.verifyExport({ dir: `${root}/exports/./x/../y` });
    expect(host.callsOf('verifyExport')).toEqual([{ dir: path.join(root, 'exports', 'y') }]);
  });

  it('checks checkpoint ids and the export folder to verify', async () => {
    for (const call of [
      () => guarded.computeStats({ checkpointId: path.join(outside, 'model') }),
      () => guarded.closeCheckpoint({ id: path.join(outside, 'model') }),
      () => guarded.verifyExport({ dir: outside }),
    ]) {
      expect((await outsideRootsError(call())).code).toBe('OutsideRoots');
    }
    expect(host.calls).toHaveLength(0);
  });

  it('checks both checkpoints of a similarity request and hands the engine their normalised paths', async () => {
    const model = path.join(root, 'model');
    await guarded.layerSimilarity({ checkpointA: `${root}/exports/../model`, kind: 'q' });
    await guarded.layerSimilarity({ checkpointA: model, checkpointB: `${model}/.`, kind: 'down', sampled: true });
    expect(host.callsOf('layerSimilarity')).toEqual([
      { checkpointA: model, kind: 'q' },
      { checkpointA: model, checkpointB: model, kind: 'down', sampled: true },
    ]);
    for (const request of [
      { checkpointA: path.join(outside, 'model'), kind: 'q' as const },
      { checkpointA: model, checkpointB: path.join(outside, 'model'), kind: 'q' as const },
      { checkpointA: model, checkpointB: path.join(root, 'link-out'), kind: 'q' as const },
    ]) {
      expect((await outsideRootsError(guarded.layerSimilarity(request))).code, JSON.stringify(request)).toBe('OutsideRoots');
    }
    expect(host.callsOf('layerSimilarity')).toHaveLength(2);
  });

  it('checks the YAML base folder and the model paths the YAML resolved to', async () => {
    expect((await outsideRootsError(guarded.planFromYaml({ text: 'x', baseDir: outside }))).code).toBe('OutsideRoots');
    host.answer('planFromYaml', { plan: { slices: [{ model: path.join(root, 'model'), start: 0, end: 1 }] }, problems: [] });
    expect((await guarded.planFromYaml({ text: 'x', baseDir: root })).plan?.slices).toHaveLength(1);
    host.answer('planFromYaml', { plan: { slices: [{ model: path.join(outside, 'model'), start: 0, end: 1 }] }, problems: [] });
    expect((await outsideRootsError(guarded.planFromYaml({ text: 'x', baseDir: root }))).code).toBe('OutsideRoots');
    host.answer('planFromYaml', { plan: null, problems: [{ severity: 'error', code: 'InvalidYaml', message: 'bad', line: 1 }] });
    expect((await guarded.planFromYaml({ text: 'x' })).problems).toHaveLength(1);
  });

  it('lists the roots themselves for an empty folder', async () => {
    const second = path.join(tempDir, 'root-sibling');
    const twoRoots = restrictToRoots(host, [root, second, path.join(tempDir, 'root-link'), path.join(tempDir, 'does-not-exist')]);
    const listing = await twoRoots.browse({ dir: '' });
    expect(listing).toEqual({
      dir: '',
      kind: 'directory',
      parent: null,
      entries: [
        { name: 'root', path: root, kind: 'directory' },
        { name: 'root-sibling', path: second, kind: 'directory' },
      ],
    });
  });

  it('reports a root that is a checkpoint with the kind the engine gives it', async () => {
    const modelRoot = restrictToRoots(host, [path.join(root, 'model')]);
    expect((await modelRoot.browse({ dir: '' })).entries).toEqual([{ name: 'model', path: path.join(root, 'model'), kind: 'checkpoint' }]);
  });

  it('lists only entries inside the roots and leads up from a root to the roots list', async () => {
    const listing = await guarded.browse({ dir: root });
    expect(listing.entries.map((entry) => entry.name)).toEqual(['exports', 'link-in', 'model']);
    expect(listing.parent).toBe('');
    const inner = await guarded.browse({ dir: path.join(root, 'model') });
    expect(inner.parent).toBe(root);
    expect((await outsideRootsError(guarded.browse({ dir: outside }))).code).toBe('OutsideRoots');
    expect((await outsideRootsError(guarded.browse({ dir: path.join(root, 'link-out') }))).code).toBe('OutsideRoots');
  });

  it('reports the real roots in appInfo and forwards events', async () => {
    const info = await guarded.appInfo();
    expect(info.roots).toEqual([root]);
    expect(info.version).toBe('0.0.0-test');
    const seen: number[] = [];
    const unsubscribe = guarded.on('jobProgress', (event) => seen.push(event.kind === 'export' ? event.progress.doneBytes : -1));
    const progress = (doneBytes: number) => ({ exportId: 'e', phase: 'copying' as const, doneBytes, totalBytes: 10 });
    host.emit('jobProgress', { jobId: 'e', kind: 'export', progress: progress(5) });
    unsubscribe();
    host.emit('jobProgress', { jobId: 'e', kind: 'export', progress: progress(6) });
    expect(seen).toEqual([5]);
  });

  it('refuses everything when no root exists', async () => {
    const none = restrictToRoots(host, [path.join(tempDir, 'does-not-exist')]);
    expect((await outsideRootsError(none.openCheckpoint({ path: path.join(root, 'model') }))).message).toContain('(none)');
    expect((await none.browse({ dir: '' })).entries).toEqual([]);
  });
});

/** A payload of `method` whose path `field` (a PATH_FIELDS kind) names `outsidePath`; every other path stays inside `insideRoot`. */
function payloadWithOutsideField(method: StudioMethod, field: string, kind: PathFieldKind, insideRoot: string, outsidePath: string): unknown {
  const payload = structuredClone(validPayloads(insideRoot)[method]) as Record<string, unknown>;
  const outsideValue =
    kind === 'plan'
      ? { slices: [{ model: outsidePath, start: 0, end: 1 }] }
      : kind === 'recipe'
        ? { kind: 'dus', model: outsidePath, drop: 1 }
        : outsidePath;
  const [outer, inner] = field.split('.') as [string, string | undefined];
  if (inner === undefined) payload[outer] = outsideValue;
  else payload[outer] = { ...(payload[outer] as object), [inner]: outsideValue };
  return payload;
}

describe('restrictToRoots, method by method', () => {
  const cases = STUDIO_METHODS.flatMap((method) => Object.entries(PATH_FIELDS[method]).map(([field, kind]) => ({ method, field, kind: kind as PathFieldKind })));

  it('declares a path field for every method that takes a path (issue 14)', () => {
    expect(cases.map(({ method, field }) => `${method}.${field}`)).toEqual(expect.arrayContaining(['loadPlanFile.path', 'exportPlan.target.dir', 'verifyExport.dir', 'exportPlan.plan']));
  });

  it.each(cases)('refuses $method with $field outside the roots (OutsideRoots), without calling the engine', async ({ method, field, kind }) => {
    const inside = path.join(root, 'model');
    const payload = payloadWithOutsideField(method, field, kind, inside, path.join(outside, 'model'));
    const call = guarded[method] as (request: unknown) => Promise<unknown>;
    expect((await outsideRootsError(call.call(guarded, payload))).code).toBe('OutsideRoots');
    expect(host.callsOf(method)).toEqual([]);
  });

  it.each(cases)('refuses $method with $field reached through a link out of a root', async ({ method, field, kind }) => {
    const payload = payloadWithOutsideField(method, field, kind, path.join(root, 'model'), path.join(root, 'link-out', 'model'));
    const call = guarded[method] as (request: unknown) => Promise<unknown>;
    expect((await outsideRootsError(call.call(guarded, payload))).code).toBe('OutsideRoots');
    expect(host.callsOf(method)).toEqual([]);
  });
});

describe('restrictToRoots over the real engine (issue 13)', () => {
  let engineRoot: string;
  let elsewhere: string;
  let engine: StudioHost;
  let serving: StudioHost;

  beforeAll(async () => {
    engineRoot = path.join(tempDir, 'engine-root');
    elsewhere = path.join(tempDir, 'engine-elsewhere');
    await mkdir(engineRoot, { recursive: true });
    await mkdir(elsewhere, { recursive: true });
    await cp(DEMO, path.join(elsewhere, 'secret-model'), { recursive: true });
    await writeFile(path.join(elsewhere, 'secret.json'), '{"api_key": "do not show"}');
  });
  beforeEach(() => {
    engine = createStudioEngine({ host: 'serve', demoPath: '' });
    serving = restrictToRoots(engine, [engineRoot]);
  });

  async function modelFolder(name: string): Promise<string> {
    const dir = path.join(engineRoot, name);
    await cp(DEMO, dir, { recursive: true });
    return dir;
  }

  it('refuses a model whose config.json links to a file outside the roots', async () => {
    const dir = await modelFolder('config-link');
    await rm(path.join(dir, 'config.json'));
    await symlink(path.join(elsewhere, 'secret.json'), path.join(dir, 'config.json'));
    const refused = await outsideRootsError(serving.openCheckpoint({ path: dir }));
    expect(refused).toMatchObject({ code: 'OutsideRoots', path: path.join(dir, 'config.json') });
    expect(refused.message).not.toContain('do not show');
    expect(await engine.listCheckpoints()).toEqual([]);
  });

  it('refuses a model whose shard links out of its folder and out of the roots', async () => {
    const dir = await modelFolder('shard-link');
    await rm(path.join(dir, 'model.safetensors'));
    await symlink(path.join(elsewhere, 'secret-model', 'model.safetensors'), path.join(dir, 'model.safetensors'));
    expect((await outsideRootsError(serving.openCheckpoint({ path: dir }))).code).toBe('OutsideRoots');
    expect((await outsideRootsError(serving.resolvePlan({ plan: { slices: [{ model: dir, start: 0, end: 1 }] } }))).code).toBe('OutsideRoots');
  });

  it('opens a Hugging Face cache snapshot whose files link to blobs in the same root', async () => {
    const repo = path.join(engineRoot, 'hub', 'models--demo');
    const snapshot = path.join(repo, 'snapshots', 'abc123');
    await mkdir(path.join(repo, 'blobs'), { recursive: true });
    await mkdir(snapshot, { recursive: true });
    for (const name of ['config.json', 'model.safetensors', 'tokenizer.model']) {
      await cp(path.join(DEMO, name), path.join(repo, 'blobs', `blob-${name}`));
      await symlink(`../../blobs/blob-${name}`, path.join(snapshot, name));
    }
    const summary = await serving.openCheckpoint({ path: snapshot });
    expect(summary.numLayers).toBeGreaterThan(0);
  });

  it('refuses to verify an export whose mergekit_config.yml names a model outside the roots, opening nothing', async () => {
    const planted = path.join(engineRoot, 'planted');
    await mkdir(planted);
    const secret = path.join(elsewhere, 'secret-model');
    await writeFile(path.join(planted, 'mergekit_config.yml'), `merge_method: passthrough\nslices:\n  - sources:\n      - model: ${secret}\n        layer_range: [0, 2]\n`);
    const refused = await outsideRootsError(serving.verifyExport({ dir: planted }));
    expect(refused).toMatchObject({ code: 'OutsideRoots', path: secret });
    expect(await engine.listCheckpoints()).toEqual([]);
  });

  it('refuses to export over a root or a folder that holds one, even with replace', async () => {
    const dir = await modelFolder('source');
    const plan = { slices: [{ model: dir, start: 0, end: 2 }] };
    for (const target of [engineRoot, tempDir]) {
      const request = { exportId: 'over-root', plan, target: { dir: target, replace: true } };
      const refused = await serving.exportPlan(request).catch((error: unknown) => error as StudioError);
      expect((refused as StudioError).code, target).toMatch(/^(ProtectedTarget|OutsideRoots)$/);
    }
    expect(await readdir(engineRoot)).toContain('source');
    const report = await serving.exportPlan({ exportId: 'inside', plan, target: { dir: path.join(engineRoot, 'exports', 'out') } });
    expect(report.verify?.ok).toBe(true);
  });

  it('returns no text from loadPlanFile for a file that is not a YAML plan', async () => {
    const notYaml = path.join(engineRoot, 'notes.txt');
    await writeFile(notYaml, 'private notes');
    await expect(serving.loadPlanFile({ path: notYaml })).rejects.toMatchObject({ code: 'InvalidYaml' });
    const notPlan = path.join(engineRoot, 'list.yml');
    await writeFile(notPlan, 'shopping: [private, notes]\n');
    const loaded = await serving.loadPlanFile({ path: notPlan });
    expect(loaded).toMatchObject({ plan: null, text: '' });
    expect(JSON.stringify(loaded)).not.toContain('private');
  });
});

describe('realPathOrAncestor', () => {
  it('resolves the existing part of a path and keeps the missing tail', async () => {
    expect(await realPathOrAncestor(path.join(root, 'link-out', 'new', 'dir'))).toBe(path.join(outside, 'new', 'dir'));
    expect(await realPathOrAncestor(path.join(root, 'link-in'))).toBe(path.join(root, 'model'));
  });
});
