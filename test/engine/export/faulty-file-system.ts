/**
 * A fault-injecting file layer for the export tests: node:fs/promises and the native copy, wrapped
 * so that a test can make chosen operations fail the way a full, read-only or permission-denying
 * disk makes them fail, and can read back the order of opens, writes, syncs and renames. It is the
 * path that runs on every machine; where a small tmpfs can be mounted (root with CAP_SYS_ADMIN) the
 * same faults are also produced by a real file system (see tmpfs-mount.ts).
 *
 * A test file installs it with
 *   vi.mock('node:fs/promises', async (importOriginal) =>
 *     (await import('./faulty-file-system.js')).faultyFsPromises(await importOriginal()));
 *   vi.mock('../../../electron/engine/native.js', async (importOriginal) =>
 *     (await import('./faulty-file-system.js')).faultyNative(await importOriginal()));
 * and drives it through `fileFaults`. With no fault set every call goes straight to the real one.
 * This module must not import node:fs/promises itself: it is what gets replaced.
 */
import path from 'node:path';
import { StudioError, type ErrorCode } from '../../../electron/api/errors.js';
import type * as NativeModule from '../../../electron/engine/native.js';

type FsPromises = typeof import('node:fs/promises');
type FileHandle = Awaited<ReturnType<FsPromises['open']>>;

export type FileOperation = 'mkdir' | 'open' | 'write' | 'truncate' | 'sync' | 'close' | 'rename' | 'rm' | 'rmdir' | 'copyFile' | 'copyRanges';

export interface FileEvent {
  operation: FileOperation;
  /** The file the operation writes or opens (the destination of rename and copies). */
  path: string;
  /** rename and copies: where from. */
  from?: string;
  /** open: the flags as given. */
  flags?: string;
  /** Bytes the operation would add to the disk (writes and copies). */
  bytes?: number;
  /** copyRanges: how the native layer copied ('copy_file_range' or 'read-write'). */
  method?: string;
}

/** errno codes the layer can inject, with the message libuv gives them. */
const ERRNO_MESSAGES = {
  ENOSPC: 'no space left on device',
  EACCES: 'permission denied',
  EROFS: 'read-only file system',
  EIO: 'i/o error',
} as const;

export type InjectedErrno = keyof typeof ERRNO_MESSAGES;

/** What native.ts makes of each errno (native/src/file-io.cc ErrnoError, then fromNative in native.ts). */
const NATIVE_CODES: Record<InjectedErrno, { native: string; studio: ErrorCode }> = {
  ENOSPC: { native: 'NO_SPACE', studio: 'NoSpace' },
  EACCES: { native: 'PERMISSION_DENIED', studio: 'PermissionDenied' },
  EROFS: { native: 'PERMISSION_DENIED', studio: 'PermissionDenied' },
  EIO: { native: 'IO_ERROR', studio: 'ExportFailed' },
};
const NATIVE_MESSAGES: Record<InjectedErrno, string> = {
  ENOSPC: 'No space left on device',
  EACCES: 'Permission denied',
  EROFS: 'Read-only file system',
  EIO: 'Input/output error',
};

/** An error shaped like the one Node throws for `syscall` on `filePath` (and `dest` for two-path calls). */
export function errnoError(code: InjectedErrno, syscall: string, filePath: string, dest?: string): NodeJS.ErrnoException {
  const where = dest === undefined ? `'${filePath}'` : `'${filePath}' -> '${dest}'`;
  const error: NodeJS.ErrnoException & { dest?: string } = new Error(`${code}: ${ERRNO_MESSAGES[code]}, ${syscall} ${where}`);
  error.code = code;
  error.syscall = syscall;
  error.path = filePath;
  if (dest !== undefined) error.dest = dest;
  return error;
}

interface Rule {
  when: (event: FileEvent) => boolean;
  errno: InjectedErrno;
}

/** The faults in force and what happened, shared by the wrapped modules and the test. */
export class FileFaults {
  /** Every operation under `watched`, in order. */
  readonly events: FileEvent[] = [];
  /** Only operations on paths inside this folder are logged, limited and failed. */
  watched: string | null = null;
  /** Bytes the watched folder may still take; null: unlimited. */
  spaceLeft: number | null = null;
  /** Make the native copy take its read/write path, as it does when copy_file_range says EXDEV. */
  forceCopyFallback = false;
  private rules: Rule[] = [];

