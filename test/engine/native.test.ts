import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isStudioError } from '../../electron/api/errors.js';
import type { StatsDtype, TensorStats } from '../../electron/api/types.js';
import {
  compareRanges,
  copyRanges,
  nativeAvailable,
  nativeBinaryCandidates,
  statsKernels,
  tensorDotProducts,
  tensorStats,
  uncheckedNativeBinding,
  type CopyOptions,
  type CopyRange,
  type CopyResult,
  type DotPair,
  type DotProducts,
  type StatsElementType,
  type StatsRange,
} from '../../electron/engine/native.js';
import { COPY_METHODS, PROBE_BYTES, type CopyMethod } from '../../electron/engine/copy-path-calibration.js';
import { bytesPerElement, decodeToFloat64, encodeFromFloat64 } from '../../electron/engine/stats/float-codec.js';
import { cosineFromSums, DOT_SAMPLE_BLOCK_ELEMENTS, referenceDotProducts } from '../../electron/engine/stats/reference-dot-products.js';
import { referenceTensorStats } from '../../electron/engine/stats/reference-stats.js';

const MODEL_FILE = path.resolve(import.meta.dirname, '../../build/demo/stories260K/model.safetensors');
const DTYPES: readonly StatsDtype[] = ['F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2'];

/** Deterministic bytes (mulberry32), so a failure reproduces. */
function randomBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0;
  for (let index = 0; index < length; index += 4) {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    mixed = (mixed ^ (mixed >>> 14)) >>> 0;
    for (let byte = 0; byte < 4 && index + byte < length; byte += 1) bytes[index + byte] = (mixed >>> (8 * byte)) & 0xff;
  }
  return bytes;
}

/** NaN, ±Inf, ±0, the largest finite values and the smallest subnormals of each dtype, as raw bytes. */
function specialBytes(dtype: StatsDtype): Uint8Array {
  switch (dtype) {
    case 'F32':
      return new Uint8Array(new Uint32Array([0x7fc00000, 0xffc00001, 0x7f800000, 0xff800000, 0, 0x80000000, 0x7f7fffff, 0xff7fffff, 1, 0x80000001, 0x007fffff]).buffer);
    case 'F16':
      return new Uint8Array(new Uint16Array([0x7e00, 0xfe01, 0x7c00, 0xfc00, 0, 0x8000, 0x7bff, 0xfbff, 1, 0x8001, 0x03ff]).buffer);
    case 'BF16':
      return new Uint8Array(new Uint16Array([0x7fc0, 0xffc1, 0x7f80, 0xff80, 0, 0x8000, 0x7f7f, 0xff7f, 1, 0x8001, 0x007f]).buffer);
    case 'F8_E4M3':
      return new Uint8Array([0x7f, 0xff, 0, 0x80, 0x7e, 0xfe, 0x01, 0x81, 0x07]);
    case 'F8_E5M2':
      return new Uint8Array([0x7d, 0xfe, 0x7c, 0xfc, 0, 0x80, 0x7b, 0xfb, 0x01, 0x81, 0x03]);
  }
}

/** Σ|x| over the finite values: the scale of the rounding error any summation order may make. */
function absoluteSum(bytes: Uint8Array, dtype: StatsDtype): number {
  let total = 0;
  for (const value of decodeToFloat64(bytes, dtype)) if (Number.isFinite(value)) total += Math.abs(value);
  return total;
}

/**
 * Native figures match the reference: counts and maximum exactly; sums within the worst-case
 * error of recursive summation, (n − 1)·2^-53 of Σ|x| for each of the two summation orders.
 */
function expectMatchesReference(actual: TensorStats, bytes: Uint8Array, elementType: StatsElementType): void {
  // The reference sums float dtypes only (test/engine/stats/ggml-stats.test.ts covers GGML types).
  const dtype = elementType as StatsDtype;
  const expected = referenceTensorStats(actual.name, bytes, dtype);
  expect({ ...actual, l2: 0, rms: 0, mean: 0 }).toEqual({ ...expected, l2: 0, rms: 0, mean: 0, sampled: actual.sampled });
  const tolerance = Math.max(1e-14, expected.elements * Number.EPSILON);
  // Σx² has positive terms, so its relative error bounds l2's and rms's (halved by the root).
  expect(Math.abs(actual.l2 - expected.l2)).toBeLessThanOrEqual(tolerance * expected.l2);
  expect(Math.abs(actual.rms - expected.rms)).toBeLessThanOrEqual(tolerance * expected.rms);
  const finite = expected.elements - expected.nanCount - expected.infCount;
  const meanScale = finite > 0 ? absoluteSum(bytes, dtype) / finite : 0;
  expect(Math.abs(actual.mean - expected.mean)).toBeLessThanOrEqual(tolerance * meanScale);
}

async function rejection(promise: Promise<unknown>): Promise<{ code?: unknown; message: string; path?: unknown; detail?: unknown }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: unknown; message: string; path?: unknown; detail?: unknown };
  }
  throw new Error('expected a rejection');
}

let dir = '';

beforeAll(async () => {
  if (!nativeAvailable()) throw new Error('the native addon is not built: run npm run build:native before these tests');
  dir = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
});

afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

