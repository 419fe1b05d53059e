/**
 * The only module that loads the native addon (native/build/Release/dus_native.node). It finds
 * the binary, loads it on first use, checks every argument before it crosses into C++, and turns
 * native failures into StudioErrors. Without a built addon, the engine still loads: the first call
 * of a function here throws NativeUnavailable.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StudioError, type ErrorCode } from '../api/errors.js';
import { STATS_DTYPES, type StatsDtype, type TensorStats } from '../api/types.js';
import { ggmlTypeByName, isGgmlStatsType, type GgmlStatsType } from './formats/ggml-types.js';
import { bytesPerElement } from './stats/float-codec.js';
import { DOT_SAMPLE_BLOCK_ELEMENTS, type DotSums } from './stats/reference-dot-products.js';
import { statsFromSums } from './stats/reference-stats.js';

/**
 * What the statistics and dot products read: a float dtype, or a GGML type as gguf-py spells it
 * ('Q4_K', 'IQ4_XS'; see GGML_STATS_TYPES), whose dequantised values are summed.
 */
export type StatsElementType = StatsDtype | GgmlStatsType;

/** Whether tensors of `dtype` have statistics and dot products (a float dtype or GGML_STATS_TYPES). */
export function isStatsElementType(dtype: string): dtype is StatsElementType {
  return (STATS_DTYPES as readonly string[]).includes(dtype) || isGgmlStatsType(dtype);
}

export interface StatsRange {
  name: string;
  offset: number;
  /** A whole number of elements (of blocks, for a GGML block type). */
  bytes: number;
  dtype: StatsElementType;
}

/**
 * The instruction sets the statistics kernels come in. Each gives deterministic figures; they may
 * differ from one kernel to another in the last bits of the sums (within f64 rounding).
 */
export const STATS_KERNELS = ['avx512', 'avx2', 'portable'] as const;
export type StatsKernel = (typeof STATS_KERNELS)[number];

export interface StatsOptions {
  /** Threads to spread the work over; default: the CPUs this process may use. */
  threads?: number;
  /** Read only every k-th 64 KiB block of each tensor (k ≥ 1): a quick estimate, marked `sampled`. */
  sampleBlocks?: number;
  /** One of `statsKernels()`; default the fastest this CPU runs. */
  kernel?: StatsKernel;
}

export interface CopyRange {
  sourceOffset: number;
  targetOffset: number;
  length: number;
}

export interface CopyResult {
  bytes: number;
  /**
   * 'copy_file_range' when the kernel copied everything; 'mapped-write' when some ranges (those whose
   * source and target offsets sit at different places within a page, or a copy the kernel refused)
   * were written from a mapping of the source; 'read-write' when any byte went through the buffer.
   */
  method: 'copy_file_range' | 'mapped-write' | 'read-write';
}

export interface CompareRange {
  aOffset: number;
  bOffset: number;
  length: number;
}

/** One side of a dot-product pair: a whole float tensor in a file. */
export interface DotRange {
  file: string;
  offset: number;
  bytes: number;
  dtype: StatsElementType;
}

/** Two tensors of the same element count (dtypes may differ; files may too). `name` labels errors. */
export interface DotPair {
  name: string;
  a: DotRange;
  b: DotRange;
}

export interface DotOptions {
  /** Threads to spread the work over; default: the CPUs this process may use. */
  threads?: number;
  /**
   * Read only every k-th block of DOT_SAMPLE_BLOCK_ELEMENTS elements of each pair (k ≥ 1): a quick
   * estimate, marked `sampled`. Both sides read the same elements.
   */
  sampleBlocks?: number;
}

/** The sums of one pair (see reference-dot-products.ts), with the pair's name. */
export interface DotProducts extends DotSums {
  name: string;
}

/** The addon's own interface (see native/src/addon.cc); bump both sides together. */
export interface NativeBinding {
  interfaceVersion: number;
  /** Numbers per range in tensorStats' result. */
  statsFields: number;
  /** The statistics kernels this CPU runs, fastest first (the portable one always last). */
  statsKernels: string[];
  defaultThreads: number;
  tensorStats(
    file: string,
    ranges: readonly { offset: number; bytes: number; dtype: string }[],
    options: StatsOptions,
  ): Promise<Float64Array>;
  copyRanges(source: string, target: string, ranges: readonly CopyRange[], options: { forceFallback?: boolean }): Promise<CopyResult>;
  compareRanges(fileA: string, fileB: string, ranges: readonly CompareRange[]): Promise<number[]>;
  /** Numbers per pair in tensorDotProducts' result. */
  dotFields: number;
  /** Elements per sampling block of tensorDotProducts. */
  dotSampleBlockElements: number;
  /** Pairs name their files by index into `files`. */
  tensorDotProducts(
    files: readonly string[],
    pairs: readonly { a: NativeDotSide; b: NativeDotSide }[],
    options: { threads?: number; sampleBlocks?: number },
  ): Promise<Float64Array>;
  /** The dequantised values of whole blocks of a GGML block type (small inputs only). */
  ggmlDequantise(bytes: Uint8Array, type: string): Float32Array;
}

