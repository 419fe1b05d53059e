import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { readTextFileWithin } from '../formats/bounded-read.js';
import { lstat, mkdir, open, readdir, realpath, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { StudioError, isStudioError } from '../../api/errors.js';
import type { CheckpointSummary, ExportTarget } from '../../api/types.js';
import { splitSetFileName } from '../formats/gguf-format.js';
import { PLAN_FILE_NAME, isExportFileName, isWeightsFileName } from './export-files.js';

/**
 * Where an export is written, and how it becomes visible: everything goes into a temporary folder
 * beside the target (same file system, so the final rename is atomic), named so that a crashed
 * export's leftovers are recognisable and removed by the next export to the same place.
 */

const TEMP_MARKER = 'dus-export';
/**
 * Written into the temporary folder of a file export (a GGUF or a split set) just before its files
 * are renamed into place, naming them. From then on every file in it is complete and verified, so a
 * commit that a kill cut short is finished by the next export to the same place, never undone, and
 * verify says exactly which files are where until then. The leading dot keeps it out of the
 * export's own file names.
 */
const COMMIT_MARKER = '.dus-commit.json';
const TRASH_MARKER = 'dus-trash';
/** `.<target>.dus-export-<pid>-<hex>` and `.<target>.dus-trash-<pid>-<hex>`. */
const LEFTOVER_NAME = /^\.(.+)\.(dus-export|dus-trash)-(\d+)-[0-9a-f]+$/;

export interface PreparedTarget {
  /** Absolute path the export will have, as the caller named it (for messages and the report). */
  dir: string;
  /** The real path checked for `dir` (links resolved): where the export is committed. */
  realDir: string;
  /** Real folder that holds the target and the temporary folder. */
  parent: string;
  /** The temporary folder being written. */
  tempDir: string;
  /**
   * Set when the target is a single weights file (`NAME.gguf`), not a folder: the name of the file
   * inside `tempDir` that the commit renames onto the target path.
   */
  file: string | null;
  replace: boolean;
  /** What was found and done about earlier interrupted exports, for the report's warnings. */
  notes: string[];
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

/** What `lstat` finds at a path, without following a final link; null when nothing is there. */
async function entryAt(target: string): Promise<Stats | null> {
  try {
    return await lstat(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw exportFileError(error, target);
  }
}

/**
 * Refuses to replace a folder that is not recognisably a model export: replacing deletes it, and a
 * mistyped `--out` must never delete a folder of documents. A folder qualifies when every entry is a
 * regular file whose name an export holds (export-files.ts: weights, index, config.json, tokenizer
 * and generation files, README.md, mergekit_config.yml) and it holds weights or mergekit_config.yml.
 * The error names the first entry (in sorted order) that is not part of an export.
 */
export async function checkReplaceable(dir: string, shown: string = dir): Promise<void> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0));
  const refuse = (reason: string): StudioError =>
    new StudioError('TargetNotExport', `${shown} is not a previous model export, so it is not replaced: ${reason}; choose another folder or empty it yourself`, {
      path: shown,
    });
  for (const entry of entries) {
    const entryPath = path.join(shown, entry.name);
    if (entry.isDirectory()) throw refuse(`it holds the folder ${entryPath}, and exports hold no folders`);
    if (!entry.isFile()) throw refuse(`${entryPath} is not a regular file (a link, pipe or device)`);
    if (!isExportFileName(entry.name)) throw refuse(`${entryPath} is not part of an export`);
  }
  if (!entries.some((entry) => isWeightsFileName(entry.name) || entry.name === PLAN_FILE_NAME)) {
    throw refuse(`it holds neither model weights nor ${PLAN_FILE_NAME}`);
  }
}

export interface ExportTargetPolicy {
  /**
   * Folders no export may be written to or over, nor into a folder that holds them: the bundled demo
   * model, and in serve mode the roots (replacing a root would delete everything the server serves).
   */
  protectedFolders?: readonly string[];
}

