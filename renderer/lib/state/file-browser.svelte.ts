import type { StudioHost } from '../../../electron/api/studio-api.js';
import type { DirectoryEntry, DirectoryListing } from '../../../electron/api/types.js';
import { describeError } from '../studio-client.js';

/** The parent folder of a path, for either separator; the path itself at a root. */
export function parentFolder(path: string): string {
  const trimmed = path.replace(/[\\/]+$/, '');
  const cut = Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\'));
  if (cut < 0) return path;
  if (cut === 0) return trimmed.slice(0, 1);
  const parent = trimmed.slice(0, cut);
  return /^[A-Za-z]:$/.test(parent) ? `${parent}\\` : parent;
}

/** The last part of a path, for either separator. */
export function baseName(path: string): string {
  const trimmed = path.replace(/[\\/]+$/, '');
  return trimmed.slice(Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\')) + 1);
}

/** A file name inside a folder, joined with the separator the folder's path already uses. */
export function childPath(folder: string, name: string): string {
  const separator = folder.includes('\\') && !folder.includes('/') ? '\\' : '/';
  return folder.endsWith(separator) ? `${folder}${name}` : `${folder}${separator}${name}`;
}

/**
 * The in-app file browser over the API's `browse` (the server's disk in serve mode, restricted to
 * its roots). Later answers for folders the user has already left are dropped.
 */
export class FileBrowserState {
  listing = $state.raw<DirectoryListing | null>(null);
  loading = $state(false);
  error = $state<string | null>(null);
  #host: StudioHost;
  #request = 0;

  constructor(host: StudioHost) {
    this.#host = host;
  }

  /** The entry its parent folder lists for `path` (a file cannot be listed itself), or null. */
  async entryAt(path: string): Promise<DirectoryEntry | null> {
    const name = baseName(path);
    try {
      const listing = await this.#host.browse({ dir: parentFolder(path) });
      return listing.entries.find((entry) => entry.name === name) ?? null;
    } catch {
      return null;
    }
  }

  async go(dir: string): Promise<void> {
    const request = ++this.#request;
    this.loading = true;
    try {
      const listing = await this.#host.browse({ dir });
      if (request !== this.#request) return;
      this.listing = listing;
      this.error = null;
    } catch (error) {
      if (request !== this.#request) return;
      this.error = describeError(error);
    } finally {
      if (request === this.#request) this.loading = false;
    }
  }
}
