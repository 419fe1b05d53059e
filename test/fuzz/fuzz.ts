/**
 * The long fuzz run (`npm run fuzz`, bundled by build/build.mjs to out/fuzz.js):
 *
 *   node out/fuzz.js [--cases N] [--seed S] [--target NAME] [--case I]
 *
 * Splits N cases (default 100,000) across the targets of fuzz-targets.ts by weight, plus a few
 * inputs at the size limits, and runs each target in a child process: a case that hangs is killed
 * by a watchdog and one that crashes the process (a fatal out-of-memory, a native abort) is
 * reported, and the run goes on from the next case. Prints, per target: cases, valid, errors by
 * code, failures with the command that reproduces each, the slowest case and the peak RSS.
 * `--case I` replays one case of `--target` in this process and prints what happened.
 * Exits 1 when any case failed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import fc from 'fast-check';
import {
  CASE_TIME_LIMIT_MS,
  createFuzzTargets,
  formatBytes,
  LONG_SCALE,
  runFuzzCase,
  type FuzzCaseResult,
  type FuzzTarget,
} from './fuzz-targets.js';

const USAGE = 'usage: node out/fuzz.js [--cases N] [--seed S] [--target NAME] [--case I]';
const DEFAULT_CASES = 100_000;
/** The size-limit target's cases: each writes up to 150 MB and parses up to 100 MB, so only a few. */
const LARGE_TARGET_CASES = 6;
/** A child that reports nothing for this long (writing, reading and checking one case) is stuck: kill it and go on. */
const HANG_MS = 30_000;
/** The size-limit target writes and parses up to 150 MB per case: its cases get longer. */
const LARGE_HANG_MS = 120_000;
/** Failures listed one by one per target; the rest are counted by reason. */
const LISTED_FAILURES = 12;

interface Options {
  cases: number;
  seed: number;
  target: string | null;
  caseIndex: number | null;
  child: { start: number; count: number; workDir: string } | null;
}

class UsageError extends Error {}

function parseArguments(argv: readonly string[]): Options {
  const options: Options = { cases: DEFAULT_CASES, seed: Math.floor(Math.random() * 2 ** 31), target: null, caseIndex: null, child: null };
  const integer = (flag: string, value: string | undefined): number => {
    const parsed = Number(value);
    if (value === undefined || !Number.isSafeInteger(parsed) || parsed < 0) throw new UsageError(`${flag} needs a non-negative integer\n${USAGE}`);
    return parsed;
  };
  let childStart: number | null = null;
  let childCount: number | null = null;
  let workDir: string | null = null;
  for (let index = 0; index < argv.length; index += 1) {
    const flag = argv[index] as string;
    const value = argv[index + 1];
    switch (flag) {
      case '--cases':
        options.cases = integer(flag, value);
        index += 1;
        break;
      case '--seed':
        options.seed = integer(flag, value);
        index += 1;
        break;
      case '--target':
        if (value === undefined) throw new UsageError(`--target needs a name\n${USAGE}`);
        options.target = value;
        index += 1;
        break;
      case '--case':
        options.caseIndex = integer(flag, value);
        index += 1;
        break;
      // Internal: how the parent starts a child.
      case '--child-start':
        childStart = integer(flag, value);
        index += 1;
        break;
      case '--child-count':
        childCount = integer(flag, value);
        index += 1;
        break;
      case '--child-dir':
        workDir = value ?? null;
        index += 1;
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new UsageError(`unknown option ${flag}\n${USAGE}`);
    }
  }
  if (childStart !== null && childCount !== null && workDir !== null) options.child = { start: childStart, count: childCount, workDir };
  return options;
}

/**
 * Runs cases `start .. start + count − 1` of the target's case stream for `seed`: fast-check's
 * `path` starts the stream at `start` without drawing the cases before it, so any case can be
 * replayed alone. Regression inputs come first in the stream, as fast-check's examples.
 */