  /** Back to a transparent layer. */
  reset(): void {
    this.events.length = 0;
    this.watched = null;
    this.spaceLeft = null;
    this.forceCopyFallback = false;
    this.rules = [];
  }

  /** Watch `folder`: log what happens in it and apply the faults to it. */
  watch(folder: string): void {
    this.watched = path.resolve(folder);
  }

  /** A disk that holds only `bytes` more bytes under the watched folder; then writes fail with ENOSPC. */
  limitSpace(bytes: number): void {
    this.spaceLeft = bytes;
  }

  /** Fail every watched operation `when` accepts with `errno`. */
  failWhen(when: (event: FileEvent) => boolean, errno: InjectedErrno): void {
    this.rules.push({ when, errno });
  }

  isWatched(filePath: string): boolean {
    if (this.watched === null) return false;
    const resolved = path.resolve(filePath);
    return resolved === this.watched || resolved.startsWith(`${this.watched}${path.sep}`);
  }

  /** Logs the event and returns the errno it must fail with, if any rule says so. */
  enter(event: FileEvent): InjectedErrno | null {
    if (!this.isWatched(event.path)) return null;
    this.events.push(event);
    return this.rules.find((rule) => rule.when(event))?.errno ?? null;
  }

  /**
   * Takes up to `bytes` of the space left; returns how many fit (all of them when space is not
   * limited or the path is not watched).
   */
  allocate(filePath: string, bytes: number): number {
    if (this.spaceLeft === null || !this.isWatched(filePath)) return bytes;
    const granted = Math.min(bytes, this.spaceLeft);
    this.spaceLeft -= granted;
    return granted;
  }
}

export const fileFaults = new FileFaults();

function pathText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof URL) return value.pathname;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return String(value);
}

function byteLengthOf(data: unknown, length: unknown): number {
  if (typeof length === 'number') return length;
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}

/**
 * A FileHandle whose writes count against the space left (a write that does not fit writes what
 * fits and reports the short count, as pwrite does; the next one fails with ENOSPC), and whose
 * write, truncate and sync can be failed by rules.
 */