/**
 * Checks the target against the refuse rules and creates the temporary folder beside it:
 * - inside (or equal to) a source folder → TargetInsideSource (real paths compared, so links and
 *   `..` cannot hide it); a target that holds a source is refused too, as replacing it would delete
 *   the source;
 * - equal to or holding a protected folder → ProtectedTarget;
 * - an existing non-empty target without `replace` → TargetExists; with `replace`, one that is not
 *   a previous model export → TargetNotExport (see checkReplaceable).
 * Everything from here on works on the real path that was checked, so a target reached through a
 * link is written where the link led when it was checked, and the temporary folder sits beside it.
 * Missing parents are created; leftovers of dead exports to the same target are removed, and an
 * old export that a killed `replace` had set aside is put back (see recoverLeftovers).
 */
export async function prepareExportTarget(
  target: ExportTarget,
  sources: ReadonlyMap<string, CheckpointSummary>,
  policy: ExportTargetPolicy = {},
): Promise<PreparedTarget> {
  const dir = path.resolve(target.dir);
  const realDir = await realTargetPath(dir);
  const fileTarget = isFileTarget(dir);
  for (const source of sources.values()) {
    if (fileTarget) {
      // A file beside its sources is the usual place for a GGUF; only a source file itself is off limits.
      for (const shard of source.shards) {
        if ((await realTargetPath(shard.file)) === realDir) {
          throw new StudioError('TargetExists', `the export target ${dir} is the source file ${shard.file}; choose another name`, { path: dir });
        }
      }
      continue;
    }
    const sourceFolder = await realTargetPath(source.folder);
    if (isInside(realDir, sourceFolder)) {
      throw new StudioError('TargetInsideSource', `the export target ${dir} is inside the source checkpoint folder ${source.folder}; choose a folder outside it`, {
        path: dir,
      });
    }
    if (isInside(sourceFolder, realDir)) {
      throw new StudioError('TargetExists', `the export target ${dir} holds the source checkpoint ${source.folder}; writing there would replace the source`, {
        path: dir,
      });
    }
  }
  for (const folder of policy.protectedFolders ?? []) {
    if (folder === '') continue;
    if (isInside(await realTargetPath(folder), realDir)) {
      throw new StudioError('ProtectedTarget', `the export target ${dir} is or holds ${folder}, which DUS Studio never writes over; choose another folder`, {
        path: dir,
      });
    }
  }
  const replace = target.replace === true;
  const parent = path.dirname(realDir);
  try {
    await mkdir(parent, { recursive: true });
  } catch (error) {
    throw exportFileError(error, path.dirname(dir));
  }
  const notes = await recoverLeftovers(parent, path.basename(realDir));
  const existing = await entryAt(realDir);
  if (existing !== null) {
    if (existing.isSymbolicLink()) throw new StudioError('TargetExists', `${dir} is a link; choose the folder it leads to or another one`, { path: dir });
    if (fileTarget) await checkReplaceableFile(realDir, dir, replace);
    const empty = existing.isDirectory() && (await isEmptyDirectory(realDir));
    if (!empty && !replace) {
      throw new StudioError('TargetExists', `${dir} already exists and is not empty; choose another folder or allow replacing it`, { path: dir });
    }
    if (!empty && !fileTarget) {
      if (!existing.isDirectory()) throw new StudioError('TargetNotExport', `${dir} is a file, not a previous model export, so it is not replaced`, { path: dir });
      await checkReplaceable(realDir, dir);
    }
  }
  const tempDir = path.join(parent, leftoverName(path.basename(realDir), TEMP_MARKER));
  const prepared = { dir, realDir, parent, tempDir, replace, notes, file: fileTarget ? path.basename(realDir) : null };
  try {
    await mkdir(tempDir);
  } catch (error) {
    throw errorAtTarget(exportFileError(error, tempDir), prepared);
  }
  return prepared;
}

/** Leftover folders of dead exports to `targetName` in `parent`, sorted by name. */
async function deadLeftovers(parent: string, targetName: string): Promise<Array<{ name: string; kind: 'export' | 'trash' }>> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const found = [];
  for (const name of names.sort()) {
    const leftover = parseExportTempName(name);
    if (leftover === null || leftover.targetName !== targetName || processIsAlive(leftover.pid)) continue;
    found.push({ name, kind: leftover.kind });
  }
  return found;
}

