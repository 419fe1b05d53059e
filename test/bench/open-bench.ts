/**
 * Open rows, on the sparse Llama-3.1-405B checkpoint: `openCheckpoint` in this process (median
 * after warm-up) against the least any opener must do — read the 191 headers, the index and
 * config.json and parse their JSON, all in parallel — and the whole `inspect --json` process
 * against starting Node with nothing to do.
 */
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { openCheckpoint } from '../../electron/engine/checkpoint/open-checkpoint.js';
import { INDEX_FILE_NAME } from '../../electron/engine/formats/safetensors-index.js';
import { makeRow, type BenchRow } from './bench-table.js';
import { runCli, type BenchContext } from './bench-context.js';
import { LLAMA_31_405B, writeSparseLlama405b } from './llama-405b-checkpoint.js';
import { expectSuccess, probeProcess } from './process-probe.js';
import { summarize } from './sample-summary.js';

/** Reads one safetensors header (length prefix, then the JSON) and parses it. */
async function readRawHeader(file: string): Promise<number> {
  const handle = await open(file, 'r');
  try {
    await handle.stat();
    const prefix = Buffer.alloc(8);
    await handle.read(prefix, 0, 8, 0);
    const length = Number(prefix.readBigUInt64LE(0));
    const json = Buffer.allocUnsafe(length);
    await handle.read(json, 0, length, 8);
    return Object.keys(JSON.parse(json.toString('utf8')) as object).length;
  } finally {
    await handle.close();
  }
}

/** The baseline: the bytes and JSON parsing an open cannot avoid. Returns the tensor count it saw. */
async function readHeadersOnly(dir: string): Promise<number> {
  const index = JSON.parse(await readFile(path.join(dir, INDEX_FILE_NAME), 'utf8')) as { weight_map: Record<string, string> };
  JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
  const shards = [...new Set(Object.values(index.weight_map))];
  const counts = await Promise.all(shards.map((shard) => readRawHeader(path.join(dir, shard))));
  return counts.reduce((sum, count) => sum + count - 1, 0); // minus __metadata__
}

export async function measureOpen(context: BenchContext, rows: ReadonlySet<string>): Promise<BenchRow[]> {
  const { profile } = context;
  const dir = path.join(context.workDir, 'llama-3.1-405b-sparse');
  const written = await writeSparseLlama405b(dir);
  context.log(`sparse 405B checkpoint: ${written.shardCount} shards, ${written.tensorCount} tensors, ${(written.fileBytes / 1e9).toFixed(1)} GB apparent`);
  const result: BenchRow[] = [];

  if (rows.has('open-405b')) {
    for (let run = 0; run < profile.openWarmups; run += 1) {
      await openCheckpoint(dir);
      await readHeadersOnly(dir);
    }
    const openMs: number[] = [];
    const rawMs: number[] = [];
    for (let run = 0; run < profile.openRuns; run += 1) {
      let started = performance.now();
      const tensorsRead = await readHeadersOnly(dir);
      rawMs.push(performance.now() - started);
      started = performance.now();
      const summary = await openCheckpoint(dir);
      openMs.push(performance.now() - started);
      if (summary.numLayers !== LLAMA_31_405B.layers || summary.shards.length !== written.shardCount || tensorsRead !== written.tensorCount) {
        throw new Error(`the 405B checkpoint opened as ${summary.numLayers} layers in ${summary.shards.length} shards`);
      }
    }
    result.push(
      makeRow({
        id: 'open-405b',
        figure: { label: `openCheckpoint, Llama-3.1-405B shape (${written.shardCount} sparse shards, in-process)`, unit: 'ms', summary: summarize(openMs) },
        baseline: { label: 'read + JSON.parse the headers only', unit: 'ms', summary: summarize(rawMs) },
        ratioMeaning: 'openCheckpoint time ÷ time to read and parse the same headers, index and config in parallel',
        target: { text: '≤ 50 ms', checks: [{ on: 'figure', op: '<=', value: 50 }] },
        notes: [`median of ${profile.openRuns} after ${profile.openWarmups} warm-up opens; ${written.tensorCount} tensors, ${(written.dataBytes / 1e9).toFixed(1)} GB of (sparse) weights`],
      }),
    );
  }

  if (rows.has('inspect-405b')) {
    const inspectMs: number[] = [];
    const nodeMs: number[] = [];
    for (let run = 0; run < profile.inspectRuns; run += 1) {
      nodeMs.push(expectSuccess(await probeProcess(process.execPath, ['-e', ''], { discardStdout: true }), 'node -e').wallMs);
      inspectMs.push(expectSuccess(await runCli(context, ['inspect', dir, '--json'], { discardStdout: true }), 'dus-studio inspect').wallMs);
    }
    result.push(
      makeRow({
        id: 'inspect-405b',
        figure: { label: 'node out/cli.js inspect DIR --json > /dev/null (whole process)', unit: 'ms', summary: summarize(inspectMs) },
        baseline: { label: "node -e ''", unit: 'ms', summary: summarize(nodeMs) },
        ratioMeaning: 'inspect process time ÷ start-up time of an empty Node process',
        target: { text: '≤ 500 ms', checks: [{ on: 'figure', op: '<=', value: 500 }] },
        notes: ['wall time from spawn to exit, measured by the parent'],
      }),
    );
  }
  return result;
}
