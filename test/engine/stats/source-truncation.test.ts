/**
 * A source file that shrinks while statistics or similarity read it. Reading through a mapping,
 * the first page past the new end raised SIGBUS and killed the process (in the desktop app, the
 * main process with the user's unsaved plan); read with pread, it is a SourceChanged error naming
 * the file, and the process goes on working.
 */
import { truncateSync } from 'node:fs';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { isStudioError, type StudioError } from '../../../electron/api/errors.js';
import type { CheckpointSummary, TensorInfo } from '../../../electron/api/types.js';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { computeCheckpointStats } from '../../../electron/engine/stats/checkpoint-stats.js';
import { layerSimilarity } from '../../../electron/engine/stats/layer-similarity.js';
import { openFixture, STORIES_260K, TempFolders } from '../export/export-fixtures.js';

const folders = new TempFolders();
afterAll(() => folders.removeAll());

/**
 * Four BF16 layers of about 26 MB each (q_proj alone 8 MiB), one shard: every native call reads
 * many 1 MiB chunks, so a truncation scheduled when one call ends lands while the next is reading.
 */
let model: CheckpointSummary;
beforeEach(async () => {
  await folders.removeAll();
  model = await openFixture(folders, { layers: 4, hidden: 2048, intermediate: 512, vocab: 256, heads: 16, kvHeads: 4, seed: 11 });
});

function qOfLayer(summary: CheckpointSummary, layer: number): TensorInfo {
  const tensor = summary.tensors.find((candidate) => candidate.kind === 'q' && candidate.layer === layer);
  if (!tensor) throw new Error(`no q tensor in layer ${layer}`);
  return tensor;
}

async function failure(work: Promise<unknown>): Promise<StudioError> {
  const error: unknown = await work.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isStudioError(error)) throw new Error(`expected a StudioError, got ${String(error)}`);
  return error;
}

/** The process is alive and the addon still works: statistics of the demo model succeed. */
async function expectStillWorking(): Promise<void> {
  const demo = await openCheckpoint(STORIES_260K);
  const report = await computeCheckpointStats(demo, { sampled: false });
  expect(report.tensors).toHaveLength(demo.tensors.length);
}

/**
 * A progress callback that, the first time it runs, schedules cutting the file in the middle of
 * layer 1's q_proj: a timer, so the cut lands while the next native call (already queued) is
 * reading. Should the timer not have fired by the second report (a very busy machine), that report
 * cuts the file at the last layer, which no call has started reading yet, so the work never ends
 * without having met the shorter file.
 */
function cutDuringWork(summary: CheckpointSummary): { onProgress: () => void; cut: () => boolean } {
  const middle = qOfLayer(summary, 1);
  const last = qOfLayer(summary, summary.numLayers - 1);
  let reports = 0;
  let cut = false;
  return {
    onProgress: () => {
      reports += 1;
      if (reports === 1) {
        setTimeout(() => {
          if (!cut) truncateSync(middle.file, middle.offset + middle.bytes / 2);
          cut = true;
        }, 0);
      } else if (reports === 2 && !cut) {
        truncateSync(last.file, last.offset);
        cut = true;
      }
    },
    cut: () => cut,
  };
}

async function expectSourceChanged(work: Promise<unknown>, cutter: { cut: () => boolean }, file: string): Promise<void> {
  const error = await failure(work);
  expect(cutter.cut()).toBe(true);
  expect(error.code).toBe('SourceChanged');
  expect(error.path).toBe(file);
  expect(error.message).toContain(file);
  await expectStillWorking();
}

describe('a source truncated while it is read', () => {
  it('fails statistics with SourceChanged naming the file, and the process goes on', async () => {
    const cutter = cutDuringWork(model);
    await expectSourceChanged(computeCheckpointStats(model, { sampled: false, onLayer: cutter.onProgress }), cutter, model.shards[0]!.file);
  });

  it('fails similarity with SourceChanged naming the file, and the process goes on', async () => {
    const cutter = cutDuringWork(model);
    await expectSourceChanged(layerSimilarity(model, model, 'q', { sampled: false, onRow: cutter.onProgress }), cutter, model.shards[0]!.file);
  });
});
