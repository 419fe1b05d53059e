import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { StudioError, type ErrorCode } from '../../api/errors.js';
import { fileSystemError } from './file-errors.js';

/**
 * Flags for opening a file a stranger may have replaced by a named pipe: with O_NONBLOCK, opening
 * a FIFO returns at once instead of waiting for a writer that never comes, and the caller's fstat
 * then refuses it. Regular files read the same either way. Windows has neither FIFOs nor the flag.
 */
export const READ_ONLY_NONBLOCKING = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

export interface TextFileLimits {
  /** What the file is meant to be ("config file", "index file"), for messages. */
  what: string;
  /** Largest size read; a bigger file is refused before anything is allocated. */
  maxBytes: number;
  /** The code for a file that is too large or not a regular file. */
  invalidCode: ErrorCode;
}

/**
 * Reads a small text file (UTF-8, invalid sequences replaced, as readFile does) in memory bounded
 * by `maxBytes`: refuses pipes and devices (a FIFO never ends a read, /dev/zero never ends at all)
 * and files over the limit, including one that grows past it while it is read.
 */
export async function readTextFileWithin(filePath: string, limits: TextFileLimits): Promise<string> {
  return (await readFileWithin(filePath, limits)).toString('utf8');
}

/**
 * The result of a read, or null when the file is not there (NotFound); every other failure of the
 * read is thrown. For files a model folder may or may not hold (config.json, tokenizer files).
 */
export async function nullWhenMissing<T>(read: Promise<T>): Promise<T | null> {
  try {
    return await read;
  } catch (error) {
    if (error instanceof StudioError && error.code === 'NotFound') return null;
    throw error;
  }
}

/** Reads a small file's bytes under the same rules as readTextFileWithin. */
export async function readFileWithin(filePath: string, limits: TextFileLimits): Promise<Buffer> {
  const name = path.basename(filePath) || filePath;
  let handle: FileHandle;
  try {
    handle = await open(filePath, READ_ONLY_NONBLOCKING);
  } catch (error) {
    throw fileSystemError(error, filePath, limits.what);
  }
  const tooLarge = (size: string): StudioError =>
    new StudioError(limits.invalidCode, `${name}: the ${limits.what} is ${size} bytes, more than the ${limits.maxBytes.toLocaleString('en-US')} it may have`, {
      path: filePath,
    });
  try {
    let buffer: Buffer;
    let length = 0;
    try {
      const stats = await handle.stat();
      if (stats.isDirectory()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR' });
      if (!stats.isFile()) {
        throw new StudioError(limits.invalidCode, `${name}: the ${limits.what} is not a regular file (a pipe, socket or device), so it was not read`, {
          path: filePath,
        });
      }
      if (stats.size > limits.maxBytes) throw tooLarge(stats.size.toLocaleString('en-US'));
      // One byte more than the size: a full buffer means the file grew, and the loop grows with it up to the limit.
      buffer = Buffer.allocUnsafe(stats.size + 1);
      for (;;) {
        if (length === buffer.byteLength) {
          if (length > limits.maxBytes) throw tooLarge(`over ${limits.maxBytes.toLocaleString('en-US')}`);
          const grown = Buffer.allocUnsafe(Math.min(buffer.byteLength * 2, limits.maxBytes + 1));
          buffer.copy(grown, 0, 0, length);
          buffer = grown;
        }
        const { bytesRead } = await handle.read(buffer, length, buffer.byteLength - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
    } catch (error) {
      if (error instanceof StudioError) throw error;
      throw fileSystemError(error, filePath, limits.what);
    }
    return buffer.subarray(0, length);
  } finally {
    // A failed close of a read-only handle loses nothing; the text is already read.
    await handle.close().catch(() => undefined);
  }
}

/** True when objects or arrays in `value` nest deeper than `limit` levels; iterative, so any depth is safe to check. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: Array<{ item: object; depth: number }> = [];
  if (typeof value === 'object' && value !== null) pending.push({ item: value, depth: 1 });
  while (pending.length > 0) {
    const { item, depth } = pending.pop() as { item: object; depth: number };
    if (depth > limit) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (typeof child === 'object' && child !== null) pending.push({ item: child as object, depth: depth + 1 });
    }
  }
  return false;
}
