/**
 * Small tmpfs mounts for the export fault tests: a real full disk (ENOSPC), a real read-only disk
 * (EROFS) and a real second file system (copy_file_range → EXDEV). Mounting needs root with
 * CAP_SYS_ADMIN; `tmpfsMountable()` says whether this machine allows it, and tests that need a
 * mount run only then (the fault-injecting layer in faulty-file-system.ts covers the rest). For a
 * second file system alone, /dev/shm often serves without mounting anything.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, rmdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function runMount(args: string[]): boolean {
  const result = spawnSync('mount', args, { stdio: 'ignore', timeout: 10_000 });
  return result.status === 0;
}

/** Mounts a tmpfs of `bytes` on the existing empty folder `dir`; false where mounting is not allowed. */
export function mountTmpfs(dir: string, bytes: number): boolean {
  return runMount(['-t', 'tmpfs', '-o', `size=${bytes},mode=0755`, 'dus-test', dir]);
}

/** Makes a mounted tmpfs read-only (no file on it may be open for writing). */
export function remountReadOnly(dir: string): void {
  if (!runMount(['-o', 'remount,ro', dir])) throw new Error(`cannot remount ${dir} read-only`);
}

/** Unmounts `dir`; a busy mount is detached lazily so a failed test cannot keep it. */
export function unmount(dir: string): void {
  const result = spawnSync('umount', [dir], { stdio: 'ignore', timeout: 10_000 });
  if (result.status !== 0) spawnSync('umount', ['-l', dir], { stdio: 'ignore', timeout: 10_000 });
}

/** True when this process may mount a tmpfs (tried once on a scratch folder, then undone). */
export function tmpfsMountable(): boolean {
  if (process.platform !== 'linux') return false;
  const probe = mkdtempSync(path.join(os.tmpdir(), 'dus-mount-probe-'));
  try {
    if (!mountTmpfs(probe, 1 << 20)) return false;
    unmount(probe);
    return true;
  } finally {
    rmdirSync(probe);
  }
}

/** True when `left` and `right` lie on different file systems. */
export function onDifferentDevices(left: string, right: string): boolean {
  return statSync(left).dev !== statSync(right).dev;
}

/**
 * /dev/shm when it is a writable file system other than the one os.tmpdir() is on: a second file
 * system that needs no mount rights (Linux machines usually have it).
 */
export function sharedMemoryOnOtherDevice(): string | null {
  const sharedMemory = '/dev/shm';
  try {
    accessSync(sharedMemory, fsConstants.W_OK);
    return onDifferentDevices(sharedMemory, os.tmpdir()) ? sharedMemory : null;
  } catch {
    return null;
  }
}