function faultyHandle(handle: FileHandle, filePath: string): FileHandle {
  const wrapped = {
    async write(data: Uint8Array | string, ...rest: unknown[]) {
      if (typeof data === 'string') {
        const failure = fileFaults.enter({ operation: 'write', path: filePath, bytes: Buffer.byteLength(data) });
        if (failure !== null) throw errnoError(failure, 'write', filePath);
        return handle.write(data, ...(rest as []));
      }
      const [offset = 0, length, position] = rest as [number | undefined, number | undefined, number | null | undefined];
      const wanted = byteLengthOf(data, length ?? data.byteLength - offset);
      const failure = fileFaults.enter({ operation: 'write', path: filePath, bytes: wanted });
      if (failure !== null) throw errnoError(failure, 'write', filePath);
      const granted = fileFaults.allocate(filePath, wanted);
      if (wanted > 0 && granted === 0) throw errnoError('ENOSPC', 'write', filePath);
      return handle.write(data, offset, granted, position);
    },
    async truncate(length?: number) {
      // Growing a file makes a hole: no blocks are taken (tmpfs and ext4 alike).
      const failure = fileFaults.enter({ operation: 'truncate', path: filePath });
      if (failure !== null) throw errnoError(failure, 'ftruncate', filePath);
      return handle.truncate(length);
    },
    async sync() {
      const failure = fileFaults.enter({ operation: 'sync', path: filePath });
      if (failure !== null) throw errnoError(failure, 'fsync', filePath);
      return handle.sync();
    },
    async close() {
      fileFaults.enter({ operation: 'close', path: filePath });
      return handle.close();
    },
  };
  return new Proxy(handle, {
    get(target, property) {
      if (Object.hasOwn(wrapped, property)) return wrapped[property as keyof typeof wrapped];
      const value: unknown = Reflect.get(target, property, target);
      // FileHandle's methods use private fields: they must run on the real handle.
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** node:fs/promises with the writing calls routed through `fileFaults`. */
export function faultyFsPromises(real: FsPromises): FsPromises {
  const layer: Partial<FsPromises> = {
    async open(file, flags, mode) {
      const filePath = pathText(file);
      const flagText = typeof flags === 'string' ? flags : flags === undefined ? 'r' : String(flags);
      const failure = fileFaults.enter({ operation: 'open', path: filePath, flags: flagText });
      if (failure !== null) throw errnoError(failure, 'open', filePath);
      const handle = await real.open(file, flags, mode);
      return fileFaults.isWatched(filePath) ? faultyHandle(handle, filePath) : handle;
    },
    mkdir: (async (dir: Parameters<FsPromises['mkdir']>[0], options?: Parameters<FsPromises['mkdir']>[1]) => {
      const failure = fileFaults.enter({ operation: 'mkdir', path: pathText(dir) });
      if (failure !== null) throw errnoError(failure, 'mkdir', pathText(dir));
      return real.mkdir(dir, options);
    }) as FsPromises['mkdir'],
    async rename(from, to) {
      const failure = fileFaults.enter({ operation: 'rename', path: pathText(to), from: pathText(from) });
      if (failure !== null) throw errnoError(failure, 'rename', pathText(from), pathText(to));
      return real.rename(from, to);
    },
    async rm(target, options) {
      const failure = fileFaults.enter({ operation: 'rm', path: pathText(target) });
      if (failure !== null) throw errnoError(failure, 'rm', pathText(target));
      return real.rm(target, options);
    },
    async rmdir(target, options) {
      const failure = fileFaults.enter({ operation: 'rmdir', path: pathText(target) });
      if (failure !== null) throw errnoError(failure, 'rmdir', pathText(target));
      return real.rmdir(target, options);
    },
    async copyFile(from, to, mode) {
      const source = pathText(from);
      const target = pathText(to);
      const bytes = (await real.stat(source)).size;
      const failure = fileFaults.enter({ operation: 'copyFile', path: target, from: source, bytes });
      if (failure !== null) throw errnoError(failure, 'copyfile', source, target);
      if (fileFaults.allocate(target, bytes) < bytes) throw errnoError('ENOSPC', 'copyfile', source, target);
      return real.copyFile(from, to, mode);
    },
  };
  return { ...real, ...layer, default: { ...real, ...layer } } as FsPromises;
}

/** The StudioError native.ts gives for an errno the C++ copy met while writing `target`. */
function nativeCopyError(errno: InjectedErrno, target: string): StudioError {
  return new StudioError(NATIVE_CODES[errno].studio, `cannot write ${target}: ${NATIVE_MESSAGES[errno]}`, {
    path: target,
    detail: { nativeCode: NATIVE_CODES[errno].native, errno },
  });
}

/**
 * native.js with copyRanges routed through `fileFaults`: a copy that does not fit in the space left
 * copies the ranges that fit (cutting the last one), then fails as the native layer does.
 */
export function faultyNative(real: typeof NativeModule): typeof NativeModule {
  const copyRanges: typeof real.copyRanges = async (source, target, ranges, options = {}) => {
    const bytes = ranges.reduce((sum, range) => sum + range.length, 0);
    const event: FileEvent = { operation: 'copyRanges', path: target, from: source, bytes };
    const failure = fileFaults.enter(event);
    if (failure !== null) throw nativeCopyError(failure, target);
    const copyOptions = { ...options, forceFallback: options.forceFallback === true || (fileFaults.forceCopyFallback && fileFaults.isWatched(target)) };
    const granted = fileFaults.allocate(target, bytes);
    if (granted < bytes) {
      const fitting: NativeModule.CopyRange[] = [];
      let left = granted;
      for (const range of ranges) {
        if (left === 0) break;
        const length = Math.min(range.length, left);
        fitting.push({ ...range, length });
        left -= length;
      }
      if (fitting.length > 0) await real.copyRanges(source, target, fitting, copyOptions);
      throw nativeCopyError('ENOSPC', target);
    }
    const result = await real.copyRanges(source, target, ranges, copyOptions);
    event.method = result.method;
    return result;
  };
  return { ...real, copyRanges };
}
