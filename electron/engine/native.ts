/**
 * The only module that loads the native addon (native/build/Release/dus_native.node). It finds
 * the binary, loads it on first use, checks every argument before it crosses into C++, and turns
 * native failures into StudioErrors. Without a built addon, the engine still loads: the first call
 * of a function here throws NativeUnavailable.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isStudioError, StudioError, type ErrorCode } from '../api/errors.js';
import { COPY_METHODS, CopyPathCalibration, isCopyMethod, type CopyMethod } from './copy-path-calibration.js';
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
  /** Stops the call between chunks (it rejects with Cancelled). */
  signal?: AbortSignal;
  /**
   * The ranges come from a header that was checked against the file's size when it was opened, so
   * a range past the end now means the file shrank since (SourceChanged), not a wrong offset
   * (InvalidOffset).
   */
  sizedAtOpen?: boolean;
}

export interface CopyRange {
  sourceOffset: number;
  targetOffset: number;
  length: number;
}

export interface CopyResult {
  bytes: number;
  /**
   * The last path, in the order copy_file_range → mapped-write → read-write, that carried any byte:
   * 'read-write' when any byte went through the buffer, 'mapped-write' when some went through a
   * mapping of the source and none through the buffer, 'copy_file_range' when the kernel copied all.
   */
  method: CopyMethod;
  /** Bytes each path carried. */
  bytesByMethod: Record<CopyMethod, number>;
  /** Time the addon spent copying (not opening or checking), summed over its calls. */
  nanoseconds: number;
}

export interface CopyOptions {
  /** Send every byte through the read/write buffer (the same as `method: 'read-write'`). */
  forceFallback?: boolean;
  /**
   * Use this path (falling through to the next where the files refuse it) instead of the measured
   * choice; for tests and measurements.
   */
  method?: CopyMethod;
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
  /** Stops the call between chunks (it rejects with Cancelled). */
  signal?: AbortSignal;
  /**
   * The ranges come from a header that was checked against the file's size when it was opened, so
   * a range past the end now means the file shrank since (SourceChanged), not a wrong offset
   * (InvalidOffset).
   */
  sizedAtOpen?: boolean;
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
    options: NativeReadOptions & { kernel?: StatsKernel },
  ): Promise<Float64Array>;
  copyRanges(source: string, target: string, ranges: readonly CopyRange[], options: { forceFallback?: boolean; method?: string }): Promise<CopyResult>;
  compareRanges(fileA: string, fileB: string, ranges: readonly CompareRange[]): Promise<number[]>;
  /** Numbers per pair in tensorDotProducts' result. */
  dotFields: number;
  /** Elements per sampling block of tensorDotProducts. */
  dotSampleBlockElements: number;
  /** Pairs name their files by index into `files`. */
  tensorDotProducts(
    files: readonly string[],
    pairs: readonly { a: NativeDotSide; b: NativeDotSide }[],
    options: NativeReadOptions,
  ): Promise<Float64Array>;
  /** The dequantised values of whole blocks of a GGML block type (small inputs only). */
  ggmlDequantise(bytes: Uint8Array, type: string): Float32Array;
}