async function runCases(
  target: FuzzTarget,
  seed: number,
  start: number,
  count: number,
  workDir: string,
  onCase: (index: number, input: unknown, result: FuzzCaseResult) => void,
): Promise<void> {
  let index = start;
  await fc.check(
    fc.asyncProperty(target.arbitrary, async (input) => {
      const current = index;
      index += 1;
      const result = await runFuzzCase(target, input, path.join(workDir, `case-${current}`), 'wall');
      onCase(current, input, result);
      return true;
    }),
    { seed, numRuns: count, path: String(start), examples: target.regressions.map((input) => [input] as [unknown]) },
  );
}

function peakRss(): number {
  return Math.max(process.memoryUsage().rss, process.resourceUsage().maxRSS * 1024);
}

/** Child process: runs its slice of cases and reports each over IPC. */
async function runChild(options: Options, target: FuzzTarget): Promise<void> {
  const child = options.child as NonNullable<Options['child']>;
  const send = (message: ChildMessage): Promise<void> =>
    new Promise((resolve) => {
      (process.send as NonNullable<typeof process.send>)(message, undefined, undefined, () => resolve());
    });
  const pending: Promise<void>[] = [];
  await runCases(target, options.seed, child.start, child.count, child.workDir, (index, input, result) => {
    const description = result.outcome.kind === 'failure' ? target.describe(input) : undefined;
    pending.push(send({ type: 'case', index, result, peakRss: peakRss(), description }));
  });
  await Promise.all(pending);
  await send({ type: 'done', peakRss: peakRss() });
  process.disconnect();
}

type ChildMessage =
  | { type: 'case'; index: number; result: FuzzCaseResult; peakRss: number; description: string | undefined }
  | { type: 'done'; peakRss: number };

interface FailureRecord {
  index: number;
  reason: string;
  description: string;
}

interface TargetSummary {
  name: string;
  cases: number;
  valid: number;
  errors: Map<string, number>;
  failures: FailureRecord[];
  slowestMs: number;
  slowestIndex: number;
  slowestInputBytes: number;
  /** Most CPU time of any case: on a machine shared with other work the wall times above overstate the reader's cost. */
  mostCpuMs: number;
  /** Cases that took longer than CASE_TIME_LIMIT_MS (within their linear allowance, else they are failures). */
  overOneSecond: number;
  /** The smallest input among them. */
  smallestSlowInput: number;
  peakRss: number;
  maxMemoryGrowth: number;
  wallMs: number;
}

