import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, realpath, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { StudioError, isStudioError } from '../../api/errors.js';
import type { CheckpointSummary, ExportTarget } from '../../api/types.js';

/**
 * Where an export is written, and how it becomes visible: everything goes into a temporary folder
 * beside the target (same file system, so the final rename is atomic), named so that a crashed
 * export's leftovers are recognisable and removed by the next export to the same place.
 */

const TEMP_MARKER = 'dus-export';
const TRASH_MARKER = 'dus-trash';
/** `.<target>.dus-export-<pid>-<hex>` and `.<target>.dus-trash-<pid>-<hex>`. */
const LEFTOVER_NAME = /^\.(.+)\.(dus-export|dus-trash)-(\d+)-[0-9a-f]+$/;

export interface PreparedTarget {
  /** Absolute path the export will have. */
  dir: string;
  /** Folder that holds the target and the temporary folder. */
  parent: string;
  /** The temporary folder being written. */
  tempDir: string;
  replace: boolean;
}

function leftoverName(targetName: string, marker: string): string {
  return `.${targetName}.${marker}-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** True for the name of a temporary export folder (or a replaced target set aside) made by DUS Studio. */
export function isExportTempName(name: string): boolean {
  return LEFTOVER_NAME.test(name);
}

/** The target folder and process id a leftover name belongs to, or null for other names. */
export function parseExportTempName(name: string): { targetName: string; pid: number; kind: 'export' | 'trash' } | null {
  const match = LEFTOVER_NAME.exec(name);
  if (match === null) return null;
  return { targetName: match[1] as string, pid: Number(match[3]), kind: match[2] === TEMP_MARKER ? 'export' : 'trash' };
}

function processIsAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A file-system failure while writing an export, as a StudioError that names the path. A full or
 * read-only disk is the destination's problem: for two-path calls (copyFile, rename) Node puts the
 * source in `path` and the destination in `dest`, so those name `dest`.
 */
export function exportFileError(error: unknown, fallbackPath: string): StudioError {
  if (isStudioError(error)) return error;
  const errno = error as (NodeJS.ErrnoException & { dest?: unknown }) | null;
  const destinationFault = errno?.code === 'ENOSPC' || errno?.code === 'EDQUOT' || errno?.code === 'EROFS';
  const filePath = destinationFault && typeof errno.dest === 'string' ? errno.dest : typeof errno?.path === 'string' ? errno.path : fallbackPath;
  switch (errno?.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new StudioError('NoSpace', `no space left on the disk while writing ${filePath}`, { path: filePath, cause: error });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new StudioError('PermissionDenied', `no permission to write ${filePath}`, { path: filePath, cause: error });
    default: {
      const reason = error instanceof Error ? error.message : String(error);
      return new StudioError('ExportFailed', `the export failed at ${filePath}: ${reason}`, { path: filePath, cause: error });
    }
  }
}

/**
 * The error as the user should read it: the temporary folder is the exporter's business (and gone
 * once the export failed), so a path inside it is named by where the file was going.
 */
export function errorAtTarget(error: StudioError, prepared: PreparedTarget): StudioError {
  const inTemp = (text: string): boolean => text === prepared.tempDir || text.startsWith(`${prepared.tempDir}${path.sep}`);
  if (error.path === undefined || !inTemp(error.path)) return error;
  const targetPath = prepared.dir + error.path.slice(prepared.tempDir.length);
  const message = error.message.split(prepared.tempDir).join(prepared.dir);
  return new StudioError(error.code, message, { path: targetPath, detail: error.detail, cause: error });
}

/** The real path `target` would have: the real path of its nearest existing ancestor plus the rest. */
export async function realTargetPath(target: string): Promise<string> {
  const absolute = path.resolve(target);
  const missing: string[] = [];
  let current = absolute;
  for (;;) {
    try {
      const real = await realpath(current);
      return path.join(real, ...missing.reverse());
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw exportFileError(error, current);
      const parent = path.dirname(current);
      if (parent === current) return absolute;
      missing.push(path.basename(current));
      current = parent;
    }
  }
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

async function isEmptyDirectory(dir: string): Promise<boolean> {
  return (await readdir(dir)).length === 0;
}

/** True when something exists at `target`; file-system failures other than "not there" are export errors. */
export async function pathExists(target: string): Promise<boolean> {
  try {
    await stat(target);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw exportFileError(error, target);
  }
}

/**
 * Checks the target against the refuse rules and creates the temporary folder beside it:
 * - inside (or equal to) a source folder → TargetInsideSource (real paths compared, so links and
 *   `..` cannot hide it); a target that holds a source is refused too, as replacing it would delete
 *   the source;
 * - an existing non-empty target without `replace` → TargetExists.
 * Missing parents are created; leftovers of dead exports to the same target are removed.
 */
export async function prepareExportTarget(target: ExportTarget, sources: ReadonlyMap<string, CheckpointSummary>): Promise<PreparedTarget> {
  const dir = path.resolve(target.dir);
  const realTarget = await realTargetPath(dir);
  for (const source of sources.values()) {
    const sourceFolder = await realTargetPath(source.folder);
    if (isInside(realTarget, sourceFolder)) {
      throw new StudioError('TargetInsideSource', `the export target ${dir} is inside the source checkpoint folder ${source.folder}; choose a folder outside it`, {
        path: dir,
      });
    }
    if (isInside(sourceFolder, realTarget)) {
      throw new StudioError('TargetExists', `the export target ${dir} holds the source checkpoint ${source.folder}; writing there would replace the source`, {
        path: dir,
      });
    }
  }
  const replace = target.replace === true;
  if (await pathExists(dir)) {
    const info = await stat(dir);
    const empty = info.isDirectory() && (await isEmptyDirectory(dir));
    if (!empty && !replace) {
      throw new StudioError('TargetExists', `${dir} already exists and is not empty; choose another folder or allow replacing it`, { path: dir });
    }
  }
  const parent = path.dirname(dir);
  try {
    await mkdir(parent, { recursive: true });
  } catch (error) {
    throw exportFileError(error, parent);
  }
  await removeLeftovers(parent, path.basename(dir));
  const tempDir = path.join(parent, leftoverName(path.basename(dir), TEMP_MARKER));
  const prepared = { dir, parent, tempDir, replace };
  try {
    await mkdir(tempDir);
  } catch (error) {
    throw errorAtTarget(exportFileError(error, tempDir), prepared);
  }
  return prepared;
}

/** Removes temporary and set-aside folders for `targetName` whose exporting process is gone. */
export async function removeLeftovers(parent: string, targetName: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const leftover = parseExportTempName(name);
    if (leftover === null || leftover.targetName !== targetName || processIsAlive(leftover.pid)) continue;
    await rm(path.join(parent, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** fsync of a folder, so renames inside it survive a crash; not supported everywhere (Windows), hence best effort. */
async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Directories cannot be opened or synced on some platforms; the rename itself is still atomic.
  } finally {
    await handle?.close();
  }
}

/**
 * Moves the finished temporary folder into place. With `replace`, an existing target is first
 * renamed aside (`.<name>.dus-trash-…`), so the target path always holds either the old or the
 * new export; the old one is deleted afterwards. An empty existing folder is simply replaced.
 */
export async function commitExportTarget(prepared: PreparedTarget): Promise<void> {
  const { dir, parent, tempDir } = prepared;
  await syncDirectory(tempDir);
  let trash: string | null = null;
  try {
    if (await pathExists(dir)) {
      const info = await stat(dir);
      if (info.isDirectory() && (await isEmptyDirectory(dir))) {
        await rmdir(dir);
      } else if (prepared.replace) {
        trash = path.join(parent, leftoverName(path.basename(dir), TRASH_MARKER));
        await rename(dir, trash);
      } else {
        throw new StudioError('TargetExists', `${dir} appeared while the export was running; the export was not moved there`, { path: dir });
      }
    }
    try {
      await rename(tempDir, dir);
    } catch (error) {
      if (trash !== null) await rename(trash, dir).catch(() => undefined);
      throw error;
    }
  } catch (error) {
    throw exportFileError(error, dir);
  }
  await syncDirectory(parent);
  if (trash !== null) await rm(trash, { recursive: true, force: true });
}

/** Deletes the temporary folder of a failed or cancelled export. */
export async function discardExportTarget(prepared: PreparedTarget): Promise<void> {
  await rm(prepared.tempDir, { recursive: true, force: true, maxRetries: 3 });
}
