/**
 * Runs a child process and measures it from outside: wall time from spawn to exit, and peak
 * resident memory as the kernel counted it. Peak memory comes from GNU time (`/usr/bin/time -v`,
 * Debian package `time`) when present, else from polling the child's VmHWM in /proc — never from
 * sampling inside the measured process.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const GNU_TIME = '/usr/bin/time';
/** VmHWM is a high-water mark, so polling only misses growth in the last interval before exit. */
const POLL_INTERVAL_MS = 5;

export interface ProbeOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Send stdout to /dev/null instead of collecting it (`inspect --json > /dev/null`). */
  discardStdout?: boolean;
  /** Measure peak resident memory (adds GNU time around the command, or the /proc poller). */
  peakMemory?: boolean;
}

export interface ProbeResult {
  exitCode: number;
  wallMs: number;
  /** Peak resident set size in bytes; null when not asked for. */
  peakRssBytes: number | null;
  /** How the peak was measured. */
  memoryMethod: 'gnu-time' | 'proc-vmhwm' | null;
  stdout: string;
  stderr: string;
}

/** True when GNU time can measure peak memory here. */
export function hasGnuTime(): boolean {
  return existsSync(GNU_TIME);
}

/** Runs `command args…` to completion; rejects only when it cannot be started. */
export async function probeProcess(command: string, args: readonly string[], options: ProbeOptions = {}): Promise<ProbeResult> {
  const memory = options.peakMemory === true ? (hasGnuTime() ? 'gnu-time' : 'proc-vmhwm') : null;
  const reportDir = memory === 'gnu-time' ? await mkdtemp(path.join(os.tmpdir(), 'dus-bench-time-')) : null;
  const reportFile = reportDir === null ? null : path.join(reportDir, 'time.txt');
  const devNull = options.discardStdout === true ? await open('/dev/null', 'w') : null;
  try {
    const [file, argv] =
      reportFile === null ? [command, [...args]] : [GNU_TIME, ['-v', '-o', reportFile, command, ...args]];
    const started = performance.now();
    const child = spawn(file, argv, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', devNull === null ? 'pipe' : devNull.fd, 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    let polledPeak = 0;
    const poller =
      memory === 'proc-vmhwm' && child.pid !== undefined
        ? setInterval(() => {
            void readVmHwm(child.pid as number).then((bytes) => {
              if (bytes !== null && bytes > polledPeak) polledPeak = bytes;
            });
          }, POLL_INTERVAL_MS)
        : null;
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve(code ?? (signal === null ? 1 : 128 + (os.constants.signals[signal] ?? 0))));
    });
    const wallMs = performance.now() - started;
    if (poller !== null) clearInterval(poller);
    let peakRssBytes: number | null = null;
    if (memory === 'gnu-time' && reportFile !== null) peakRssBytes = parseGnuTimePeak(await readFile(reportFile, 'utf8'));
    else if (memory === 'proc-vmhwm') peakRssBytes = polledPeak > 0 ? polledPeak : null;
    return {
      exitCode,
      wallMs,
      peakRssBytes,
      memoryMethod: memory,
      stdout: Buffer.concat(stdout).toString('utf8'),
      stderr: Buffer.concat(stderr).toString('utf8'),
    };
  } finally {
    await devNull?.close();
    if (reportDir !== null) await rm(reportDir, { recursive: true, force: true });
  }
}

/** `Maximum resident set size (kbytes): 81234` from `time -v` (GNU time ≥ 1.8 reports true kilobytes). */
export function parseGnuTimePeak(report: string): number {
  const match = /Maximum resident set size \(kbytes\):\s*(\d+)/.exec(report);
  if (match === null) throw new Error(`GNU time printed no peak memory:\n${report}`);
  return Number(match[1]) * 1024;
}

async function readVmHwm(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s*(\d+)\s*kB/m.exec(status);
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null; // the process already exited
  }
}

/** Throws with the command's stderr when it failed. */
export function expectSuccess(result: ProbeResult, what: string): ProbeResult {
  if (result.exitCode !== 0) {
    throw new Error(`${what} exited with ${result.exitCode}: ${result.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  }
  return result;
}
