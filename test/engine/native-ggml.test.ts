import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStudioError } from '../../electron/api/errors.js';
import type { TensorStats } from '../../electron/api/types.js';
import { GGML_STATS_TYPES, ggmlTypeByName, type GgmlStatsType } from '../../electron/engine/formats/ggml-types.js';
import {
  ggmlDequantise,
  statsKernels,
  tensorDotProducts,
  tensorStats,
  uncheckedNativeBinding,
  type StatsElementType,
} from '../../electron/engine/native.js';
import { decodeToFloat64 } from '../../electron/engine/stats/float-codec.js';
import { GGUF_MODELS_DIR, readGgufTensorTable, type GgufTensorEntry } from '../fixtures/gguf-tensor-table.js';

interface ReferenceTensor {
  name: string;
  type: string;
  shape: number[];
  nBytes: number;
  l2: number;
  maxAbs: number;
  mean: number;
  first8: number[];
}

type ReferenceValues = Record<string, { tensors: ReferenceTensor[] }>;

const FLOAT_TYPES = new Set(['F32', 'F16', 'BF16']);

/** Deterministic bytes (mulberry32), so a failure reproduces. */
function randomBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0;
  for (let index = 0; index < length; index += 1) {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    bytes[index] = (mixed ^ (mixed >>> 14)) & 0xff;
  }
  return bytes;
}

/** The values of a tensor's bytes: dequantised natively for block types, decoded for floats. */
function valuesOf(bytes: Uint8Array, type: string): Float64Array {
  if (FLOAT_TYPES.has(type)) return decodeToFloat64(bytes, type as 'F32' | 'F16' | 'BF16');
  return Float64Array.from(ggmlDequantise(bytes, type as GgmlStatsType));
}

type ExpectedStats = Omit<TensorStats, 'name' | 'sampled'> & { absoluteSum: number };

/** Statistics of plain values, summed in order in f64: the oracle for the native figures. */
function statsOfValues(values: ArrayLike<number>): ExpectedStats {
  let sum = 0;
  let absoluteSum = 0;
  let squares = 0;
  let maxAbs = 0;
  let nanCount = 0;
  let infCount = 0;
  for (let index = 0; index < values.length; index += 1) {
    const value = values[index]!;
    if (Number.isNaN(value)) nanCount += 1;
    else if (!Number.isFinite(value)) infCount += 1;
    else {
      sum += value;
      absoluteSum += Math.abs(value);
      squares += value * value;
      maxAbs = Math.max(maxAbs, Math.abs(value));
    }
  }
  const finite = values.length - nanCount - infCount;
  return {
    elements: values.length,
    l2: Math.sqrt(squares),
    rms: finite > 0 ? Math.sqrt(squares / finite) : 0,
    mean: finite > 0 ? sum / finite : 0,
    maxAbs,
    nanCount,
    infCount,
    absoluteSum,
  };
}

/**
 * Native figures against the oracle: counts and maximum exactly; sums within the worst case of f64
 * summation in another order (n·ε relative to Σx² for L2, to Σ|x| for the mean).
 */
function expectStatsClose(actual: TensorStats, expected: ExpectedStats, label: string): void {
  expect([actual.elements, actual.nanCount, actual.infCount, actual.maxAbs], label).toEqual([
    expected.elements,
    expected.nanCount,
    expected.infCount,
    expected.maxAbs,
  ]);
  const tolerance = Math.max(1e-14, expected.elements * Number.EPSILON);
  expect(Math.abs(actual.l2 - expected.l2), label).toBeLessThanOrEqual(tolerance * expected.l2);
  const finite = expected.elements - expected.nanCount - expected.infCount;
  expect(Math.abs(actual.mean - expected.mean), label).toBeLessThanOrEqual((tolerance * expected.absoluteSum) / Math.max(1, finite));
}

/** The two little-endian bytes of an IEEE half, for values that are normal halves exactly. */
function halfBytes(value: number): [number, number] {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value, true);
  const single = view.getUint32(0, true);
  const half = ((single >>> 16) & 0x8000) | ((((single >>> 23) & 0xff) - 112) << 10) | ((single >>> 13) & 0x3ff);
  return [half & 0xff, half >>> 8];
}