/**
 * Old exports that a killed `replace` set aside (`.<name>.dus-trash-…`) beside a target, as absolute
 * paths. They are the user's data: nothing here deletes them.
 */
export async function findSetAsideExports(target: string): Promise<string[]> {
  const parent = path.dirname(target);
  return (await deadLeftovers(parent, path.basename(target))).filter((leftover) => leftover.kind === 'trash').map((leftover) => path.join(parent, leftover.name));
}

/**
 * Cleans up after dead exports to `targetName`: their temporary folders (half-written, never the
 * user's) are removed. An old export set aside by a `replace` that was killed between its two
 * renames is never deleted: when the target is missing it is renamed back into place; otherwise it
 * stays where it is and the returned notes say exactly where, for the user to keep or delete.
 */
export async function recoverLeftovers(parent: string, targetName: string): Promise<string[]> {
  const notes: string[] = [];
  const target = path.join(parent, targetName);
  for (const leftover of await deadLeftovers(parent, targetName)) {
    const leftoverPath = path.join(parent, leftover.name);
    if (leftover.kind === 'export') {
      const commit = await readCommitMarker(leftoverPath);
      if (commit !== null) {
        const finished = await finishFileCommit(parent, leftoverPath, commit);
        notes.push(finished.note);
        if (!finished.complete) continue;
      }
      await rm(leftoverPath, { recursive: true, force: true });
      continue;
    }
    if ((await entryAt(target)) === null) {
      try {
        await rename(leftoverPath, target);
        notes.push(`an earlier export to ${target} was interrupted while replacing it; the previous export was restored from ${leftoverPath}`);
        continue;
      } catch {
        // Fall through: the note below tells the user where it is.
      }
    }
    notes.push(`an earlier export to ${target} was interrupted while replacing it; the export it replaced is kept at ${leftoverPath} (delete it when no longer needed)`);
  }
  return notes;
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
 * The folder the export is committed into must still be the real folder that was checked: a parent
 * swapped for a link while a long export ran would otherwise receive it wherever the link leads.
 */
async function checkParentUnchanged(prepared: PreparedTarget): Promise<void> {
  let now: string;
  try {
    now = await realpath(prepared.parent);
  } catch (error) {
    throw exportFileError(error, prepared.parent);
  }
  if (now !== prepared.parent) {
    throw new StudioError('TargetChanged', `${path.dirname(prepared.dir)} now leads to ${now}, not to ${prepared.parent} as when the export started; the export was not moved there`, {
      path: prepared.dir,
    });
  }
}

/**
 * Moves the finished temporary folder into place. With `replace`, an existing target is first
 * renamed aside (`.<name>.dus-trash-…`), so the target path always holds either the old or the
 * new export; the old one is deleted only once the new one is in place (a kill in between leaves
 * it set aside, and the next export or verify to the same place finds it). An empty existing
 * folder is simply replaced. Just before the renames the target's folder is checked again (it must
 * still be the real path that was checked, the target no link, and a replaced folder still an export).
 */
export async function commitExportTarget(prepared: PreparedTarget): Promise<void> {
  const { dir, realDir, parent, tempDir } = prepared;
  await syncDirectory(tempDir);
  if (prepared.file !== null) {
    await commitExportFiles(prepared, (await readdir(tempDir)).filter((name) => name !== COMMIT_MARKER));
    return;
  }
  let trash: string | null = null;
  try {
    await checkParentUnchanged(prepared);
    const existing = await entryAt(realDir);
    if (existing !== null) {
      if (existing.isSymbolicLink()) throw new StudioError('TargetChanged', `${dir} became a link while the export was running; the export was not moved there`, { path: dir });
      if (existing.isDirectory() && (await isEmptyDirectory(realDir))) {
        await rmdir(realDir);
      } else if (prepared.replace) {
        if (!existing.isDirectory()) throw new StudioError('TargetNotExport', `${dir} is a file, not a previous model export, so it is not replaced`, { path: dir });
        await checkReplaceable(realDir, dir);
        trash = path.join(parent, leftoverName(path.basename(realDir), TRASH_MARKER));
        await rename(realDir, trash);
      } else {
        throw new StudioError('TargetExists', `${dir} appeared while the export was running; the export was not moved there`, { path: dir });
      }
    }
    try {
      await rename(tempDir, realDir);
    } catch (error) {
      if (trash !== null) {
        const setAside = trash;
        await rename(setAside, realDir).then(
          () => {
            trash = null;
          },
          () => undefined,
        );
      }
      throw error;
    }
  } catch (error) {
    const failure = exportFileError(error, dir);
    if (trash === null) throw failure;
    // The old export could not be put back: say where it is, never lose it.
    throw new StudioError(failure.code, `${failure.message}; the export it was replacing is kept at ${trash}`, { path: failure.path, detail: { setAside: trash }, cause: error });
  }
  await syncDirectory(parent);
  if (trash !== null) {
    // Renamed to a temporary name before deleting: a kill in the middle of the delete then leaves a
    // folder the next export removes, never a half-deleted one under the set-aside name (which is
    // kept and named as the user's previous export).
    const discarded = path.join(parent, leftoverName(path.basename(realDir), TEMP_MARKER));
    await rename(trash, discarded);
    await rm(discarded, { recursive: true, force: true });
  }
}

/** Deletes the temporary folder of a failed or cancelled export. */
export async function discardExportTarget(prepared: PreparedTarget): Promise<void> {
  await rm(prepared.tempDir, { recursive: true, force: true, maxRetries: 3 });
}

/** GGUF is written to a file, not a folder: `--out NAME.gguf`. */
const FILE_TARGET_EXTENSIONS = ['.gguf'];

/** True when the target names a single weights file (a GGUF) rather than an export folder. */
export function isFileTarget(target: string): boolean {
  return FILE_TARGET_EXTENSIONS.some((extension) => target.toLowerCase().endsWith(extension));
}

/** Starts with the GGUF magic: only a GGUF file is ever replaced by a GGUF export. */
async function isGgufFile(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const magic = Buffer.alloc(4);
    const { bytesRead } = await handle.read(magic, 0, 4, 0);
    return bytesRead === 4 && magic.toString('latin1') === 'GGUF';
  } finally {
    await handle.close();
  }
}

