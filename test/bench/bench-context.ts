/**
 * What every part of the benchmark shares: the profile, the work folder (removed at the end), the
 * CLI bundle to run, and a progress log on stderr (stdout carries only the results).
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { BenchProfile } from './bench-profile.js';
import { probeProcess, type ProbeOptions, type ProbeResult } from './process-probe.js';

export interface BenchContext {
  profile: BenchProfile;
  /** A fresh folder for everything the run writes. */
  workDir: string;
  /** out/cli.js (or the bundle beside the running bench). */
  cliPath: string;
  log(message: string): void;
}

/** `node out/cli.js …args`, measured from outside. */
export function runCli(context: BenchContext, args: readonly string[], options: ProbeOptions = {}): Promise<ProbeResult> {
  return probeProcess(process.execPath, [context.cliPath, ...args], options);
}

/** Every regular file under `dir` (recursively), with its size. */
export async function listFiles(dir: string): Promise<Array<{ file: string; bytes: number }>> {
  const found: Array<{ file: string; bytes: number }> = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    found.push({ file, bytes: (await stat(file)).size });
  }
  return found.sort((left, right) => (left.file < right.file ? -1 : left.file > right.file ? 1 : 0));
}

export function megabytes(bytes: number): number {
  return bytes / 1e6;
}