describe('native statistics of GGML tensors', () => {
  let reference: ReferenceValues;
  let scratch: string;

  beforeAll(async () => {
    reference = JSON.parse(await readFile(path.join(GGUF_MODELS_DIR, 'reference-values.json'), 'utf8')) as ReferenceValues;
    scratch = await mkdtemp(path.join(os.tmpdir(), 'dus-ggml-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('equals reference-values.json for every tensor of every test GGUF (L2, max-abs, mean, first values)', async () => {
    const seenTypes = new Set<string>();
    for (const [fileName, expected] of Object.entries(reference)) {
      const file = path.join(GGUF_MODELS_DIR, fileName);
      const table = await readGgufTensorTable(file);
      const content = await readFile(file);
      expect(table.map((tensor) => tensor.name).sort(), fileName).toEqual(expected.tensors.map((tensor) => tensor.name).sort());
      const stats = await tensorStats(
        file,
        table.map((tensor) => ({ name: tensor.name, offset: tensor.offset, bytes: tensor.bytes, dtype: tensor.type as StatsElementType })),
      );
      table.forEach((tensor, index) => {
        const label = `${fileName} ${tensor.name} (${tensor.type})`;
        const want = expected.tensors.find((candidate) => candidate.name === tensor.name)!;
        const got = stats[index]!;
        seenTypes.add(tensor.type);
        expect([tensor.type, tensor.shape, tensor.bytes], label).toEqual([want.type, want.shape, want.nBytes]);
        expect(got.elements, label).toBe(tensor.elements);
        expect(Math.abs(got.l2 - want.l2), label).toBeLessThanOrEqual(1e-6 * want.l2);
        expect(got.maxAbs, label).toBe(want.maxAbs);
        expect(Math.abs(got.mean - want.mean), label).toBeLessThanOrEqual(1e-9 * want.maxAbs);
        expect(got.rms, label).toBeCloseTo(want.l2 / Math.sqrt(tensor.elements), 12);
        expect(got.nanCount + got.infCount, label).toBe(0);
        // Every dequantised element, not just the first eight, agrees with the native sums.
        const values = valuesOf(content.subarray(tensor.offset, tensor.offset + tensor.bytes), tensor.type);
        expect(Array.from(values.subarray(0, 8)), label).toEqual(want.first8);
        expectStatsClose(got, statsOfValues(values), label);
      });
    }
    // The quant zoo holds every type with statistics except Q4_1 and Q5_0 (covered below).
    expect([...seenTypes].sort()).toEqual(GGML_STATS_TYPES.filter((type) => type !== 'Q4_1' && type !== 'Q5_0').sort());
  });

  it('dequantises Q4_1 and Q5_0 blocks as d·q + m and d·(q − 16), rounded to f32', async () => {
    const blocks = 6;
    const q4_1 = randomBytes(blocks * 20, 41);
    const q5_0 = randomBytes(blocks * 22, 50);
    const expected4_1: number[] = [];
    const expected5_0: number[] = [];
    for (let block = 0; block < blocks; block += 1) {
      const d = (block + 1) * 0.03125 * (block % 2 === 0 ? 1 : -1);
      const m = -0.375 * (block + 1);
      q4_1.set([...halfBytes(d), ...halfBytes(m)], block * 20);
      q5_0.set(halfBytes(d), block * 22);
      const nibbles4 = q4_1.subarray(block * 20 + 4, block * 20 + 20);
      const high5 = new DataView(q5_0.buffer, block * 22 + 2, 4).getUint32(0, true);
      const nibbles5 = q5_0.subarray(block * 22 + 6, block * 22 + 22);
      for (let element = 0; element < 32; element += 1) {
        const byte = element % 16;
        const shift = element < 16 ? 0 : 4;
        expected4_1.push(Math.fround(Math.fround(d * ((nibbles4[byte]! >> shift) & 15)) + m));
        const q5 = ((nibbles5[byte]! >> shift) & 15) | (((high5 >>> element) & 1) << 4);
        expected5_0.push(Math.fround(d * (q5 - 16)));
      }
    }
    expect(Array.from(ggmlDequantise(q4_1, 'Q4_1'))).toEqual(expected4_1);
    expect(Array.from(ggmlDequantise(q5_0, 'Q5_0'))).toEqual(expected5_0);
    const file = path.join(scratch, 'q4_1-q5_0.bin');
    await writeFile(file, Buffer.concat([q4_1, q5_0]));
    const [stats4_1, stats5_0] = await tensorStats(file, [
      { name: 'q4_1', offset: 0, bytes: q4_1.length, dtype: 'Q4_1' },
      { name: 'q5_0', offset: q4_1.length, bytes: q5_0.length, dtype: 'Q5_0' },
    ]);
    expectStatsClose(stats4_1!, statsOfValues(expected4_1), 'Q4_1');
    expectStatsClose(stats5_0!, statsOfValues(expected5_0), 'Q5_0');
  });

  it('gives the same figures on any thread count, NaN and Inf scales counted, over many chunks', async () => {
    // Random bytes make random f16 scales, some NaN or ±Inf: their blocks dequantise to NaN/Inf.
    // Each tensor spans several 1 MiB chunks, and no chunk may split a block.
    const layout: { name: string; type: GgmlStatsType; blocks: number }[] = GGML_STATS_TYPES.filter((type) => !FLOAT_TYPES.has(type)).map(
      (type, index) => ({ name: `t.${type}`, type, blocks: Math.ceil((1.5 * 2 ** 20) / ggmlTypeByName(type)!.blockBytes) + index }),
    );
    let offset = 24; // not block-aligned in the file: only the range's own start matters
    const parts: Uint8Array[] = [new Uint8Array(offset)];
    const ranges = layout.map((entry, index) => {
      const bytes = randomBytes(entry.blocks * ggmlTypeByName(entry.type)!.blockBytes, 100 + index);
      parts.push(bytes);
      const range = { name: entry.name, offset, bytes: bytes.length, dtype: entry.type };
      offset += bytes.length;
      return { range, bytes };
    });
    const file = path.join(scratch, 'random-blocks.bin');
    await writeFile(file, Buffer.concat(parts));
    const one = await tensorStats(file, ranges.map((entry) => entry.range), { threads: 1 });
    const three = await tensorStats(file, ranges.map((entry) => entry.range), { threads: 3 });
    expect(three).toEqual(one);
    // The portable kernel dequantises every type in plain C++; the vector ones use AVX2 for Q4_K.
    const portable = await tensorStats(file, ranges.map((entry) => entry.range), { threads: 2, kernel: 'portable' });
    one.forEach((stats, index) => {
      const { range, bytes } = ranges[index]!;
      const expected = statsOfValues(ggmlDequantise(bytes, range.dtype));
      expectStatsClose(stats, expected, range.name);
      expectStatsClose(portable[index]!, expected, `${range.name} (portable)`);
      expect(stats.nanCount + stats.infCount, range.name).toBeGreaterThan(0);
    });
  });

  it('sums Q4_K and Q6_K blocks with finite scales from their codes: equal to their dequantised values on every kernel', async () => {
    // Finite scales everywhere (as in a trained model) send every block through the code sums,
    // over runs of thousands of blocks and several chunks; max |x| must still be exact.
    const scaleOffsets: Record<'Q4_K' | 'Q6_K', number[]> = { Q4_K: [0, 2], Q6_K: [208] };
    let offset = 0;
    const parts: Uint8Array[] = [];
    const ranges = (['Q4_K', 'Q6_K'] as const).map((type, index) => {
      const blockBytes = ggmlTypeByName(type)!.blockBytes;
      const bytes = randomBytes(9000 * blockBytes, 300 + index);
      for (let block = 0; block < bytes.length; block += blockBytes) {
        // Halves of 2^-8 to 2^-7, signs kept: negative d makes the values fall with the code.
        for (const at of scaleOffsets[type]) bytes[block + at + 1] = (bytes[block + at + 1]! & 0x80) | 0x1c | (bytes[block + at + 1]! & 0x03);
      }
      parts.push(bytes);
      const range = { name: type, offset, bytes: bytes.length, dtype: type };
      offset += bytes.length;
      return { range, bytes };
    });
    const file = path.join(scratch, 'finite-scales.bin');
    await writeFile(file, Buffer.concat(parts));
    for (const kernel of statsKernels()) {
      const stats = await tensorStats(file, ranges.map((entry) => entry.range), { threads: 2, kernel });
      ranges.forEach(({ range, bytes }, index) => expectStatsClose(stats[index]!, statsOfValues(ggmlDequantise(bytes, range.dtype)), `${range.name} (${kernel})`));
    }
  });

  it('samples whole blocks: every k-th run of 64 KiB rounded down to whole blocks', async () => {
    const type: GgmlStatsType = 'Q6_K';
    const blockBytes = ggmlTypeByName(type)!.blockBytes;
    const bytes = randomBytes(3000 * blockBytes, 7);
    const file = path.join(scratch, 'sampled.bin');
    await writeFile(file, bytes);
    const every = 3;
    const [sampled] = await tensorStats(file, [{ name: 'sampled', offset: 0, bytes: bytes.length, dtype: type }], { sampleBlocks: every });
    const unit = Math.floor(65536 / blockBytes) * blockBytes;
    const read: number[] = [];
    for (let start = 0, run = 0; start < bytes.length; start += unit, run += 1) {
      if (run % every === 0) for (const value of ggmlDequantise(bytes.subarray(start, Math.min(start + unit, bytes.length)), type)) read.push(value);
    }
    expect(sampled!.sampled).toBe(true);
    expectStatsClose(sampled!, statsOfValues(read), 'sampled Q6_K');
  });

  it('computes dot products of quantised tensors against float and other quantised tensors', async () => {
    const tensorOf = async (fileName: string, name: string): Promise<{ file: string; tensor: GgufTensorEntry; values: Float64Array }> => {
      const file = path.join(GGUF_MODELS_DIR, fileName);
      const tensor = (await readGgufTensorTable(file)).find((entry) => entry.name === name)!;
      const content = await readFile(file);
      return { file, tensor, values: valuesOf(content.subarray(tensor.offset, tensor.offset + tensor.bytes), tensor.type) };
    };
    const name = 'blk.1.ffn_down.weight';
    const sides = await Promise.all(
      ['quantzoo-f32.gguf', 'quantzoo-q4_k_m.gguf', 'quantzoo-q8_0.gguf', 'quantzoo-iq4_xs.gguf', 'quantzoo-q2_k.gguf'].map((fileName) =>
        tensorOf(fileName, name),
      ),
    );
    const range = (side: (typeof sides)[number]) => ({
      file: side.file,
      offset: side.tensor.offset,
      bytes: side.tensor.bytes,
      dtype: side.tensor.type as StatsElementType,
    });
    const pairs = sides.slice(1).map((side) => ({ name: side.tensor.type, a: range(sides[0]!), b: range(side) }));
    pairs.push({ name: 'self', a: range(sides[1]!), b: range(sides[1]!) });
    const one = await tensorDotProducts(pairs, { threads: 1 });
    expect(await tensorDotProducts(pairs, { threads: 2 })).toEqual(one);
    one.forEach((sums, index) => {
      const a = index < sides.length - 1 ? sides[0]!.values : sides[1]!.values;
      const b = index < sides.length - 1 ? sides[index + 1]!.values : sides[1]!.values;
      let dot = 0;
      let squaresB = 0;
      for (let element = 0; element < a.length; element += 1) {
        dot += a[element]! * b[element]!;
        squaresB += b[element]! * b[element]!;
      }
      expect(sums.elements).toBe(a.length);
      expect(Math.abs(sums.dot - dot), sums.name).toBeLessThanOrEqual(1e-12 * Math.sqrt(sums.squaresA * squaresB));
      expect(Math.abs(sums.squaresB - squaresB), sums.name).toBeLessThanOrEqual(1e-12 * squaresB);
      // A quantised copy of a tensor stays close to it.
      expect(sums.dot / Math.sqrt(sums.squaresA * sums.squaresB), sums.name).toBeGreaterThan(0.9);
    });
  });

  it('refuses other GGML types with "statistics not available for TYPE", and partial blocks', async () => {
    const file = path.join(GGUF_MODELS_DIR, 'quantzoo-q4_k_m.gguf');
    for (const dtype of ['IQ2_XXS', 'TQ1_0', 'Q8_K', 'MXFP4', 'I32']) {
      const error = await tensorStats(file, [{ name: 'x', offset: 0, bytes: 256, dtype: dtype as StatsElementType }]).catch((caught: unknown) => caught);
      expect(isStudioError(error) && [error.code, error.message]).toEqual(['UnsupportedDtype', `tensor x: statistics not available for ${dtype}`]);
      if (dtype === 'I32') continue; // a plain number type: the addon calls it an unknown dtype
      // The addon refuses them itself, with a code of its own, when asked past the checks.
      const native = await uncheckedNativeBinding()
        .tensorStats(file, [{ offset: 0, bytes: 256, dtype }], {})
        .catch((caught: unknown) => caught as { code?: string; message?: string });
      expect(native).toMatchObject({ code: 'UNSUPPORTED_TYPE', message: `statistics not available for ${dtype}` });
    }
    const partial = await tensorStats(file, [{ name: 'x', offset: 0, bytes: 145, dtype: 'Q4_K' }]).catch((caught: unknown) => caught);
    expect(isStudioError(partial) && partial.code).toBe('TensorInvalidInfo');
    const nativePartial = await uncheckedNativeBinding()
      .tensorStats(file, [{ offset: 0, bytes: 145, dtype: 'Q4_K' }], {})
      .catch((caught: unknown) => caught);
    expect(nativePartial).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(() => ggmlDequantise(new Uint8Array(17), 'Q4_0')).toThrowError(expect.objectContaining({ code: 'TensorInvalidInfo' }));
    expect(() => uncheckedNativeBinding().ggmlDequantise(new Uint8Array(18), 'F32')).toThrowError(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});
