import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { computeCheckpointStats } from '../../../electron/engine/stats/checkpoint-stats.js';

const GGUF_DIR = path.resolve(import.meta.dirname, '../../../../shared/models/gguf');
const reference = JSON.parse(await readFile(path.join(GGUF_DIR, 'reference-values.json'), 'utf8')) as Record<
  string,
  { tensors: Array<{ name: string; type: string; l2: number }> }
>;

describe('statistics of a GGUF checkpoint', () => {
  it('sends every GGML type to the addon: figures equal to gguf-py where it dequantises, "not available for TYPE" where it refuses', async () => {
    const fileName = 'quantzoo-q4_k_m.gguf';
    const summary = await openCheckpoint(path.join(GGUF_DIR, fileName));
    const report = await computeCheckpointStats(summary, { sampled: false });
    const computed = new Map(report.tensors.map((stats) => [stats.name, stats]));
    const refused = new Set((report.notAvailable ?? []).map((line) => line.replace('statistics not available for ', '')));
    for (const tensor of (reference[fileName] as { tensors: Array<{ name: string; type: string; l2: number }> }).tensors) {
      const stats = computed.get(tensor.name);
      if (stats === undefined) {
        expect(refused.has(tensor.type), `${tensor.name} (${tensor.type}) has neither figures nor a "not available" line`).toBe(true);
        expect(report.skipped).toContain(tensor.name);
        continue;
      }
      expect(Math.abs(stats.l2 - tensor.l2) / tensor.l2, tensor.name).toBeLessThanOrEqual(1e-6);
    }
    // The norms are F32 in every K-quant mix: those always have figures.
    expect(computed.get('output_norm.weight')).toBeDefined();
  });
});
