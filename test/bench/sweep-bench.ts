/**
 * The splice-sweep row: a whole `dus-studio sweep` process over stories260K (the full (A, B) grid in
 * the full run, two points in the smoke run) against one `dus-studio eval` of the source alone.
 * llama.cpp runs on the CPU so the figure is the same kind on every machine.
 */
import path from 'node:path';
import { makeRow, type BenchRow } from './bench-table.js';
import { runCli, type BenchContext } from './bench-context.js';
import { expectSuccess } from './process-probe.js';
import { summarize } from './sample-summary.js';

/** The demo model, found from the bundle's folder (out/) as the CLI finds it. */
function demoModel(context: BenchContext): string {
  return path.resolve(path.dirname(context.cliPath), '..', 'build', 'demo', 'stories260K');
}

export async function measureSweep(context: BenchContext, smoke: boolean): Promise<BenchRow> {
  const demo = demoModel(context);
  const range = smoke ? ['--drop', '1:2'] : ['--grid'];
  const sweepMs: number[] = [];
  const evalMs: number[] = [];
  let candidates = 0;
  for (let run = 0; run < (smoke ? 1 : 3); run += 1) {
    evalMs.push(expectSuccess(await runCli(context, ['eval', demo, '--cpu', '--json'], { discardStdout: true }), 'dus-studio eval').wallMs);
    const sweep = expectSuccess(await runCli(context, ['sweep', demo, ...range, '--cpu', '--json']), 'dus-studio sweep');
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