/** A dot-product side as it crosses into C++: the file as an index. */
export interface NativeDotSide {
  file: number;
  offset: number;
  bytes: number;
  dtype: string;
}

/** What a native rejection carries (native/src/promise-worker.cc). */
interface NativeFailure {
  code?: unknown;
  message?: unknown;
  path?: unknown;
  offset?: unknown;
  rangeIndex?: unknown;
  errno?: unknown;
}

const INTERFACE_VERSION = 4;
const BINARY_PATH = path.join('native', 'build', 'Release', 'dus_native.node');
const BUILD_HINT = 'run npm run build:native';

type LoadResult = { binding: NativeBinding } | { error: StudioError };
let loaded: LoadResult | undefined;

/**
 * Where the binary may be, in order: $DUS_NATIVE_PATH alone when set; Electron's unpacked
 * resources (a .node inside app.asar cannot be loaded); then native/build/Release under this
 * module's folder and each folder above it (the source tree, or out/ after bundling).
 */
export function nativeBinaryCandidates(): string[] {
  const override = process.env.DUS_NATIVE_PATH;
  if (override !== undefined && override !== '') return [path.resolve(override)];
  const candidates: string[] = [];
  const resourcesPath = (process as { resourcesPath?: unknown }).resourcesPath;
  if (typeof resourcesPath === 'string') candidates.push(path.join(resourcesPath, 'app.asar.unpacked', BINARY_PATH));
  let folder = import.meta.dirname ?? path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    candidates.push(path.join(folder, BINARY_PATH));
    const parent = path.dirname(folder);
    if (parent === folder) break;
    folder = parent;
  }
  return candidates;
}

function load(): LoadResult {
  const candidates = nativeBinaryCandidates();
  const require = createRequire(import.meta.url);
  const failures: string[] = [];
  for (const candidate of candidates) {
    if (!existsSync(candidate)) continue;
    let binding: NativeBinding;
    try {
      binding = require(candidate) as NativeBinding;
    } catch (cause) {
      failures.push(`${candidate}: ${cause instanceof Error ? cause.message : String(cause)}`);
      continue;
    }
    if (binding.interfaceVersion !== INTERFACE_VERSION) {
      return {
        error: new StudioError('NativeUnavailable', `the native addon at ${candidate} is out of date: ${BUILD_HINT}`, {
          path: candidate,
          detail: { found: binding.interfaceVersion, expected: INTERFACE_VERSION },
        }),
      };
    }
    return { binding };
  }
  const message =
    failures.length > 0
      ? `the native addon could not be loaded (${failures.join('; ')}): ${BUILD_HINT}`
      : `the native addon is not built: ${BUILD_HINT}`;
  return { error: new StudioError('NativeUnavailable', message, { detail: { candidates, failures } }) };
}

function binding(): NativeBinding {
  loaded ??= load();
  if ('error' in loaded) throw loaded.error;
  return loaded.binding;
}

/** The statistics kernels this CPU runs, fastest first; tensorStats uses the first unless told otherwise. */
export function statsKernels(): StatsKernel[] {
  return binding().statsKernels.filter((name): name is StatsKernel => (STATS_KERNELS as readonly string[]).includes(name));
}

/** True when the addon loads (statistics, fast copy and compare are available). */
export function nativeAvailable(): boolean {
  loaded ??= load();
  return 'binding' in loaded;
}

/**
 * The loaded binding itself, for tests that hold the C++ argument guards to account without the
 * checks below. Engine code uses the checked functions.
 */
export function uncheckedNativeBinding(): NativeBinding {
  return binding();
}

function checkPath(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.includes('\0') || !path.isAbsolute(value)) {
    throw new StudioError('InvalidRequest', `${what} must be an absolute path`, {
      path: typeof value === 'string' ? value : undefined,
    });
  }
  return value;
}

