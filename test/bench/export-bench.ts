/**
 * Export rows: throughput of `dus-studio dus MODEL --drop 8 --out DIR --replace` against `cp -r` on
 * the same disk (the engine's export phase against a copy of the model; the whole CLI process run
 * with `--skip-verify` against a copy of that export's own output folder), the time the CLI spends
 * after the copy (verification), and the peak resident memory of the export process for a model
 * and for one 4× larger.
 *
 * Throughput is compared in bytes per second, because the DUS output is 1.5× the source (48 of 32
 * layers): export = bytes written / seconds; cp = file bytes copied / seconds of `cp -r` plus fsync
 * of the copies (the export fsyncs every shard, so the baseline is made as durable). The
 * export-process row copies the very folder the export just wrote, so both sides move the same
 * bytes and its ratio is cp time ÷ export time. Both read a warm page cache (cp's folder is read
 * once, untimed, before each copy); caches are not dropped on this shared machine.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { makeRow, type BenchRow } from './bench-table.js';
import { listFiles, megabytes, runCli, type BenchContext } from './bench-context.js';
import { expectSuccess, hasGnuTime, probeProcess, type ProbeResult } from './process-probe.js';
import { summarize, type SampleSummary } from './sample-summary.js';

export interface ExportRun {
  /** Tensor bytes the export wrote (the CLI's report). */
  tensorBytes: number;
  /** The engine's export time, from start to the rename into place; verification excluded. */
  exportSeconds: number;
  /** The whole CLI process: start, open, export, verify. */
  wallSeconds: number;
  peakRssBytes: number;
}

export interface SmallExportResults {
  rows: BenchRow[];
  /** Peak RSS of the export runs, the baseline of the 4× row. */
  peakRss: SampleSummary;
}

/**
 * Reads `wrote … (N bytes) in T (R MB/s)` from the CLI's summary. The rate is printed to three
 * significant digits from the exact byte count and the engine's own timer, so N / R recovers the
 * export time to within 0.5 %, and unlike the rounded seconds it stays precise under 60 s.
 * `verify` says what the summary must report: `verify: ok`, or `verify: skipped` (--skip-verify).
 */
