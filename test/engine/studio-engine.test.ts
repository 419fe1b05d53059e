import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStudioError } from '../../electron/api/errors.js';
import type { StudioHost } from '../../electron/api/studio-api.js';
import type { ExportProgress, JobEnd, LayerPlan, SimilarityProgress, StatsProgress } from '../../electron/api/types.js';
import { NAMED_CHAT_TEMPLATES } from '../../electron/common/plan/chat-templates.js';
import { listDirectory } from '../../electron/engine/studio-engine.js';
import { buildFixtureCheckpoint } from '../fixtures/checkpoint-builder.js';
import { STORIES_260K, TempFolders, startRealEngine } from './export/export-fixtures.js';

const folders = new TempFolders();
let studio: StudioHost;
let work: string;

beforeAll(async () => {
  ({ studio, work } = await startRealEngine(folders));
});
afterAll(() => folders.removeAll());

describe('studio engine', () => {
  it('reports the bundled demo model and its host kind', async () => {
    const info = await studio.appInfo();
    expect(info.host).toBe('cli');
    expect(info.demoPath).toBe(path.resolve(import.meta.dirname, '../../build/demo/stories260K'));
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('keeps opened checkpoints in the order they were opened and forgets closed ones', async () => {
    const other = path.join(work, 'six');
    await buildFixtureCheckpoint({ dir: other, layers: 6 });
    const stories = await studio.openCheckpoint({ path: STORIES_260K });
    const six = await studio.openCheckpoint({ path: other });
    expect((await studio.listCheckpoints()).map((summary) => summary.numLayers)).toEqual([5, 6]);
    await studio.closeCheckpoint({ id: six.id });
    expect((await studio.listCheckpoints()).map((summary) => summary.id)).toEqual([stories.id]);
  });

  it('streams statistics per layer before resolving with every float tensor', async () => {
    const stories = await studio.openCheckpoint({ path: STORIES_260K });
    const events: StatsProgress[] = [];
    const stop = studio.on('jobProgress', (event) => {
      if (event.kind === 'stats') events.push(event.progress);
    });
    const report = await studio.computeStats({ checkpointId: stories.id });
    stop();
    expect(report.tensors).toHaveLength(stories.tensors.length);
    // One event for the non-layer tensors, then one per layer, in order.
    expect(events.map((event) => event.layer)).toEqual([null, 0, 1, 2, 3, 4]);
    expect(events.at(-1)).toMatchObject({ done: 6, total: 6 });
    const embed = report.tensors.find((tensor) => tensor.name === 'model.embed_tokens.weight');
    expect(embed?.l2).toBeGreaterThan(0);
    expect(embed?.sampled).toBe(false);
  });

  it('opens the model of a models-form YAML to count its layers, from the app and the CLI alike', async () => {
    const imported = await studio.planFromYaml({ text: `models:\n  - model: ${STORIES_260K}\nmerge_method: passthrough\n` });
    expect(imported.problems).toEqual([]);
    expect(imported.plan?.slices).toEqual([{ model: STORIES_260K, start: 0, end: 5 }]);
  });

  it('carries chat_template from YAML to the plan, back to YAML and into the export, as the serve API and the YAML pane call it', async () => {
    const text = `slices:\n  - sources:\n      - model: ${STORIES_260K}\n        layer_range: [0, 5]\nmerge_method: passthrough\nchat_template: llama3\n`;
    const imported = await studio.planFromYaml({ text });
    expect(imported.problems).toEqual([]);
    expect(imported.plan?.chatTemplate).toBe('llama3');
    expect((await studio.planToYaml({ plan: imported.plan as LayerPlan })).text).toContain('chat_template: llama3\n');
    const dir = path.join(work, 'stories-llama3');
    const report = await studio.exportPlan({ exportId: 'chat-template-export', plan: imported.plan as LayerPlan, target: { dir } });
    expect(report.verify?.ok).toBe(true);
    expect(await readFile(path.join(dir, 'chat_template.jinja'), 'utf8')).toBe(NAMED_CHAT_TEMPLATES.llama3);
  });

  it('opens the sources a plan names when it resolves it', async () => {
    const model = path.join(work, 'eight');
    await buildFixtureCheckpoint({ dir: model, layers: 8 });
    const plan = await studio.buildPlan({ recipe: { kind: 'dus', model, drop: 2 } });
    const resolved = await studio.resolvePlan({ plan });
    expect(resolved.ok).toBe(true);
    expect(resolved.numLayers).toBe(12);
    expect((await studio.listCheckpoints()).some((summary) => summary.numLayers === 8)).toBe(true);
  });

  it('turns a source that cannot be opened into a plan problem naming it', async () => {
    const missing = path.join(work, 'no-such-model');
    const resolved = await studio.resolvePlan({ plan: { slices: [{ model: missing, start: 0, end: 2 }] } });
    expect(resolved.ok).toBe(false);
    expect(resolved.problems[0]).toMatchObject({ severity: 'error', code: 'NotFound', model: missing });
    expect(resolved.problems[0]?.message).toContain(missing);
  });

  it('exports through the API with progress events and a verified report', async () => {
    const plan = await studio.buildPlan({ recipe: { kind: 'dus', model: STORIES_260K, drop: 1 } });
    const events: ExportProgress[] = [];
    const ends: JobEnd[] = [];
    const stop = studio.on('jobProgress', (event) => {
      if (event.kind === 'export') events.push(event.progress);
    });
    const stopEnds = studio.on('jobEnd', (event) => ends.push(event));
    const dir = path.join(work, 'stories-dus');
    const report = await studio.exportPlan({ exportId: 'test-export', plan, target: { dir } });
    stop();
    stopEnds();
    expect(report).toMatchObject({ exportId: 'test-export', numLayers: 8 });
    expect(report.verify?.ok).toBe(true);
    expect(events.every((event) => event.exportId === 'test-export')).toBe(true);
    expect(events.at(-1)?.phase).toBe('verifying');
    expect(ends).toEqual([{ jobId: 'test-export', kind: 'export', outcome: 'done' }]);
    expect((await studio.verifyExport({ dir })).ok).toBe(true);
  });

  it('refuses to export a plan with errors and names them', async () => {
    const plan = { slices: [{ model: STORIES_260K, start: 3, end: 9 }] };
    const failure = await studio.exportPlan({ exportId: 'bad-plan', plan, target: { dir: path.join(work, 'never') } }).catch((error: unknown) => error);
    expect(isStudioError(failure) && failure.code).toBe('InvalidPlan');
    expect((failure as Error).message).toMatch(/past the model's 5 layers|outside|ends past/);
    expect(await readdir(work)).not.toContain('never');
  });

  it('cancels a running export and leaves nothing at the target', async () => {
    const big = path.join(work, 'big');
    await buildFixtureCheckpoint({ dir: big, layers: 16, hidden: 512, intermediate: 1536, shards: 4 });
    const plan = await studio.buildPlan({ recipe: { kind: 'dus', model: big, drop: 4 } });
    const dir = path.join(work, 'cancelled');
    const stop = studio.on('jobProgress', (event) => {
      if (event.kind === 'export' && event.progress.phase === 'copying' && event.progress.doneBytes > 0) void studio.cancelJob({ jobId: 'to-cancel' });
    });
    const ends: JobEnd[] = [];
    const watch = studio.on('jobEnd', (event) => ends.push(event));
    const failure = await studio.exportPlan({ exportId: 'to-cancel', plan, target: { dir } }).catch((error: unknown) => error);
    stop();
    watch();
    expect(isStudioError(failure) && failure.code).toBe('Cancelled');
    expect(ends).toEqual([{ jobId: 'to-cancel', kind: 'export', outcome: 'cancelled' }]);
    expect((await readdir(work)).filter((name) => name.includes('cancelled'))).toEqual([]);
  });

  it('reads a YAML plan file with model paths relative to its folder', async () => {
    const dir = path.join(work, 'plans');
    await mkdir(dir);
    await buildFixtureCheckpoint({ dir: path.join(dir, 'base'), layers: 4 });
    const text = 'slices:\n  - sources:\n      - model: base\n        layer_range: [0, 3]\n  - sources:\n      - model: base\n        layer_range: [1, 4]\nmerge_method: passthrough\n';
    await writeFile(path.join(dir, 'dus.yml'), text);
    const loaded = await studio.loadPlanFile({ path: path.join(dir, 'dus.yml') });
    expect(loaded.text).toBe(text);
    expect(loaded.plan?.slices.map((slice) => [slice.model, slice.start, slice.end])).toEqual([
      [path.join(dir, 'base'), 0, 3],
      [path.join(dir, 'base'), 1, 4],
    ]);

    await writeFile(path.join(dir, 'huge.yml'), 'x'.repeat(1_000_001));
    const tooBig = await studio.loadPlanFile({ path: path.join(dir, 'huge.yml') }).catch((error: unknown) => error);
    expect(isStudioError(tooBig) && tooBig.code).toBe('InvalidYaml');
    const missing = await studio.loadPlanFile({ path: path.join(dir, 'none.yml') }).catch((error: unknown) => error);
    expect(isStudioError(missing) && missing.code).toBe('NotFound');
  });

  it('compares layers through the API, streaming rows, against itself by default', async () => {
    const stories = await studio.openCheckpoint({ path: STORIES_260K });
    const events: SimilarityProgress[] = [];
    const jobs: string[] = [];
    const listen = () =>
      studio.on('jobProgress', (event) => {
        if (event.kind !== 'similarity') return;
        events.push(event.progress);
        jobs.push(event.jobId);
      });
    const stop = listen();
    const matrix = await studio.layerSimilarity({ checkpointA: stories.id, kind: 'gate' });
    stop();
    expect(matrix).toMatchObject({ checkpointA: stories.id, checkpointB: stories.id, kind: 'gate', rows: 5, cols: 5, sampled: false });
    expect(events.map((event) => event.done)).toEqual([1, 2, 3, 4, 5]);
    matrix.values.forEach((row, i) => {
      expect(Math.abs(row[i]! - 1)).toBeLessThanOrEqual(1e-6);
      row.forEach((value, j) => expect(value).toBe(matrix.values[j]![i]));
    });
    // Two requests for one matrix at once share one computation: each job gets each row once.
    events.length = 0;
    jobs.length = 0;
    const again = listen();
    const [first, second] = await Promise.all([
      studio.layerSimilarity({ checkpointA: stories.id, checkpointB: stories.id, kind: 'down', jobId: 'first' }),
      studio.layerSimilarity({ checkpointA: stories.id, checkpointB: stories.id, kind: 'down', jobId: 'second' }),
    ]);
    again();
    expect(jobs.filter((job) => job === 'first')).toHaveLength(5);
    expect(jobs.filter((job) => job === 'second')).toHaveLength(5);
    expect(second.values).toEqual(first.values);
    expect(second).not.toBe(first);
  });

  it.each([
    ['statistics', 'stats'],
    ['similarity', 'similarity'],
  ] as const)('cancels %s through cancelJob once it has started, ending with Cancelled and a cancelled jobEnd', async (_name, kind) => {
    const stories = await studio.openCheckpoint({ path: STORIES_260K });
    const jobId = `cancel-${kind}`;
    const ends: JobEnd[] = [];
    const stopEnds = studio.on('jobEnd', (event) => ends.push(event));
    // Cancelled at the first progress event: later layers (rows) never start reading.
    const stop = studio.on('jobProgress', (event) => {
      if (event.jobId === jobId) void studio.cancelJob({ jobId });
    });
    const work =
      kind === 'stats'
        ? studio.computeStats({ checkpointId: stories.id, jobId })
        : studio.layerSimilarity({ checkpointA: stories.id, kind: 'q', sampled: false, jobId });
    const failure = await work.catch((error: unknown) => error);
    stop();
    stopEnds();
    expect(isStudioError(failure) && failure.code).toBe('Cancelled');
    expect(ends).toEqual([{ jobId, kind, outcome: 'cancelled' }]);
    // The id is free again, and the engine still computes.
    if (kind === 'stats') await expect(studio.computeStats({ checkpointId: stories.id, jobId })).resolves.toMatchObject({ checkpointId: stories.id });
    else await expect(studio.layerSimilarity({ checkpointA: stories.id, kind: 'q', sampled: false, jobId })).resolves.toMatchObject({ rows: 5 });
  });

  it('refuses a second job with the id of one that is running', async () => {
    const stories = await studio.openCheckpoint({ path: STORIES_260K });
    const first = studio.computeStats({ checkpointId: stories.id, jobId: 'twice' });
    const second = await studio.computeStats({ checkpointId: stories.id, jobId: 'twice' }).catch((error: unknown) => error);
    expect(isStudioError(second) && second.code).toBe('InvalidRequest');
    await expect(first).resolves.toMatchObject({ checkpointId: stories.id });
  });

  it('refuses to compare a checkpoint that is not open, or one of another shape', async () => {
    const stories = await studio.openCheckpoint({ path: STORIES_260K });
    const missing = await studio.layerSimilarity({ checkpointA: stories.id, checkpointB: path.join(work, 'never-opened'), kind: 'q' }).catch((error: unknown) => error);
    expect(isStudioError(missing) && missing.code).toBe('NotFound');
    const other = await studio.openCheckpoint({ path: (await buildFixtureCheckpoint({ dir: path.join(work, 'similar-other'), layers: 2 })).dir });
    const mismatch = await studio.layerSimilarity({ checkpointA: stories.id, checkpointB: other.id, kind: 'o' }).catch((error: unknown) => error);
    expect(isStudioError(mismatch) && mismatch.code).toBe('InvalidRequest');
    expect(isStudioError(mismatch) && mismatch.message).toMatch(/stories260K and similar-other hold their o tensors in different shapes/);
  });

  it('lists folders for the file browser, marking models, safetensors files and YAML plans', async () => {
    const dir = path.join(work, 'browse');
    await mkdir(dir);
    await buildFixtureCheckpoint({ dir: path.join(dir, 'a-model'), layers: 2 });
    await mkdir(path.join(dir, 'plain'));
    await writeFile(path.join(dir, 'plan.yml'), 'slices: []\n');
    await writeFile(path.join(dir, '.hidden'), '');
    const listing = await listDirectory(dir);
    expect(listing.parent).toBe(work);
    expect(listing.entries.map((entry) => [entry.name, entry.kind])).toEqual([
      ['a-model', 'checkpoint'],
      ['plain', 'directory'],
      ['plan.yml', 'yaml'],
    ]);
    // The listed folder says what it is itself, so a typed model path can be opened rather than entered.
    expect(listing.kind).toBe('directory');
    expect((await listDirectory(path.join(dir, 'a-model'))).kind).toBe('checkpoint');
    const failure = await listDirectory(path.join(dir, 'nope')).catch((error: unknown) => error);
    expect(isStudioError(failure) && failure.code).toBe('NotFound');
  });
});
