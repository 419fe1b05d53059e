import { spawnSync } from 'node:child_process';
import { utimesSync } from 'node:fs';
import { appendFile, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckpointSummary } from '../../../electron/api/types.js';
import { exportPlan } from '../../../electron/engine/export/export-plan.js';
import { exportFileError, isExportTempName, parseExportTempName, removeLeftovers } from '../../../electron/engine/export/export-target.js';
import { TempFolders, dusPlan, folderNames, openFixture, sourceMap } from './export-fixtures.js';

const folders = new TempFolders();
afterAll(() => folders.removeAll());

async function smallSource(options: { shards?: number } = {}): Promise<CheckpointSummary> {
  return openFixture(folders, { layers: 6, ...options });
}

function exportTo(source: CheckpointSummary, dir: string, extra: { replace?: boolean; shardSize?: number; signal?: AbortSignal; onProgress?: () => void } = {}) {
  const { replace, shardSize, ...rest } = extra;
  return exportPlan({
    plan: dusPlan(source, 2),
    target: { dir, ...(replace === undefined ? {} : { replace }), ...(shardSize === undefined ? {} : { shardSize }) },
    sources: sourceMap(source),
    ...rest,
  });
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  return child.pid as number;
}

describe('export target', () => {
  it('refuses an export target inside a source folder', async () => {
    const source = await smallSource();
    await expect(exportTo(source, path.join(source.folder, 'out'))).rejects.toMatchObject({ code: 'TargetInsideSource', path: path.join(source.folder, 'out') });
    await expect(exportTo(source, source.folder)).rejects.toMatchObject({ code: 'TargetInsideSource' });
    expect(await folderNames(source.folder)).not.toContain('out');
  });

  it('refuses a target that reaches a source folder through a link', async () => {
    const source = await smallSource();
    const link = path.join(await folders.make(), 'link');
    await symlink(source.folder, link);
    await expect(exportTo(source, path.join(link, 'deeper', 'out'))).rejects.toMatchObject({ code: 'TargetInsideSource' });
  });

  it('refuses a target that holds a source, even with replace', async () => {
    const source = await smallSource();
    await expect(exportTo(source, path.dirname(source.folder), { replace: true })).rejects.toMatchObject({ code: 'TargetExists', message: expect.stringMatching(/would replace the source/) });
    expect((await stat(source.folder)).isDirectory()).toBe(true);
  });

  it('refuses a non-empty target unless replace is set, and accepts an empty one', async () => {
    const source = await smallSource();
    const dir = path.join(await folders.make(), 'out');
    await mkdir(dir);
    await writeFile(path.join(dir, 'keep.txt'), 'mine');
    await expect(exportTo(source, dir)).rejects.toMatchObject({ code: 'TargetExists', path: dir });
    expect(await folderNames(dir)).toEqual(['keep.txt']);
    expect(await folderNames(path.dirname(dir))).toEqual(['out']);

    const empty = path.join(await folders.make(), 'empty');
    await mkdir(empty);
    expect((await exportTo(source, empty)).verify?.ok).toBe(true);
  });

  it('replaces a non-empty target when asked, leaving nothing of the old one behind', async () => {
    const source = await smallSource();
    const dir = path.join(await folders.make(), 'out');
    await mkdir(dir);
    await writeFile(path.join(dir, 'old.txt'), 'old export');
    const report = await exportTo(source, dir, { replace: true });
    expect(report.verify?.ok).toBe(true);
    expect(await folderNames(dir)).not.toContain('old.txt');
    expect(await folderNames(dir)).toContain('model.safetensors');
    expect(await folderNames(path.dirname(dir))).toEqual(['out']);
  });

  it('creates missing parent folders', async () => {
    const source = await smallSource();
    const dir = path.join(await folders.make(), 'a', 'b', 'out');
    expect((await exportTo(source, dir)).dir).toBe(dir);
    expect(await folderNames(dir)).toContain('config.json');
  });

  it('leaves neither target nor temporary folder when cancelled mid-export', async () => {
    const source = await smallSource({ shards: 2 });
    const parent = await folders.make();
    const dir = path.join(parent, 'out');
    const controller = new AbortController();
    let copies = 0;
    const pending = exportPlan({
      plan: dusPlan(source, 2),
      target: { dir, shardSize: 20_000 },
      sources: sourceMap(source),
      signal: controller.signal,
      onProgress: (progress) => {
        if (progress.phase !== 'copying') return;
        copies += 1;
        if (copies === 2) controller.abort();
      },
    });
    await expect(pending).rejects.toMatchObject({ code: 'Cancelled' });
    expect(copies).toBe(2);
    expect(await folderNames(parent)).toEqual([]);
  });

  it('refuses to copy from a source file that changed after it was opened', async () => {
    const source = await smallSource();
    const parent = await folders.make();
    await appendFile(source.shards[0]?.file as string, Buffer.from([0]));
    await expect(exportTo(source, path.join(parent, 'out'))).rejects.toMatchObject({ code: 'SourceChanged', path: source.shards[0]?.file });
    expect(await folderNames(parent)).toEqual([]);
  });

  it('refuses a source whose mtime differs from the one recorded at open', async () => {
    const source = await smallSource();
    const shard = source.shards[0] as CheckpointSummary['shards'][number];
    const info = await stat(shard.file);
    const recorded: CheckpointSummary = { ...source, shards: [{ ...shard, mtimeMs: info.mtimeMs - 5000 }] };
    await expect(exportTo(recorded, path.join(await folders.make(), 'out'))).rejects.toMatchObject({ code: 'SourceChanged', path: shard.file });
  });

  it('notices a source file rewritten while the export runs', async () => {
    const source = await smallSource({ shards: 3 });
    const parent = await folders.make();
    const last = source.shards[2]?.file as string;
    let touched = false;
    const pending = exportTo(source, path.join(parent, 'out'), {
      onProgress: () => {
        if (touched) return;
        touched = true;
        // Same size, new mtime: only the mtime check can see it.
        utimesSync(last, new Date(), new Date(Date.now() + 60_000));
      },
    });
    await expect(pending).rejects.toMatchObject({ code: 'SourceChanged', path: last });
    expect(await folderNames(parent)).toEqual([]);
  });

  it('removes leftovers of dead exports to the same target and keeps live and unrelated ones', async () => {
    const parent = await folders.make();
    const dead = deadPid();
    const stale = [`.out.dus-export-${dead}-a1b2c3`, `.out.dus-trash-${dead}-0f0f0f`];
    const keep = [`.out.dus-export-${process.pid}-abcdef`, `.other.dus-export-${dead}-a1b2c3`, 'out.dus-export-1-aa', '.out'];
    for (const name of [...stale, ...keep]) await mkdir(path.join(parent, name));
    await writeFile(path.join(parent, stale[0] as string, 'model.safetensors'), 'partial');
    expect((await removeLeftovers(parent, 'out')).sort()).toEqual(stale.sort());
    expect(await folderNames(parent)).toEqual(keep.sort());
  });

  it('cleans stale temporary folders when it next exports to the same place', async () => {
    const source = await smallSource();
    const parent = await folders.make();
    const stale = path.join(parent, `.out.dus-export-${deadPid()}-123abc`);
    await mkdir(stale);
    await exportTo(source, path.join(parent, 'out'));
    expect(await folderNames(parent)).toEqual(['out']);
  });

  it('recognises its own temporary folder names only', () => {
    expect(isExportTempName('.my-model.dus-export-1234-a1b2c3d4e5f6')).toBe(true);
    expect(isExportTempName('.my-model.dus-trash-1234-a1b2c3d4e5f6')).toBe(true);
    expect(isExportTempName('my-model.dus-export-1234-a1b2')).toBe(false);
    expect(isExportTempName('.my-model.dus-export-x-a1b2')).toBe(false);
    expect(parseExportTempName('.a.b.dus-export-42-ff')).toEqual({ targetName: 'a.b', pid: 42, kind: 'export' });
  });

  it('names the path in disk-full and permission errors', () => {
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', path: '/data/out/model.safetensors' });
    expect(exportFileError(full, '/data/out')).toMatchObject({ code: 'NoSpace', path: '/data/out/model.safetensors', message: expect.stringContaining('/data/out/model.safetensors') });
    const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    expect(exportFileError(denied, '/data/out')).toMatchObject({ code: 'PermissionDenied', path: '/data/out' });
    expect(exportFileError(Object.assign(new Error('EPERM'), { code: 'EPERM' }), '/x')).toMatchObject({ code: 'PermissionDenied' });
  });

  it('fails with the path when the target cannot be created, leaving nothing behind', async () => {
    const source = await smallSource();
    const parent = await folders.make();
    await writeFile(path.join(parent, 'file'), 'not a folder');
    await expect(exportTo(source, path.join(parent, 'file', 'out'))).rejects.toMatchObject({ code: 'ExportFailed', path: path.join(parent, 'file') });
    expect(await readFile(path.join(parent, 'file'), 'utf8')).toBe('not a folder');
    expect(await folderNames(parent)).toEqual(['file']);
  });
});