/** Runs `count` cases of a target in child processes, restarting after a hang or a crash. */
async function runTarget(target: FuzzTarget, seed: number, count: number): Promise<TargetSummary> {
  const summary: TargetSummary = {
    name: target.name,
    cases: 0,
    valid: 0,
    errors: new Map(),
    failures: [],
    slowestMs: 0,
    slowestIndex: -1,
    slowestInputBytes: 0,
    mostCpuMs: 0,
    overOneSecond: 0,
    smallestSlowInput: Number.POSITIVE_INFINITY,
    peakRss: 0,
    maxMemoryGrowth: 0,
    wallMs: 0,
  };
  const started = performance.now();
  const workDir = await mkdtemp(path.join(os.tmpdir(), `dus-fuzz-${target.name}-`));
  try {
    let next = 0;
    while (next < count) {
      const stopped = await runChildProcess(target, seed, next, count - next, workDir, summary);
      if (stopped === null) break;
      // The child died in case `stopped.index`: record it and go on after it.
      summary.cases += 1;
      summary.failures.push({ index: stopped.index, reason: stopped.reason, description: 'the case that was running when the child stopped' });
      next = stopped.index + 1;
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  summary.wallMs = performance.now() - started;
  return summary;
}

function runChildProcess(
  target: FuzzTarget,
  seed: number,
  start: number,
  count: number,
  workDir: string,
  summary: TargetSummary,
): Promise<{ index: number; reason: string } | null> {
  const entry = process.argv[1] as string;
  const child: ChildProcess = fork(
    entry,
    ['--target', target.name, '--seed', String(seed), '--child-start', String(start), '--child-count', String(count), '--child-dir', workDir],
    { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] },
  );
  let expected = start;
  let done = false;
  let stderrTail = '';
  let hung = false;
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4000);
  });
  const hangMs = target.weight === 0 ? LARGE_HANG_MS : HANG_MS;
  let watchdog = setTimeout(onHang, hangMs);
  function onHang(): void {
    hung = true;
    child.kill('SIGKILL');
  }
  child.on('message', (message: ChildMessage) => {
    clearTimeout(watchdog);
    watchdog = setTimeout(onHang, hangMs);
    summary.peakRss = Math.max(summary.peakRss, message.peakRss);
    if (message.type === 'done') {
      done = true;
      return;
    }
    expected = message.index + 1;
    summary.cases += 1;
    const { outcome, ms, cpuMs, memoryGrowth, inputBytes } = message.result;
    summary.maxMemoryGrowth = Math.max(summary.maxMemoryGrowth, memoryGrowth);
    summary.mostCpuMs = Math.max(summary.mostCpuMs, cpuMs);
    if (ms > summary.slowestMs) {
      summary.slowestMs = ms;
      summary.slowestIndex = message.index;
      summary.slowestInputBytes = inputBytes;
    }
    if (ms > CASE_TIME_LIMIT_MS) {
      summary.overOneSecond += 1;
      summary.smallestSlowInput = Math.min(summary.smallestSlowInput, inputBytes);
    }
    if (outcome.kind === 'valid') summary.valid += 1;
    else if (outcome.kind === 'error') summary.errors.set(outcome.code, (summary.errors.get(outcome.code) ?? 0) + 1);
    else summary.failures.push({ index: message.index, reason: outcome.reason, description: message.description ?? '' });
  });
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      if (done && code === 0) {
        resolve(null);
        return;
      }
      if (expected >= start + count) {
        resolve(null);
        return;
      }
      const lastLines = stderrTail.trim().split('\n').slice(-3).join(' | ');
      const reason = hung
        ? `hang: no result for ${hangMs / 1000} s, the child was killed`
        : `crash: the child exited with ${signal ?? `code ${code}`}${lastLines === '' ? '' : ` (${lastLines.slice(0, 400)})`}`;
      resolve({ index: expected, reason });
    });
  });
}

/** Cases per target: `total` split by weight; the size-limit target gets its own few. */
function caseCounts(targets: readonly FuzzTarget[], total: number, only: string | null): Map<FuzzTarget, number> {
  const counts = new Map<FuzzTarget, number>();
  if (only !== null) {
    for (const target of targets) if (target.name === only) counts.set(target, total);
    return counts;
  }
  const weighted = targets.filter((target) => target.weight > 0);
  const totalWeight = weighted.reduce((sum, target) => sum + target.weight, 0);
  let assigned = 0;
  weighted.forEach((target, position) => {
    const count = position === weighted.length - 1 ? total - assigned : Math.round((total * target.weight) / totalWeight);
    counts.set(target, count);
    assigned += count;
  });
  for (const target of targets) if (target.weight === 0) counts.set(target, LARGE_TARGET_CASES);
  return counts;
}