export function parseExportSummary(stdout: string, verify: 'ok' | 'skipped' = 'ok'): { tensorBytes: number; exportSeconds: number } {
  const match = /\(([\d,]+) bytes\) in [^(]*\(([\d.]+) MB\/s\)/.exec(stdout);
  if (match === null) throw new Error(`the CLI printed no export summary:\n${stdout}`);
  const tensorBytes = Number((match[1] as string).replaceAll(',', ''));
  const rate = Number(match[2]) * 1e6;
  if (!(rate > 0)) throw new Error(`the CLI reported an export rate of ${match[2]} MB/s`);
  if (verify === 'ok' && !/^verify: ok/m.test(stdout)) throw new Error(`the export did not verify:\n${stdout}`);
  if (verify === 'skipped' && !/^verify: skipped/m.test(stdout)) throw new Error(`the export was verified although --skip-verify was given:\n${stdout}`);
  return { tensorBytes, exportSeconds: tensorBytes / rate };
}

/**
 * One `dus` export through the CLI under the peak-memory probe (verified unless `skipVerify`); the
 * target is removed first, outside the timing.
 */
export async function exportOnce(context: BenchContext, model: string, outDir: string, options: { skipVerify?: boolean } = {}): Promise<ExportRun> {
  await rm(outDir, { recursive: true, force: true });
  const skipVerify = options.skipVerify === true;
  const args = ['dus', model, '--drop', String(context.profile.drop), '--out', outDir, '--replace', ...(skipVerify ? ['--skip-verify'] : [])];
  const result = expectSuccess(await runCli(context, args, { peakMemory: true }), `dus-studio ${args.join(' ')}`);
  const { tensorBytes, exportSeconds } = parseExportSummary(result.stdout, skipVerify ? 'skipped' : 'ok');
  return { tensorBytes, exportSeconds, wallSeconds: result.wallMs / 1000, peakRssBytes: peakOf(result) };
}

function peakOf(result: ProbeResult): number {
  if (result.peakRssBytes === null) throw new Error('no peak memory was measured');
  return result.peakRssBytes;
}

/**
 * `cp -r` of a folder (the model, or an export), then fsync of every copied file (`sync FILE…`);
 * seconds of each. The folder is read once first, untimed: an export's fresh output is not in the
 * page cache (measured here: cp of a just-written 1.59 GB export took 2.17 s cold, 0.36 s warm),
 * while the export itself read a warm model, so a cold cp would flatter the export by the disk reads.
 */
async function copyOnce(model: string, copyDir: string): Promise<{ bytes: number; copySeconds: number; syncSeconds: number }> {
  await rm(copyDir, { recursive: true, force: true });
  const sourceFiles = (await listFiles(model)).map((entry) => entry.file);
  expectSuccess(await probeProcess('cat', sourceFiles, { discardStdout: true }), 'cat (page cache warm-up)');
  const copy = expectSuccess(await probeProcess('cp', ['-r', model, copyDir]), 'cp -r');
  const files = await listFiles(copyDir);
  const sync = expectSuccess(await probeProcess('sync', files.map((entry) => entry.file)), 'sync');
  return { bytes: files.reduce((sum, entry) => sum + entry.bytes, 0), copySeconds: copy.wallMs / 1000, syncSeconds: sync.wallMs / 1000 };
}

/**
 * Export, export-process, verify and memory rows for the ≥ 2 GB model. Each round runs cp of the
 * model, a verified export, a --skip-verify export and cp of that export's output folder, so every
 * export and its cp alternate and see the same noise.
 */
export async function measureExport(context: BenchContext, model: string): Promise<SmallExportResults> {
  const { profile } = context;
  const outDir = path.join(context.workDir, 'export-out');
  const copyDir = path.join(context.workDir, 'cp-out');
  const copyRates: number[] = [];
  const copyOnlyRates: number[] = [];
  const runs: ExportRun[] = [];
  const unverifiedRuns: ExportRun[] = [];
  /** Per round: the --skip-verify export's output folder bytes, and cp -r + fsync seconds of that folder. */
  const outputCopies: Array<{ bytes: number; seconds: number }> = [];
  const outputCopyDir = path.join(context.workDir, 'cp-export-out');
  for (let run = 0; run < profile.exportRuns; run += 1) {
    const copy = await copyOnce(model, copyDir);
    await rm(copyDir, { recursive: true, force: true });
    copyRates.push(megabytes(copy.bytes) / (copy.copySeconds + copy.syncSeconds));
    copyOnlyRates.push(megabytes(copy.bytes) / copy.copySeconds);
    context.log(`cp -r ${formatMb(copy.bytes)} in ${copy.copySeconds.toFixed(2)} s + fsync ${copy.syncSeconds.toFixed(2)} s`);
    const exported = await exportOnce(context, model, outDir);
    runs.push(exported);
    context.log(
      `export ${formatMb(exported.tensorBytes)} in ${exported.exportSeconds.toFixed(2)} s; CLI ${exported.wallSeconds.toFixed(2)} s; peak ${formatMb(exported.peakRssBytes)}`,
    );
    const unverified = await exportOnce(context, model, outDir, { skipVerify: true });
    unverifiedRuns.push(unverified);
    const outputCopy = await copyOnce(outDir, outputCopyDir);
    await rm(outputCopyDir, { recursive: true, force: true });
    outputCopies.push({ bytes: outputCopy.bytes, seconds: outputCopy.copySeconds + outputCopy.syncSeconds });
    context.log(
      `export --skip-verify: CLI ${unverified.wallSeconds.toFixed(2)} s (export phase ${unverified.exportSeconds.toFixed(2)} s); ` +
        `cp -r of its ${formatMb(outputCopy.bytes)} output ${outputCopy.copySeconds.toFixed(2)} s + fsync ${outputCopy.syncSeconds.toFixed(2)} s`,
    );
  }
  await rm(outDir, { recursive: true, force: true });

  const bare: number[] = [];
  for (let run = 0; run < profile.exportRuns; run += 1) {
    bare.push(peakOf(expectSuccess(await runCli(context, ['--version'], { peakMemory: true }), 'dus-studio --version')));
  }

  const exportRates = summarize(runs.map((run) => megabytes(run.tensorBytes) / run.exportSeconds));
  const afterCopy = summarize(runs.map((run) => run.wallSeconds - run.exportSeconds));
  const exportSeconds = summarize(runs.map((run) => run.exportSeconds));
  const peakRss = summarize(runs.map((run) => megabytes(run.peakRssBytes)));
  const tensorBytes = runs[0]?.tensorBytes ?? 0;
  const copyOnly = summarize(copyOnlyRates);
  const copyRate = summarize(copyRates);
  const wholeProcess = summarize(runs.map((run) => megabytes(run.tensorBytes) / run.wallSeconds));
  // Each export against the cp run just before it: the disk is shared, so neighbours see alike noise.
  const pairs = summarize(runs.map((run, index) => megabytes(run.tensorBytes) / run.exportSeconds / (copyRates[index] as number)));
  // The same bytes on both sides: everything the export wrote (tensors, headers, index, config, card).
  const outputBytes = outputCopies.map((copy) => copy.bytes);
  const processRates = summarize(unverifiedRuns.map((run, index) => megabytes(outputBytes[index] as number) / run.wallSeconds));
  const outputCopyRate = summarize(outputCopies.map((copy) => megabytes(copy.bytes) / copy.seconds));
  const processPairs = summarize(unverifiedRuns.map((run, index) => (outputCopies[index] as { seconds: number }).seconds / run.wallSeconds));
  const processOverhead = summarize(unverifiedRuns.map((run) => run.wallSeconds - run.exportSeconds));
  const rows: BenchRow[] = [
    makeRow({
      id: 'export',
      figure: { label: `DUS export throughput (${formatMb(tensorBytes)} written, verify excluded)`, unit: 'MB/s', summary: exportRates },
      baseline: { label: 'cp -r + fsync', unit: 'MB/s', summary: copyRate },
      ratioMeaning: 'export MB/s ÷ cp MB/s (= cp time ÷ export time for the same bytes); higher is better',
      target: { text: 'ratio ≥ 0.90', checks: [{ on: 'ratio', op: '>=', value: 0.9 }] },
      notes: [
        `export = the CLI's own report (tensor bytes ÷ engine export seconds, start to rename; excludes process start, open and verify); the export-process row times the whole process`,
        `export ÷ the cp run just before it, per pair: median ${pairs.median.toFixed(2)}, ${pairs.min.toFixed(2)}–${pairs.max.toFixed(2)}`,
        `the whole CLI process (start, open, export, verify): ${wholeProcess.median.toFixed(0)} MB/s (${wholeProcess.min.toFixed(0)}–${wholeProcess.max.toFixed(0)}), ratio ${(wholeProcess.median / copyRate.median).toFixed(2)} to cp`,
        `cp without the fsync: ${copyOnly.median.toFixed(0)} MB/s (${copyOnly.min.toFixed(0)}–${copyOnly.max.toFixed(0)}); page cache warm in both (not dropped)`,
      ],
    }),
    makeRow({
      id: 'export-process',
      figure: { label: `whole CLI process with --skip-verify (${formatMb(outputBytes[0] ?? 0)} written)`, unit: 'MB/s', summary: processRates },
      baseline: { label: 'cp -r of that export + fsync', unit: 'MB/s', summary: outputCopyRate },
      ratioMeaning:
        'bytes of the output folder ÷ wall time of `node out/cli.js dus … --skip-verify` (spawn to exit), ÷ the same bytes ÷ (`cp -r` of that output folder + `sync` of the copies); higher is better',
      target: { text: 'ratio ≥ 0.90', checks: [{ on: 'ratio', op: '>=', value: 0.9 }] },
      notes: [
        `the whole process: start, open, plan, export with fsync of every shard, rename into place, exit; no verification (the report says verify: skipped)`,
        `each export ÷ the cp of its own output right after it (cp seconds ÷ export seconds), ${processPairs.count} alternating pairs: median ${processPairs.median.toFixed(2)}, ${processPairs.min.toFixed(2)}–${processPairs.max.toFixed(2)}`,
        `outside the export phase (start, open, exit): median ${processOverhead.median.toFixed(2)} s (${processOverhead.min.toFixed(2)}–${processOverhead.max.toFixed(2)})`,
      ],
    }),
    makeRow({
      id: 'export-verify',
      figure: { label: 'CLI time after the copy (verify + start + open)', unit: 's', summary: afterCopy },
      baseline: { label: 'export phase', unit: 's', summary: exportSeconds },
      ratioMeaning: 'time after the export phase ÷ export phase time (information; no target)',
      target: null,
      notes: ['CLI wall time (spawn to exit) minus the export phase: mostly the byte-for-byte verification, which reads the export and its sources again'],
    }),
    makeRow({
      id: 'export-memory',
      figure: { label: `peak RSS of the ${formatMb(tensorBytes)} export (CLI process)`, unit: 'MB', summary: peakRss },
      baseline: { label: 'dus-studio --version', unit: 'MB', summary: summarize(bare.map(megabytes)) },
      ratioMeaning: 'export peak RSS ÷ peak RSS of the same CLI doing nothing',
      target: { text: '≤ 250 MB', checks: [{ on: 'figure', op: '<=', value: 250 }] },
      notes: [`measured from outside: ${runsMethod()}`],
    }),
  ];
  return { rows, peakRss };
}

/** The 4× export's peak memory against the small export's. */
export async function measureLargeExport(context: BenchContext, model: string, smallPeak: SampleSummary): Promise<BenchRow> {
  const outDir = path.join(context.workDir, 'export-large-out');
  const runs: ExportRun[] = [];
  for (let run = 0; run < context.profile.largeExportRuns; run += 1) {
    const exported = await exportOnce(context, model, outDir);
    runs.push(exported);
    context.log(`4× export ${formatMb(exported.tensorBytes)} in ${exported.exportSeconds.toFixed(2)} s; CLI ${exported.wallSeconds.toFixed(2)} s; peak ${formatMb(exported.peakRssBytes)}`);
    await rm(outDir, { recursive: true, force: true });
  }
  const rates = summarize(runs.map((run) => megabytes(run.tensorBytes) / run.exportSeconds));
  return makeRow({
    id: 'export-memory-4x',
    figure: { label: `peak RSS of a 4× export (${formatMb(runs[0]?.tensorBytes ?? 0)} written)`, unit: 'MB', summary: summarize(runs.map((run) => megabytes(run.peakRssBytes))) },
    baseline: { label: 'peak RSS of the 1× export', unit: 'MB', summary: smallPeak },
    ratioMeaning: '4× export peak RSS ÷ 1× export peak RSS; 1.00 = constant memory',
    target: {
      text: '≤ 250 MB, ratio 0.80–1.20',
      checks: [
        { on: 'figure', op: '<=', value: 250 },
        { on: 'ratio', op: 'within', value: 0.2 },
      ],
    },
    notes: [`4× export throughput ${rates.median.toFixed(0)} MB/s (${rates.min.toFixed(0)}–${rates.max.toFixed(0)}), verify excluded`],
  });
}

function runsMethod(): string {
  return hasGnuTime() ? '/usr/bin/time -v around the CLI process' : 'the parent polling /proc/PID/status VmHWM of the CLI process (no /usr/bin/time)';
}

export function formatMb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}
