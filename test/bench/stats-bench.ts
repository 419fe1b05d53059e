/**
 * Statistics row: L2, RMS and max |x| (with mean, NaN and Inf counts) of every tensor of a bf16
 * model already in the page cache, computed in-process by the engine exactly as `computeStats`
 * does, against reading the same bytes with `cat FILES > /dev/null`. Runs alternate so both see the
 * same noise; one `cat` first makes sure the files are cached.
 */
import { computeCheckpointStats, LAYERS_IN_FLIGHT } from '../../electron/engine/stats/checkpoint-stats.js';
import { statsKernels } from '../../electron/engine/native.js';
import { openCheckpoint } from '../../electron/engine/checkpoint/open-checkpoint.js';
import { makeRow, type BenchRow } from './bench-table.js';
import type { BenchContext } from './bench-context.js';
import { expectSuccess, probeProcess } from './process-probe.js';
import { summarize } from './sample-summary.js';
import { formatMb } from './export-bench.js';

export async function measureStats(context: BenchContext, model: string): Promise<BenchRow> {
  const summary = await openCheckpoint(model);
  const files = summary.shards.map((shard) => shard.file);
  const fileBytes = summary.shards.reduce((sum, shard) => sum + shard.bytes, 0);
  const readAll = async (): Promise<number> =>
    expectSuccess(await probeProcess('cat', files, { discardStdout: true }), 'cat').wallMs / 1000;
  await readAll();
  const statsSeconds: number[] = [];
  const catSeconds: number[] = [];
  for (let run = 0; run < context.profile.statsRuns; run += 1) {
    catSeconds.push(await readAll());
    const started = performance.now();
    const report = await computeCheckpointStats(summary, { sampled: false });
    statsSeconds.push((performance.now() - started) / 1000);
    // A report that skipped tensors would make the figure meaningless.
    if (report.tensors.length !== summary.tensors.length || report.tensors.some((tensor) => tensor.elements === 0 || tensor.sampled)) {
      throw new Error(`statistics covered ${report.tensors.length} of ${summary.tensors.length} tensors`);
    }
    context.log(`stats ${statsSeconds.at(-1)?.toFixed(3)} s, cat ${catSeconds.at(-1)?.toFixed(3)} s`);
  }
  const stats = summarize(statsSeconds);
  const kernels = statsKernels();
  const cat = summarize(catSeconds);
  return makeRow({
    id: 'stats',
    figure: { label: `statistics of every tensor (${formatMb(summary.totalBytes)} bf16, in page cache)`, unit: 's', summary: stats },
    baseline: { label: 'cat > /dev/null', unit: 's', summary: cat },
    ratioMeaning: 'statistics time ÷ time to read the same bytes; lower is better',
    target: { text: 'ratio ≤ 2', checks: [{ on: 'ratio', op: '<=', value: 2 }] },
    notes: [
      `statistics ${(fileBytes / 1e9 / stats.median).toFixed(2)} GB/s, cat ${(fileBytes / 1e9 / cat.median).toFixed(2)} GB/s; in-process computeCheckpointStats (exact, not sampled), native threads = CPUs`,
      `kernel ${kernels[0] ?? 'none'} (this CPU runs ${kernels.join(', ')}); one native call per layer group, ${LAYERS_IN_FLIGHT} in flight`,
    ],
  });
}