function checkByteCount(value: unknown, what: string, file: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new StudioError('InvalidOffset', `${what} must be a whole number of bytes from 0 to 2^53 − 1, not ${String(value)}`, {
      path: file,
    });
  }
  return value;
}

/** Checks a range [offset, offset + length) and that its end is still a safe integer. */
function checkSpan(offset: unknown, length: unknown, what: string, file: string): void {
  const start = checkByteCount(offset, `${what} offset`, file);
  const size = checkByteCount(length, `${what} length`, file);
  if (!Number.isSafeInteger(start + size)) {
    throw new StudioError('InvalidOffset', `${what} ends past 2^53 − 1 bytes`, { path: file });
  }
}

function checkRanges<T>(ranges: readonly T[], file: string): readonly T[] {
  if (!Array.isArray(ranges)) throw new StudioError('InvalidRequest', 'ranges must be an array', { path: file });
  return ranges;
}

function checkCount(value: unknown, what: string): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)) {
    throw new StudioError('InvalidRequest', `${what} must be a whole number ≥ 1, not ${String(value)}`);
  }
}

/**
 * Bytes and elements per block of a statistics dtype (1 element for the float dtypes). Another GGML
 * type is UnsupportedDtype "statistics not available for TYPE"; an unknown name too.
 */
function statsBlock(dtype: unknown, what: string, file: string): { bytes: number; elements: number } {
  const name = String(dtype);
  if ((STATS_DTYPES as readonly string[]).includes(name)) return { bytes: bytesPerElement(name as StatsDtype), elements: 1 };
  if (isGgmlStatsType(name)) {
    const info = ggmlTypeByName(name)!;
    return { bytes: info.blockBytes, elements: info.blockElements };
  }
  if (ggmlTypeByName(name) !== undefined) {
    throw new StudioError('UnsupportedDtype', `${what}: statistics not available for ${name}`, { path: file, detail: { dtype: name } });
  }
  throw new StudioError('UnsupportedDtype', `${what} has dtype ${name}, which has no statistics`, { path: file, detail: { dtype: name } });
}

/** The element count of a range of `bytes` bytes; TensorInvalidInfo unless it is whole blocks. */
function statsElements(dtype: unknown, bytes: number, what: string, file: string): number {
  const block = statsBlock(dtype, what, file);
  if (bytes % block.bytes !== 0) {
    const unit = block.elements === 1 ? `${String(dtype)} elements` : `${String(dtype)} blocks (${block.bytes} bytes each)`;
    throw new StudioError('TensorInvalidInfo', `${what} has ${bytes} bytes, not a whole number of ${unit}`, { path: file });
  }
  return (bytes / block.bytes) * block.elements;
}

type Operation = 'stats' | 'copy' | 'compare' | 'dot';

/** A StudioError for a native rejection; `label` names the range in the message when known. */
function fromNative(error: unknown, operation: Operation, defaultPath: string, label?: (index: number) => string): StudioError {
  const failure: NativeFailure = typeof error === 'object' && error !== null ? (error as NativeFailure) : {};
  const nativeCode = typeof failure.code === 'string' ? failure.code : undefined;
  const nativeMessage = typeof failure.message === 'string' ? failure.message : String(error);
  const filePath = typeof failure.path === 'string' ? failure.path : defaultPath;
  const rangeIndex = typeof failure.rangeIndex === 'number' ? failure.rangeIndex : undefined;
  const failedIo: ErrorCode = operation === 'copy' ? 'ExportFailed' : 'Internal';
  const codes: Record<string, ErrorCode> = {
    SOURCE_CHANGED: 'SourceChanged',
    NO_SPACE: 'NoSpace',
    PERMISSION_DENIED: 'PermissionDenied',
    NOT_FOUND: 'NotFound',
    // A range beyond the end of a file the caller sized: the copy source changed; for statistics
    // and comparisons the offsets themselves are wrong.
    OUT_OF_BOUNDS: operation === 'copy' ? 'SourceChanged' : 'InvalidOffset',
    NOT_A_FILE: operation === 'copy' ? 'ExportFailed' : 'InvalidRequest',
    INVALID_ARGUMENT: 'InvalidRequest',
    UNSUPPORTED_TYPE: 'UnsupportedDtype',
    IO_ERROR: failedIo,
    OUT_OF_MEMORY: failedIo,
  };
  const code = nativeCode !== undefined ? codes[nativeCode] : undefined;
  const detail = {
    nativeCode,
    errno: typeof failure.errno === 'string' ? failure.errno : undefined,
    offset: typeof failure.offset === 'number' ? failure.offset : undefined,
    rangeIndex,
  };
  const prefix = rangeIndex !== undefined && label !== undefined ? `${label(rangeIndex)}: ` : '';
  if (code === undefined) {
    return new StudioError('Internal', `the native addon failed unexpectedly (${nativeMessage}); please report this`, {
      path: filePath,
      detail,
      cause: error,
    });
  }
  return new StudioError(code, prefix + nativeMessage, { path: filePath, detail, cause: error });
}