function printSummary(summaries: readonly TargetSummary[], seed: number): void {
  const lines: string[] = [];
  let totalCases = 0;
  let totalFailures = 0;
  for (const summary of summaries) {
    totalCases += summary.cases;
    totalFailures += summary.failures.length;
    const errors = [...summary.errors.entries()].sort((left, right) => right[1] - left[1]).map(([code, count]) => `${code} ${count}`);
    lines.push(`${summary.name}`);
    lines.push(`  cases ${summary.cases}, valid ${summary.valid}, named errors ${summary.cases - summary.valid - summary.failures.length}, failures ${summary.failures.length}`);
    lines.push(`  errors by code: ${errors.length === 0 ? 'none' : errors.join(', ')}`);
    lines.push(
      `  slowest case ${summary.slowestMs.toFixed(1)} ms (case ${summary.slowestIndex}, ${formatBytes(summary.slowestInputBytes)} of input), most CPU time of a case ${summary.mostCpuMs.toFixed(1)} ms, ` +
        `cases over ${CASE_TIME_LIMIT_MS / 1000} s: ${summary.overOneSecond}` +
        (summary.overOneSecond > 0 ? ` (inputs of ${formatBytes(summary.smallestSlowInput)} or more)` : ''),
    );
    lines.push(`  largest memory growth ${formatBytes(summary.maxMemoryGrowth)}, peak RSS ${formatBytes(summary.peakRss)}, wall ${(summary.wallMs / 1000).toFixed(1)} s`);
    const byReason = new Map<string, number>();
    for (const failure of summary.failures) {
      const key = failure.reason.replace(/\d+(\.\d+)?/g, 'N').slice(0, 120);
      byReason.set(key, (byReason.get(key) ?? 0) + 1);
    }
    if (byReason.size > 0) {
      lines.push('  failures by reason:');
      for (const [reason, count] of [...byReason.entries()].sort((left, right) => right[1] - left[1])) lines.push(`    ${count} × ${reason}`);
    }
    for (const failure of summary.failures.slice(0, LISTED_FAILURES)) {
      lines.push(`  FAILURE case ${failure.index}: ${failure.reason}`);
      lines.push(`    reproduce: node out/fuzz.js --target ${summary.name} --seed ${seed} --case ${failure.index}`);
      if (failure.description !== '') lines.push(`    input: ${failure.description}`);
    }
  }
  lines.push(`total: ${totalCases} cases, ${totalFailures} failures (seed ${seed})`);
  console.log(lines.join('\n'));
}

/** Replays one case in this process and prints what it was and how it ended. */
async function replayCase(target: FuzzTarget, seed: number, index: number): Promise<boolean> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), `dus-fuzz-${target.name}-`));
  let failed = false;
  try {
    await runCases(target, seed, index, 1, workDir, (current, input, { outcome, ms, cpuMs, memoryGrowth, inputBytes }) => {
      console.log(`case ${current} of ${target.name} (seed ${seed}): ${target.describe(input)}`);
      const ended = outcome.kind === 'valid' ? 'valid' : outcome.kind === 'error' ? `named error ${outcome.code}` : `FAILURE: ${outcome.reason}`;
      console.log(`${ended}; ${ms.toFixed(1)} ms (${cpuMs.toFixed(1)} ms of CPU time) for ${formatBytes(inputBytes)} of input, memory growth ${formatBytes(memoryGrowth)}`);
      failed = outcome.kind === 'failure';
    });
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  return !failed;
}

async function main(): Promise<number> {
  const options = parseArguments(process.argv.slice(2));
  const targets = createFuzzTargets(LONG_SCALE, { large: true });
  const named = (name: string): FuzzTarget => {
    const target = targets.find((candidate) => candidate.name === name);
    if (target === undefined) throw new UsageError(`unknown target ${name}; targets: ${targets.map((candidate) => candidate.name).join(', ')}`);
    return target;
  };
  if (options.child !== null) {
    await runChild(options, named(options.target as string));
    return 0;
  }
  if (options.caseIndex !== null) {
    if (options.target === null) throw new UsageError(`--case needs --target\n${USAGE}`);
    return (await replayCase(named(options.target), options.seed, options.caseIndex)) ? 0 : 1;
  }
  if (options.target !== null) named(options.target);
  const counts = caseCounts(targets, options.cases, options.target);
  console.log(
    `fuzzing ${[...counts.values()].reduce((sum, count) => sum + count, 0)} cases with seed ${options.seed}: ` +
      [...counts.entries()].map(([target, count]) => `${target.name} ${count}`).join(', '),
  );
  const summaries: TargetSummary[] = [];
  for (const [target, count] of counts) {
    const summary = await runTarget(target, options.seed, count);
    console.log(`${target.name}: ${summary.cases} cases, ${summary.failures.length} failures, ${(summary.wallMs / 1000).toFixed(1)} s`);
    summaries.push(summary);
  }
  printSummary(summaries, options.seed);
  return summaries.some((summary) => summary.failures.length > 0) ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof UsageError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 2;
  },
);
