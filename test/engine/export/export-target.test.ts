import { spawnSync } from 'node:child_process';
import { renameSync, symlinkSync, utimesSync } from 'node:fs';
import { appendFile, lstat, mkdir, open, readFile, readdir, rename, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckpointSummary } from '../../../electron/api/types.js';
import { exportPlan, type ExportPlanProgress } from '../../../electron/engine/export/export-plan.js';
import type { ExportTargetPolicy } from '../../../electron/engine/export/export-target.js';
import { exportFileError, isExportTempName, parseExportTempName, recoverLeftovers } from '../../../electron/engine/export/export-target.js';
import { verifyExport } from '../../../electron/engine/export/verify-export.js';
import { TempFolders, dusPlan, folderNames, openFixture, sourceMap } from './export-fixtures.js';

const folders = new TempFolders();
afterAll(() => folders.removeAll());

async function smallSource(options: { shards?: number } = {}): Promise<CheckpointSummary> {
  return openFixture(folders, { layers: 6, ...options });
}

function exportTo(
  source: CheckpointSummary,
  dir: string,
  extra: { replace?: boolean; shardSize?: number; signal?: AbortSignal; onProgress?: (progress: ExportPlanProgress) => void | Promise<void>; targetPolicy?: ExportTargetPolicy } = {},
) {
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

  it('replaces a previous export when asked, leaving nothing of the old one behind', async () => {
    const source = await smallSource();
    const dir = path.join(await folders.make(), 'out');
    await exportTo(source, dir, { shardSize: 20_000 });
    expect((await folderNames(dir)).filter((name) => name.startsWith('model-')).length).toBeGreaterThan(1);
    const report = await exportTo(source, dir, { replace: true });
    expect(report.verify?.ok).toBe(true);
    expect(await folderNames(dir)).not.toContain('model.safetensors.index.json');
    expect(await folderNames(dir)).toContain('model.safetensors');
    expect(await folderNames(path.dirname(dir))).toEqual(['out']);
  });

  it('refuses to replace a folder that is not a model export, naming the first file that is not part of one (issue 13)', async () => {
    const source = await smallSource();
    const dir = path.join(await folders.make(), 'documents');
    await mkdir(dir);
    await writeFile(path.join(dir, 'config.json'), '{}');
    await writeFile(path.join(dir, 'thesis.docx'), 'years of work');
    await expect(exportTo(source, dir, { replace: true })).rejects.toMatchObject({
      code: 'TargetNotExport',
      path: dir,
      message: expect.stringContaining(path.join(dir, 'thesis.docx')),
    });
    expect(await folderNames(dir)).toEqual(['config.json', 'thesis.docx']);
    expect(await readFile(path.join(dir, 'thesis.docx'), 'utf8')).toBe('years of work');
    expect(await folderNames(path.dirname(dir))).toEqual(['documents']);
  });

  it('refuses to replace a folder holding a subfolder, or export files but no weights nor plan', async () => {
    const source = await smallSource();
    const withFolder = path.join(await folders.make(), 'out');
    await mkdir(path.join(withFolder, 'photos'), { recursive: true });
    await writeFile(path.join(withFolder, 'model.safetensors'), 'x');
    await expect(exportTo(source, withFolder, { replace: true })).rejects.toMatchObject({ code: 'TargetNotExport', message: expect.stringContaining('photos') });
    const onlyReadme = path.join(await folders.make(), 'notes');
    await mkdir(onlyReadme);
    await writeFile(path.join(onlyReadme, 'README.md'), '# my notes');
    await expect(exportTo(source, onlyReadme, { replace: true })).rejects.toMatchObject({ code: 'TargetNotExport' });
    expect(await readFile(path.join(onlyReadme, 'README.md'), 'utf8')).toBe('# my notes');
  });

  it('refuses a target that is or holds a protected folder (the bundled demo, a serve root), even with replace', async () => {
    const source = await smallSource();
    const parent = await folders.make();
    const root = path.join(parent, 'root');
    await exportTo(source, root);
    const policy = { protectedFolders: [root] };
    await expect(exportTo(source, root, { replace: true, targetPolicy: policy })).rejects.toMatchObject({ code: 'ProtectedTarget', path: root });
    await expect(exportTo(source, parent, { replace: true, targetPolicy: policy })).rejects.toMatchObject({ code: 'ProtectedTarget' });
    expect(await folderNames(root)).toContain('model.safetensors');
    expect((await exportTo(source, path.join(root, 'inside'), { targetPolicy: policy })).verify?.ok).toBe(true);
  });

  it('commits a replace through a linked target to the real folder it checked, keeping the link (issue 13)', async () => {
    const source = await smallSource();
    const parent = await folders.make();
    const real = path.join(parent, 'real');
    await exportTo(source, real, { shardSize: 20_000 });
    const link = path.join(parent, 'link');
    await symlink(real, link);
    const report = await exportTo(source, link, { replace: true });
    expect(report.dir).toBe(link);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await folderNames(real)).toContain('model.safetensors');
    expect(await folderNames(real)).not.toContain('model.safetensors.index.json');
    expect((await folderNames(parent)).sort()).toEqual(['link', 'real']);
  });

  it('does not commit when the target folder is swapped for a link while the export runs (issue 13)', async () => {
    const source = await smallSource();
    const base = await folders.make();
    const parent = path.join(base, 'inside');
    await mkdir(parent);
    // Where the swapped-in link leads: the real folder, moved away (outside a root, in serve mode).
    const moved = path.join(base, 'moved');
    let swapped = false;
    const exporting = exportTo(source, path.join(parent, 'out'), {
      onProgress: (progress) => {
        if (progress.phase !== 'verifying' || swapped) return;
        swapped = true;
        renameSync(parent, moved);
        symlinkSync(moved, parent);
      },
    });
    await expect(exporting).rejects.toMatchObject({ code: 'TargetChanged' });
    expect(swapped).toBe(true);
    expect(await folderNames(moved)).toEqual([]);
  });

  it('never commits an export that fails verification, and keeps the export it was to replace (issue 14)', async () => {
    const source = await smallSource();
    const dir = path.join(await folders.make(), 'out');
    await exportTo(source, dir, { shardSize: 20_000 });
    const before = await folderNames(dir);
    let corrupted = false;
    const exporting = exportTo(source, dir, {
      replace: true,
      onProgress: async (progress) => {
        if (progress.phase !== 'verifying' || corrupted) return;
        corrupted = true;
        // Flip the last data byte of the finished shard in the temporary folder, as a bad copy would.
        const temp = (await readdir(path.dirname(dir))).find((name) => parseExportTempName(name)?.kind === 'export') as string;
        const shard = await open(path.join(path.dirname(dir), temp, 'model.safetensors'), 'r+');
        const { size } = await shard.stat();
        const byte = Buffer.alloc(1);
        await shard.read(byte, 0, 1, size - 1);
        byte[0] = (byte[0] as number) ^ 0xff;
        await shard.write(byte, 0, 1, size - 1);
        await shard.close();
      },
    });
    await expect(exporting).rejects.toMatchObject({ code: 'VerifyFailed', detail: { ok: false, problems: [expect.objectContaining({ code: 'TensorBytesDiffer' })] } });
    expect(corrupted).toBe(true);
    expect(await folderNames(dir)).toEqual(before);
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

  it('removes temporary folders of dead exports to the same target and keeps live and unrelated ones', async () => {
    const parent = await folders.make();
    const dead = deadPid();
    const stale = `.out.dus-export-${dead}-a1b2c3`;
    const keep = [`.out.dus-export-${process.pid}-abcdef`, `.other.dus-export-${dead}-a1b2c3`, 'out.dus-export-1-aa', '.out'];
    for (const name of [stale, ...keep]) await mkdir(path.join(parent, name));
    await writeFile(path.join(parent, stale, 'model.safetensors'), 'partial');
    expect(await recoverLeftovers(parent, 'out')).toEqual([]);
    expect(await folderNames(parent)).toEqual(keep.sort());
  });

  it('puts back an old export that a killed replace set aside, and never deletes one (issue 8)', async () => {
    const source = await smallSource();
    const parent = await folders.make();
    const setAside = path.join(parent, `.out.dus-trash-${deadPid()}-0f0f0f`);
    await exportTo(source, setAside);
    const dir = path.join(parent, 'out');
    const verify = await verifyExport(dir);
    expect(verify.ok).toBe(false);
    expect(verify.problems).toEqual([expect.objectContaining({ code: 'SetAside', message: expect.stringContaining(setAside) })]);

    await expect(exportTo(source, dir)).rejects.toMatchObject({ code: 'TargetExists' });
    expect(await folderNames(parent)).toEqual(['out']);
    expect((await verifyExport(dir)).ok).toBe(true);

    const second = path.join(parent, `.out.dus-trash-${deadPid()}-1e1e1e`);
    await exportTo(source, second);
    const report = await exportTo(source, dir, { replace: true });
    expect(report.warnings).toContainEqual(expect.stringContaining(`kept at ${second}`));
    expect((await folderNames(parent)).sort()).toEqual([path.basename(second), 'out'].sort());
  });

  it('finishes a GGUF split set whose commit a kill cut short, but never over a file that is not a GGUF', async () => {
    const parent = await folders.make();
    const leftover = path.join(parent, `.m.gguf.dus-export-${deadPid()}-abc123`);
    const [first, second] = ['m-00001-of-00002.gguf', 'm-00002-of-00002.gguf'];
    await mkdir(leftover);
    await writeFile(path.join(leftover, first!), 'GGUF first');
    await writeFile(path.join(leftover, second!), 'GGUF second');
    // The marker as the commit writes it: every file complete and verified, renamed in this order.
    await writeFile(path.join(leftover, '.dus-commit.json'), JSON.stringify({ files: [second, first] }));
    await writeFile(path.join(parent, second!), 'my notes');

    const refused = await recoverLeftovers(parent, 'm.gguf');
    expect(refused).toEqual([expect.stringContaining(`cannot be finished`)]);
    expect(await readFile(path.join(parent, second!), 'utf8')).toBe('my notes');
    expect((await folderNames(parent)).sort()).toEqual([path.basename(leftover), second].sort());

    await rename(path.join(parent, second!), path.join(await folders.make(), 'notes'));
    const finished = await recoverLeftovers(parent, 'm.gguf');
    expect(finished).toEqual([expect.stringContaining('the 2 files still waiting')]);
    expect((await folderNames(parent)).sort()).toEqual([first, second]);
    expect(await readFile(path.join(parent, first!), 'utf8')).toBe('GGUF first');
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