/**
 * Statistics of byte ranges of one file, each a whole tensor of a float dtype, computed on
 * `options.threads` threads from a read-only mapping. Figures do not depend on the thread count.
 */
export async function tensorStats(file: string, ranges: readonly StatsRange[], options: StatsOptions = {}): Promise<TensorStats[]> {
  checkPath(file, 'the tensor file');
  checkRanges(ranges, file);
  for (const range of ranges) {
    const what = `tensor ${String(range.name)}`;
    checkSpan(range.offset, range.bytes, what, file);
    statsElements(range.dtype, range.bytes, what, file);
  }
  checkCount(options.threads, 'threads');
  checkCount(options.sampleBlocks, 'sampleBlocks');
  const native = binding();
  if (options.kernel !== undefined && !native.statsKernels.includes(options.kernel)) {
    const runs = native.statsKernels.join(', ');
    throw new StudioError('InvalidRequest', `the statistics kernel ${String(options.kernel)} does not run on this CPU (it runs ${runs})`, { path: file });
  }
  const nativeOptions: StatsOptions = {};
  if (options.threads !== undefined) nativeOptions.threads = options.threads;
  if (options.sampleBlocks !== undefined) nativeOptions.sampleBlocks = options.sampleBlocks;
  if (options.kernel !== undefined) nativeOptions.kernel = options.kernel;
  let rows: Float64Array;
  try {
    rows = await native.tensorStats(
      file,
      ranges.map((range) => ({ offset: range.offset, bytes: range.bytes, dtype: range.dtype })),
      nativeOptions,
    );
  } catch (error) {
    throw fromNative(error, 'stats', file, (index) => `tensor ${ranges[index]?.name ?? index}`);
  }
  const fields = native.statsFields;
  if (rows.length !== ranges.length * fields) {
    throw new StudioError('Internal', `the native addon returned ${rows.length} numbers for ${ranges.length} tensors; please report this`, {
      path: file,
    });
  }
  return ranges.map((range, index) => {
    const at = index * fields;
    return statsFromSums(
      range.name,
      {
        elements: rows[at]!,
        sum: rows[at + 1]!,
        sumSquares: rows[at + 2]!,
        maxAbs: rows[at + 3]!,
        nanCount: rows[at + 4]!,
        infCount: rows[at + 5]!,
      },
      rows[at + 6] === 1,
    );
  });
}

/**
 * Copies byte ranges of `source` into the existing file `target` (never truncated), with
 * copy_file_range where the kernel can, else through a 4 MiB buffer (`forceFallback` forces it).
 * A source range past the source's end rejects with SourceChanged.
 */
export async function copyRanges(
  source: string,
  target: string,
  ranges: readonly CopyRange[],
  options: { forceFallback?: boolean } = {},
): Promise<CopyResult> {
  checkPath(source, 'the copy source');
  checkPath(target, 'the copy target');
  checkRanges(ranges, source);
  for (const range of ranges) {
    checkSpan(range.sourceOffset, range.length, 'source range', source);
    checkSpan(range.targetOffset, range.length, 'target range', target);
  }
  const native = binding();
  try {
    return await native.copyRanges(source, target, ranges, { forceFallback: options.forceFallback === true });
  } catch (error) {
    throw fromNative(error, 'copy', target);
  }
}

/** Indexes (ascending) of the ranges whose bytes differ between `fileA` and `fileB`. */
export async function compareRanges(fileA: string, fileB: string, ranges: readonly CompareRange[]): Promise<number[]> {
  checkPath(fileA, 'the first file');
  checkPath(fileB, 'the second file');
  checkRanges(ranges, fileA);
  for (const range of ranges) {
    checkSpan(range.aOffset, range.length, 'range', fileA);
    checkSpan(range.bOffset, range.length, 'range', fileB);
  }
  const native = binding();
  try {
    return await native.compareRanges(fileA, fileB, ranges);
  } catch (error) {
    throw fromNative(error, 'compare', fileA);
  }
}

