/**
 * `npm run bench` (out/bench.js, bundled by build/build.mjs): DUS Studio's performance at real
 * model scale, each figure printed as a ratio against a baseline measured in the same run.
 *
 *   node out/bench.js [--smoke] [--only ROW[,ROW…]] [--dir PARENT] [--json FILE]
 *
 * --smoke runs every row once at toy sizes (seconds; for the smoke test, figures meaningless);
 * --only runs the named rows; --dir chooses where the work folder goes (default the system temp
 * folder; it is removed at the end); --json also writes the rows as JSON. Progress goes to stderr,
 * the table to stdout. Exit 0 when every row was measured (PASS or FAIL), 1 when one could not be,
 * 2 on a usage error.
 */
import { mkdtemp, rm, statfs, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildFixtureCheckpoint } from '../fixtures/checkpoint-builder.js';
import { FULL_PROFILE, SMOKE_PROFILE, modelBytes, type BenchProfile, type ModelShape } from './bench-profile.js';
import { ROW_IDS, formatTable, isRowId, verdictOf, type BenchRow, type FailedRow, type RowId } from './bench-table.js';
import { listFiles, type BenchContext } from './bench-context.js';
import { formatMb, measureExport, measureLargeExport } from './export-bench.js';
import { GGUF_ROWS, measureGguf } from './gguf-bench.js';
import { measureOpen } from './open-bench.js';
import { measureRenderer } from './renderer-bench.js';
import { buildGoliathSources, measureResolvePlan, startServe } from './serve-bench.js';
import { measureStats } from './stats-bench.js';
import { measureSweep } from './sweep-bench.js';
import { expectSuccess, hasGnuTime, probeProcess } from './process-probe.js';

const USAGE = 'usage: node out/bench.js [--smoke] [--only ROW[,ROW…]] [--dir PARENT] [--json FILE]';

export interface BenchOptions {
  profile: BenchProfile;
  rows: ReadonlySet<RowId>;
  parentDir: string;
  jsonFile: string | null;
  cliPath: string;
}

export class BenchUsageError extends Error {
  /** 0 for --help (the usage is the answer), 2 for a mistake. */
  readonly exitCode: number;

  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

export function parseBenchArguments(argv: readonly string[], defaults: { cliPath: string }): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        smoke: { type: 'boolean' },
        only: { type: 'string', multiple: true },
        dir: { type: 'string' },
        json: { type: 'string' },
        cli: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new BenchUsageError(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  }
  const { values } = parsed;
  if (values.help === true) throw new BenchUsageError(`${USAGE}\nrows: ${ROW_IDS.join(', ')}`, 0);
  const requested = (values.only ?? []).flatMap((entry) => entry.split(',')).map((entry) => entry.trim()).filter((entry) => entry !== '');
  const unknown = requested.filter((entry) => !isRowId(entry));
  if (unknown.length > 0) throw new BenchUsageError(`unknown row ${unknown.join(', ')}; rows: ${ROW_IDS.join(', ')}`);
  return {
    profile: values.smoke === true ? SMOKE_PROFILE : FULL_PROFILE,
    rows: new Set(requested.length === 0 ? ROW_IDS : (requested as RowId[])),
    parentDir: path.resolve(values.dir ?? os.tmpdir()),
    jsonFile: values.json === undefined ? null : path.resolve(values.json),
    cliPath: path.resolve(values.cli ?? defaults.cliPath),
  };
}

/** The machine, as the report must state it. */
export function machineDescription(): string {
  let cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // Not Linux: os.cpus() named it.
  }
  const memory = `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM (${(os.freemem() / 2 ** 30).toFixed(0)} GiB free)`;
  const load = os.loadavg().map((value) => value.toFixed(2)).join(' ');
  return `${os.availableParallelism()} CPUs (${cpu}), ${memory}, load ${load}, node ${process.version}, ${os.platform()} ${os.release()}`;
}