/** An existing file target is replaced only with `replace`, and only when it is a regular GGUF file. */
async function checkReplaceableFile(realFile: string, shown: string, replace: boolean): Promise<void> {
  const existing = await entryAt(realFile);
  if (existing === null) return;
  if (existing.isSymbolicLink()) throw new StudioError('TargetChanged', `${shown} is a link; the export was not written there`, { path: shown });
  if (existing.isDirectory()) throw new StudioError('TargetNotExport', `${shown} is a folder, not a GGUF file, so it is not replaced`, { path: shown });
  if (!replace) throw new StudioError('TargetExists', `${shown} already exists; choose another name or allow replacing it`, { path: shown });
  if (!existing.isFile() || !(await isGgufFile(realFile))) {
    throw new StudioError('TargetNotExport', `${shown} is not a GGUF file, so it is not replaced`, { path: shown });
  }
}

/**
 * Moves the finished file (or split set) out of the temporary folder beside the target, each by
 * one rename, so a path holds the old file or the new one, never part of either; first the checks
 * (the folder is still the one that was checked; anything at each name may be replaced), then the
 * later splits, the first split last (it is the one a loader opens, and it finds the others). The
 * emptied temporary folder is removed.
 */
async function commitExportFiles(prepared: PreparedTarget, names: readonly string[]): Promise<void> {
  const { dir, parent, tempDir } = prepared;
  const ordered = [...names].sort().reverse();
  try {
    await checkParentUnchanged(prepared);
    for (const name of ordered) await checkReplaceableFile(path.join(parent, name), path.join(path.dirname(dir), name), prepared.replace);
    await writeCommitMarker(tempDir, { files: ordered });
    for (const name of ordered) await rename(path.join(tempDir, name), path.join(parent, name));
  } catch (error) {
    throw exportFileError(error, dir);
  }
  await syncDirectory(parent);
  await rm(tempDir, { recursive: true, force: true });
}

interface CommitMarker {
  /** The export's file names, in the order they are renamed into place (the first split last). */
  files: string[];
}