/** Checks one side of a pair; returns its element count. */
function checkDotRange(range: DotRange, what: string): number {
  if (typeof range !== 'object' || range === null) throw new StudioError('InvalidRequest', `${what} must be a tensor range`);
  checkPath(range.file, `the file of ${what}`);
  checkSpan(range.offset, range.bytes, what, range.file);
  return statsElements(range.dtype, range.bytes, what, range.file);
}

/**
 * Σa·b, Σa² and Σb² (f64) of many pairs of equally long float tensors, each side in any file and
 * any stats dtype, on `options.threads` threads from read-only mappings. Every range is checked
 * against its file's real size first (InvalidOffset past the end). Sums do not depend on the thread
 * count. Feed them to `cosineFromSums`.
 */
export async function tensorDotProducts(pairs: readonly DotPair[], options: DotOptions = {}): Promise<DotProducts[]> {
  if (!Array.isArray(pairs)) throw new StudioError('InvalidRequest', 'pairs must be an array');
  const files: string[] = [];
  const fileIndex = new Map<string, number>();
  const indexOf = (file: string): number => {
    let index = fileIndex.get(file);
    if (index === undefined) {
      index = files.length;
      files.push(file);
      fileIndex.set(file, index);
    }
    return index;
  };
  const nativePairs = pairs.map((pair) => {
    if (typeof pair !== 'object' || pair === null) throw new StudioError('InvalidRequest', 'each pair must be an object');
    const label = `pair ${String(pair.name)}`;
    const elementsA = checkDotRange(pair.a, `${label} side a`);
    const elementsB = checkDotRange(pair.b, `${label} side b`);
    if (elementsA !== elementsB) {
      throw new StudioError(
        'InvalidRequest',
        `${label}: side a has ${elementsA} elements and side b ${elementsB}; dot products need equally long tensors`,
        { path: pair.a.file },
      );
    }
    const side = (range: DotRange): NativeDotSide => ({ file: indexOf(range.file), offset: range.offset, bytes: range.bytes, dtype: range.dtype });
    return { a: side(pair.a), b: side(pair.b) };
  });
  checkCount(options.threads, 'threads');
  checkCount(options.sampleBlocks, 'sampleBlocks');
  const native = binding();
  if (native.dotSampleBlockElements !== DOT_SAMPLE_BLOCK_ELEMENTS) {
    throw new StudioError(
      'Internal',
      `the native addon samples blocks of ${native.dotSampleBlockElements} elements, the reference ${DOT_SAMPLE_BLOCK_ELEMENTS}; please report this`,
    );
  }
  const nativeOptions: DotOptions = {};
  if (options.threads !== undefined) nativeOptions.threads = options.threads;
  if (options.sampleBlocks !== undefined) nativeOptions.sampleBlocks = options.sampleBlocks;
  let rows: Float64Array;
  try {
    rows = await native.tensorDotProducts(files, nativePairs, nativeOptions);
  } catch (error) {
    throw fromNative(error, 'dot', files[0] ?? '', (index) => `pair ${pairs[index]?.name ?? index}`);
  }
  const fields = native.dotFields;
  if (rows.length !== pairs.length * fields) {
    throw new StudioError('Internal', `the native addon returned ${rows.length} numbers for ${pairs.length} pairs; please report this`);
  }
  return pairs.map((pair, index) => {
    const at = index * fields;
    return {
      name: pair.name,
      elements: rows[at]!,
      dot: rows[at + 1]!,
      squaresA: rows[at + 2]!,
      squaresB: rows[at + 3]!,
      nonFiniteA: rows[at + 4]!,
      nonFiniteB: rows[at + 5]!,
      sampled: rows[at + 6] === 1,
    };
  });
}

/**
 * The dequantised values of `bytes`, a whole number of blocks of the GGML block type `type` (at
 * most 64 MiB), as gguf-py's `gguf.quants.dequantize` computes them, NaN and ±Inf kept. For tests
 * and spot checks; statistics of whole files go through tensorStats.
 */
export function ggmlDequantise(bytes: Uint8Array, type: GgmlStatsType): Float32Array {
  const what = `${bytes.length} bytes of ${String(type)}`;
  const block = statsBlock(type, what, '');
  if (block.elements === 1) throw new StudioError('InvalidRequest', `${String(type)} is not a GGML block type`);
  statsElements(type, bytes.length, what, '');
  try {
    return binding().ggmlDequantise(bytes, type);
  } catch (error) {
    if (error instanceof StudioError) throw error;
    throw fromNative(error, 'stats', '');
  }
}