const MODEL_ROWS: readonly RowId[] = ['export', 'export-process', 'export-verify', 'export-memory', 'export-memory-4x', 'stats'];
const EXPORT_ROWS: readonly RowId[] = ['export', 'export-process', 'export-verify', 'export-memory', 'export-memory-4x'];
const OPEN_ROWS: readonly RowId[] = ['open-405b', 'inspect-405b'];
const SERVE_ROWS: readonly RowId[] = ['render-first', 'render-drag', 'render-drag-work', 'resolve-plan'];
const RENDER_ROWS: readonly RowId[] = ['render-first', 'render-drag', 'render-drag-work'];

function wants(rows: ReadonlySet<RowId>, group: readonly RowId[]): boolean {
  return group.some((row) => rows.has(row));
}

async function buildModel(context: BenchContext, name: string, shape: ModelShape, seed: number): Promise<string> {
  const dir = path.join(context.workDir, name);
  const started = performance.now();
  await buildFixtureCheckpoint({ dir, ...shape, dtype: 'BF16', seed });
  // Flushed before any timing, so the first cp or export does not pay for the fixture's write-back.
  expectSuccess(await probeProcess('sync', (await listFiles(dir)).map((entry) => entry.file)), 'sync');
  context.log(`built ${name}: ${formatMb(modelBytes(shape))} bf16 in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return dir;
}

/**
 * Runs a group of rows; a failure turns each of the group's selected rows (not yet measured) into a
 * FailedRow, so the table always has one line per requested row.
 */
async function runGroup(rows: ReadonlySet<RowId>, group: readonly RowId[], results: Array<BenchRow | FailedRow>, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    for (const id of group) {
      if (rows.has(id) && !results.some((row) => row.id === id)) results.push({ id, error: message.split('\n')[0] ?? message });
    }
    process.stderr.write(`bench: ${group.join(', ')} failed: ${error instanceof Error ? (error.stack ?? message) : message}\n`);
  }
}

async function checkFreeSpace(dir: string, needed: number): Promise<void> {
  const stats = await statfs(dir);
  const free = stats.bavail * stats.bsize;
  if (free < needed) throw new Error(`the model rows need ${formatMb(needed)} free in ${dir}, which has ${formatMb(free)}; choose another folder with --dir`);
}

/** Measures the selected rows; returns them in table order. Removes everything it wrote. */
export async function runBench(options: BenchOptions, log: (message: string) => void): Promise<Array<BenchRow | FailedRow>> {
  if (!existsSync(options.cliPath)) throw new Error(`${options.cliPath} is missing: build first (node build/build.mjs)`);
  const workDir = await mkdtemp(path.join(options.parentDir, 'dus-bench-'));
  const context: BenchContext = { profile: options.profile, workDir, cliPath: options.cliPath, log };
  const { rows, profile } = options;
  const results: Array<BenchRow | FailedRow> = [];
  // 'exit' handlers run synchronously: Ctrl-C (process.exit in main) still removes the folder.
  const removeWorkDir = (): void => rmSync(workDir, { recursive: true, force: true });
  process.once('exit', removeWorkDir);
  try {
    if (wants(rows, MODEL_ROWS)) {
      await runGroup(rows, MODEL_ROWS, results, async () => {
        await checkFreeSpace(workDir, profile.diskBytesNeeded);
        const model = await buildModel(context, 'model-1x', profile.exportModel, 1);
        if (rows.has('stats')) {
          await runGroup(rows, ['stats'], results, async () => {
            results.push(await measureStats(context, model));
          });
        }
        if (wants(rows, EXPORT_ROWS)) {
          await runGroup(rows, EXPORT_ROWS, results, async () => {
            const measured = await measureExport(context, model);
            results.push(...measured.rows.filter((row) => rows.has(row.id)));
            await rm(model, { recursive: true, force: true });
            if (rows.has('export-memory-4x')) {
              const large = await buildModel(context, 'model-4x', profile.largeModel, 2);
              results.push(await measureLargeExport(context, large, measured.peakRss));
              await rm(large, { recursive: true, force: true });
            }
          });
        }
      });
    }
    if (wants(rows, OPEN_ROWS)) {
      await runGroup(rows, OPEN_ROWS, results, async () => {
        results.push(...(await measureOpen(context, rows)));
      });
    }
    if (wants(rows, GGUF_ROWS)) {
      await runGroup(rows, GGUF_ROWS, results, async () => {
        await measureGguf(context, rows, (row) => results.push(row));
      });
    }
    if (rows.has('sweep-grid')) {
      await runGroup(rows, ['sweep-grid'], results, async () => {
        results.push(await measureSweep(context, profile.name === 'smoke'));
      });
    }
    if (wants(rows, SERVE_ROWS)) {
      await runGroup(rows, SERVE_ROWS, results, async () => {
        const { modelX, modelE } = await buildGoliathSources(context);
        const serve = await startServe(context, modelX, modelE);
        try {
          if (rows.has('resolve-plan')) {
            await runGroup(rows, ['resolve-plan'], results, async () => {
              results.push(await measureResolvePlan(context, serve));
            });
          }
          if (wants(rows, RENDER_ROWS)) {
            await runGroup(rows, RENDER_ROWS, results, async () => {
              await measureRenderer(context, serve, rows, (row) => results.push(row));
            });
          }
        } finally {
          await serve.stop();
        }
      });
    }
  } finally {
    process.off('exit', removeWorkDir);
    await rm(workDir, { recursive: true, force: true });
  }
  const order = new Map(ROW_IDS.map((id, index) => [id, index]));
  return results.filter((row) => rows.has(row.id)).sort((left, right) => (order.get(left.id) ?? 0) - (order.get(right.id) ?? 0));
}

function reproduceCommand(options: BenchOptions): string {
  const extra: string[] = [];
  if (options.profile.name === 'smoke') extra.push('--smoke');
  if (options.rows.size !== ROW_IDS.length) extra.push('--only', [...options.rows].join(','));
  return extra.length === 0 ? 'npm run bench' : `npm run bench -- ${extra.join(' ')}`;
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArguments(process.argv.slice(2), { cliPath: path.join(import.meta.dirname, 'cli.js') });
  } catch (error) {
    if (error instanceof BenchUsageError) {
      (error.exitCode === 0 ? process.stdout : process.stderr).write(`${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
  const log = (message: string): void => {
    process.stderr.write(`bench: ${message}\n`);
  };
  const started = Date.now();
  const machine = machineDescription();
  log(`${options.profile.name} run on ${machine}`);
  // Ctrl-C: the work folder (up to ~22 GB) must not stay behind; the 'exit' hook removes it.
  const onSignal = (): void => process.exit(130);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const results = await runBench(options, log);
  const seconds = (Date.now() - started) / 1000;
  const header = [
    `DUS Studio benchmark (${options.profile.name} run${options.profile.name === 'smoke' ? ': toy sizes, figures meaningless' : ''}), ${new Date(started).toISOString()}, ${seconds.toFixed(0)} s`,
    `machine: ${machine}`,
    `page cache: warm, never dropped (shared machine); peak memory: ${hasGnuTime() ? '/usr/bin/time -v' : '/proc/PID/status VmHWM polled by the parent'}`,
    `reproduce: ${reproduceCommand(options)}`,
    '',
  ].join('\n');
  process.stdout.write(`${header}\n${formatTable(results)}`);
  if (options.jsonFile !== null) {
    const json = { profile: options.profile.name, startedAt: new Date(started).toISOString(), seconds, machine, rows: results.map((row) => ('error' in row ? row : { ...row, verdict: verdictOf(row) })) };
    await writeFile(options.jsonFile, `${JSON.stringify(json, null, 2)}\n`);
  }
  return results.some((row) => 'error' in row) ? 1 : 0;
}

// The bundle out/bench.js run directly; importing this module (tests) starts nothing.
const isEntryPoint = process.argv[1] !== undefined && path.basename(process.argv[1]) === 'bench.js';
if (isEntryPoint) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
