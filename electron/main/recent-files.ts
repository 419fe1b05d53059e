/**
 * The Open Recent list, persisted as a JSON array of absolute paths (most recent first) in
 * `<userData>/recent.json`. A missing or damaged file is an empty list, never an error: the list is
 * a convenience and must not keep the app from starting.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StudioHost } from '../api/studio-api.js';

/** Entries kept. */
export const RECENT_LIMIT = 10;

/** The list with `entry` moved (or added) to the front, duplicates removed, cut to `limit`. */
export function addRecent(list: readonly string[], entry: string, limit = RECENT_LIMIT): string[] {
  return [entry, ...list.filter((existing) => existing !== entry)].slice(0, limit);
}

/** The entries of a recent.json text: absolute path strings only, first occurrence kept. */
export function parseRecent(text: string, limit = RECENT_LIMIT): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(value)) return [];
  const entries: string[] = [];
  for (const item of value) {
    if (typeof item === 'string' && path.isAbsolute(item) && !entries.includes(item)) entries.push(item);
    if (entries.length === limit) break;
  }
  return entries;
}

export interface RecentFiles {
  /** The entries, most recent first. */
  list(): Promise<string[]>;
  /** Moves `entry` to the front and saves; returns the new list. */
  add(entry: string): Promise<string[]>;
  /** Empties the list and saves. */
  clear(): Promise<string[]>;
}

/**
 * The recent list stored in `file`. Changes are applied one after another (a second add waits for
 * the first save), and each save writes a temporary file and renames it over the old one, so a
 * crash mid-write leaves the previous list.
 */
export function createRecentFiles(file: string, limit = RECENT_LIMIT): RecentFiles {
  let pending: Promise<unknown> = Promise.resolve();

  async function load(): Promise<string[]> {
    try {
      return parseRecent(await readFile(file, 'utf8'), limit);
    } catch {
      return [];
    }
  }

  async function save(entries: string[]): Promise<string[]> {
    await mkdir(path.dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    try {
      await writeFile(temporary, `${JSON.stringify(entries, null, 2)}\n`, 'utf8');
      await rename(temporary, file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    return entries;
  }

  function queue(change: (entries: string[]) => string[]): Promise<string[]> {
    const next = pending.then(async () => save(change(await load())));
    // A failed save must not block later changes.
    pending = next.catch(() => undefined);
    return next;
  }

  return {
    async list() {
      await pending;
      return load();
    },
    add(entry: string) {
      return queue((entries) => addRecent(entries, entry, limit));
    },
    clear() {
      return queue(() => []);
    },
  };
}

/**
 * The same API, except that every checkpoint opened through it is reported to `record` (by its id:
 * the real path of what was opened). A failing `record` never fails the open.
 */
export function recordOpenedCheckpoints(api: StudioHost, record: (path: string) => void): StudioHost {
  return new Proxy(api, {
    get(target, key) {
      if (key === 'openCheckpoint') {
        return async (request: { path: string }) => {
          const summary = await target.openCheckpoint(request);
          try {
            record(summary.id);
          } catch {
            // The recent list is a convenience; the checkpoint is open either way.
          }
          return summary;
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
