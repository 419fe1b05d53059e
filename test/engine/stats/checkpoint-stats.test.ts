import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CheckpointSummary, StatsProgress } from '../../../electron/api/types.js';
import { StudioError } from '../../../electron/api/errors.js';
import * as native from '../../../electron/engine/native.js';
import { computeCheckpointStats, LAYERS_IN_FLIGHT } from '../../../electron/engine/stats/checkpoint-stats.js';
import { openFixture, TempFolders } from '../export/export-fixtures.js';

// The real addon does the work; the spy only watches which layers have been handed to it.
vi.mock('../../../electron/engine/native.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../../electron/engine/native.js')>();
  return { ...actual, tensorStats: vi.fn(actual.tensorStats) };
});

const folders = new TempFolders();
let model: CheckpointSummary;

beforeAll(async () => {
  // Two shards, so some layer groups (the non-layer one at least) span both files.
  model = await openFixture(folders, { layers: 6, hidden: 64, intermediate: 128, vocab: 256, shards: 2, seed: 3 });
});
afterEach(() => {
  vi.mocked(native.tensorStats).mockClear();
});
afterAll(() => folders.removeAll());

/** The layer of the tensors a native call was given (each call covers one layer group). */
function layerOfCall(summary: CheckpointSummary, ranges: readonly native.StatsRange[]): number | null {
  const layers = new Set(ranges.map((range) => summary.tensors.find((tensor) => tensor.name === range.name)?.layer));
  expect(layers.size).toBe(1);
  return [...layers][0] ?? null;
}

describe('computeCheckpointStats', () => {
  it('streams one event per layer, non-layer tensors first, with the next layer already computing', async () => {
    const order = [null, 0, 1, 2, 3, 4, 5];
    const events: StatsProgress[] = [];
    const startedAtEvent: Array<Set<number | null>> = [];
    const report = await computeCheckpointStats(model, {
      sampled: false,
      onLayer: (progress) => {
        events.push(progress);
        const calls = vi.mocked(native.tensorStats).mock.calls;
        startedAtEvent.push(new Set(calls.map(([, ranges]) => layerOfCall(model, ranges))));
      },
    });
    expect(events.map((event) => event.layer)).toEqual(order);
    expect(startedAtEvent[0]).toContain(0);
    expect(events.map((event) => event.done)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(events.map((event) => event.total))).toEqual(new Set([7]));
    events.forEach((event, index) => {
      const expected = model.tensors.filter((tensor) => tensor.layer === order[index]).map((tensor) => tensor.name);
      expect(event.tensors.map((tensor) => tensor.name).sort()).toEqual(expected.sort());
      // When layer i is reported, layers up to i + LAYERS_IN_FLIGHT - 1 have been started, and no more.
      const expectedStarted = order.slice(0, Math.min(order.length, index + LAYERS_IN_FLIGHT));
      expect([...startedAtEvent[index]!]).toEqual(expectedStarted);
    });
    expect(report.tensors).toEqual(events.flatMap((event) => event.tensors));
    expect(report.tensors).toHaveLength(model.tensors.length);
    expect(report.skipped).toEqual([]);

    // Chunks start at each tensor's start, so figures do not depend on how tensors are grouped into calls.
    const direct = await Promise.all(
      model.shards.map((shard) =>
        native.tensorStats(
          shard.file,
          model.tensors
            .filter((tensor) => tensor.file === shard.file)
            .map((tensor) => ({ name: tensor.name, offset: tensor.offset, bytes: tensor.bytes, dtype: tensor.dtype as 'BF16' })),
        ),
      ),
    );
    const byName = new Map(direct.flat().map((stats) => [stats.name, stats]));
    for (const stats of report.tensors) expect(stats).toEqual(byName.get(stats.name));
  });

  it('rejects with the first failing layer, reports the layers before it, and leaves no rejection unhandled', async () => {
    const actual = await vi.importActual<typeof import('../../../electron/engine/native.js')>('../../../electron/engine/native.js');
    vi.mocked(native.tensorStats).mockImplementation(async (file, ranges, options) => {
      const layer = layerOfCall(model, ranges);
      if (layer === 2 || layer === 3) throw new StudioError('NotFound', `layer ${layer} went missing`, { path: file });
      return actual.tensorStats(file, ranges, options);
    });
    const reported: Array<number | null> = [];
    try {
      await expect(computeCheckpointStats(model, { sampled: false, onLayer: (progress) => reported.push(progress.layer) })).rejects.toMatchObject({
        code: 'NotFound',
        message: 'layer 2 went missing',
      });
      expect(reported).toEqual([null, 0, 1]);
      // Layer 3 was in flight and failed too; its rejection was handled, or vitest would fail this file.
      const started = vi.mocked(native.tensorStats).mock.calls.map(([, ranges]) => layerOfCall(model, ranges));
      expect(started).toContain(3);
      expect(started).not.toContain(4);
    } finally {
      vi.mocked(native.tensorStats).mockImplementation(actual.tensorStats);
    }
  });
});
