import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GGML_TYPES, tensorBytes, type GgmlTypeName } from '../../../electron/api/dtypes.js';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { zeroBlocksAreZero } from '../../../electron/engine/formats/ggml-zero.js';
import { GGML_STATS_TYPES } from '../../../electron/engine/formats/ggml-types.js';
import type { GgufValue } from '../../../electron/engine/formats/gguf.js';
import { ggufFileBytes } from '../../../electron/engine/formats/gguf-writer.js';
import { computeCheckpointStats } from '../../../electron/engine/stats/checkpoint-stats.js';
import { TempFolders } from '../export/export-fixtures.js';

const folders = new TempFolders();
afterAll(() => folders.removeAll());

describe('zero blocks', () => {
  it('dequantise to exactly 0 in every type they are written for (the addon dequantises as gguf-py does)', async () => {
    const zeroTypes = GGML_STATS_TYPES.filter((type) => zeroBlocksAreZero(type));
    expect(zeroTypes).toEqual([...GGML_STATS_TYPES]);
    const metadata = new Map<string, GgufValue>([
      ['general.architecture', { type: 'STRING', value: 'llama' }],
      ['llama.block_count', { type: 'UINT32', value: 1 }],
    ]);
    const shape = [256, 2];
    const tensors = zeroTypes.map((type) => ({ name: `blk.0.zero_${type}.weight`, type, shape, data: new Uint8Array(tensorBytes(type, 512) as number) }));
    const file = path.join(await folders.make(), 'zeros.gguf');
    await writeFile(file, ggufFileBytes(metadata, tensors));
    const report = await computeCheckpointStats(await openCheckpoint(file), { sampled: false });
    expect(report.tensors).toHaveLength(zeroTypes.length);
    for (const stats of report.tensors) {
      expect(stats, stats.name).toMatchObject({ elements: 512, l2: 0, maxAbs: 0, nanCount: 0, infCount: 0 });
    }
  });

  it('are refused for the grid, ternary and FP4 types, which the addon cannot dequantise to prove them', () => {
    for (const type of ['IQ2_XXS', 'IQ1_S', 'TQ1_0', 'MXFP4', 'NVFP4'] as const satisfies readonly GgmlTypeName[]) {
      expect(Object.hasOwn(GGML_TYPES, type)).toBe(true);
      expect(zeroBlocksAreZero(type), type).toBe(false);
    }
  });
});