/** The marker, synced with its folder before the first rename, so a crash cannot leave renamed files without it. */
async function writeCommitMarker(tempDir: string, marker: CommitMarker): Promise<void> {
  const handle = await open(path.join(tempDir, COMMIT_MARKER), 'wx');
  try {
    await handle.writeFile(JSON.stringify(marker));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await syncDirectory(tempDir);
}

/** The commit marker of a leftover temporary folder, or null when it has none (the export never reached its commit). */
async function readCommitMarker(leftoverPath: string): Promise<CommitMarker | null> {
  let text: string;
  try {
    text = await readTextFileWithin(path.join(leftoverPath, COMMIT_MARKER), { what: 'commit marker', maxBytes: 1024 * 1024, invalidCode: 'InvalidConfig' });
  } catch {
    return null;
  }
  try {
    const parsed = JSON.parse(text) as { files?: unknown };
    // Only plain names: a marker must never move a file anywhere but beside the target.
    if (Array.isArray(parsed.files) && parsed.files.every((name) => typeof name === 'string' && name !== '' && path.basename(name) === name)) {
      return { files: parsed.files as string[] };
    }
  } catch {
    // A marker cut short was never synced, so no file was renamed after it: the folder is discarded.
  }
  return null;
}

/** Files of an interrupted commit still waiting in its temporary folder. */
async function waitingFiles(leftoverPath: string, marker: CommitMarker): Promise<string[]> {
  const present = new Set(await readdir(leftoverPath).catch(() => [] as string[]));
  return marker.files.filter((name) => present.has(name));
}

/**
 * Finishes a file commit a kill cut short: the files still waiting are renamed into place, in the
 * order the commit used. A name taken meanwhile by anything but a GGUF file is not written over:
 * the set stays unfinished, its folder is kept, and the note says where.
 */
async function finishFileCommit(parent: string, leftoverPath: string, marker: CommitMarker): Promise<{ note: string; complete: boolean }> {
  const waiting = await waitingFiles(leftoverPath, marker);
  const names = [...marker.files].sort().join(', ');
  for (const name of waiting) {
    const destination = path.join(parent, name);
    try {
      await checkReplaceableFile(destination, destination, true);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return {
        note: `an earlier export of ${names} to ${parent} was interrupted while moving its files into place, and it cannot be finished (${reason}); its remaining files are kept in ${leftoverPath}`,
        complete: false,
      };
    }
    await rename(path.join(leftoverPath, name), destination);
  }
  await syncDirectory(parent);
  return {
    note:
      waiting.length === 0
        ? `an earlier export of ${names} to ${parent} was interrupted after moving its files into place; its temporary folder was removed`
        : `an earlier export of ${names} to ${parent} was interrupted while moving its files into place; the ${waiting.length} files still waiting (${[...waiting].sort().join(', ')}) were moved into place, so that set is complete`,
    complete: true,
  };
}

/**
 * Describes each interrupted file commit beside an exported GGUF file or split (verify only reads;
 * the next export to the same place finishes the commit): which files are in place and which wait
 * in which temporary folder.
 */
export async function findInterruptedFileCommits(file: string): Promise<string[]> {
  const parent = path.dirname(file);
  const name = path.basename(file);
  const targetName = splitSetFileName(name) ?? name;
  const found: string[] = [];
  for (const leftover of await deadLeftovers(parent, targetName)) {
    if (leftover.kind !== 'export') continue;
    const leftoverPath = path.join(parent, leftover.name);
    const marker = await readCommitMarker(leftoverPath);
    if (marker === null) continue;
    const waiting = await waitingFiles(leftoverPath, marker);
    if (waiting.length === 0) continue;
    const placed = marker.files.filter((entry) => !waiting.includes(entry)).sort();
    found.push(
      `an export to ${path.join(parent, targetName)} was interrupted while moving its files into place: ${placed.length === 0 ? 'none' : placed.join(', ')} in place, ` +
        `${[...waiting].sort().join(', ')} still in ${leftoverPath}; the next export to ${path.join(parent, targetName)} moves them into place (or delete that folder and the files in place)`,
    );
  }
  return found;
}
