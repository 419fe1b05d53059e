import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStudioError, type StudioError } from '../../../electron/api/errors.js';
import type { CheckpointSummary, SimilarityProgress, StatsDtype, TensorInfo, TensorKind } from '../../../electron/api/types.js';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import {
  kindGroups,
  layerSimilarity,
  SIMILARITY_SAMPLED_ABOVE_BYTES,
  similaritySampleStride,
} from '../../../electron/engine/stats/layer-similarity.js';
import { encodeFromFloat64 } from '../../../electron/engine/stats/float-codec.js';
import {
  addDotSums,
  cosineFromSums,
  DOT_SAMPLE_BLOCK_ELEMENTS,
  emptyDotSums,
  referenceDotProducts,
} from '../../../electron/engine/stats/reference-dot-products.js';
import { buildFixtureCheckpoint } from '../../fixtures/checkpoint-builder.js';
import { STORIES_260K, TempFolders } from '../export/export-fixtures.js';

const STORIES_KINDS: TensorKind[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down', 'input_norm', 'post_attention_norm'];

const folders = new TempFolders();
let work = '';
let stories: CheckpointSummary;
/** Three BF16 layers, seed 5: the left-hand side of the two-checkpoint tests. */
let three: CheckpointSummary;

beforeAll(async () => {
  work = await folders.make();
  stories = await openCheckpoint(STORIES_260K);
  three = await openCheckpoint((await buildFixtureCheckpoint({ dir: path.join(work, 'three-bf16'), layers: 3, seed: 5 })).dir);
});
afterAll(() => folders.removeAll());

async function tensorBytes(tensor: TensorInfo): Promise<Uint8Array> {
  const handle = await open(tensor.file, 'r');
  try {
    const bytes = new Uint8Array(tensor.bytes);
    await handle.read(bytes, 0, tensor.bytes, tensor.offset);
    return bytes;
  } finally {
    await handle.close();
  }
}

/** The cosine of layer i of A and layer j of B by the TypeScript reference, tensors matched by local name. */
async function referenceCosine(a: CheckpointSummary, i: number, b: CheckpointSummary, j: number, kind: TensorKind): Promise<number | null> {
  const left = a.tensors.filter((tensor) => tensor.layer === i && tensor.kind === kind);
  const sums = emptyDotSums();
  for (const tensor of left) {
    const other = b.tensors.find((candidate) => candidate.layer === j && candidate.localName === tensor.localName)!;
    addDotSums(sums, referenceDotProducts(await tensorBytes(tensor), tensor.dtype as StatsDtype, await tensorBytes(other), other.dtype as StatsDtype));
  }
  return cosineFromSums(sums);
}

async function refusal(promise: Promise<unknown>): Promise<StudioError> {
  try {
    await promise;
  } catch (error) {
    if (isStudioError(error)) return error;
    throw error;
  }
  throw new Error('expected a StudioError');
}

describe('layerSimilarity', () => {
  it('gives stories260K against itself a symmetric matrix in [−1, 1] with 1 on the diagonal, for every kind', async () => {
    for (const kind of STORIES_KINDS) {
      const matrix = await layerSimilarity(stories, stories, kind);
      expect(matrix).toMatchObject({ checkpointA: stories.id, checkpointB: stories.id, kind, rows: 5, cols: 5, sampled: false });
      expect(matrix.values).toHaveLength(5);
      for (let i = 0; i < 5; i += 1) {
        expect(matrix.values[i]).toHaveLength(5);
        expect(Math.abs(matrix.values[i]![i]! - 1), `${kind} ${i}`).toBeLessThanOrEqual(1e-6);
        for (let j = 0; j < 5; j += 1) {
          const value = matrix.values[i]![j]!;
          expect(value, `${kind} ${i},${j}`).not.toBeNull();
          expect(value).toBeGreaterThanOrEqual(-1);
          expect(value).toBeLessThanOrEqual(1);
          expect(value).toBe(matrix.values[j]![i]);
        }
      }
      if (kind !== 'input_norm' && kind !== 'post_attention_norm') {
        // Trained projections of different layers are far from parallel.
        expect(Math.abs(matrix.values[0]![4]!)).toBeLessThan(0.5);
      }
    }
  });

  it('agrees with the TypeScript reference on every cell of stories260K', async () => {
    for (const kind of ['q', 'down', 'input_norm'] as const) {
      const matrix = await layerSimilarity(stories, stories, kind, { threads: 2 });
      for (let i = 0; i < 5; i += 1) {
        for (let j = 0; j < 5; j += 1) {
          expect(matrix.values[i]![j], `${kind} ${i},${j}`).toBeCloseTo((await referenceCosine(stories, i, stories, j, kind))!, 12);
        }
      }
    }
  });

  it('streams every row as it finishes, in order, with the values the matrix ends with', async () => {
    const events: SimilarityProgress[] = [];
    const matrix = await layerSimilarity(stories, stories, 'v', { onRow: (progress) => events.push(progress) });
    expect(events.map((event) => [event.row, event.done, event.total])).toEqual([0, 1, 2, 3, 4].map((row) => [row, row + 1, 5]));
    for (const event of events) {
      expect(event).toMatchObject({ checkpointA: stories.id, checkpointB: stories.id, kind: 'v', sampled: false });
      expect(event.values).toEqual(matrix.values[event.row]);
    }
  });

  it('compares two checkpoints of one shape, in different dtypes and layer counts, cell by cell', async () => {
    const a = three;
    const b = await openCheckpoint((await buildFixtureCheckpoint({ dir: path.join(work, 'four-f32'), layers: 4, seed: 6, dtype: 'F32', shards: 2 })).dir);
    const matrix = await layerSimilarity(a, b, 'gate');
    expect(matrix).toMatchObject({ checkpointA: a.id, checkpointB: b.id, rows: 3, cols: 4 });
    for (let i = 0; i < 3; i += 1) {
      for (let j = 0; j < 4; j += 1) expect(matrix.values[i]![j], `${i},${j}`).toBeCloseTo((await referenceCosine(a, i, b, j, 'gate'))!, 12);
    }
    // Norm weights sit near 1 in both, so they point almost the same way.
    const norms = await layerSimilarity(a, b, 'input_norm');
    expect(norms.values.flat().every((value) => value !== null && value > 0.99)).toBe(true);
  });

  it('finds a checkpoint and an identical copy equal layer for layer', async () => {
    const copy = await openCheckpoint((await buildFixtureCheckpoint({ dir: path.join(work, 'copy-of-three'), layers: 3, seed: 5, shards: 3 })).dir);
    const matrix = await layerSimilarity(three, copy, 'o');
    for (let i = 0; i < 3; i += 1) {
      expect(matrix.values[i]![i]).toBeCloseTo(1, 12);
      for (let j = 0; j < 3; j += 1) if (j !== i) expect(Math.abs(matrix.values[i]![j]!)).toBeLessThan(0.2);
    }
  });

  it('leaves null where a layer lacks the kind, or holds it in another shape', async () => {
    const holed: CheckpointSummary = {
      ...stories,
      tensors: stories.tensors.filter((tensor) => !(tensor.layer === 2 && tensor.kind === 'k')).map((tensor) =>
        tensor.layer === 3 && tensor.kind === 'k' ? { ...tensor, shape: [tensor.elements] } : tensor,
      ),
    };
    const matrix = await layerSimilarity(holed, holed, 'k');
    for (let index = 0; index < 5; index += 1) {
      expect(matrix.values[2]![index]).toBeNull();
      expect(matrix.values[index]![2]).toBeNull();
      if (index !== 3) expect(matrix.values[3]![index]).toBeNull();
    }
    expect(matrix.values[3]![3]).toBeCloseTo(1, 12);
    expect(matrix.values[0]![4]).not.toBeNull();
    expect(kindGroups(holed, 'k').map((group) => group === null)).toEqual([false, false, true, false, false]);
  });

  it('refuses checkpoints whose tensors of the kind differ in shape, naming both and the kind', async () => {
    const wide = await openCheckpoint((await buildFixtureCheckpoint({ dir: path.join(work, 'wide'), layers: 2, hidden: 64 })).dir);
    const narrow = three;
    const error = await refusal(layerSimilarity(narrow, wide, 'q'));
    expect(error.code).toBe('InvalidRequest');
    expect(error.message).toContain('three-bf16');
    expect(error.message).toContain('wide');
    expect(error.message).toContain('q tensors in different shapes');
    expect(error.detail).toMatchObject({ kind: 'q', checkpointA: narrow.id, checkpointB: wide.id });
  });

  it('refuses a kind the checkpoint does not hold', async () => {
    const error = await refusal(layerSimilarity(stories, stories, 'qkv'));
    expect(error.code).toBe('InvalidRequest');
    expect(error.message).toContain('stories260K has no qkv tensors');
  });

  it('estimates from a sample by default above 1 GB, and says so', async () => {
    // Three layers of one 'up' tensor each, 4 blocks and a bit long, smooth enough that a sample of
    // the first block and the whole tensor give visibly different cosines.
    const elements = 4 * DOT_SAMPLE_BLOCK_ELEMENTS + 5;
    const file = path.join(work, 'long-up.bin');
    const layers = [0, 1, 2].map((layer) =>
      encodeFromFloat64(Array.from({ length: elements }, (_, index) => Math.sin(index * 0.00005 * (layer + 1)) + 0.3 * Math.sin(index * 1.3 + layer)), 'F16'),
    );
    await writeFile(file, Buffer.concat(layers));
    const tensors: TensorInfo[] = layers.map((bytes, layer) => ({
      name: `model.layers.${layer}.mlp.up_proj.weight`,
      dtype: 'F16',
      shape: [elements],
      elements,
      file,
      offset: layer * bytes.length,
      bytes: bytes.length,
      layer,
      localName: 'mlp.up_proj.weight',
      kind: 'up',
    }));
    const long: CheckpointSummary = { ...stories, id: file, name: 'long-up', numLayers: 3, tensors, totalBytes: 3 * layers[0]!.length };
    const exact = await layerSimilarity(long, long, 'up');
    expect(exact.sampled).toBe(false);
    const large = { ...long, totalBytes: SIMILARITY_SAMPLED_ABOVE_BYTES + 1 };
    const events: SimilarityProgress[] = [];
    const estimate = await layerSimilarity(large, large, 'up', { onRow: (event) => events.push(event) });
    expect(estimate.sampled).toBe(true);
    expect(events.every((event) => event.sampled)).toBe(true);
    for (let i = 0; i < 3; i += 1) {
      expect(Math.abs(estimate.values[i]![i]! - 1)).toBeLessThanOrEqual(1e-12);
      for (let j = 0; j < 3; j += 1) {
        // Every 16th block: here the first block only.
        const sample = referenceDotProducts(layers[i]!, 'F16', layers[j]!, 'F16', { sampleBlocks: 16 });
        expect(sample.elements).toBe(DOT_SAMPLE_BLOCK_ELEMENTS);
        expect(estimate.values[i]![j]).toBeCloseTo(cosineFromSums(sample)!, 12);
        expect(exact.values[i]![j]).toBeCloseTo(cosineFromSums(referenceDotProducts(layers[i]!, 'F16', layers[j]!, 'F16'))!, 12);
      }
    }
    expect(Math.abs(estimate.values[0]![2]! - exact.values[0]![2]!)).toBeGreaterThan(0.01);
    // Asked for exactly, a large checkpoint is read whole.
    expect((await layerSimilarity(large, large, 'up', { sampled: false })).values).toEqual(exact.values);
    // Small tensors fit in one block: a sample of them is all of them.
    expect((await layerSimilarity(stories, stories, 'q', { sampled: true })).sampled).toBe(false);
  });

  it('samples sparser for larger tensors, reading at most 64 blocks of each', () => {
    expect(similaritySampleStride(4096)).toBe(16);
    expect(similaritySampleStride(64 * 16 * 32768)).toBe(16);
    // A 70B model's q_proj: 8192 × 8192 elements, 2048 blocks → every 32nd.
    expect(similaritySampleStride(8192 * 8192)).toBe(32);
  });
});
