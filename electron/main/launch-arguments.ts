/**
 * Paths given on the command line (`npm start -- ./my-model`, a file manager's "Open with", or a
 * second launch while the app runs), opened after the window has loaded.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

export interface LaunchArgumentOptions {
  /** Folder relative arguments are resolved against (the launching shell's). */
  cwd: string;
  /** Paths that are the app itself (its main script, its folder), never a checkpoint. */
  skip: readonly string[];
}

/**
 * The existing paths among the arguments after the executable. Switches (`--…`, which Chromium
 * may add anywhere), missing paths and the app's own files are skipped; duplicates are dropped.
 */
export function pathsFromArgv(argv: readonly string[], options: LaunchArgumentOptions): string[] {
  const skip = new Set(options.skip.map((entry) => path.resolve(options.cwd, entry)));
  const paths: string[] = [];
  for (const arg of argv.slice(1)) {
    if (arg === '' || arg.startsWith('-')) continue;
    const resolved = path.resolve(options.cwd, arg);
    if (skip.has(resolved) || paths.includes(resolved) || !existsSync(resolved)) continue;
    paths.push(resolved);
  }
  return paths;
}
