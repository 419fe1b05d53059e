/**
 * Faults during an export: a full disk, a read-only or permission-denying one, a source shard
 * truncated or replaced while the export runs, a target on another file system, cancellation at
 * every phase. Each must end in one clear error (naming the path) or a correct, verified export,
 * and never leave a half-written target or the temporary folder behind.
 *
 * The faults come from two places. The fault-injecting layer (faulty-file-system.ts, installed
 * below) runs everywhere. Where this process may mount a tmpfs (root with CAP_SYS_ADMIN), the same
 * faults also come from a real file system: a 2 MiB tmpfs fills up, a remounted one is read-only,
 * and a tmpfs target makes copy_file_range from the temporary folder's disk return EXDEV.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, renameSync, truncateSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { StudioError } from '../../../electron/api/errors.js';
import type { CheckpointSummary, ExportPhase } from '../../../electron/api/types.js';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { COPY_BATCH_BYTES, exportPlan, type ExportPlanProgress } from '../../../electron/engine/export/export-plan.js';
import { isExportTempName, parseExportTempName } from '../../../electron/engine/export/export-target.js';
import { layoutSafetensors } from '../../../electron/engine/formats/safetensors-writer.js';
import { copyRanges } from '../../../electron/engine/native.js';
import { createStudioEngine } from '../../../electron/engine/studio-engine.js';
import { buildFixtureCheckpoint, type FixtureOptions } from '../../fixtures/checkpoint-builder.js';
import { TempFolders, dusPlan, expectLayersCopied, folderNames, layerOrigins, sourceMap } from './export-fixtures.js';
import { fileFaults, type FileEvent } from './faulty-file-system.js';
import { mountTmpfs, onDifferentDevices, remountReadOnly, sharedMemoryOnOtherDevice, tmpfsMountable, unmount } from './tmpfs-mount.js';

vi.mock('node:fs/promises', async (importOriginal) => (await import('./faulty-file-system.js')).faultyFsPromises(await importOriginal()));
vi.mock('../../../electron/engine/native.js', async (importOriginal) => (await import('./faulty-file-system.js')).faultyNative(await importOriginal()));

/**
 * 4 layers of about 5.6 MB (bf16, hidden 512, intermediate 1408) in two files; a DUS dropping one
 * layer exports 6 layers (≈ 34 MB) in shards of at most 12 MB, so every shard takes several 4 MiB
 * copy batches from each source file it reads.
 */
const MEDIUM: Omit<FixtureOptions, 'dir'> = { layers: 4, hidden: 512, intermediate: 1408, heads: 8, kvHeads: 2, shards: 2, sideFiles: true };
const SHARD_SIZE = 12_000_000;
const SHARD_NAME = /^model-\d{5}-of-\d{5}\.safetensors$/;
/** The medium DUS in 12 MB shards is three shards; faults aimed at the second one strike mid-export. */
const SECOND_SHARD = 'model-00002-of-00003.safetensors';

const folders = new TempFolders();
const mounts: string[] = [];
const canMount = tmpfsMountable();
const sharedMemory = canMount ? null : sharedMemoryOnOtherDevice();
/** Folders made on /dev/shm, removed after the file's tests. */
const sharedMemoryFolders: string[] = [];

