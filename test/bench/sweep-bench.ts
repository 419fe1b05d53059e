/**
 * The splice-sweep row: a whole `dus-studio sweep` process over stories260K (the full (A, B) grid in
 * the full run, two points in the smoke run) against one `dus-studio eval` of the source alone.
 * llama.cpp runs on the CPU so the figure is the same kind on every machine.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { makeRow, type BenchRow } from './bench-table.js';
import type { BenchContext } from './bench-context.js';
import { expectSuccess, probeProcess, type ProbeOptions, type ProbeResult } from './process-probe.js';
import { summarize } from './sample-summary.js';

/**
 * The repository this runs in (the folder holding build/demo and out/cli.js), searched from the
 * CLI's folder and then the working folder: the CLI must run from the repository, where
 * node-llama-cpp (never bundled) is installed.
 */
function repositoryOf(context: BenchContext): string {
  for (const start of [path.dirname(context.cliPath), process.cwd()]) {
    for (let folder = path.resolve(start); ; folder = path.dirname(folder)) {
      if (existsSync(path.join(folder, 'build', 'demo', 'stories260K', 'config.json')) && existsSync(path.join(folder, 'out', 'cli.js'))) return folder;
      if (path.dirname(folder) === folder) break;
    }
  }
  throw new Error('the sweep row needs the repository (build/demo and out/cli.js): run the bench from it');
}

export async function measureSweep(context: BenchContext, smoke: boolean): Promise<BenchRow> {
  const repository = repositoryOf(context);
  const demo = path.join(repository, 'build', 'demo', 'stories260K');
  const cli = path.join(repository, 'out', 'cli.js');
  const runCli = (args: readonly string[], options: ProbeOptions = {}): Promise<ProbeResult> => probeProcess(process.execPath, [cli, ...args], options);
  const range = smoke ? ['--drop', '1:2'] : ['--grid'];
  const sweepMs: number[] = [];
  const evalMs: number[] = [];
  let candidates = 0;
  for (let run = 0; run < (smoke ? 1 : 3); run += 1) {
    evalMs.push(expectSuccess(await runCli(['eval', demo, '--cpu', '--json'], { discardStdout: true }), 'dus-studio eval').wallMs);
    const sweep = expectSuccess(await runCli(['sweep', demo, ...range, '--cpu', '--json']), 'dus-studio sweep');
    sweepMs.push(sweep.wallMs);
    candidates = (JSON.parse(sweep.stdout) as unknown[]).length;
  }
  return makeRow({
    id: 'sweep-grid',
    figure: { label: `node out/cli.js sweep stories260K ${range.join(' ')} --cpu (${candidates} candidates, whole process)`, unit: 's', summary: summarize(sweepMs.map((ms) => ms / 1000)) },
    baseline: { label: 'node out/cli.js eval stories260K --cpu (the source alone, whole process)', unit: 's', summary: summarize(evalMs.map((ms) => ms / 1000)) },
    ratioMeaning: 'sweep time ÷ time of one evaluation',
    target: { text: '≤ 60 s', checks: [{ on: 'figure', op: '<=', value: 60 }] },
    notes: ['one llama.cpp runtime for every candidate; each candidate written as a temporary GGUF, loaded and scored on the bundled text'],
  });
}