/** Options of the addon's reading calls as they cross into C++. */
export interface NativeReadOptions {
  threads?: number;
  sampleBlocks?: number;
  /** Worker threads poll element 0 between chunks and stop with CANCELLED once it is not 0. */
  abort?: Int32Array;
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

const INTERFACE_VERSION = 5;
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
function fromNative(
  error: unknown,
  operation: Operation,
  defaultPath: string,
  label?: (index: number) => string,
  sizedAtOpen = false,
): StudioError {
  const failure: NativeFailure = typeof error === 'object' && error !== null ? (error as NativeFailure) : {};
  const nativeCode = typeof failure.code === 'string' ? failure.code : undefined;
  const nativeMessage = typeof failure.message === 'string' ? failure.message : String(error);
  const filePath = typeof failure.path === 'string' ? failure.path : defaultPath;
  const rangeIndex = typeof failure.rangeIndex === 'number' ? failure.rangeIndex : undefined;
  const failedIo: ErrorCode = operation === 'copy' ? 'ExportFailed' : 'Internal';
  const codes: Record<string, ErrorCode> = {
    SOURCE_CHANGED: 'SourceChanged',
    CANCELLED: 'Cancelled',
    NO_SPACE: 'NoSpace',
    PERMISSION_DENIED: 'PermissionDenied',
    NOT_FOUND: 'NotFound',
    // A range beyond the end of a file the caller sized: the source changed; otherwise the
    // offsets themselves are wrong.
    OUT_OF_BOUNDS: operation === 'copy' || sizedAtOpen ? 'SourceChanged' : 'InvalidOffset',
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
 * Runs a native call with an abort flag that `signal` raises: the addon's worker threads poll it
 * between chunks, so a cancel stops the work within a chunk per thread instead of after the call.
 * A signal already aborted fails at once, before anything is read.
 */
async function withAbortFlag<T>(signal: AbortSignal | undefined, file: string, call: (abort: Int32Array | undefined) => Promise<T>): Promise<T> {
  if (signal === undefined) return call(undefined);
  if (signal.aborted) throw new StudioError('Cancelled', 'cancelled before reading started', { path: file });
  // Shared memory, so the flag is written and read atomically from both sides.
  const abort = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  const raise = (): void => void Atomics.store(abort, 0, 1);
  signal.addEventListener('abort', raise, { once: true });
  try {
    return await call(abort);
  } finally {
    signal.removeEventListener('abort', raise);
  }
}

/**
 * Statistics of byte ranges of one file, each a whole tensor of a float dtype, computed on
 * `options.threads` threads that read chunks with pread (a file that shrinks meanwhile fails with
 * SourceChanged naming it). Figures do not depend on the thread count.
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
  const nativeOptions: NativeReadOptions & { kernel?: StatsKernel } = {};
  if (options.threads !== undefined) nativeOptions.threads = options.threads;
  if (options.sampleBlocks !== undefined) nativeOptions.sampleBlocks = options.sampleBlocks;
  if (options.kernel !== undefined) nativeOptions.kernel = options.kernel;
  let rows: Float64Array;
  try {
    rows = await withAbortFlag(options.signal, file, (abort) =>
      native.tensorStats(
        file,
        ranges.map((range) => ({ offset: range.offset, bytes: range.bytes, dtype: range.dtype })),
        abort === undefined ? nativeOptions : { ...nativeOptions, abort },
      ),
    );
  } catch (error) {
    if (isStudioError(error)) throw error;
    throw fromNative(error, 'stats', file, (index) => `tensor ${ranges[index]?.name ?? index}`, options.sizedAtOpen);
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
 * Copies byte ranges of `source` into the existing file `target` (never truncated). The path (the
 * kernel's copy_file_range, a write from a mapping of the source, or read/write through a buffer)
 * is the one measured fastest between these two file systems (copy-path-calibration.ts), unless
 * `options` names one. A source range past the source's end rejects with SourceChanged before
 * anything is written.
 */
export async function copyRanges(source: string, target: string, ranges: readonly CopyRange[], options: CopyOptions = {}): Promise<CopyResult> {
  checkPath(source, 'the copy source');
  checkPath(target, 'the copy target');
  checkRanges(ranges, source);
  for (const range of ranges) {
    checkSpan(range.sourceOffset, range.length, 'source range', source);
    checkSpan(range.targetOffset, range.length, 'target range', target);
  }
  // $DUS_COPY_METHOD pins one path for a whole process, to compare the paths on a machine.
  const pinned = process.env.DUS_COPY_METHOD === '' ? undefined : process.env.DUS_COPY_METHOD;
  const forced: unknown = options.forceFallback === true ? 'read-write' : (options.method ?? pinned);
  if (forced !== undefined && !isCopyMethod(forced)) {
    throw new StudioError('InvalidRequest', `the copy method must be one of ${COPY_METHODS.join(', ')}, not ${String(forced)}`);
  }
  const native = binding();
  const devices = forced === undefined ? await fileSystemsOf(source, target, ranges) : null;
  // One call does it all when the path is given, or when the files cannot be measured (missing,
  // or a range past the source's end): the addon names the problem before it writes anything.
  if (devices === null) return copyPiece(native, source, target, indexed(ranges), forced ?? 'copy_file_range');

  let total: CopyResult | null = null;
  for (const { congruent, group } of partitionByPageOffset(ranges)) {
    const calibration = calibrationFor(`${devices}:${congruent ? 'congruent' : 'shifted'}`);
    let pending = group;
    while (pending.length > 0) {
      const method = calibration.nextMethod();
      const [piece, rest] = splitAtBytes(pending, calibration.pieceBytes());
      pending = rest;
      const result = await copyPiece(native, source, target, piece, method);
      calibration.record(method, result);
      total = total === null ? result : combinedCopyResult(total, result);
    }
  }
  return total ?? { bytes: 0, method: 'copy_file_range', bytesByMethod: { 'copy_file_range': 0, 'mapped-write': 0, 'read-write': 0 }, nanoseconds: 0 };
}

/** A range with its index in the caller's list, so errors name the caller's range. */
interface IndexedRange extends CopyRange {
  index: number;
}

function indexed(ranges: readonly CopyRange[]): IndexedRange[] {
  return ranges.map((range, index) => ({ sourceOffset: range.sourceOffset, targetOffset: range.targetOffset, length: range.length, index }));
}

/**
 * Calibrations per pair of file systems and kind of range, kept for the life of the process. The
 * keys are device numbers, so the map stays as small as the number of disks an export touches.
 */
const calibrations = new Map<string, CopyPathCalibration>();

function calibrationFor(key: string): CopyPathCalibration {
  let calibration = calibrations.get(key);
  if (calibration === undefined) {
    calibration = new CopyPathCalibration();
    calibrations.set(key, calibration);
  }
  return calibration;
}

/**
 * What the last copies between a few pairs of files learnt about them: the file systems (the
 * calibration's key) and the source's size. An export copies a shard in 64 MiB calls between the
 * same two files; asking the file system again for each call cost two trips through the thread
 * pool, which on a busy 2-core machine took longer than the copy itself.
 */
const knownFiles = new Map<string, { devices: string; sourceBytes: number }>();
const KNOWN_FILES_KEPT = 8;

/**
 * "sourceDevice:targetDevice", or null when either file cannot be read or a range ends past the
 * source (a size seen earlier is checked again before that is believed).
 */
async function fileSystemsOf(source: string, target: string, ranges: readonly CopyRange[]): Promise<string | null> {
  const pair = `${source}\0${target}`;
  const fits = (sourceBytes: number): boolean => ranges.every((range) => range.sourceOffset + range.length <= sourceBytes);
  const known = knownFiles.get(pair);
  if (known !== undefined && fits(known.sourceBytes)) return known.devices;
  try {
    const [sourceInfo, targetInfo] = await Promise.all([stat(source), stat(target)]);
    const devices = `${sourceInfo.dev}:${targetInfo.dev}`;
    knownFiles.delete(pair);
    knownFiles.set(pair, { devices, sourceBytes: sourceInfo.size });
    if (knownFiles.size > KNOWN_FILES_KEPT) knownFiles.delete(knownFiles.keys().next().value as string);
    return fits(sourceInfo.size) ? devices : null;
  } catch {
    return null;
  }
}

/**
 * Ranges whose source and target offsets sit at the same place within a page, and the others. The
 * kernel can share or move whole pages only for the first kind, so the two are timed apart. 4 KiB
 * is the smallest page Linux uses; on a larger one this only splits the calibration less finely.
 */
function partitionByPageOffset(ranges: readonly CopyRange[]): Array<{ congruent: boolean; group: IndexedRange[] }> {
  const congruent: IndexedRange[] = [];
  const shifted: IndexedRange[] = [];
  for (const range of indexed(ranges)) (range.sourceOffset % 4096 === range.targetOffset % 4096 ? congruent : shifted).push(range);
  return [
    { congruent: true, group: congruent },
    { congruent: false, group: shifted },
  ].filter(({ group }) => group.length > 0);
}

/** The first ranges of `ranges` holding at most `bytes` (a range cut where the limit falls), and the rest. */
function splitAtBytes(ranges: readonly IndexedRange[], bytes: number): [IndexedRange[], IndexedRange[]] {
  const piece: IndexedRange[] = [];
  let room = bytes;
  let at = 0;
  for (; at < ranges.length && room > 0; at += 1) {
    const range = ranges[at] as IndexedRange;
    if (range.length <= room) {
      piece.push(range);
      room -= range.length;
      continue;
    }
    piece.push({ ...range, length: room });
    const rest = { ...range, sourceOffset: range.sourceOffset + room, targetOffset: range.targetOffset + room, length: range.length - room };
    return [piece, [rest, ...ranges.slice(at + 1)]];
  }
  return [piece, ranges.slice(at)];
}

async function copyPiece(native: NativeBinding, source: string, target: string, piece: readonly IndexedRange[], method: CopyMethod): Promise<CopyResult> {
  const ranges = piece.map((range) => ({ sourceOffset: range.sourceOffset, targetOffset: range.targetOffset, length: range.length }));
  try {
    return await native.copyRanges(source, target, ranges, { method });
  } catch (error) {
    // The addon numbers the ranges of this piece; the caller knows its own list.
    const failure = error as NativeFailure;
    if (typeof failure.rangeIndex === 'number') failure.rangeIndex = piece[failure.rangeIndex]?.index ?? failure.rangeIndex;
    throw fromNative(error, 'copy', target);
  }
}

/** Two calls' figures as one; `method` follows CopyResult's rule over both. */
function combinedCopyResult(first: CopyResult, second: CopyResult): CopyResult {
  const later = second.bytes > 0 && (first.bytes === 0 || COPY_METHODS.indexOf(second.method) > COPY_METHODS.indexOf(first.method));
  const bytesByMethod = { ...first.bytesByMethod };
  for (const method of COPY_METHODS) bytesByMethod[method] += second.bytesByMethod[method];
  return { bytes: first.bytes + second.bytes, method: later ? second.method : first.method, bytesByMethod, nanoseconds: first.nanoseconds + second.nanoseconds };
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
 * any stats dtype, on `options.threads` threads that read chunks with pread. Every range is checked
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
  const nativeOptions: NativeReadOptions = {};
  if (options.threads !== undefined) nativeOptions.threads = options.threads;
  if (options.sampleBlocks !== undefined) nativeOptions.sampleBlocks = options.sampleBlocks;
  let rows: Float64Array;
  try {
    rows = await withAbortFlag(options.signal, files[0] ?? '', (abort) =>
      native.tensorDotProducts(files, nativePairs, abort === undefined ? nativeOptions : { ...nativeOptions, abort }),
    );
  } catch (error) {
    if (isStudioError(error)) throw error;
    throw fromNative(error, 'dot', files[0] ?? '', (index) => `pair ${pairs[index]?.name ?? index}`, options.sizedAtOpen);
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