beforeAll(() => {
  // Say which kind of run this is: without mount rights the tmpfs cases show as skipped, and the fault-injecting layer still runs.
  if (!canMount) console.info(`export-faults: cannot mount a tmpfs here; real full and read-only disk cases are skipped${sharedMemory === null ? ', and no second file system was found' : `; ${sharedMemory} serves as the second file system`}`);
});
afterEach(() => fileFaults.reset());
afterAll(async () => {
  for (const mount of mounts.splice(0)) unmount(mount);
  await Promise.all(sharedMemoryFolders.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  await folders.removeAll();
});

async function mediumSource(seed = 1): Promise<CheckpointSummary> {
  const dir = path.join(await folders.make(), 'model');
  await buildFixtureCheckpoint({ ...MEDIUM, seed, dir });
  return openCheckpoint(dir);
}

/** A tmpfs of `bytes` on a new folder, unmounted after the file's tests. */
async function tmpfs(bytes: number): Promise<string> {
  const dir = await folders.make();
  if (!mountTmpfs(dir, bytes)) throw new Error(`cannot mount a tmpfs on ${dir}`);
  mounts.push(dir);
  return dir;
}

function exportMedium(
  source: CheckpointSummary,
  dir: string,
  extra: { signal?: AbortSignal; onProgress?: (progress: ExportPlanProgress) => void; replace?: boolean } = {},
): ReturnType<typeof exportPlan> {
  const { replace, ...rest } = extra;
  return exportPlan({
    plan: dusPlan(source, 1),
    target: { dir, shardSize: SHARD_SIZE, ...(replace === undefined ? {} : { replace }) },
    sources: sourceMap(source),
    ...rest,
  });
}

/** Every tensor of the export at `dir` equals its source's bytes (a DUS dropping one layer of `source`). */
async function expectCorrectExport(dir: string, source: CheckpointSummary): Promise<void> {
  const exported = await openCheckpoint(dir);
  const n = source.numLayers;
  expect(await expectLayersCopied(exported, layerOrigins(source, [0, n - 1], [1, n]), source)).toBe(exported.tensors.length);
}

/**
 * Renames `replacement`'s bytes over `file`, keeping its size and timestamps, as `rsync -a` updates
 * a file. Synchronous, so it is complete before the export takes its next step.
 */
function replaceKeepingTimes(file: string, replacement: string): void {
  const staging = path.join(path.dirname(file), `.${path.basename(file)}.rsync`);
  copyFileSync(replacement, staging);
  // touch -r copies the nanoseconds too; Node's utimes would round them.
  const touched = spawnSync('touch', ['-r', file, staging]);
  if (touched.status !== 0) throw new Error(`touch -r failed: ${touched.stderr.toString()}`);
  renameSync(staging, file);
}

/** The pid of a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid as number;
}

function firstEvent(when: (event: FileEvent) => boolean): FileEvent {
  const event = fileFaults.events.find(when);
  if (event === undefined) throw new Error('the expected file operation did not happen');
  return event;
}

describe('export on a full disk', () => {
  it('fails with NoSpace naming the shard when the disk fills during a copy, and leaves nothing', async () => {
    const source = await mediumSource();
    const parent = await folders.make();
    const dir = path.join(parent, 'out');
    fileFaults.watch(parent);
    fileFaults.limitSpace(10_000_000);
    const failure = await exportMedium(source, dir).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'NoSpace' });
    const { path: failedPath, message } = failure as { path: string; message: string };
    expect(path.dirname(failedPath)).toBe(dir);
    expect(path.basename(failedPath)).toMatch(SHARD_NAME);
    expect(message).toContain(failedPath);
    // The disk really was filled: a copy was cut short before the error.
    expect(firstEvent((event) => event.operation === 'copyRanges').bytes).toBeGreaterThan(0);
    expect(await folderNames(parent)).toEqual([]);
  });

  it.each([
    { what: 'a shard header', file: SECOND_SHARD, operation: 'write' },
    { what: 'config.json', file: 'config.json', operation: 'write' },
    { what: 'a tokenizer file copied from the source', file: 'tokenizer.json', operation: 'copyFile' },
    { what: 'the model card', file: 'README.md', operation: 'write' },
  ] as const)('fails with NoSpace naming $file when the disk is full while writing $what', async ({ file, operation }) => {
    const source = await mediumSource();
    const parent = await folders.make();
    const dir = path.join(parent, 'out');
    fileFaults.watch(parent);
    fileFaults.failWhen((event) => event.operation === operation && path.basename(event.path) === file, 'ENOSPC');
    const failure = exportMedium(source, dir);
    await expect(failure).rejects.toMatchObject({ code: 'NoSpace', path: path.join(dir, file), message: expect.stringContaining(path.join(dir, file)) });
    expect(await folderNames(parent)).toEqual([]);
  });

  it.runIf(canMount)('fails with NoSpace on a real 2 MiB tmpfs, naming the shard, and frees all the space again', async () => {
    const source = await mediumSource();
    const disk = await tmpfs(2 * 1024 * 1024);
    const dir = path.join(disk, 'out');
    const empty = await statfs(disk);
    const failure = await exportMedium(source, dir).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'NoSpace' });
    const failedPath = (failure as { path: string }).path;
    expect(path.dirname(failedPath)).toBe(dir);
    expect(path.basename(failedPath)).toMatch(SHARD_NAME);
    expect((failure as Error).message).toContain(failedPath);
    expect(await readdir(disk)).toEqual([]);
    expect((await statfs(disk)).bfree).toBe(empty.bfree);
  });
});

describe('export without permission to write', () => {
  it.each([
    { what: 'creating the temporary folder', operation: 'mkdir', matches: (event: FileEvent) => isExportTempName(path.basename(event.path)), file: null },
    { what: 'opening the second shard', operation: 'open', matches: (event: FileEvent) => path.basename(event.path) === SECOND_SHARD, file: SECOND_SHARD },
    { what: 'moving the export into place', operation: 'rename', matches: (event: FileEvent) => path.basename(event.path) === 'out', file: null },
  ] as const)('fails with PermissionDenied naming the target when denied $what, and leaves nothing', async ({ operation, matches, file }) => {
    const source = await mediumSource();
    const parent = await folders.make();
    const dir = path.join(parent, 'out');
    const expectedPath = file === null ? dir : path.join(dir, file);
    fileFaults.watch(parent);
    fileFaults.failWhen((event) => event.operation === operation && matches(event), 'EACCES');
    await expect(exportMedium(source, dir)).rejects.toMatchObject({
      code: 'PermissionDenied',
      path: expectedPath,
      message: expect.stringContaining(expectedPath),
    });
    expect(await folderNames(parent)).toEqual([]);
  });

  it('reports the first error when the disk turns read-only mid-export and the temporary folder cannot be removed', async () => {
    const source = await mediumSource();
    const parent = await folders.make();
    const dir = path.join(parent, 'out');
    fileFaults.watch(parent);
    fileFaults.failWhen((event) => event.operation === 'open' && path.basename(event.path) === SECOND_SHARD, 'EROFS');
    fileFaults.failWhen((event) => event.operation === 'rm', 'EROFS');
    await expect(exportMedium(source, dir)).rejects.toMatchObject({ code: 'PermissionDenied', path: path.join(dir, SECOND_SHARD) });
    // What could not be removed keeps its recognisable name (the next export by another process removes it).
    const left = await folderNames(parent);
    expect(left).toHaveLength(1);
    expect(isExportTempName(left[0] as string)).toBe(true);
    expect(parseExportTempName(left[0] as string)).toEqual({ targetName: 'out', pid: process.pid, kind: 'export' });
  });

  it.runIf(canMount)('fails with PermissionDenied naming the target on a real read-only tmpfs, and writes nothing', async () => {
    const source = await mediumSource();
    const disk = await tmpfs(4 * 1024 * 1024);
    await mkdir(path.join(disk, 'models'));
    remountReadOnly(disk);
    const dir = path.join(disk, 'models', 'out');
    await expect(exportMedium(source, dir)).rejects.toMatchObject({ code: 'PermissionDenied', path: dir, message: expect.stringContaining(dir) });
    expect(await readdir(path.join(disk, 'models'))).toEqual([]);
  });
});

describe('a source that changes while the export runs', () => {
  it('fails with SourceChanged when the source shard being copied is truncated between copy batches', async () => {
    const source = await mediumSource();
    const parent = await folders.make();
    const first = source.shards[0]?.file as string;
    let truncated = false;
    const pending = exportMedium(source, path.join(parent, 'out'), {
      onProgress: (progress) => {
        if (progress.phase !== 'copying' || truncated) return;
        truncated = true;
        truncateSync(first, Math.floor((source.shards[0]?.bytes as number) / 2));
      },
    });
    await expect(pending).rejects.toMatchObject({ code: 'SourceChanged', path: first });
    expect(truncated).toBe(true);
    expect(await folderNames(parent)).toEqual([]);
  });

  it('fails with SourceChanged when a source shard read by a later output shard is truncated between shards', async () => {
    const source = await mediumSource();
    const parent = await folders.make();
    const last = source.shards.at(-1)?.file as string;
    let truncated = false;
    const pending = exportMedium(source, path.join(parent, 'out'), {
      onProgress: (progress) => {
        if (progress.phase !== 'copying' || truncated) return;
        truncated = true;
        truncateSync(last, 1000);
      },
    });
    await expect(pending).rejects.toMatchObject({ code: 'SourceChanged', path: last });
    expect(await folderNames(parent)).toEqual([]);
  });

  const replacePoints: Array<{ point: string; at: (progress: ExportPlanProgress) => boolean }> = [
    { point: 'after the first copy batch', at: (progress) => progress.phase === 'copying' },
    { point: 'after the last copy batch', at: (progress) => progress.phase === 'copying' && progress.doneBytes === progress.totalBytes },
    { point: 'while writing config and side files', at: (progress) => progress.phase === 'finishing' },
    { point: 'while verifying', at: (progress) => progress.phase === 'verifying' },
  ];

  it.each(replacePoints)('never writes a mix of two versions when a source shard is replaced with the same size and times $point', async ({ at }) => {
    const source = await mediumSource();
    const other = await mediumSource(2);
    const parent = await folders.make();
    const dir = path.join(parent, 'out');
    const file = source.shards[0]?.file as string;
    let replaced = false;
    const outcome = await exportMedium(source, dir, {
      onProgress: (progress) => {
        if (replaced || !at(progress)) return;
        replaced = true;
        replaceKeepingTimes(file, other.shards[0]?.file as string);
      },
    }).then(
      (report) => ({ report }),
      (error: unknown) => ({ error }),
    );
    expect(replaced).toBe(true);
    if ('error' in outcome) {
      expect(outcome.error).toMatchObject({ code: 'SourceChanged', path: file });
      expect(await folderNames(parent)).toEqual([]);
    } else {
      // The only other acceptable ending: a verified export, every byte from the sources as they are now.
      expect(outcome.report.verify?.ok).toBe(true);
      await expectCorrectExport(dir, await openCheckpoint(source.folder));
    }
  });
});

describe('export to another file system', () => {
  it('exports correctly through the read/write fallback when the kernel cannot copy (fault layer)', async () => {
    const source = await mediumSource();
    const parent = await folders.make();
    const dir = path.join(parent, 'out');
    fileFaults.watch(parent);
    fileFaults.forceCopyFallback = true;
    const report = await exportMedium(source, dir);
    expect(report.verify?.ok).toBe(true);
    const copies = fileFaults.events.filter((event) => event.operation === 'copyRanges');
    expect(copies.length).toBeGreaterThan(3);
    expect(new Set(copies.map((event) => event.method))).toEqual(new Set(['read-write']));
    await expectCorrectExport(dir, source);
  });

  it.runIf(canMount || sharedMemory !== null)('exports correctly to a tmpfs on another device, where copy_file_range returns EXDEV', async () => {
    const source = await mediumSource();
    let disk: string;
    if (sharedMemory === null) disk = await tmpfs(64 * 1024 * 1024);
    else {
      disk = await mkdtemp(path.join(sharedMemory, 'dus-'));
      sharedMemoryFolders.push(disk);
    }
    expect(onDifferentDevices(source.folder, disk)).toBe(true);
    // What the native layer does between these two file systems, seen directly.
    const probe = path.join(disk, 'probe');
    await copyFile(path.join(source.folder, 'config.json'), probe);
    const shard = source.shards[0] as CheckpointSummary['shards'][number];
    const { method } = await copyRanges(shard.file, probe, [{ sourceOffset: 0, targetOffset: 0, length: 4096 }], { method: 'copy_file_range' });
    const [major = 0, minor = 0] = os.release().split('.').map(Number);
    // Since Linux 5.19 copy_file_range refuses copies between different file system types (EXDEV);
    // the addon then writes from a mapping of the source.
    if (major > 5 || (major === 5 && minor >= 19)) expect(method).toBe('mapped-write');
    await rm(probe);

    const dir = path.join(disk, 'out');
    const report = await exportMedium(source, dir);
    expect(report.verify?.ok).toBe(true);
    await expectCorrectExport(dir, source);
    expect(await readdir(disk)).toEqual(['out']);
  });
});

describe('cancelling an export', () => {
  const points: Array<{ point: string; at: (progress: ExportPlanProgress) => boolean }> = [
    { point: 'while preparing', at: (progress) => progress.phase === 'preparing' },
    { point: 'after the first copy batch', at: (progress) => progress.phase === 'copying' },
    { point: 'after the last copy batch', at: (progress) => progress.phase === 'copying' && progress.doneBytes === progress.totalBytes },
    { point: 'while writing config and side files', at: (progress) => progress.phase === 'finishing' },
    { point: 'while verifying', at: (progress) => progress.phase === 'verifying' },
  ];

  it.each(points)('leaves neither target nor temporary folder when cancelled $point', async ({ at }) => {
    const source = await mediumSource();
    const parent = await folders.make();
    const controller = new AbortController();
    const pending = exportMedium(source, path.join(parent, 'out'), {
      signal: controller.signal,
      onProgress: (progress) => {
        if (!controller.signal.aborted && at(progress)) controller.abort();
      },
    });
    await expect(pending).rejects.toMatchObject({ code: 'Cancelled' });
    expect(controller.signal.aborted).toBe(true);
    expect(await folderNames(parent)).toEqual([]);
  });

  it('stops between two copy batches of one source file when cancelled after the first', async () => {
    // One layer tensor of 2.5 batches in a sparse source: the copy of layer 0 takes three copyRanges calls.
    const folder = path.join(await folders.make(), 'model');
    await mkdir(folder);
    const bigElements = (COPY_BATCH_BYTES * 5) / 2 / 2;
    const layout = layoutSafetensors([
      { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [8, 4] },
      { name: 'model.layers.0.mlp.up_proj.weight', dtype: 'BF16', shape: [bigElements] },
      { name: 'model.layers.1.mlp.up_proj.weight', dtype: 'BF16', shape: [4] },
      { name: 'model.norm.weight', dtype: 'BF16', shape: [4] },
    ]);
    const shardFile = path.join(folder, 'model.safetensors');
    await writeFile(shardFile, layout.header);
    truncateSync(shardFile, layout.header.byteLength + layout.dataBytes);
    const source = await openCheckpoint(folder);
    const parent = await folders.make();
    const controller = new AbortController();
    const copied: number[] = [];
    const pending = exportPlan({
      plan: { slices: [{ model: source.id, start: 0, end: 1 }] },
      target: { dir: path.join(parent, 'out') },
      sources: sourceMap(source),
      signal: controller.signal,
      onProgress: (progress) => {
        if (progress.phase !== 'copying') return;
        copied.push(progress.doneBytes);
        controller.abort();
      },
    });
    await expect(pending).rejects.toMatchObject({ code: 'Cancelled' });
    expect(copied, 'no batch was copied after the cancel').toEqual([COPY_BATCH_BYTES]);
    expect(await folderNames(parent)).toEqual([]);
  });

  it('writes nothing when cancelled before it starts', async () => {
    const source = await mediumSource();
    const parent = await folders.make();
    await expect(exportMedium(source, path.join(parent, 'out'), { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'Cancelled' });
    expect(await folderNames(parent)).toEqual([]);
  });

  it.each(['copying', 'finishing', 'verifying'] as const)('leaves nothing when the UI cancels through the API while %s', async (phase: ExportPhase) => {
    const source = await mediumSource();
    const parent = await folders.make();
    const engine = createStudioEngine({ host: 'cli', demoPath: '' });
    const summary = await engine.openCheckpoint({ path: source.folder });
    const plan = await engine.buildPlan({ recipe: { kind: 'dus', model: summary.id, drop: 1 } });
    const exportId = `cancel-${phase}`;
    const phases: ExportPhase[] = [];
    const unsubscribe = engine.on('jobProgress', (event) => {
      if (event.jobId !== exportId || event.kind !== 'export') return;
      const progress = event.progress;
      if (phases.at(-1) !== progress.phase) phases.push(progress.phase);
      if (progress.phase === phase) void engine.cancelJob({ jobId: exportId });
    });
    try {
      await expect(engine.exportPlan({ exportId, plan, target: { dir: path.join(parent, 'out'), shardSize: SHARD_SIZE } })).rejects.toMatchObject({ code: 'Cancelled' });
    } finally {
      unsubscribe();
    }
    expect(phases).toContain(phase);
    expect(await folderNames(parent)).toEqual([]);
  });
});

describe('durability of a finished export', () => {
  it('flushes every file and the temporary folder before the rename, and the parent folder after it', async () => {
    const source = await mediumSource();
    const parent = await folders.make();
    const dir = path.join(parent, 'out');
    fileFaults.watch(parent);
    const report = await exportMedium(source, dir);
    const events = fileFaults.events;
    const commit = events.findIndex((event) => event.operation === 'rename' && event.path === dir);
    expect(commit).toBeGreaterThan(0);
    const tempDir = events[commit]?.from as string;
    expect(isExportTempName(path.basename(tempDir))).toBe(true);
    expect(report.files.length).toBeGreaterThan(6);
    for (const file of report.files) {
      const written = path.join(tempDir, file);
      const lastWrite = events.findLastIndex((event) => ['write', 'copyRanges', 'copyFile', 'truncate'].includes(event.operation) && event.path === written);
      const synced = events.findLastIndex((event, index) => index < commit && event.operation === 'sync' && event.path === written);
      expect(lastWrite, `${file} was written`).toBeGreaterThanOrEqual(0);
      expect(synced, `${file} was flushed after its last write and before the rename`).toBeGreaterThan(lastWrite);
    }
    const tempSynced = events.findLastIndex((event, index) => index < commit && event.operation === 'sync' && event.path === tempDir);
    expect(tempSynced, 'the temporary folder was flushed before the rename').toBeGreaterThan(0);
    expect(events.findIndex((event, index) => index > commit && event.operation === 'sync' && event.path === parent), 'the parent was flushed after the rename').toBeGreaterThan(commit);
  });
});

describe('replacing an export atomically', () => {
  /** A finished export at `dir` and the names it holds. */
  async function previousExport(source: CheckpointSummary, dir: string): Promise<string[]> {
    await exportMedium(source, dir);
    return folderNames(dir);
  }

  it('keeps the previous export at the target when moving the new one into place fails', async () => {
    const source = await mediumSource();
    const parent = await folders.make();
    const dir = path.join(parent, 'out');
    const before = await previousExport(source, dir);
    fileFaults.watch(parent);
    // The second of the two renames (temporary folder → target) fails, as a crash there would stop it.
    fileFaults.failWhen((event) => event.operation === 'rename' && event.path === dir && isExportTempName(path.basename(event.from ?? '')) && parseExportTempName(path.basename(event.from ?? ''))?.kind === 'export', 'EIO');
    await expect(exportMedium(source, dir, { replace: true })).rejects.toMatchObject({ code: 'ExportFailed' });
    // The old export was renamed aside, not deleted, so it is back in place, whole.
    expect(await folderNames(dir)).toEqual(before);
    await expectCorrectExport(dir, source);
    expect(await folderNames(parent)).toEqual(['out']);
  });

  it('names where the previous export is when it cannot be put back, and the next export restores it', async () => {
    const source = await mediumSource();
    const parent = await folders.make();
    const dir = path.join(parent, 'out');
    const before = await previousExport(source, dir);
    fileFaults.watch(parent);
    // Every rename onto the target fails: the commit and the rollback both.
    fileFaults.failWhen((event) => event.operation === 'rename' && event.path === dir, 'EIO');
    const failure = await exportMedium(source, dir, { replace: true }).catch((error: unknown) => error as StudioError);
    const setAside = (failure as StudioError).detail as { setAside: string };
    expect(failure).toMatchObject({ code: 'ExportFailed', message: expect.stringContaining(setAside.setAside) });
    expect(parseExportTempName(path.basename(setAside.setAside))?.kind).toBe('trash');
    expect(await folderNames(setAside.setAside)).toEqual(before);
    fileFaults.reset();
    // The set-aside folder belongs to a live process (this one) until it exits; a dead exporter's is put back.
    const deadName = `.out.dus-trash-${deadPid()}-abcdef`;
    renameSync(setAside.setAside, path.join(parent, deadName));
    const report = await exportMedium(source, dir, { replace: true });
    expect(report.warnings).toContainEqual(expect.stringContaining('restored'));
    expect(await folderNames(parent)).toEqual(['out']);
  });
});

describe('the fault layer itself', () => {
  it('passes every call through untouched when no fault is set', async () => {
    const source = await mediumSource();
    const parent = await folders.make();
    const dir = path.join(parent, 'out');
    const report = await exportMedium(source, dir);
    expect(report.verify?.ok).toBe(true);
    expect(fileFaults.events).toEqual([]);
    await expectCorrectExport(dir, source);
  });
});
