/**
 * GGUF rows, on files written by the project's own GGUF writer (llama-3-gguf.ts):
 * - open-70b-gguf: `openCheckpoint` of a sparse Llama-3-70B Q4_K_M (the real header, 7.3 MB with
 *   its 128k-token tokenizer and merges; in-process, median after warm-up) against reading the
 *   header's bytes alone;
 * - stats-gguf: statistics of every tensor of a 2.0 GB Llama-3.2-3B-shaped Q4_K_M (random weights,
 *   finite scales) in the page cache against `cat` of the file, alternating;
 * - export-gguf-process: the whole `dus-studio dus FILE.gguf --drop M --out OUT.gguf --skip-verify`
 *   process against `cp` of its output file + `sync` of the copy, alternating pairs.
 */
import { open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { openCheckpoint } from '../../electron/engine/checkpoint/open-checkpoint.js';
import { statsKernels } from '../../electron/engine/native.js';
import { computeCheckpointStats, LAYERS_IN_FLIGHT } from '../../electron/engine/stats/checkpoint-stats.js';
import { makeRow, type BenchRow, type RowId } from './bench-table.js';
import { megabytes, runCli, type BenchContext } from './bench-context.js';
import { formatMb, parseExportSummary } from './export-bench.js';
import { LLAMA_3_70B, writeLlama3Q4KMGguf, writeSparseLlama3_70bGguf } from './llama-3-gguf.js';
import { expectSuccess, probeProcess } from './process-probe.js';
import { summarize } from './sample-summary.js';

export const GGUF_ROWS: readonly RowId[] = ['open-70b-gguf', 'stats-gguf', 'export-gguf-process'];

/** The least any opener must do: open the file, size it, read its header bytes. */
async function readHeaderBytes(file: string, headerBytes: number): Promise<number> {
  const handle = await open(file, 'r');
  try {
    await handle.stat();
    const bytes = Buffer.allocUnsafe(headerBytes);
    const { bytesRead } = await handle.read(bytes, 0, headerBytes, 0);
    return bytesRead;
  } finally {
    await handle.close();
  }
}

async function measureOpen(context: BenchContext): Promise<BenchRow> {
  const { profile } = context;
  const file = path.join(context.workDir, 'llama-3-70b-q4_k_m.gguf');
  const written = await writeSparseLlama3_70bGguf(file);
  context.log(`sparse Llama-3-70B Q4_K_M GGUF: ${written.tensorCount} tensors, header ${formatMb(written.headerBytes)}, ${(written.dataBytes / 1e9).toFixed(1)} GB apparent`);
  for (let run = 0; run < profile.openWarmups; run += 1) {
    await openCheckpoint(file);
    await readHeaderBytes(file, written.headerBytes);
  }
  const openMs: number[] = [];
  const rawMs: number[] = [];
  for (let run = 0; run < profile.openRuns; run += 1) {
    let started = performance.now();
    await readHeaderBytes(file, written.headerBytes);
    rawMs.push(performance.now() - started);
    started = performance.now();
    const summary = await openCheckpoint(file);
    openMs.push(performance.now() - started);
    if (summary.numLayers !== LLAMA_3_70B.layers || summary.tensors.length !== written.tensorCount || summary.vocabSize !== LLAMA_3_70B.vocab) {
      throw new Error(`the 70B GGUF opened as ${summary.numLayers} layers, ${summary.tensors.length} tensors, vocabulary ${summary.vocabSize}`);
    }
  }
  return makeRow({
    id: 'open-70b-gguf',
    figure: { label: 'openCheckpoint, Llama-3-70B Q4_K_M GGUF (sparse, in-process)', unit: 'ms', summary: summarize(openMs) },
    baseline: { label: 'open + read the header bytes only', unit: 'ms', summary: summarize(rawMs) },
    ratioMeaning: 'openCheckpoint time ÷ time to read the same header bytes into a fresh buffer',
    target: { text: '≤ 50 ms', checks: [{ on: 'figure', op: '<=', value: 50 }] },
    notes: [
      `median of ${profile.openRuns} after ${profile.openWarmups} warm-up opens; ${written.tensorCount} tensors, header ${formatMb(written.headerBytes)} (128,256 tokens, 280,147 merges: hashed, never made into strings)`,
    ],
  });
}

async function measureStats(context: BenchContext, model: string, fileBytes: number): Promise<BenchRow> {
  const summary = await openCheckpoint(model);
  const cat = async (): Promise<number> => expectSuccess(await probeProcess('cat', [model], { discardStdout: true }), 'cat').wallMs / 1000;
  await cat();
  const statsSeconds: number[] = [];
  const catSeconds: number[] = [];
  for (let run = 0; run < context.profile.statsRuns; run += 1) {
    catSeconds.push(await cat());
    const started = performance.now();
    const report = await computeCheckpointStats(summary, { sampled: false });
    statsSeconds.push((performance.now() - started) / 1000);
    if (report.tensors.length !== summary.tensors.length || report.tensors.some((tensor) => tensor.elements === 0 || tensor.sampled || tensor.nanCount > 0)) {
      throw new Error(`statistics covered ${report.tensors.length} of ${summary.tensors.length} tensors`);
    }
    context.log(`GGUF stats ${statsSeconds.at(-1)?.toFixed(3)} s, cat ${catSeconds.at(-1)?.toFixed(3)} s`);
  }
  const stats = summarize(statsSeconds);
  const catSummary = summarize(catSeconds);
  const pairs = summarize(statsSeconds.map((seconds, index) => seconds / (catSeconds[index] as number)));
  return makeRow({
    id: 'stats-gguf',
    figure: { label: `statistics of every tensor (${formatMb(fileBytes)} Q4_K_M GGUF, in page cache)`, unit: 's', summary: stats },
    baseline: { label: 'cat > /dev/null', unit: 's', summary: catSummary },
    ratioMeaning: 'statistics time ÷ time to read the same file; lower is better',
    target: { text: 'ratio ≤ 3', checks: [{ on: 'ratio', op: '<=', value: 3 }] },
    notes: [
      `statistics ${(fileBytes / 1e9 / stats.median).toFixed(2)} GB/s, cat ${(fileBytes / 1e9 / catSummary.median).toFixed(2)} GB/s; per alternating pair: median ${pairs.median.toFixed(2)}, ${pairs.min.toFixed(2)}–${pairs.max.toFixed(2)}`,
      `Q4_K and Q6_K summed from their codes; kernel ${statsKernels()[0] ?? 'none'}; native threads = CPUs, ${LAYERS_IN_FLIGHT} layer groups in flight`,
    ],
  });
}

async function measureExport(context: BenchContext, model: string): Promise<BenchRow> {
  const { profile } = context;
  const out = path.join(context.workDir, 'gguf-dus.gguf');
  const copy = path.join(context.workDir, 'gguf-dus-copy.gguf');
  const exportSeconds: number[] = [];
  const phaseSeconds: number[] = [];
  const copySeconds: number[] = [];
  let outputBytes = 0;
  for (let run = 0; run < profile.ggufExportRuns; run += 1) {
    await rm(out, { force: true });
    const args = ['dus', model, '--drop', String(profile.ggufDrop), '--out', out, '--replace', '--skip-verify'];
    const result = expectSuccess(await runCli(context, args), `dus-studio ${args.join(' ')}`);
    exportSeconds.push(result.wallMs / 1000);
    phaseSeconds.push(parseExportSummary(result.stdout, 'skipped').exportSeconds);
    outputBytes = (await stat(out)).size;
    await rm(copy, { force: true });
    const copied = expectSuccess(await probeProcess('cp', [out, copy]), 'cp');
    const synced = expectSuccess(await probeProcess('sync', [copy]), 'sync');
    copySeconds.push((copied.wallMs + synced.wallMs) / 1000);
    await rm(copy, { force: true });
    context.log(`GGUF dus --skip-verify ${exportSeconds.at(-1)?.toFixed(2)} s (export phase ${phaseSeconds.at(-1)?.toFixed(2)} s); cp + sync of its ${formatMb(outputBytes)} ${copySeconds.at(-1)?.toFixed(2)} s`);
  }
  await rm(out, { force: true });
  const rate = (seconds: number): number => megabytes(outputBytes) / seconds;
  const pairs = summarize(exportSeconds.map((seconds, index) => (copySeconds[index] as number) / seconds));
  const outside = summarize(exportSeconds.map((seconds, index) => seconds - (phaseSeconds[index] as number)));
  return makeRow({
    id: 'export-gguf-process',
    figure: { label: `whole CLI process, GGUF dus --skip-verify (${formatMb(outputBytes)} written)`, unit: 'MB/s', summary: summarize(exportSeconds.map(rate)) },
    baseline: { label: 'cp of that output file + sync', unit: 'MB/s', summary: summarize(copySeconds.map(rate)) },
    ratioMeaning: 'output bytes ÷ wall time of `node out/cli.js dus FILE.gguf … --skip-verify`, ÷ the same bytes ÷ (`cp` of the output + `sync` of the copy); higher is better',
    target: { text: 'ratio ≥ 0.90', checks: [{ on: 'ratio', op: '>=', value: 0.9 }] },
    notes: [
      `each export ÷ the cp of its own output right after it (cp seconds ÷ export seconds), ${pairs.count} alternating pairs: median ${pairs.median.toFixed(2)}, ${pairs.min.toFixed(2)}–${pairs.max.toFixed(2)}`,
      `outside the export phase (start, open, plan, exit): median ${outside.median.toFixed(2)} s (${outside.min.toFixed(2)}–${outside.max.toFixed(2)})`,
    ],
  });
}

/** The GGUF rows that `rows` asks for; the 2 GB model is written once for the statistics and export rows. */
export async function measureGguf(context: BenchContext, rows: ReadonlySet<RowId>, push: (row: BenchRow) => void): Promise<void> {
  if (rows.has('open-70b-gguf')) push(await measureOpen(context));
  if (!rows.has('stats-gguf') && !rows.has('export-gguf-process')) return;
  const model = path.join(context.workDir, 'llama-3.2-3b-q4_k_m.gguf');
  const started = performance.now();
  const written = await writeLlama3Q4KMGguf(model, context.profile.ggufModel, 'Llama-3.2-3B');
  expectSuccess(await probeProcess('sync', [model]), 'sync');
  context.log(`wrote a Q4_K_M GGUF of ${formatMb(written.bytes)} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (rows.has('stats-gguf')) push(await measureStats(context, model, written.bytes));
  if (rows.has('export-gguf-process')) push(await measureExport(context, model));
  await rm(model, { force: true });
}
