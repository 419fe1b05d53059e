/**
 * Keeps `npm run bench` from rotting: builds the bundles the way `npm run build` does (into a
 * temporary folder, so a stale out/ cannot hide a break), runs `bench.js --smoke` — every row once,
 * at toy sizes — and checks that every row was measured and printed with numbers. It never checks
 * a timing: on a shared machine that would only make the suite flaky.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROW_IDS, verdictOf, type BenchRow } from './bench-table.js';

const run = promisify(execFile);
const repository = path.resolve(import.meta.dirname, '../..');

/** The smoke run takes about a minute on a quiet machine and three beside other busy sessions: the bound only catches a hang. */
const SMOKE_TIMEOUT_MS = 900_000;

let outDir: string;
/** The bundles live outside the tree, so the addon and the demo model are named to them. */
const env = {
  ...process.env,
  DUS_NATIVE_PATH: path.join(repository, 'native', 'build', 'Release', 'dus_native.node'),
  DUS_DEMO_PATH: path.join(repository, 'build', 'demo', 'stories260K'),
};

async function runBench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(outDir, 'bench.js'), ...args], { env, cwd: repository, timeout: SMOKE_TIMEOUT_MS });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

interface JsonRow {
  id: string;
  error?: string;
  figure?: { summary: { median: number; min: number; max: number; count: number } };
  baseline?: { summary: { median: number } };
  ratio?: number;
  verdict?: string;
}

beforeAll(async () => {
  outDir = await mkdtemp(path.join(os.tmpdir(), 'dus-bench-smoke-'));
  await run(process.execPath, [path.join(repository, 'build', 'build.mjs'), '--outdir', outDir], { cwd: repository, timeout: SMOKE_TIMEOUT_MS });
}, SMOKE_TIMEOUT_MS);

afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

describe('npm run bench --smoke', () => {
  it('measures every row and prints each with a median, a baseline and a ratio', async () => {
    const jsonFile = path.join(outDir, 'rows.json');
    const result = await runBench(['--smoke', '--json', jsonFile]);
    expect(result.stderr).not.toMatch(/failed:/);
    expect(result.code).toBe(0);

    const lines = result.stdout.split('\n');
    for (const id of ROW_IDS) {
      const line = lines.find((candidate) => candidate.startsWith(`${id} `));
      expect(line, `row ${id} is printed`).toBeDefined();
      // The median column: a number, then its unit; then min–max with the sample count.
      expect(line).toMatch(/\s\d+(?:\.\d+)?(?: (?:MB\/s|MB|ms|s))?\s+\d+(?:\.\d+)?–\d+(?:\.\d+)? \(\d+\)\s/);
    }

    const report = JSON.parse(await readFile(jsonFile, 'utf8')) as { profile: string; rows: JsonRow[] };
    expect(report.profile).toBe('smoke');
    expect(report.rows.map((row) => row.id)).toEqual([...ROW_IDS]);
    for (const row of report.rows) {
      expect(row.error, `row ${row.id} was measured`).toBeUndefined();
      expect(Number.isFinite(row.figure?.summary.median)).toBe(true);
      expect(row.figure?.summary.count).toBeGreaterThan(0);
      expect(Number.isFinite(row.baseline?.summary.median)).toBe(true);
      const measured = row as unknown as BenchRow & { verdict: string };
      expect(measured.ratio).toBeCloseTo(measured.figure.summary.median / measured.baseline.summary.median, 10);
      // Toy sizes make the figures meaningless, so the verdict is not checked against the target
      // text; it must follow from the row's own figures and checks, in the JSON and in the table.
      expect(measured.verdict, `row ${row.id}`).toBe(verdictOf(measured));
      expect(lines.find((candidate) => candidate.startsWith(`${row.id} `))?.endsWith(` ${measured.verdict}`), `row ${row.id}'s printed result`).toBe(true);
    }
  }, SMOKE_TIMEOUT_MS);

  it('runs only the rows named with --only', async () => {
    const result = await runBench(['--smoke', '--only', 'open-405b']);
    expect(result.code).toBe(0);
    const rowLines = result.stdout.split('\n').filter((line) => ROW_IDS.some((id) => line.startsWith(`${id} `)));
    expect(rowLines.map((line) => line.split(' ')[0])).toEqual(['open-405b']);
  }, SMOKE_TIMEOUT_MS);

  it('refuses an unknown row name and lists the rows', async () => {
    const result = await runBench(['--only', 'warp-drive']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown row warp-drive');
    expect(result.stderr).toContain('export-memory-4x');
  });
});