describe('tensorStats', () => {
  /** One file holding, per dtype, a tensor of random bit patterns led by every special value, and a gaussian-like one. */
  async function mixedFile(): Promise<{ file: string; ranges: StatsRange[]; bytesOf: (range: StatsRange) => Uint8Array }> {
    const parts: Uint8Array[] = [];
    const ranges: StatsRange[] = [];
    let offset = 0;
    // Start at an odd offset so no tensor is aligned to its element size.
    parts.push(new Uint8Array([0xaa]));
    offset += 1;
    DTYPES.forEach((dtype, order) => {
      const special = specialBytes(dtype);
      const random = randomBytes(3 * 65536 + 7 * bytesPerElement(dtype), 100 + order);
      const noisy = new Uint8Array(special.length + random.length);
      noisy.set(special);
      noisy.set(random, special.length);
      parts.push(noisy);
      ranges.push({ name: `${dtype}.random`, offset, bytes: noisy.length, dtype });
      offset += noisy.length;
      const values = Array.from({ length: 50001 }, (_, index) => Math.sin(index * 0.37 + order) * Math.cos(index * 0.011) * 0.02);
      const gaussian =
        dtype === 'F32' || dtype === 'F16' || dtype === 'BF16' ? encodeFromFloat64(values, dtype) : randomBytes(50001, 200 + order).map((byte) => byte & 0x3f);
      parts.push(gaussian);
      ranges.push({ name: `${dtype}.smooth`, offset, bytes: gaussian.length, dtype });
      offset += gaussian.length;
    });
    const content = Buffer.concat(parts);
    const file = path.join(dir, 'mixed.bin');
    await writeFile(file, content);
    return { file, ranges, bytesOf: (range) => content.subarray(range.offset, range.offset + range.bytes) };
  }

  it('computes the same statistics as the TypeScript reference for every dtype, NaN, Inf, subnormals and extremes included', async () => {
    const { file, ranges, bytesOf } = await mixedFile();
    const stats = await tensorStats(file, ranges, { threads: 2 });
    expect(stats.map((entry) => entry.name)).toEqual(ranges.map((range) => range.name));
    stats.forEach((entry, index) => {
      const range = ranges[index]!;
      expect(entry.sampled).toBe(false);
      expectMatchesReference(entry, bytesOf(range), range.dtype);
    });
    // The random tensors hit every class of value.
    for (const entry of stats.filter((item) => item.name.endsWith('.random'))) {
      expect(entry.nanCount).toBeGreaterThan(0);
      if (entry.name.startsWith('F8_E4M3')) expect(entry.infCount).toBe(0);
      else expect(entry.infCount).toBeGreaterThan(0);
    }
  });

  it('gives bit-identical results on 1 and 4 threads, with every kernel', async () => {
    const { file, ranges } = await mixedFile();
    const big = randomBytes(5 * 1024 * 1024 + 6, 9).map((byte, index) => (index % 2 === 1 ? byte & 0xbf : byte));
    const bigFile = path.join(dir, 'big-bf16.bin');
    await writeFile(bigFile, big);
    const bigRange: StatsRange = { name: 'big', offset: 0, bytes: big.length, dtype: 'BF16' };
    for (const kernel of statsKernels()) {
      expect(await tensorStats(file, ranges, { threads: 4, kernel })).toEqual(await tensorStats(file, ranges, { threads: 1, kernel }));
      expect(await tensorStats(bigFile, [bigRange], { threads: 4, kernel })).toEqual(await tensorStats(bigFile, [bigRange], { threads: 1, kernel }));
    }
  });

  it('runs every kernel this CPU offers, each matching the reference on every dtype, special values included', async () => {
    const kernels = statsKernels();
    expect(kernels.at(-1)).toBe('portable');
    const { file, ranges, bytesOf } = await mixedFile();
    // Smooth tensors of several blocks with one NaN and one Inf far apart: most blocks take the
    // fast path, two are summed again without them. Odd lengths leave a partial last vector.
    const sparseParts: Uint8Array[] = [];
    const sparseRanges: StatsRange[] = [];
    let sparseOffset = 0;
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const values = Array.from({ length: 40_003 }, (_, index) => Math.sin(index * 0.7) * 0.05 * (1 + (index % 13)));
      values[1234] = Number.NaN;
      values[30_001] = -Infinity;
      const bytes = encodeFromFloat64(values, dtype);
      sparseParts.push(bytes);
      sparseRanges.push({ name: `${dtype}.sparse`, offset: sparseOffset, bytes: bytes.length, dtype });
      sparseOffset += bytes.length;
    }
    const sparseContent = Buffer.concat(sparseParts);
    const sparseFile = path.join(dir, 'sparse.bin');
    await writeFile(sparseFile, sparseContent);
    const byKernel = new Map<string, TensorStats[]>();
    for (const kernel of kernels) {
      const stats = await tensorStats(file, ranges, { threads: 2, kernel });
      stats.forEach((entry, index) => expectMatchesReference(entry, bytesOf(ranges[index]!), ranges[index]!.dtype));
      const sparse = await tensorStats(sparseFile, sparseRanges, { threads: 2, kernel });
      sparse.forEach((entry, index) => {
        const range = sparseRanges[index]!;
        expectMatchesReference(entry, sparseContent.subarray(range.offset, range.offset + range.bytes), range.dtype);
        expect([entry.nanCount, entry.infCount]).toEqual([1, 1]);
      });
      byKernel.set(kernel, [...stats, ...sparse]);
    }
    // Counts and maxima are exact on every kernel; the default is the fastest.
    const exact = (stats: TensorStats[]): unknown[] => stats.map(({ name, elements, maxAbs, nanCount, infCount }) => ({ name, elements, maxAbs, nanCount, infCount }));
    for (const stats of byKernel.values()) expect(exact(stats)).toEqual(exact(byKernel.get('portable')!));
    expect(await tensorStats(file, ranges, { threads: 2 })).toEqual(byKernel.get(kernels[0]!)!.slice(0, ranges.length));
  });

  it('offers the vector kernels exactly where the CPU has their instructions (x86-64 Linux)', async () => {
    if (process.arch !== 'x64' || process.platform !== 'linux') {
      expect(statsKernels()).toEqual(['portable']);
      return;
    }
    const flags = new Set(/^flags\s*:(.*)$/m.exec(await readFile('/proc/cpuinfo', 'utf8'))?.[1]?.trim().split(/\s+/) ?? []);
    const has = (...names: string[]): boolean => names.every((name) => flags.has(name));
    const avx2 = has('avx2', 'fma', 'f16c', 'popcnt');
    const avx512 = avx2 && has('avx512f', 'avx512bw', 'avx512dq', 'avx512vl');
    expect(statsKernels()).toEqual([...(avx512 ? ['avx512'] : []), ...(avx2 ? ['avx2'] : []), 'portable']);
  });

  it('refuses a kernel this CPU does not run, in TypeScript and in the addon', async () => {
    const file = path.join(dir, 'short.bin');
    await writeFile(file, new Uint8Array(64));
    const error = await rejection(tensorStats(file, [], { kernel: 'neon' as never }));
    expect(error).toMatchObject({ code: 'InvalidRequest', path: file });
    expect(error.message).toContain('portable');
    const native = uncheckedNativeBinding();
    for (const kernel of ['neon', '', 7]) {
      expect((await rejection(native.tensorStats(file, [], { kernel } as never))).code).toBe('INVALID_ARGUMENT');
    }
  });

  it('spreads one tensor over many chunks and still matches the reference', async () => {
    // 9 MiB and a bit: ten 1 MiB chunks, the last one short, starting at an unaligned offset.
    const tensor = randomBytes(9 * 1024 * 1024 + 4 * 1001, 21);
    const content = new Uint8Array(tensor.length + 3);
    content.set(tensor, 3);
    const file = path.join(dir, 'chunks.bin');
    await writeFile(file, content);
    for (const dtype of ['F32', 'F16'] as const) {
      const [stats] = await tensorStats(file, [{ name: 'w', offset: 3, bytes: tensor.length, dtype }], { threads: 3 });
      expectMatchesReference(stats!, tensor, dtype);
    }
  });

  it('handles thousands of tiny tensors of mixed dtypes in one call', async () => {
    const content = randomBytes(200_000, 33);
    const file = path.join(dir, 'tiny.bin');
    await writeFile(file, content);
    const ranges: StatsRange[] = [];
    for (let index = 0; index < 5000; index += 1) {
      const dtype = DTYPES[index % DTYPES.length]!;
      const size = bytesPerElement(dtype);
      const elements = (index * 7) % 40;
      ranges.push({ name: `t${index}`, offset: (index * 37) % (content.length - 200), bytes: elements * size, dtype });
    }
    const stats = await tensorStats(file, ranges, { threads: 4 });
    expect(stats).toHaveLength(5000);
    stats.forEach((entry, index) => {
      const range = ranges[index]!;
      expectMatchesReference(entry, content.subarray(range.offset, range.offset + range.bytes), range.dtype);
    });
  });

  it('reports zero-element ranges as empty statistics, even at the very end of the file', async () => {
    const file = path.join(dir, 'zero.bin');
    await writeFile(file, new Uint8Array([0x80, 0x3f, 0x00, 0x40]));
    const stats = await tensorStats(file, [
      { name: 'start', offset: 0, bytes: 0, dtype: 'BF16' },
      { name: 'end', offset: 4, bytes: 0, dtype: 'F32' },
      { name: 'both', offset: 0, bytes: 4, dtype: 'BF16' },
    ]);
    expect(stats[0]).toEqual({ name: 'start', elements: 0, l2: 0, rms: 0, mean: 0, maxAbs: 0, nanCount: 0, infCount: 0, sampled: false });
    expect(stats[1]).toMatchObject({ name: 'end', elements: 0 });
    expect(stats[2]).toMatchObject({ elements: 2, mean: 1.5, maxAbs: 2 });
    expect(await tensorStats(file, [])).toEqual([]);
  });

  it('rejects ranges past the end of the file with InvalidOffset, naming the tensor and the file', async () => {
    const file = path.join(dir, 'short.bin');
    await writeFile(file, new Uint8Array(64));
    const cases: StatsRange[] = [
      { name: 'past', offset: 65, bytes: 0, dtype: 'F32' },
      { name: 'overhang', offset: 60, bytes: 8, dtype: 'F32' },
      { name: 'huge', offset: 0, bytes: Number.MAX_SAFE_INTEGER - 1, dtype: 'BF16' },
      { name: 'far', offset: 2 ** 51, bytes: 2 ** 51, dtype: 'F8_E5M2' },
    ];
    for (const range of cases) {
      const error = await rejection(tensorStats(file, [{ name: 'fine', offset: 0, bytes: 64, dtype: 'F32' }, range]));
      expect(error).toMatchObject({ code: 'InvalidOffset', path: file });
      expect(error.message).toContain(`tensor ${range.name}`);
      expect(error.message).toContain('beyond the end');
    }
  });

  it('refuses hostile arguments before they reach the addon', async () => {
    const file = path.join(dir, 'short.bin');
    const hostile: { range: Partial<StatsRange>; code: string }[] = [
      { range: { offset: -8, bytes: 4, dtype: 'F32' }, code: 'InvalidOffset' },
      { range: { offset: 0, bytes: -4, dtype: 'F32' }, code: 'InvalidOffset' },
      { range: { offset: 1.5, bytes: 4, dtype: 'F32' }, code: 'InvalidOffset' },
      { range: { offset: Number.NaN, bytes: 4, dtype: 'F32' }, code: 'InvalidOffset' },
      { range: { offset: 2 ** 53, bytes: 0, dtype: 'F32' }, code: 'InvalidOffset' },
      { range: { offset: Number.MAX_SAFE_INTEGER, bytes: Number.MAX_SAFE_INTEGER - 1, dtype: 'BF16' }, code: 'InvalidOffset' },
      { range: { offset: '0' as unknown as number, bytes: 4, dtype: 'F32' }, code: 'InvalidOffset' },
      { range: { offset: 0, bytes: 3, dtype: 'BF16' }, code: 'TensorInvalidInfo' },
      { range: { offset: 0, bytes: 4, dtype: 'I32' as StatsDtype }, code: 'UnsupportedDtype' },
    ];
    for (const { range, code } of hostile) {
      const error = await rejection(tensorStats(file, [{ name: 'hostile', ...range } as StatsRange]));
      expect(error.code, JSON.stringify(range)).toBe(code);
    }
    expect((await rejection(tensorStats('short.bin', []))).code).toBe('InvalidRequest');
    expect((await rejection(tensorStats(file, [], { threads: 0 }))).code).toBe('InvalidRequest');
    expect((await rejection(tensorStats(file, [], { sampleBlocks: 0.5 }))).code).toBe('InvalidRequest');
  });

  it('has the addon itself reject hostile ranges by code, without crashing', async () => {
    const native = uncheckedNativeBinding();
    const file = path.join(dir, 'short.bin');
    const codeOf = async (promise: Promise<unknown>): Promise<unknown> => (await rejection(promise)).code;
    const stats = (ranges: unknown, options: unknown = {}): Promise<unknown> =>
      native.tensorStats(file, ranges as never, options as never);
    expect(await codeOf(stats([{ offset: -1, bytes: 4, dtype: 'F32' }]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(stats([{ offset: 2 ** 53, bytes: 4, dtype: 'F32' }]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(stats([{ offset: 0, bytes: Infinity, dtype: 'F32' }]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(stats([{ offset: '8', bytes: 4, dtype: 'F32' }]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(stats([{ offset: 0, bytes: 3, dtype: 'F16' }]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(stats([{ offset: 0, bytes: 4, dtype: 'F64' }]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(stats([null]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(stats('ranges'))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(stats([], { threads: 0 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(native.tensorStats('relative.bin', [], {}))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(native.tensorStats(`${file}\0x`, [], {}))).toBe('INVALID_ARGUMENT');
    const beyond = await rejection(
      stats([
        { offset: 0, bytes: 64, dtype: 'F32' },
        { offset: Number.MAX_SAFE_INTEGER, bytes: Number.MAX_SAFE_INTEGER - 1, dtype: 'F16' },
      ]),
    );
    expect(beyond).toMatchObject({ code: 'OUT_OF_BOUNDS', path: file, rangeIndex: 1, offset: Number.MAX_SAFE_INTEGER });
    expect(await codeOf(stats([{ offset: 64, bytes: 2, dtype: 'BF16' }]))).toBe('OUT_OF_BOUNDS');
    // Still alive and correct afterwards.
    expect(Array.from(await native.tensorStats(file, [{ offset: 0, bytes: 64, dtype: 'F32' }], {}))).toEqual([16, 0, 0, 0, 0, 0, 0]);
  });

  it('reports a missing file as NotFound and a folder as InvalidRequest', async () => {
    const missing = path.join(dir, 'missing.bin');
    expect(await rejection(tensorStats(missing, [{ name: 'w', offset: 0, bytes: 0, dtype: 'F32' }]))).toMatchObject({
      code: 'NotFound',
      path: missing,
    });
    const folder = path.join(dir, 'a-folder');
    await mkdir(folder, { recursive: true });
    expect(await rejection(tensorStats(folder, []))).toMatchObject({ code: 'InvalidRequest', path: folder });
  });

  it('marks sampled statistics and computes them over every k-th 64 KiB block only', async () => {
    const block = 64 * 1024;
    const tensor = randomBytes(10 * block + 2 * 100, 55).map((byte, index) => (index % 2 === 1 ? byte & 0x3f : byte));
    const small = randomBytes(block - 2, 56).map((byte, index) => (index % 2 === 1 ? byte & 0x3f : byte));
    const file = path.join(dir, 'sampled.bin');
    await writeFile(file, Buffer.concat([tensor, small]));
    const ranges: StatsRange[] = [
      { name: 'big', offset: 0, bytes: tensor.length, dtype: 'BF16' },
      { name: 'small', offset: tensor.length, bytes: small.length, dtype: 'BF16' },
    ];
    const [big, smallStats] = await tensorStats(file, ranges, { sampleBlocks: 4 });
    // Blocks 0, 4 and 8 of the eleven (the last is the 200-byte tail).
    const sample = Buffer.concat([0, 4, 8].map((index) => tensor.subarray(index * block, (index + 1) * block)));
    expect(big!.sampled).toBe(true);
    expect(big!.elements).toBe(sample.length / 2);
    expectMatchesReference(big!, sample, 'BF16');
    // A tensor within one block is read whole, so it is not a sample.
    expect(smallStats!.sampled).toBe(false);
    expectMatchesReference(smallStats!, small, 'BF16');
    const [full] = await tensorStats(file, ranges.slice(0, 1), { sampleBlocks: 1 });
    expect(full!.sampled).toBe(false);
    expect(full!.elements).toBe(tensor.length / 2);
  });

  it('agrees with the reference on every tensor of the stories260K model', async () => {
    const content = await readFile(MODEL_FILE);
    const headerLength = Number(content.readBigUInt64LE(0));
    const header = JSON.parse(content.subarray(8, 8 + headerLength).toString('utf8')) as Record<
      string,
      { dtype: string; data_offsets: [number, number] }
    >;
    const ranges: StatsRange[] = Object.entries(header)
      .filter(([name]) => name !== '__metadata__')
      .map(([name, entry]) => ({
        name,
        offset: 8 + headerLength + entry.data_offsets[0],
        bytes: entry.data_offsets[1] - entry.data_offsets[0],
        dtype: entry.dtype as StatsDtype,
      }));
    expect(ranges.length).toBeGreaterThan(10);
    const stats = await tensorStats(MODEL_FILE, ranges);
    stats.forEach((entry, index) => {
      const range = ranges[index]!;
      expectMatchesReference(entry, content.subarray(range.offset, range.offset + range.bytes), range.dtype);
      expect(entry.nanCount + entry.infCount).toBe(0);
      expect(entry.l2).toBeGreaterThan(0);
    });
  });

  it('loads in worker threads, and a worker ending mid-computation leaves the main thread working', async () => {
    const binary = nativeBinaryCandidates().find((candidate) => existsSync(candidate));
    expect(binary).toBeDefined();
    const file = path.join(dir, 'worker.bin');
    const content = randomBytes(3 * 1024 * 1024, 77).map((byte, index) => (index % 2 === 1 ? byte & 0x3f : byte));
    await writeFile(file, content);
    const workerSource = `
      const { parentPort, workerData } = require('node:worker_threads');
      const binding = require(workerData.binary);
      binding.tensorStats(workerData.file, [{ offset: 0, bytes: workerData.bytes, dtype: 'BF16' }], { threads: 2 })
        .then((rows) => parentPort.postMessage(Array.from(rows)));
    `;
    const workerData = { binary, file, bytes: content.length };
    const fromWorker = await new Promise<number[]>((resolve, reject) => {
      const worker = new Worker(workerSource, { eval: true, workerData });
      worker.once('message', (rows: number[]) => {
        resolve(rows);
        void worker.terminate();
      });
      worker.once('error', reject);
    });
    const fromMain = await uncheckedNativeBinding().tensorStats(file, [{ offset: 0, bytes: content.length, dtype: 'BF16' }], {
      threads: 3,
    });
    expect(fromWorker).toEqual(Array.from(fromMain));
    for (let round = 0; round < 3; round += 1) {
      const worker = new Worker(workerSource, { eval: true, workerData });
      await new Promise((resolve) => worker.once('online', resolve));
      await worker.terminate();
    }
    const [after] = await tensorStats(file, [{ name: 'after', offset: 0, bytes: content.length, dtype: 'BF16' }]);
    expectMatchesReference(after!, content, 'BF16');
  });
});

describe('loading the addon', () => {
  it('throws NativeUnavailable on first use when the binary cannot be found, and not before', async () => {
    vi.stubEnv('DUS_NATIVE_PATH', path.join(dir, 'no-such-addon.node'));
    vi.resetModules();
    try {
      const fresh = await import('../../electron/engine/native.js');
      expect(fresh.nativeAvailable()).toBe(false);
      const error = await rejection(fresh.tensorStats(MODEL_FILE, []));
      expect(isStudioError(error)).toBe(true);
      expect(error.code).toBe('NativeUnavailable');
      expect(error.message).toContain('npm run build:native');
      expect((await rejection(fresh.copyRanges(MODEL_FILE, MODEL_FILE, []))).code).toBe('NativeUnavailable');
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });

  it('loads the binary DUS_NATIVE_PATH names', async () => {
    const binary = nativeBinaryCandidates().find((candidate) => existsSync(candidate))!;
    vi.stubEnv('DUS_NATIVE_PATH', binary);
    vi.resetModules();
    try {
      const fresh = await import('../../electron/engine/native.js');
      expect(fresh.nativeBinaryCandidates()).toEqual([binary]);
      expect(fresh.nativeAvailable()).toBe(true);
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });
});

describe('copyRanges', () => {
  const SOURCE_BYTES = 20 * 1024 * 1024;
  let source = '';
  let sourceContent: Uint8Array = new Uint8Array(0);

  beforeAll(async () => {
    source = path.join(dir, 'copy-source.bin');
    sourceContent = randomBytes(SOURCE_BYTES, 2024);
    await writeFile(source, sourceContent);
  });

  /** Ranges laid out one after another in the target with small gaps; zero-length and unaligned ones included. */
  function plan(): { ranges: CopyRange[]; targetBytes: number } {
    const ranges: CopyRange[] = [];
    let targetOffset = 3;
    const lengths = [9 * 1024 * 1024 + 5, 0, 1, 4 * 1024 * 1024, 0, 65537];
    for (let index = 0; index < 200; index += 1) lengths.push((index * 7919) % 40_000);
    lengths.forEach((length, index) => {
      const sourceOffset = (index * 1_000_003 + 17) % (SOURCE_BYTES - length);
      ranges.push({ sourceOffset, targetOffset, length });
      targetOffset += length + (index % 3);
    });
    return { ranges, targetBytes: targetOffset + 11 };
  }

  async function copyAndCheck(copy: typeof copyRanges, options: CopyOptions, name: string): Promise<CopyResult> {
    const { ranges, targetBytes } = plan();
    const target = path.join(dir, `copy-target-${name}.bin`);
    // A pattern outside the ranges shows nothing else was written and nothing truncated.
    const expected = new Uint8Array(targetBytes).fill(0xa5);
    await writeFile(target, expected);
    for (const range of ranges) expected.set(sourceContent.subarray(range.sourceOffset, range.sourceOffset + range.length), range.targetOffset);
    const result = await copy(source, target, ranges, options);
    const total = ranges.reduce((sum, range) => sum + range.length, 0);
    expect(result.bytes).toBe(total);
    expect(Object.values(result.bytesByMethod).reduce((sum, bytes) => sum + bytes, 0)).toBe(total);
    const written = await readFile(target);
    expect(written.length).toBe(targetBytes);
    expect(Buffer.compare(written, expected)).toBe(0);
    return result;
  }

  it('copies many unaligned ranges byte-for-byte through every path', async () => {
    for (const method of COPY_METHODS) {
      const result = await copyAndCheck(copyRanges, { method }, method);
      // Off Linux the kernel path falls through to the mapped write.
      const carrier = method === 'copy_file_range' && process.platform !== 'linux' ? 'mapped-write' : method;
      expect(result.bytesByMethod[carrier]).toBe(result.bytes);
      expect(result.method).toBe(carrier);
      expect(result.nanoseconds).toBeGreaterThan(0);
    }
    expect((await copyAndCheck(copyRanges, { forceFallback: true }, 'fallback')).method).toBe('read-write');
  });

  it('times every path on probes cut from the ranges (a range spanning several probes), writing the same bytes', async () => {
    // A fresh module: no calibration from the copies above.
    vi.resetModules();
    try {
      const fresh = await import('../../electron/engine/native.js');
      const result = await copyAndCheck(fresh.copyRanges, {}, 'calibrated');
      // The 9 MiB range alone spans five 2 MiB probes; the plan's 17 MiB give each path two or more.
      expect(result.bytes).toBeGreaterThan(6 * PROBE_BYTES);
      const expectedPaths = process.platform === 'linux' ? COPY_METHODS : COPY_METHODS.slice(1);
      for (const method of expectedPaths) expect(result.bytesByMethod[method]).toBeGreaterThanOrEqual(PROBE_BYTES);
      // Calibrated again on a later copy between the same files: the choice is made, same bytes.
      await copyAndCheck(fresh.copyRanges, {}, 'calibrated-again');
    } finally {
      vi.resetModules();
    }
  });

  it('copies one range longer than a mapping window (16 MiB in copy-ranges.cc) through every path', async () => {
    const target = path.join(dir, 'copy-target-windows.bin');
    const range: CopyRange = { sourceOffset: 4097, targetOffset: 5, length: 19 * 1024 * 1024 + 3 };
    const expected = new Uint8Array(range.targetOffset + range.length + 7).fill(0x3c);
    expected.set(sourceContent.subarray(range.sourceOffset, range.sourceOffset + range.length), range.targetOffset);
    for (const method of COPY_METHODS) {
      await writeFile(target, new Uint8Array(expected.length).fill(0x3c));
      const result = await copyRanges(source, target, [range], { method });
      expect(result.bytes).toBe(range.length);
      expect(Buffer.compare(await readFile(target), expected)).toBe(0);
    }
  });

  it('copies ranges whose offsets share their place in a page through every path', async () => {
    const target = path.join(dir, 'copy-target-aligned.bin');
    const ranges: CopyRange[] = [
      { sourceOffset: 4096 * 3 + 100, targetOffset: 4096 * 7 + 100, length: 5 * 1024 * 1024 + 3 },
      { sourceOffset: 0, targetOffset: 12 * 1024 * 1024, length: 8 * 1024 * 1024 },
    ];
    const expected = new Uint8Array(24 * 1024 * 1024).fill(0x5a);
    for (const range of ranges) expected.set(sourceContent.subarray(range.sourceOffset, range.sourceOffset + range.length), range.targetOffset);
    for (const options of [{}, ...COPY_METHODS.map((method) => ({ method }))]) {
      await writeFile(target, new Uint8Array(24 * 1024 * 1024).fill(0x5a));
      const result = await copyRanges(source, target, ranges, options);
      if ('method' in options && options.method === 'copy_file_range' && process.platform === 'linux') expect(result.method).toBe('copy_file_range');
      expect(Buffer.compare(await readFile(target), expected)).toBe(0);
    }
  });

  it('refuses an unknown copy path', async () => {
    const target = path.join(dir, 'copy-target-short.bin');
    await writeFile(target, new Uint8Array(100));
    const error = await rejection(copyRanges(source, target, [], { method: 'splice' as CopyMethod }));
    expect(error.code).toBe('InvalidRequest');
    expect((await rejection(uncheckedNativeBinding().copyRanges(source, target, [], { method: 'splice' }))).code).toBe('INVALID_ARGUMENT');
  });

  it('refuses a range past the source\'s end among others before writing any, naming that range', async () => {
    const target = path.join(dir, 'copy-target-past-end.bin');
    await writeFile(target, new Uint8Array(100));
    const error = await rejection(copyRanges(source, target, [{ sourceOffset: 0, targetOffset: 0, length: 10 }, { sourceOffset: 0, targetOffset: 0, length: SOURCE_BYTES + 1 }]));
    expect(error).toMatchObject({ code: 'SourceChanged', path: source, detail: { rangeIndex: 1 } });
    expect(Buffer.compare(await readFile(target), Buffer.alloc(100))).toBe(0);
  });

  const otherFileSystem = existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(os.tmpdir()).dev;

  // Linux ≥ 5.19 refuses copy_file_range between file systems of different types (EXDEV), so the
  // addon must notice and fall back; 5.3–5.18 copied across them in the kernel.
  it.skipIf(!otherFileSystem)('copies between two file systems, falling back to read/write where the kernel refuses', async () => {
    const shmDir = await mkdtemp(path.join('/dev/shm', 'dus-'));
    try {
      const tmpfsSource = path.join(shmDir, 'source.bin');
      await writeFile(tmpfsSource, sourceContent.subarray(0, 3 * 1024 * 1024));
      const target = path.join(dir, 'copy-target-cross.bin');
      await writeFile(target, new Uint8Array(3 * 1024 * 1024));
      const result = await copyRanges(tmpfsSource, target, [{ sourceOffset: 5, targetOffset: 0, length: 3 * 1024 * 1024 - 5 }], { method: 'copy_file_range' });
      expect(result.bytes).toBe(3 * 1024 * 1024 - 5);
      const [major = 0, minor = 0] = os.release().split('.').map(Number);
      if (major > 5 || (major === 5 && minor >= 19)) expect(result).toMatchObject({ method: 'mapped-write', bytesByMethod: { 'copy_file_range': 0 } });
      // The calibrated copy never asks the kernel again between these two file systems, and writes the same bytes.
      await writeFile(target, new Uint8Array(3 * 1024 * 1024));
      const calibrated = await copyRanges(tmpfsSource, target, [{ sourceOffset: 5, targetOffset: 0, length: 3 * 1024 * 1024 - 5 }]);
      if (major > 5 || (major === 5 && minor >= 19)) expect(calibrated.bytesByMethod['copy_file_range']).toBe(0);
      const written = await readFile(target);
      expect(Buffer.compare(written.subarray(0, 3 * 1024 * 1024 - 5), sourceContent.subarray(5, 3 * 1024 * 1024))).toBe(0);
    } finally {
      await rm(shmDir, { recursive: true, force: true });
    }
  });

  it('refuses a source range past the end with SourceChanged, naming the offset', async () => {
    const target = path.join(dir, 'copy-target-short.bin');
    await writeFile(target, new Uint8Array(100));
    const error = await rejection(copyRanges(source, target, [{ sourceOffset: SOURCE_BYTES - 10, targetOffset: 0, length: 11 }]));
    expect(error).toMatchObject({ code: 'SourceChanged', path: source, detail: { offset: SOURCE_BYTES - 10 } });
    expect(error.message).toContain(String(SOURCE_BYTES - 10));
    expect(Buffer.compare(await readFile(target), Buffer.alloc(100))).toBe(0);
  });

  it('names the target when it does not exist, and never creates it', async () => {
    const target = path.join(dir, 'no-such-target.bin');
    const error = await rejection(copyRanges(source, target, [{ sourceOffset: 0, targetOffset: 0, length: 10 }]));
    expect(error).toMatchObject({ code: 'NotFound', path: target });
    expect(error.message).toContain(target);
    expect(existsSync(target)).toBe(false);
  });

  it('refuses unsafe offsets and relative paths before calling in', async () => {
    const target = path.join(dir, 'copy-target-short.bin');
    expect((await rejection(copyRanges(source, target, [{ sourceOffset: -1, targetOffset: 0, length: 1 }]))).code).toBe('InvalidOffset');
    expect((await rejection(copyRanges(source, target, [{ sourceOffset: 0, targetOffset: 2 ** 53 - 2, length: 4 }]))).code).toBe(
      'InvalidOffset',
    );
    expect((await rejection(copyRanges('copy-source.bin', target, []))).code).toBe('InvalidRequest');
    const native = uncheckedNativeBinding();
    expect(
      (await rejection(native.copyRanges(source, target, [{ sourceOffset: 0, targetOffset: -5, length: 1 }], {}))).code,
    ).toBe('INVALID_ARGUMENT');
  });
});

describe('compareRanges', () => {
  it('finds one flipped byte and reports no difference on equal ranges', async () => {
    const content = randomBytes(5 * 1024 * 1024, 808);
    const fileA = path.join(dir, 'compare-a.bin');
    const fileB = path.join(dir, 'compare-b.bin');
    const shifted = new Uint8Array(content.length + 7);
    shifted.set(content, 7);
    await writeFile(fileA, content);
    const flipAt = 3 * 1024 * 1024 - 1; // the last byte of range 1, past the first 1 MiB block
    shifted[7 + flipAt] = shifted[7 + flipAt]! ^ 0x10;
    await writeFile(fileB, shifted);
    const ranges = [
      { aOffset: 0, bOffset: 7, length: 1024 * 1024 },
      { aOffset: 1024 * 1024, bOffset: 7 + 1024 * 1024, length: 2 * 1024 * 1024 },
      { aOffset: 3 * 1024 * 1024, bOffset: 7 + 3 * 1024 * 1024, length: 2 * 1024 * 1024 },
      { aOffset: flipAt, bOffset: 7 + flipAt, length: 0 },
      { aOffset: flipAt, bOffset: 7 + flipAt, length: 1 },
    ];
    expect(await compareRanges(fileA, fileB, ranges)).toEqual([1, 4]);
    expect(await compareRanges(fileA, fileB, [ranges[0]!, ranges[2]!])).toEqual([]);
    const sameFile = ranges.map((range) => ({ aOffset: range.bOffset, bOffset: range.bOffset, length: range.length }));
    expect(await compareRanges(fileB, fileB, sameFile)).toEqual([]);
  });

  it('rejects a range beyond either file with InvalidOffset naming that file', async () => {
    const fileA = path.join(dir, 'compare-a.bin');
    const small = path.join(dir, 'compare-small.bin');
    await writeFile(small, new Uint8Array(10));
    const error = await rejection(compareRanges(fileA, small, [{ aOffset: 0, bOffset: 5, length: 6 }]));
    expect(error).toMatchObject({ code: 'InvalidOffset', path: small });
  });
});

describe('tensorDotProducts', () => {
  beforeAll(async () => {
    // 64 zero bytes: sixteen F32 zeros, the file the argument checks aim at.
    await writeFile(path.join(dir, 'dot-short.bin'), new Uint8Array(64));
  });

  /** One tensor of `elements` values of `dtype` in a file written by the test. */
  interface Placed {
    file: string;
    offset: number;
    bytes: Uint8Array;
    dtype: StatsDtype;
  }

  /** Random bit patterns (every special value first), `elements` long, for each dtype, at unaligned offsets in one file. */
  async function randomTensors(fileName: string, elements: number, seed: number): Promise<Map<StatsDtype, Placed>> {
    const file = path.join(dir, fileName);
    const parts: Uint8Array[] = [new Uint8Array([0x5a, 0x5a, 0x5a])];
    let offset = 3;
    const placed = new Map<StatsDtype, Placed>();
    DTYPES.forEach((dtype, order) => {
      const size = bytesPerElement(dtype);
      const bytes = randomBytes(elements * size, seed + order);
      bytes.set(specialBytes(dtype).subarray(0, Math.floor(specialBytes(dtype).length / size) * size));
      placed.set(dtype, { file, offset, bytes, dtype });
      parts.push(bytes);
      offset += bytes.length;
    });
    await writeFile(file, Buffer.concat(parts));
    return placed;
  }

  function pairOf(name: string, a: Placed, b: Placed): DotPair {
    return {
      name,
      a: { file: a.file, offset: a.offset, bytes: a.bytes.length, dtype: a.dtype },
      b: { file: b.file, offset: b.offset, bytes: b.bytes.length, dtype: b.dtype },
    };
  }

  /** Σ|a·b| over the finite element pairs: the scale of the rounding any summation order may make. */
  function absoluteDot(a: Placed, b: Placed, sampleBlocks = 1): number {
    const valuesA = decodeToFloat64(a.bytes, a.dtype);
    const valuesB = decodeToFloat64(b.bytes, b.dtype);
    let total = 0;
    valuesA.forEach((x, index) => {
      if (sampleBlocks > 1 && Math.floor(index / DOT_SAMPLE_BLOCK_ELEMENTS) % sampleBlocks !== 0) return;
      const y = valuesB[index]!;
      if (Number.isFinite(x) && Number.isFinite(y)) total += Math.abs(x * y);
    });
    return total;
  }

  /** Counts exactly; sums within the worst case of two summation orders, (n − 1)·2^-53 of the sum of magnitudes each. */
  function expectMatchesReference(actual: DotProducts, a: Placed, b: Placed, sampleBlocks = 1): void {
    const expected = referenceDotProducts(a.bytes, a.dtype, b.bytes, b.dtype, { sampleBlocks });
    expect({ ...actual, name: '', dot: 0, squaresA: 0, squaresB: 0 }).toEqual({ ...expected, name: '', dot: 0, squaresA: 0, squaresB: 0 });
    const tolerance = Math.max(1e-14, expected.elements * Number.EPSILON);
    expect(Math.abs(actual.dot - expected.dot), actual.name).toBeLessThanOrEqual(tolerance * absoluteDot(a, b, sampleBlocks));
    expect(Math.abs(actual.squaresA - expected.squaresA), actual.name).toBeLessThanOrEqual(tolerance * expected.squaresA);
    expect(Math.abs(actual.squaresB - expected.squaresB), actual.name).toBeLessThanOrEqual(tolerance * expected.squaresB);
  }

  it('computes the same sums as the TypeScript reference for every pair of dtypes, across two files', async () => {
    const inA = await randomTensors('dot-a.bin', 40_001, 300);
    const inB = await randomTensors('dot-b.bin', 40_001, 400);
    const pairs: DotPair[] = [];
    const sides: [Placed, Placed][] = [];
    for (const dtypeA of DTYPES) {
      for (const dtypeB of DTYPES) {
        pairs.push(pairOf(`${dtypeA}·${dtypeB}`, inA.get(dtypeA)!, inB.get(dtypeB)!));
        sides.push([inA.get(dtypeA)!, inB.get(dtypeB)!]);
      }
    }
    const results = await tensorDotProducts(pairs, { threads: 3 });
    expect(results.map((result) => result.name)).toEqual(pairs.map((pair) => pair.name));
    results.forEach((result, index) => {
      expect(result.sampled).toBe(false);
      expect(result.elements).toBe(40_001);
      expectMatchesReference(result, ...sides[index]!);
    });
    // The special values lead each tensor, so every side met NaN (and, but for F8_E4M3, Inf).
    expect(results.every((result) => result.nonFiniteA > 0 && result.nonFiniteB > 0)).toBe(true);
  });

  it('gives a correlated pair the cosine of the reference, over many chunks and on any thread count', async () => {
    // 1.2 M elements: three 512 Ki-element chunks, the last one short; F32 against its BF16 rounding plus noise.
    const count = 1_200_003;
    const values = Array.from({ length: count }, (_, index) => Math.sin(index * 0.013) * 0.02 + Math.cos(index * 1.7) * 0.001);
    const noisy = values.map((value, index) => value + Math.sin(index * 7.77) * 0.004);
    const a: Placed = { file: path.join(dir, 'dot-smooth-a.bin'), offset: 0, bytes: encodeFromFloat64(values, 'F32'), dtype: 'F32' };
    const bBytes = encodeFromFloat64(noisy, 'BF16');
    const b: Placed = { file: path.join(dir, 'dot-smooth-b.bin'), offset: 1, bytes: bBytes, dtype: 'BF16' };
    await writeFile(a.file, a.bytes);
    await writeFile(b.file, Buffer.concat([new Uint8Array([7]), bBytes]));
    const pair = pairOf('smooth', a, b);
    const [one] = await tensorDotProducts([pair], { threads: 1 });
    const [four] = await tensorDotProducts([pair], { threads: 4 });
    expect(four).toEqual(one);
    expectMatchesReference(one!, a, b);
    const cosine = cosineFromSums(one!)!;
    expect(cosine).toBeCloseTo(cosineFromSums(referenceDotProducts(a.bytes, 'F32', b.bytes, 'BF16'))!, 12);
    expect(cosine).toBeGreaterThan(0.9);
    expect(cosine).toBeLessThan(1);
  });

  it('finds exactly equal sums for a tensor against itself, so its cosine is 1', async () => {
    const inA = await randomTensors('dot-self.bin', 70_000, 500);
    const pairs = DTYPES.map((dtype) => pairOf(dtype, inA.get(dtype)!, inA.get(dtype)!));
    for (const result of await tensorDotProducts(pairs)) {
      expect(result.dot).toBe(result.squaresA);
      expect(result.squaresB).toBe(result.squaresA);
      expect(Math.abs(cosineFromSums(result)! - 1)).toBeLessThanOrEqual(2 * Number.EPSILON);
    }
  });

  it('samples every k-th block of elements on both sides alike, and marks what it sampled', async () => {
    const block = DOT_SAMPLE_BLOCK_ELEMENTS;
    const count = 10 * block + 100;
    const a: Placed = {
      file: path.join(dir, 'dot-sampled.bin'),
      offset: 0,
      bytes: encodeFromFloat64(Array.from({ length: count }, (_, index) => Math.sin(index * 0.1)), 'F16'),
      dtype: 'F16',
    };
    const bBytes = encodeFromFloat64(Array.from({ length: count }, (_, index) => Math.sin(index * 0.1 + (index > 4 * block ? 1 : 0))), 'F32');
    const b: Placed = { file: a.file, offset: a.bytes.length, bytes: bBytes, dtype: 'F32' };
    const small: Placed = { file: a.file, offset: a.bytes.length + bBytes.length, bytes: randomBytes(block - 2, 57).map((byte) => byte & 0x3f), dtype: 'F8_E4M3' };
    await writeFile(a.file, Buffer.concat([a.bytes, bBytes, small.bytes]));
    const [sampled, whole] = await tensorDotProducts([pairOf('big', a, b), pairOf('small', small, small)], { sampleBlocks: 4 });
    // Blocks 0, 4 and 8 of the eleven (the last is the 100-element tail).
    expect(sampled!.sampled).toBe(true);
    expect(sampled!.elements).toBe(3 * block);
    expectMatchesReference(sampled!, a, b, 4);
    // A pair within one block is read whole, so it is not a sample.
    expect(whole!.sampled).toBe(false);
    expectMatchesReference(whole!, small, small);
    const [full] = await tensorDotProducts([pairOf('big', a, b)], { sampleBlocks: 1 });
    expect(full!.sampled).toBe(false);
    expect(full!.elements).toBe(count);
  });

  it('answers zero-element pairs and an empty list with empty sums', async () => {
    const file = path.join(dir, 'dot-short.bin');
    const results = await tensorDotProducts([
      { name: 'end', a: { file, offset: 4, bytes: 0, dtype: 'F32' }, b: { file, offset: 0, bytes: 0, dtype: 'BF16' } },
    ]);
    expect(results).toEqual([{ name: 'end', elements: 0, dot: 0, squaresA: 0, squaresB: 0, nonFiniteA: 0, nonFiniteB: 0, sampled: false }]);
    expect(cosineFromSums(results[0]!)).toBeNull();
    expect(await tensorDotProducts([])).toEqual([]);
  });

  it('rejects a side past the end of its file with InvalidOffset, naming the pair and that file', async () => {
    const fine = path.join(dir, 'dot-short.bin');
    const small = path.join(dir, 'dot-small.bin');
    await writeFile(small, new Uint8Array(10));
    const cases: DotPair[] = [
      { name: 'overhang', a: { file: fine, offset: 0, bytes: 8, dtype: 'F32' }, b: { file: small, offset: 4, bytes: 8, dtype: 'F32' } },
      { name: 'past', a: { file: fine, offset: 0, bytes: 0, dtype: 'F32' }, b: { file: small, offset: 11, bytes: 0, dtype: 'F16' } },
      { name: 'far', a: { file: fine, offset: 0, bytes: 2 ** 51, dtype: 'F8_E5M2' }, b: { file: small, offset: 0, bytes: 2 ** 51, dtype: 'F8_E4M3' } },
    ];
    for (const pair of cases) {
      const error = await rejection(tensorDotProducts([pairOf('ok', { file: fine, offset: 0, bytes: new Uint8Array(64), dtype: 'F32' }, { file: fine, offset: 0, bytes: new Uint8Array(64), dtype: 'F32' }), pair]));
      expect(error, pair.name).toMatchObject({ code: 'InvalidOffset' });
      expect(error.message).toContain(`pair ${pair.name}`);
      expect(error.message).toContain('beyond the end');
    }
    const error = await rejection(tensorDotProducts([cases[0]!]));
    expect(error).toMatchObject({ path: small, detail: { rangeIndex: 0, offset: 4 } });
  });

  it('refuses hostile arguments before they reach the addon', async () => {
    const file = path.join(dir, 'dot-short.bin');
    const side = { file, offset: 0, bytes: 8, dtype: 'F32' as StatsDtype };
    const hostile: { pair: unknown; code: string }[] = [
      { pair: { name: 'negative', a: { ...side, offset: -8 }, b: side }, code: 'InvalidOffset' },
      { pair: { name: 'fraction', a: side, b: { ...side, bytes: 4.5 } }, code: 'InvalidOffset' },
      { pair: { name: 'unsafe', a: side, b: { ...side, offset: Number.MAX_SAFE_INTEGER, bytes: 8 } }, code: 'InvalidOffset' },
      { pair: { name: 'text', a: { ...side, offset: '0' }, b: side }, code: 'InvalidOffset' },
      { pair: { name: 'int', a: { ...side, dtype: 'I32' }, b: side }, code: 'UnsupportedDtype' },
      { pair: { name: 'odd', a: side, b: { ...side, bytes: 3, dtype: 'BF16' } }, code: 'TensorInvalidInfo' },
      { pair: { name: 'lengths', a: side, b: { ...side, bytes: 8, dtype: 'BF16' } }, code: 'InvalidRequest' },
      { pair: { name: 'relative', a: { ...side, file: 'short.bin' }, b: side }, code: 'InvalidRequest' },
      { pair: { name: 'missing side', a: side }, code: 'InvalidRequest' },
      { pair: null, code: 'InvalidRequest' },
    ];
    for (const { pair, code } of hostile) {
      const error = await rejection(tensorDotProducts([pair as DotPair]));
      expect(error.code, JSON.stringify(pair)).toBe(code);
    }
    const lengths = await rejection(tensorDotProducts([hostile[6]!.pair as DotPair]));
    expect(lengths.message).toContain('pair lengths');
    expect(lengths.message).toMatch(/2 elements and side b 4/);
    expect((await rejection(tensorDotProducts('pairs' as unknown as DotPair[]))).code).toBe('InvalidRequest');
    expect((await rejection(tensorDotProducts([], { threads: 0 }))).code).toBe('InvalidRequest');
    expect((await rejection(tensorDotProducts([], { sampleBlocks: 1.5 }))).code).toBe('InvalidRequest');
  });

  it('has the addon itself reject hostile pairs by code, without crashing', async () => {
    const native = uncheckedNativeBinding();
    const file = path.join(dir, 'dot-short.bin');
    const side = { file: 0, offset: 0, bytes: 8, dtype: 'F32' };
    const codeOf = async (promise: Promise<unknown>): Promise<unknown> => (await rejection(promise)).code;
    const dot = (pairs: unknown, files: unknown = [file], options: unknown = {}): Promise<unknown> =>
      native.tensorDotProducts(files as never, pairs as never, options as never);
    expect(await codeOf(dot([{ a: { ...side, file: 1 }, b: side }]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(dot([{ a: { ...side, file: -1 }, b: side }]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(dot([{ a: side, b: { ...side, offset: 2 ** 53 } }]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(dot([{ a: side, b: { ...side, bytes: Infinity } }]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(dot([{ a: side, b: { ...side, dtype: 'F64' } }]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(dot([{ a: side, b: { ...side, bytes: 3, dtype: 'F16' } }]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(dot([{ a: side, b: { ...side, dtype: 'BF16' } }]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(dot([{ a: side }]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(dot([7]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(dot('pairs'))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(dot([], 'files'))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(dot([], ['relative.bin']))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(dot([], [`${file}\0x`]))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(dot([], [file], { threads: 0 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(dot([], [file], { sampleBlocks: -2 }))).toBe('INVALID_ARGUMENT');
    const beyond = await rejection(dot([{ a: side, b: side }, { a: side, b: { ...side, offset: Number.MAX_SAFE_INTEGER } }]));
    expect(beyond).toMatchObject({ code: 'OUT_OF_BOUNDS', path: file, rangeIndex: 1, offset: Number.MAX_SAFE_INTEGER });
    // Still alive and correct afterwards: 64 zero bytes are 16 zeros.
    expect(Array.from(await native.tensorDotProducts([file], [{ a: { ...side, bytes: 64 }, b: { ...side, bytes: 64 } }], {}))).toEqual([16, 0, 0, 0, 0, 0, 0]);
  });

  it('reports a missing file as NotFound and a folder as InvalidRequest', async () => {
    const present = path.join(dir, 'dot-short.bin');
    const missing = path.join(dir, 'missing-dot.bin');
    const pair = (file: string): DotPair => ({ name: 'w', a: { file: present, offset: 0, bytes: 4, dtype: 'F32' }, b: { file, offset: 0, bytes: 4, dtype: 'F32' } });
    expect(await rejection(tensorDotProducts([pair(missing)]))).toMatchObject({ code: 'NotFound', path: missing });
    const folder = path.join(dir, 'a-dot-folder');
    await mkdir(folder, { recursive: true });
    expect(await rejection(tensorDotProducts([pair(folder)]))).toMatchObject({ code: 'InvalidRequest', path: folder });
  });
});

describe('cancelling a native call', () => {
  /** 64 MiB of BF16 (32 M elements) in one file: 64 chunks, far more than one poll of the flag. */
  const LARGE_BYTES = 64 * 1024 * 1024;
  let large = '';
  beforeAll(async () => {
    large = path.join(dir, 'large-bf16.bin');
    await writeFile(large, randomBytes(LARGE_BYTES, 31));
  });

  async function rejection(work: Promise<unknown>): Promise<unknown> {
    return work.then(
      () => 'resolved',
      (error: unknown) => error,
    );
  }

  it('stops statistics between chunks once the signal fires, with Cancelled naming the file', async () => {
    const controller = new AbortController();
    // The worker polls the flag before each chunk, so raising it right after the call was queued
    // stops it at the latest one chunk per thread later.
    const running = tensorStats(large, [{ name: 'large', offset: 0, bytes: LARGE_BYTES, dtype: 'BF16' }], { threads: 1, signal: controller.signal });
    controller.abort();
    const error = await rejection(running);
    expect(isStudioError(error) && error.code).toBe('Cancelled');
    expect(isStudioError(error) && error.path).toBe(large);
    // The addon goes on working after a cancelled call.
    const [stats] = await tensorStats(large, [{ name: 'large', offset: 0, bytes: 1024, dtype: 'BF16' }], { signal: controller.signal }).catch(() => [
      undefined,
    ]);
    expect(stats).toBeUndefined();
    const [fresh] = await tensorStats(large, [{ name: 'large', offset: 0, bytes: 1024, dtype: 'BF16' }], { signal: new AbortController().signal });
    expect(fresh?.elements).toBe(512);
  });

  it('stops dot products between chunks once the signal fires', async () => {
    const controller = new AbortController();
    const half = LARGE_BYTES / 2;
    const pair: DotPair = {
      name: 'halves',
      a: { file: large, offset: 0, bytes: half, dtype: 'BF16' },
      b: { file: large, offset: half, bytes: half, dtype: 'BF16' },
    };
    const running = tensorDotProducts([pair, pair], { threads: 1, signal: controller.signal });
    controller.abort();
    const error = await rejection(running);
    expect(isStudioError(error) && error.code).toBe('Cancelled');
    const [sums] = await tensorDotProducts([pair], { signal: new AbortController().signal, sampleBlocks: 64 });
    expect(sums?.sampled).toBe(true);
  });

  it('refuses to start with a signal that has already fired, reading nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const missing = path.join(dir, 'never-read.bin');
    // The file does not exist: a call that started would fail with NotFound instead.
    const stats = await rejection(tensorStats(missing, [{ name: 't', offset: 0, bytes: 2, dtype: 'BF16' }], { signal: controller.signal }));
    expect(isStudioError(stats) && stats.code).toBe('Cancelled');
    const side = { file: missing, offset: 0, bytes: 2, dtype: 'BF16' as const };
    const dot = await rejection(tensorDotProducts([{ name: 'p', a: side, b: side }], { signal: controller.signal }));
    expect(isStudioError(dot) && dot.code).toBe('Cancelled');
  });

  it('has the addon refuse an abort flag that is not an Int32Array', async () => {
    const native = uncheckedNativeBinding();
    for (const abort of [new Uint8Array(4), new Int32Array(0), 1, 'yes']) {
      const error = await rejection(native.tensorStats(large, [{ offset: 0, bytes: 2, dtype: 'BF16' }], { abort } as never));
      expect((error as { code?: unknown }).code).toBe('INVALID_ARGUMENT');
    }
  });
});
