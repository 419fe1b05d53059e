/**
 * Fuzz targets for every reader of untrusted input: the safetensors header (pure and from a file),
 * the sharded index, config.json (through openCheckpoint and readConfigFacts) and mergekit YAML.
 *
 * Inputs are structure-aware recipes drawn by fast-check: valid files laid out by the project's own
 * writer and fixture builder, then mutated (JSON fields, bytes, length prefixes, hostile paths,
 * YAML bombs). A recipe is small plain data; `prepare` turns it into bytes on disk only when the case
 * runs, so a case that claims 100 MB costs nothing to generate and a sparse file to run.
 *
 * Each case ends in one outcome: `valid` (the reader returned, and what it returned passes the
 * target's invariants), `error` (a StudioError whose code is in ERROR_CODES, is not Internal, and
 * whose message names the file), or `failure` (anything else: another exception, a broken
 * invariant, a case slower than its time limit, or memory growth beyond its budget).
 *
 * The time limit is checked against the clock the run names: the long run (fuzz.ts) reports and
 * checks wall time on a machine it has to itself; the short run in the test suite checks the
 * process's CPU time across the case, which a busy machine does not inflate, so a quadratic
 * blow-up still fails it while other processes' load does not.
 *
 * Shared by the short run in the test suite (readers.fuzz.test.ts) and the long run (fuzz.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, open, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { ERROR_CODES, isStudioError } from '../../electron/api/errors.js';
import { layerPlanSchema, MAX_YAML_BYTES } from '../../electron/api/schemas.js';
import type { CheckpointSummary, Dtype, YamlImport } from '../../electron/api/types.js';
import { DTYPE_BITS, type SafetensorsDtype } from '../../electron/api/types.js';
import {
  findLayerCountKey,
  MAX_CONFIG_BYTES,
  readConfigFacts,
  readModelConfig,
  type ModelConfigFacts,
} from '../../electron/engine/checkpoint/model-config.js';
import { openCheckpoint } from '../../electron/engine/checkpoint/open-checkpoint.js';
import {
  MAX_HEADER_LENGTH,
  parseSafetensorsHeader,
  readSafetensorsHeader,
  shapeElements,
  type SafetensorsHeader,
} from '../../electron/engine/formats/safetensors.js';
import { INDEX_FILE_NAME, readSafetensorsIndex } from '../../electron/engine/formats/safetensors-index.js';
import { layoutSafetensors } from '../../electron/engine/formats/safetensors-writer.js';
import { GGML_TYPES, type GgmlTypeName } from '../../electron/api/dtypes.js';
import { parseGgufFile, type GgufHeader, type GgufValue } from '../../electron/engine/formats/gguf.js';
import { ggufFileBytes } from '../../electron/engine/formats/gguf-writer.js';
import { emitMergekitYaml, parseMergekitYaml } from '../../electron/engine/plan/mergekit-yaml.js';
import { buildFixtureCheckpoint } from '../fixtures/checkpoint-builder.js';

// ---------------------------------------------------------------------------------------------
// Outcomes and the case runner

export type FuzzOutcome = { kind: 'valid' } | { kind: 'error'; code: string } | { kind: 'failure'; reason: string };

export interface FuzzCaseResult {
  outcome: FuzzOutcome;
  /** Wall time of the reader calls (writing the case and checking the result excluded). */
  ms: number;
  /** CPU time (user + system, all threads of the process) of the same calls. */
  cpuMs: number;
  /** Largest growth of RSS, of ArrayBuffer memory, or of the process's peak RSS across the case. */
  memoryGrowth: number;
  /** Bytes of untrusted input the case gave the reader. */
  inputBytes: number;
}

export interface FuzzTarget<Input = unknown> {
  name: string;
  /** Share of the long run's cases. */
  weight: number;
  arbitrary: fc.Arbitrary<Input>;
  /** Inputs that once broke a reader: run first, in the short run and the long run alike. */
  regressions: Input[];
  /** Writes what the case needs under `dir` (an empty folder of its own); returns the reader call. */
  prepare(input: Input, dir: string): Promise<PreparedCase>;
  /** One line that says what the case is, for reproducer output. */
  describe(input: Input): string;
  /** Bytes a case may grow the process by, when not the default (DEFAULT_MEMORY_BUDGET plus `memoryPerInputByte` per input byte). */
  memoryBudget?(input: Input): number | undefined;
  /** Memory a reader may hold per byte of input (default JSON_MEMORY_PER_BYTE). */
  memoryPerInputByte?: number;
  /** Milliseconds a case may take, when not the default of `caseTimeLimit`. */
  timeLimit?(input: Input): number;
  /** Linear allowance on top of CASE_TIME_LIMIT_MS for inputs of megabytes (default JSON_MS_PER_MB). */
  msPerMegabyte?: number;
}

export interface PreparedCase {
  /**
   * Calls the readers (timed, memory measured) and returns the check of what they returned (not
   * timed: invariant checks such as re-serialising a summary are the fuzzer's cost, not the reader's).
   */
  read: () => Promise<() => FuzzOutcome>;
  /** Bytes of untrusted input the reader may read: its time limit grows linearly with them. */
  inputBytes: number;
}

/**
 * Every case must finish within this, plus a linear allowance for inputs of megabytes: parsing is
 * linear but not free (V8's JSON.parse reads hostile JSON at about 20 MB/s, the yaml library dense
 * YAML at about 0.6 MB/s), while a quadratic blow-up on the same input takes far longer.
 */
export const CASE_TIME_LIMIT_MS = 1000;
export const JSON_MS_PER_MB = 100;
export const YAML_MS_PER_MB = 2500;

/** The time limit of a case that reads `inputBytes` bytes at the given linear allowance. */
export function caseTimeLimit(inputBytes: number, msPerMegabyte: number): number {
  return Math.round(CASE_TIME_LIMIT_MS + (msPerMegabyte * inputBytes) / 1_000_000);
}

/** Growth any case may cause, on top of a budget proportional to its input. */
const DEFAULT_MEMORY_BUDGET = 256 * 1024 * 1024;
/**
 * Memory per input byte a reader may hold while it parses: JSON.parse's objects take about ten
 * times their text; the yaml library's tokens and nodes about 130 times.
 */
export const JSON_MEMORY_PER_BYTE = 16;
export const YAML_MEMORY_PER_BYTE = 200;
/** A case that must be refused before anything is allocated may still see allocator noise. */
const NO_ALLOCATION_BUDGET = 32 * 1024 * 1024;

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

function failure(reason: string): FuzzOutcome {
  return { kind: 'failure', reason };
}

function describeThrown(error: unknown): string {
  if (error instanceof Error) return `${error.constructor.name}: ${error.message.slice(0, 300)}`;
  return `a thrown ${typeof error} ${String(error).slice(0, 100)}`;
}

/**
 * A thrown value is a named error when it is a StudioError with a known code other than Internal
 * (which means a broken invariant) and its message names the file it is about: the basename of
 * its `path`, or of one of the case's files.
 */
export function classifyThrown(error: unknown, files: readonly string[]): FuzzOutcome {
  if (!isStudioError(error)) return failure(`threw ${describeThrown(error)}`);
  if (!KNOWN_CODES.has(error.code)) return failure(`StudioError with unknown code ${String(error.code)}`);
  if (error.code === 'Internal') return failure(`Internal error (a broken invariant, not a named error): ${error.message.slice(0, 300)}`);
  const names = [...files, ...(error.path === undefined ? [] : [error.path])].map((file) => path.basename(file)).filter((name) => name.length > 0);
  if (!names.some((name) => error.message.includes(name))) {
    return failure(`${error.code} whose message names no file: ${error.message.slice(0, 300)}`);
  }
  return { kind: 'error', code: error.code };
}

/** Calls one reader; what it returns is checked later by `check`, what it throws is classified now. */
async function attempt<Value>(call: () => Promise<Value> | Value, check: (value: Value) => FuzzOutcome, files: readonly string[]): Promise<() => FuzzOutcome> {
  try {
    const value = await call();
    return () => check(value);
  } catch (error) {
    const outcome = classifyThrown(error, files);
    return () => outcome;
  }
}

/** Several reader calls on one case: the first failure, named by its step, else the last step's outcome. */
function combine(steps: ReadonlyArray<readonly [string, () => FuzzOutcome]>): () => FuzzOutcome {
  return () => {
    let last: FuzzOutcome = { kind: 'valid' };
    for (const [step, check] of steps) {
      last = check();
      if (last.kind === 'failure') return failure(`${step}: ${last.reason}`);
    }
    return last;
  };
}

function memorySnapshot(): { rss: number; arrayBuffers: number; peak: number } {
  const usage = process.memoryUsage();
  // maxRSS is in kilobytes: the process's peak, which catches an allocation freed before we look.
  return { rss: usage.rss, arrayBuffers: usage.arrayBuffers, peak: process.resourceUsage().maxRSS * 1024 };
}

/** Which measured time a case's time limit applies to. */
export type FuzzClock = 'wall' | 'cpu';

/**
 * On the CPU clock a case may use this many times its (wall-clock) limit: CPU time counts every
 * thread of the process (V8's parallel garbage collector, libuv's file-system threads), so on two
 * cores it can exceed the wall time twice over, and a machine busy with other work slows each CPU
 * second further through shared caches. The blow-ups the limit exists for are quadratic: tens of
 * times slower, not four.
 */
export const CPU_CLOCK_ALLOWANCE = 4;

function cpuMilliseconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** Prepares and runs one case in `dir`, timing it and checking its time limit (on `clock`) and memory budget. */
export async function runFuzzCase<Input>(target: FuzzTarget<Input>, input: Input, dir: string, clock: FuzzClock): Promise<FuzzCaseResult> {
  await mkdir(dir, { recursive: true });
  try {
    let prepared: PreparedCase;
    try {
      prepared = await target.prepare(input, dir);
    } catch (error) {
      // The harness could not write the case: a bug in the fuzzer, reported as such.
      return { outcome: failure(`fuzzer could not prepare the case: ${describeThrown(error)}`), ms: 0, cpuMs: 0, memoryGrowth: 0, inputBytes: 0 };
    }
    const before = memorySnapshot();
    const started = performance.now();
    const cpuStarted = cpuMilliseconds();
    let check: () => FuzzOutcome;
    try {
      check = await prepared.read();
    } catch (error) {
      check = () => failure(`fuzzer target threw: ${describeThrown(error)}`);
    }
    const cpuMs = cpuMilliseconds() - cpuStarted;
    const ms = performance.now() - started;
    const after = memorySnapshot();
    let outcome: FuzzOutcome;
    try {
      outcome = check();
    } catch (error) {
      outcome = failure(`checking the result threw ${describeThrown(error)}`);
    }
    const memoryGrowth = Math.max(after.rss - before.rss, after.arrayBuffers - before.arrayBuffers, after.peak - before.peak);
    const wallLimit = target.timeLimit?.(input) ?? caseTimeLimit(prepared.inputBytes, target.msPerMegabyte ?? JSON_MS_PER_MB);
    const timeLimit = clock === 'cpu' ? CPU_CLOCK_ALLOWANCE * wallLimit : wallLimit;
    const budget = target.memoryBudget?.(input) ?? DEFAULT_MEMORY_BUDGET + (target.memoryPerInputByte ?? JSON_MEMORY_PER_BYTE) * prepared.inputBytes;
    const measured = clock === 'cpu' ? cpuMs : ms;
    if (outcome.kind !== 'failure' && measured > timeLimit) {
      const took = clock === 'cpu' ? `${cpuMs.toFixed(0)} ms of CPU time` : `${ms.toFixed(0)} ms`;
      outcome = failure(`took ${took}, more than ${timeLimit} ms (it ended ${outcome.kind === 'valid' ? 'valid' : `in ${outcome.code}`})`);
    } else if (outcome.kind !== 'failure' && memoryGrowth > budget) {
      outcome = failure(`grew memory by ${formatBytes(memoryGrowth)}, more than its ${formatBytes(budget)} budget`);
    }
    return { outcome, ms, cpuMs, memoryGrowth, inputBytes: prepared.inputBytes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Decimal units, as the rest of the project counts bytes. */
export function formatBytes(bytes: number): string {
  if (Math.abs(bytes) < 1_000_000) return `${(bytes / 1000).toFixed(0)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

// ---------------------------------------------------------------------------------------------
// Sizes: the long run reaches the sizes that expose quadratic work; the short run stays quick.

export interface FuzzScale {
  /** Largest count of generated map entries, tensors, keys or aliases. */
  bigCount: number;
  /** Deepest generated nesting. */
  deepNesting: number;
}

export const SHORT_SCALE: FuzzScale = { bigCount: 3_000, deepNesting: 5_000 };
export const LONG_SCALE: FuzzScale = { bigCount: 60_000, deepNesting: 200_000 };

// ---------------------------------------------------------------------------------------------
// Building blocks shared by the generators

const DTYPES = Object.keys(DTYPE_BITS) as Dtype[];

/**
 * JSON text that replaces a value of a generated document: numbers JSON.stringify cannot write
 * (1e400, -0, 2^64), wrong types, lone surrogates, and invalid JSON.
 */
const HOSTILE_JSON_TEXTS = [
  'null', 'true', 'false', '0', '-1', '-0', '1.5', '0.1', '1e308', '1e400', '-1e400', '1E2', '2.0',
  '9007199254740991', '9007199254740992', '9007199254740993', '1152921504606846976', '18446744073709551615',
  '18446744073709551616', '1e20', '"F32"', '"BF16"', '"f32"', '"4"', '"NaN"', '"Infinity"', '"-1"', '""', '"\\ud800"',
  '"\\u0000"', '"../x"', '[]', '{}', '[null]', '[1,2,3]', '[-1]', '[1.5]', '["4"]', '[1152921504606846976]',
  '[1073741824,1073741824]', '[4294967296,4294967296]', '[9007199254740991,2]', '[0,18446744073709551616]',
  '{"a":1}', '{"__proto__":{"polluted":1}}', '[[[[[]]]]]', 'NaN', 'Infinity', 'undefined', "'x'", '0x10', '01',
  '{', '[', '"unterminated', '{"a":}', '',
];

/** Placeholder for a raw JSON text in a value tree; JSON.stringify leaves U+10FFFF unescaped. */
function rawMarker(index: number): string {
  return `\u{10FFFF}RAW${index}\u{10FFFF}`;
}

/** JSON.stringify, then each raw marker (with its quotes) replaced by its raw text. */
function stringifyWithRaw(value: unknown, raws: readonly string[]): string {
  let text = JSON.stringify(value) ?? 'null';
  raws.forEach((raw, index) => {
    text = text.split(JSON.stringify(rawMarker(index))).join(raw);
  });
  return text;
}

export type RawJson =
  | { kind: 'text'; text: string }
  | { kind: 'deep'; depth: number; style: 'array' | 'object' }
  | { kind: 'longArray'; length: number; item: string }
  | { kind: 'longString'; length: number };

function rawJsonText(raw: RawJson): string {
  switch (raw.kind) {
    case 'text':
      return raw.text;
    case 'deep':
      return raw.style === 'array' ? `${'['.repeat(raw.depth)}${']'.repeat(raw.depth)}` : `${'{"a":'.repeat(raw.depth)}1${'}'.repeat(raw.depth)}`;
    case 'longArray':
      return `[${Array.from({ length: raw.length }, () => raw.item).join(',')}]`;
    case 'longString':
      return JSON.stringify('x'.repeat(raw.length));
  }
}

function rawJsonArbitrary(scale: FuzzScale): fc.Arbitrary<RawJson> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...HOSTILE_JSON_TEXTS).map((text): RawJson => ({ kind: 'text', text })), weight: 8 },
    { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value): RawJson => ({ kind: 'text', text: JSON.stringify(value) ?? 'null' })), weight: 3 },
    { arbitrary: fc.double().map((value): RawJson => ({ kind: 'text', text: Number.isFinite(value) ? String(value) : '1e999' })), weight: 1 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }).map((value): RawJson => ({ kind: 'text', text: JSON.stringify(value) })), weight: 1 },
    {
      arbitrary: fc.record({ depth: fc.integer({ min: 1, max: scale.deepNesting }), style: fc.constantFrom('array' as const, 'object' as const) }).map(
        (deep): RawJson => ({ kind: 'deep', ...deep }),
      ),
      weight: 1,
    },
    {
      arbitrary: fc.record({ length: fc.integer({ min: 0, max: scale.bigCount }), item: fc.constantFrom('0', '"full_attention"', 'null', '[]', '1e400') }).map(
        (array): RawJson => ({ kind: 'longArray', ...array }),
      ),
      weight: 1,
    },
  );
}

/** Bytes that are not UTF-8: overlong forms, surrogates, code points past U+10FFFF, truncated sequences. */
const INVALID_UTF8: readonly number[][] = [
  [0xff], [0xfe], [0x80], [0xc0, 0x80], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9f, 0x98], [0xf8, 0x88, 0x80, 0x80, 0x80],
];

export type ByteMutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'overwrite'; at: number; bytes: number[] }
  | { kind: 'append'; bytes: number[] }
  | { kind: 'delete'; at: number; length: number };

const bytesArbitrary = fc.oneof(fc.constantFrom(...INVALID_UTF8), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 16 }));

const byteMutationArbitrary: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: bytesArbitrary }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: bytesArbitrary }),
  fc.record({ kind: fc.constant('append' as const), bytes: bytesArbitrary }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }) }),
);

/** Applies mutations in order; positions are taken modulo the current length, so every one lands. */
function mutateBytes(input: Uint8Array, mutations: readonly ByteMutation[]): Uint8Array {
  let bytes = Buffer.from(input);
  for (const mutation of mutations) {
    const at = bytes.length === 0 ? 0 : ('at' in mutation ? mutation.at : 0) % bytes.length;
    switch (mutation.kind) {
      case 'flip':
        if (bytes.length > 0) bytes[at] = (bytes[at] as number) ^ (1 << mutation.bit);
        break;
      case 'truncate':
        bytes = bytes.subarray(0, at);
        break;
      case 'insert':
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(mutation.bytes), bytes.subarray(at)]);
        break;
      case 'overwrite':
        bytes = Buffer.from(bytes);
        Buffer.from(mutation.bytes).copy(bytes, at);
        break;
      case 'append':
        bytes = Buffer.concat([bytes, Buffer.from(mutation.bytes)]);
        break;
      case 'delete':
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + mutation.length)]);
        break;
    }
  }
  return bytes;
}

/** File-system objects that are not plain files, where a reader expects a file. */
export type SpecialFile = 'directory' | 'fifo' | 'device-link' | 'dangling-link' | 'loop-link' | 'sparse-3GB' | 'empty';

const specialFileArbitrary = fc.constantFrom<SpecialFile>('directory', 'fifo', 'device-link', 'dangling-link', 'loop-link', 'sparse-3GB', 'empty');

async function writeSpecialFile(filePath: string, special: SpecialFile): Promise<void> {
  await rm(filePath, { recursive: true, force: true });
  switch (special) {
    case 'directory':
      await mkdir(filePath);
      break;
    case 'fifo':
      // A pipe nobody writes to: a reader that opens it blocking waits forever.
      if (process.platform === 'win32') await writeFile(filePath, '');
      else execFileSync('mkfifo', [filePath]);
      break;
    case 'device-link':
      // An endless file: a reader without a size limit reads until memory runs out.
      if (process.platform === 'win32') await writeFile(filePath, '');
      else await symlink('/dev/zero', filePath);
      break;
    case 'dangling-link':
      await symlink(path.join(path.dirname(filePath), 'no-such-target'), filePath);
      break;
    case 'loop-link':
      await symlink(path.basename(filePath), filePath);
      break;
    case 'sparse-3GB':
      await writeSparse(filePath, Buffer.from('{"a":'), 3 * 1024 ** 3);
      break;
    case 'empty':
      await writeFile(filePath, '');
      break;
  }
}

/** A file of `size` bytes that starts with `head` and is a hole after it (no disk, no memory). */
async function writeSparse(filePath: string, head: Uint8Array, size: number): Promise<void> {
  const handle = await open(filePath, 'w');
  try {
    await handle.write(head, 0, head.byteLength, 0);
    await handle.truncate(size);
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------
// safetensors headers

const TENSOR_NAME_POOL = [
  'model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.mlp.down_proj.weight',
  'model.layers.1.input_layernorm.weight', 'model.norm.weight', 'lm_head.weight', '__proto__', 'constructor',
  'toString', 'hasOwnProperty', '', ' ', 'model.layers.999999999.self_attn.o_proj.weight', 'model.layers.01.mlp.up_proj.weight',
  'model.layers.-1.x.weight', 'model.layers.1e3.x.weight', 'ünïcødé.weight', 'a\u0000b', '\ud800', 'a'.repeat(300), '../../etc/passwd',
];

export interface TensorSpec {
  name: string;
  dtype: Dtype;
  shape: number[];
}

const tensorSpecArbitrary: fc.Arbitrary<TensorSpec> = fc.record({
  name: fc.oneof({ arbitrary: fc.constantFrom(...TENSOR_NAME_POOL), weight: 3 }, { arbitrary: fc.string({ maxLength: 12 }), weight: 1 }),
  dtype: fc.constantFrom(...DTYPES),
  shape: fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 4 }),
});

/** Unique names, never `__metadata__`, and a whole number of bytes, as the writer requires. */
const validTensorsArbitrary = fc
  .uniqueArray(tensorSpecArbitrary, { selector: (tensor) => tensor.name, maxLength: 6 })
  .map((tensors) =>
    tensors
      .filter((tensor) => tensor.name !== '__metadata__')
      .map((tensor) => ((shapeElements(tensor.shape) * DTYPE_BITS[tensor.dtype as SafetensorsDtype]) % 8 === 0 ? tensor : { ...tensor, shape: [...tensor.shape, 8] })),
  );

export type HeaderMutation =
  | { kind: 'field'; pick: number; field: 'dtype' | 'shape' | 'data_offsets' | 'extra'; value: RawJson }
  | { kind: 'tensorValue'; pick: number; value: RawJson }
  | { kind: 'offsets'; pick: number; how: 'swap' | 'overlap' | 'hole' | 'shiftAll' | 'shareFirst' | 'endPast2^64' | 'beginHuge' | 'endFarAway'; amount: number }
  | { kind: 'shape'; pick: number; how: '2^60' | '2^53' | '2^64' | 'negative' | 'float' | 'zero' | 'manyDims' | 'grow' | 'string' }
  | { kind: 'metadata'; value: RawJson }
  | { kind: 'metadataValue'; key: string; value: RawJson }
  | { kind: 'remove'; pick: number }
  | { kind: 'copy'; pick: number; name: string }
  | { kind: 'root'; value: RawJson }
  | { kind: 'manyTensors'; count: number; zeroSize: boolean }
  | { kind: 'duplicateKey'; pick: number; same: boolean }
  | { kind: 'pad'; with: 'spaces' | 'nul' | 'newlines' | 'garbage'; count: number }
  | { kind: 'bom' };

function headerMutationArbitrary(scale: FuzzScale): fc.Arbitrary<HeaderMutation> {
  const raw = rawJsonArbitrary(scale);
  return fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('field' as const), pick: fc.nat(), field: fc.constantFrom('dtype' as const, 'shape' as const, 'data_offsets' as const, 'extra' as const), value: raw }), weight: 6 },
    { arbitrary: fc.record({ kind: fc.constant('tensorValue' as const), pick: fc.nat(), value: raw }), weight: 1 },
    {
      arbitrary: fc.record({
        kind: fc.constant('offsets' as const),
        pick: fc.nat(),
        how: fc.constantFrom('swap' as const, 'overlap' as const, 'hole' as const, 'shiftAll' as const, 'shareFirst' as const, 'endPast2^64' as const, 'beginHuge' as const, 'endFarAway' as const),
        amount: fc.integer({ min: 1, max: 64 }),
      }),
      weight: 5,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('shape' as const),
        pick: fc.nat(),
        how: fc.constantFrom('2^60' as const, '2^53' as const, '2^64' as const, 'negative' as const, 'float' as const, 'zero' as const, 'manyDims' as const, 'grow' as const, 'string' as const),
      }),
      weight: 5,
    },
    { arbitrary: fc.record({ kind: fc.constant('metadata' as const), value: raw }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('metadataValue' as const), key: fc.constantFrom('format', 'x', '__proto__', ''), value: raw }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('copy' as const), pick: fc.nat(), name: fc.constantFrom(...TENSOR_NAME_POOL, 'copy') }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('root' as const), value: raw }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('manyTensors' as const), count: fc.integer({ min: 1, max: scale.bigCount }), zeroSize: fc.boolean() }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('duplicateKey' as const), pick: fc.nat(), same: fc.boolean() }), weight: 2 },
    {
      arbitrary: fc.record({
        kind: fc.constant('pad' as const),
        with: fc.constantFrom('spaces' as const, 'nul' as const, 'newlines' as const, 'garbage' as const),
        count: fc.integer({ min: 1, max: 64 }),
      }),
      weight: 1,
    },
    { arbitrary: fc.constant({ kind: 'bom' as const }), weight: 1 },
  );
}

export interface HeaderRecipe {
  tensors: TensorSpec[];
  metadata: Record<string, string>;
  mutations: HeaderMutation[];
  /** Applied to the header bytes (pure target) or to the whole file (file target). */
  bytes: ByteMutation[];
}

function headerRecipeArbitrary(scale: FuzzScale): fc.Arbitrary<HeaderRecipe> {
  return fc.record({
    tensors: validTensorsArbitrary,
    metadata: fc.dictionary(fc.constantFrom('source', 'note', '__proto__', ''), fc.string({ maxLength: 8 }), { maxKeys: 2 }),
    mutations: fc.array(headerMutationArbitrary(scale), { maxLength: 3 }),
    bytes: fc.oneof({ arbitrary: fc.constant<ByteMutation[]>([]), weight: 3 }, { arbitrary: fc.array(byteMutationArbitrary, { minLength: 1, maxLength: 3 }), weight: 1 }),
  });
}

interface BuiltHeader {
  /** The JSON text's bytes (not padded unless the writer padded them). */
  json: Uint8Array;
  /** Bytes of the data buffer the original layout needs. */
  dataBytes: number;
}

/** The writer's header for `recipe.tensors`, with the JSON-level mutations applied. */
function buildHeaderJson(recipe: HeaderRecipe): BuiltHeader {
  const layout = layoutSafetensors(recipe.tensors, recipe.metadata);
  const writerJson = layout.header.subarray(8).toString('utf8').trimEnd();
  let document: unknown = JSON.parse(writerJson);
  const raws: string[] = [];
  const raw = (value: RawJson): string => {
    raws.push(rawJsonText(value));
    return rawMarker(raws.length - 1);
  };
  let prefixText = '';
  let suffixText = '';
  let duplicate: { key: string; same: boolean } | null = null;
  let dataBytes = layout.dataBytes;
  for (const mutation of recipe.mutations) {
    const root = isRecord(document) ? document : null;
    const names = root === null ? [] : Object.keys(root).filter((key) => key !== '__metadata__');
    const pickName = (pick: number): string | undefined => (names.length === 0 ? undefined : names[pick % names.length]);
    const entryOf = (pick: number): Record<string, unknown> | undefined => {
      const name = pickName(pick);
      const entry = name === undefined || root === null ? undefined : root[name];
      return isRecord(entry) ? entry : undefined;
    };
    switch (mutation.kind) {
      case 'field': {
        const entry = entryOf(mutation.pick);
        if (entry !== undefined) setOwn(entry, mutation.field, raw(mutation.value));
        break;
      }
      case 'tensorValue': {
        const name = pickName(mutation.pick);
        if (name !== undefined && root !== null) setOwn(root, name, raw(mutation.value));
        break;
      }
      case 'offsets': {
        const entry = entryOf(mutation.pick);
        const offsets = entry?.data_offsets;
        if (entry === undefined || !Array.isArray(offsets) || offsets.length !== 2) break;
        const [begin, end] = offsets as [number, number];
        const amount = mutation.amount;
        switch (mutation.how) {
          case 'swap':
            entry.data_offsets = [end, begin];
            break;
          case 'overlap':
            entry.data_offsets = [Math.max(0, begin - amount), end];
            break;
          case 'hole':
            entry.data_offsets = [begin + amount, end + amount];
            dataBytes += amount;
            break;
          case 'shiftAll':
            for (const other of names) {
              const value = root?.[other];
              if (isRecord(value) && Array.isArray(value.data_offsets)) value.data_offsets = (value.data_offsets as number[]).map((offset) => offset + amount);
            }
            dataBytes += amount;
            break;
          case 'shareFirst':
            entry.data_offsets = [0, end - begin];
            break;
          case 'endPast2^64':
            entry.data_offsets = [begin, raw({ kind: 'text', text: '18446744073709551615' })];
            break;
          case 'beginHuge':
            entry.data_offsets = [raw({ kind: 'text', text: '9007199254740993' }), raw({ kind: 'text', text: '9007199254740995' })];
            break;
          case 'endFarAway':
            entry.data_offsets = [begin, end + 2 ** 40];
            break;
        }
        break;
      }
      case 'shape': {
        const entry = entryOf(mutation.pick);
        if (entry === undefined) break;
        const shape = Array.isArray(entry.shape) ? (entry.shape as unknown[]) : [];
        switch (mutation.how) {
          case '2^60':
            entry.shape = [2 ** 30, 2 ** 30];
            break;
          case '2^53':
            entry.shape = [2 ** 53];
            break;
          case '2^64':
            entry.shape = [raw({ kind: 'text', text: '18446744073709551616' })];
            break;
          case 'negative':
            entry.shape = [...shape, -1];
            break;
          case 'float':
            entry.shape = [...shape, 1.5];
            break;
          case 'zero':
            entry.shape = [...shape, 0, 2 ** 40];
            break;
          case 'manyDims':
            entry.shape = Array.from({ length: 200 }, () => 1);
            break;
          case 'grow':
            entry.shape = [...shape, 2];
            break;
          case 'string':
            entry.shape = shape.map(String);
            break;
        }
        break;
      }
      case 'metadata':
        if (root !== null) setOwn(root, '__metadata__', raw(mutation.value));
        break;
      case 'metadataValue':
        if (root !== null && isRecord(root.__metadata__)) setOwn(root.__metadata__, mutation.key, raw(mutation.value));
        break;
      case 'remove': {
        const name = pickName(mutation.pick);
        if (name !== undefined && root !== null) delete root[name];
        break;
      }
      case 'copy': {
        const name = pickName(mutation.pick);
        if (name !== undefined && root !== null) setOwn(root, mutation.name === name ? `${name}.copy` : mutation.name, structuredClone(root[name]));
        break;
      }
      case 'root':
        document = raw(mutation.value);
        break;
      case 'manyTensors':
        if (root !== null) {
          // Appended after the data the layout already has, each tensor one byte (U8 [1]) or none.
          let offset = dataBytes;
          for (let index = 0; index < mutation.count; index += 1) {
            const size = mutation.zeroSize ? 0 : 1;
            setOwn(root, `model.layers.${index}.mlp.up_proj.weight`, { dtype: 'U8', shape: [size], data_offsets: [offset, offset + size] });
            offset += size;
          }
          dataBytes = offset;
        }
        break;
      case 'duplicateKey': {
        const name = pickName(mutation.pick) ?? '__metadata__';
        duplicate = { key: name, same: mutation.same };
        break;
      }
      case 'pad': {
        const unit = { spaces: ' ', nul: '\u0000', newlines: '\n', garbage: '}x' }[mutation.with];
        suffixText += unit.repeat(mutation.count);
        break;
      }
      case 'bom':
        prefixText = '\ufeff';
        break;
    }
  }
  let text = stringifyWithRaw(document, raws);
  if (duplicate !== null && text.startsWith('{') && isRecord(document)) {
    // A second member with the same key, first in the object: JSON.parse keeps the last one.
    const value = duplicate.same ? document[duplicate.key] : { dtype: 'F32', shape: [1], data_offsets: [0, 4] };
    text = `{${JSON.stringify(duplicate.key)}:${stringifyWithRaw(value, raws)}${text.length > 2 ? ',' : ''}${text.slice(1)}`;
  }
  return { json: Buffer.from(`${prefixText}${text}${suffixText}`, 'utf8'), dataBytes };
}

/** Assignment that makes `key` an own property even when it is `__proto__`. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What a valid header promises: tensors back to back, in bounds of the real file, sized by shape and dtype. */
function checkHeaderInvariants(header: SafetensorsHeader, fileSize: number): FuzzOutcome {
  if (header.dataStart !== 8 + header.headerLength) return failure(`dataStart ${header.dataStart} is not 8 + N (${header.headerLength})`);
  if (header.headerLength > MAX_HEADER_LENGTH) return failure(`accepted a header of ${header.headerLength} bytes`);
  let expected = 0;
  for (const tensor of header.tensors) {
    if (!Object.hasOwn(DTYPE_BITS, tensor.dtype)) return failure(`accepted dtype ${String(tensor.dtype)}`);
    if (!tensor.shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0)) return failure(`accepted shape [${tensor.shape.join(', ')}]`);
    if (!Number.isSafeInteger(tensor.begin) || !Number.isSafeInteger(tensor.end)) return failure(`accepted offsets ${tensor.begin}..${tensor.end}`);
    if (tensor.begin !== expected) return failure(`tensor "${tensor.name}" begins at ${tensor.begin}, not where the previous ended (${expected})`);
    if (header.dataStart + tensor.end > fileSize) return failure(`tensor "${tensor.name}" ends at file byte ${header.dataStart + tensor.end}, beyond the ${fileSize}-byte file`);
    const bits = shapeElements(tensor.shape) * DTYPE_BITS[tensor.dtype];
    if (bits % 8 !== 0 || tensor.end - tensor.begin !== bits / 8) return failure(`tensor "${tensor.name}" spans ${tensor.end - tensor.begin} bytes for ${bits} bits`);
    expected = tensor.end;
  }
  if (header.dataStart + expected !== fileSize) return failure(`the data ends at ${header.dataStart + expected}, not at the file's end (${fileSize})`);
  if (header.metadata !== null && !Object.values(header.metadata).every((value) => typeof value === 'string')) return failure('accepted non-string metadata');
  return { kind: 'valid' };
}

export type FileSizeChoice = { kind: 'exact' } | { kind: 'delta'; delta: number } | { kind: 'value'; value: number };

export interface HeaderCase {
  recipe: HeaderRecipe;
  fileSize: FileSizeChoice;
}

function headerTarget(scale: FuzzScale): FuzzTarget<HeaderCase> {
  const fileName = 'pure.safetensors';
  return {
    name: 'safetensors-header',
    weight: 30,
    arbitrary: fc.record({
      recipe: headerRecipeArbitrary(scale),
      fileSize: fc.oneof(
        { arbitrary: fc.constant<FileSizeChoice>({ kind: 'exact' }), weight: 6 },
        { arbitrary: fc.integer({ min: -64, max: 64 }).map((delta): FileSizeChoice => ({ kind: 'delta', delta })), weight: 2 },
        { arbitrary: fc.constantFrom(0, 7, 8, 2 ** 32, 2 ** 53, 2 ** 64).map((value): FileSizeChoice => ({ kind: 'value', value })), weight: 1 },
      ),
    }),
    regressions: [],
    describe: (input) => `pure header: ${JSON.stringify(input).slice(0, 400)}`,
    async prepare(input) {
      const built = buildHeaderJson(input.recipe);
      const headerBytes = mutateBytes(built.json, input.recipe.bytes);
      const exact = 8 + headerBytes.byteLength + built.dataBytes;
      const fileSize = input.fileSize.kind === 'exact' ? exact : input.fileSize.kind === 'delta' ? Math.max(0, exact + input.fileSize.delta) : input.fileSize.value;
      const filePath = path.join('/fuzz', fileName);
      return {
        read: () => attempt(() => parseSafetensorsHeader(headerBytes, fileSize, filePath), (header) => checkHeaderInvariants(header, fileSize), [filePath]),
        inputBytes: headerBytes.byteLength,
      };
    },
  };
}

export type LengthClaim = { kind: 'correct' } | { kind: 'delta'; delta: number } | { kind: 'value'; value: bigint };

export type SafetensorsFileCase =
  | { kind: 'mutated'; recipe: HeaderRecipe; length: LengthClaim; dataDelta: number }
  | { kind: 'claim'; claim: bigint; present: 'none' | 'partial' | 'all' }
  | { kind: 'special'; special: SpecialFile };

/** Length claims around every limit: the 100 MB cap, 2^32, 2^53, 2^60, 2^64 − 1. */
const CLAIMS: readonly bigint[] = [
  0n, 1n, 7n, 8n, 99_999_992n, 100_000_000n, 100_000_001n, 2n ** 31n, 2n ** 32n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 60n, 2n ** 63n, 2n ** 64n - 1n,
];

/** Writes the case's file and returns its path and size (sparse for the big claims). */
async function writeSafetensorsCase(input: SafetensorsFileCase, dir: string): Promise<{ filePath: string; size: number }> {
  const filePath = path.join(dir, 'model.safetensors');
  if (input.kind === 'special') {
    await writeSpecialFile(filePath, input.special);
    return { filePath, size: 0 };
  }
  if (input.kind === 'claim') {
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(input.claim);
    // Present bytes are a hole of zeros: the claim is real on disk without costing disk or memory.
    // Holes beyond 8 GiB are refused by some file systems; a larger claim is then simply not all there.
    const claimed = Math.min(Number(input.claim), 2 ** 33);
    const size = input.present === 'none' ? 8 + 64 : input.present === 'partial' ? 8 + Math.floor(claimed / 2) : 8 + claimed;
    await writeSparse(filePath, prefix, size);
    return { filePath, size };
  }
  const built = buildHeaderJson(input.recipe);
  const headerLength =
    input.length.kind === 'correct'
      ? BigInt(built.json.byteLength)
      : input.length.kind === 'delta'
        ? BigInt(Math.max(0, built.json.byteLength + input.length.delta))
        : input.length.value;
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(headerLength);
  const data = Buffer.alloc(Math.max(0, built.dataBytes + input.dataDelta));
  const bytes = mutateBytes(Buffer.concat([prefix, built.json, data]), input.recipe.bytes);
  await writeFile(filePath, bytes);
  return { filePath, size: bytes.byteLength };
}

function safetensorsFileArbitrary(scale: FuzzScale): fc.Arbitrary<SafetensorsFileCase> {
  return fc.oneof(
    {
      arbitrary: fc.record({
        kind: fc.constant('mutated' as const),
        recipe: headerRecipeArbitrary(scale),
        length: fc.oneof(
          { arbitrary: fc.constant<LengthClaim>({ kind: 'correct' }), weight: 6 },
          { arbitrary: fc.integer({ min: -16, max: 16 }).map((delta): LengthClaim => ({ kind: 'delta', delta })), weight: 2 },
          { arbitrary: fc.constantFrom(...CLAIMS).map((value): LengthClaim => ({ kind: 'value', value })), weight: 1 },
        ),
        dataDelta: fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, { arbitrary: fc.integer({ min: -16, max: 16 }), weight: 1 }),
      }),
      weight: 12,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('claim' as const),
        claim: fc.oneof(fc.constantFrom(...CLAIMS), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
        present: fc.constantFrom('none' as const, 'partial' as const, 'all' as const),
      }),
      weight: 2,
    },
    { arbitrary: fc.record({ kind: fc.constant('special' as const), special: specialFileArbitrary }), weight: 1 },
  );
}

function safetensorsFileTarget(scale: FuzzScale): FuzzTarget<SafetensorsFileCase> {
  return {
    name: 'safetensors-file',
    weight: 20,
    arbitrary: safetensorsFileArbitrary(scale),
    regressions: [
      // A FIFO where a shard should be: a reader that opens it blocking waits forever.
      { kind: 'special', special: 'fifo' },
      { kind: 'claim', claim: 100_000_000n, present: 'all' },
      { kind: 'claim', claim: 2n ** 60n, present: 'partial' },
    ],
    describe: (input) =>
      input.kind === 'claim' ? `length claim ${input.claim} (${input.present} present)` : input.kind === 'special' ? `safetensors file is a ${input.special}` : `file: ${JSON.stringify(input, bigintJson).slice(0, 400)}`,
    memoryBudget(input) {
      if (input.kind !== 'claim') return undefined;
      // Within the 100 MB cap and present, the header is read: its bytes, their text, the JSON.
      const readable = input.claim <= BigInt(MAX_HEADER_LENGTH) && input.present === 'all';
      return readable ? 3 * Number(input.claim) + 64 * 1024 * 1024 : NO_ALLOCATION_BUDGET;
    },
    async prepare(input, dir) {
      const { filePath, size } = await writeSafetensorsCase(input, dir);
      return {
        read: () =>
          attempt(
            () => readSafetensorsHeader(filePath),
            (header) => checkHeaderInvariants(header, input.kind === 'mutated' ? size : header.fileSize),
            [filePath],
          ),
        // The reader reads the length prefix and at most the 100 MB a header may have.
        inputBytes: Math.min(size, 8 + MAX_HEADER_LENGTH),
      };
    },
  };
}

function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}

// ---------------------------------------------------------------------------------------------
// Checkpoint folders: the summary's invariants

/** What a summary promises its users: layers by index, tensors inside their shards, JSON-safe (it crosses IPC and HTTP). */
function checkSummaryInvariants(summary: CheckpointSummary): FuzzOutcome {
  const textLayers = summary.layers.filter((layer) => !layer.isMtp);
  if (textLayers.length !== summary.numLayers) return failure(`${textLayers.length} text layers listed for numLayers ${summary.numLayers}`);
  for (let index = 0; index < textLayers.length; index += 1) {
    if ((textLayers[index] as { index: number }).index !== index) return failure(`layers[${index}] has index ${textLayers[index]?.index}`);
  }
  const shardBytes = new Map(summary.shards.map((shard) => [shard.file, shard]));
  let parameters = 0;
  for (const tensor of summary.tensors) {
    const shard = shardBytes.get(tensor.file);
    if (shard === undefined) return failure(`tensor "${tensor.name}" is in an unlisted shard ${tensor.file}`);
    if (tensor.offset < shard.dataStart || tensor.offset + tensor.bytes > shard.bytes) {
      return failure(`tensor "${tensor.name}" spans bytes ${tensor.offset}..${tensor.offset + tensor.bytes} of a ${shard.bytes}-byte shard`);
    }
    const relative = path.relative(summary.folder, tensor.file);
    if (relative.startsWith('..') || path.isAbsolute(relative)) return failure(`tensor "${tensor.name}" is read from ${tensor.file}, outside ${summary.folder}`);
    parameters += tensor.elements;
  }
  if (parameters !== summary.parameters) return failure(`parameters ${summary.parameters} ≠ the tensors' ${parameters}`);
  try {
    JSON.stringify(summary);
  } catch (error) {
    return failure(`the summary cannot cross IPC or HTTP: JSON.stringify threw ${describeThrown(error)}`);
  }
  return { kind: 'valid' };
}

/** Small enough that a case writes its checkpoint in about a millisecond. */
const TINY_MODEL = { hidden: 4, intermediate: 8, vocab: 8, heads: 2, kvHeads: 1, dtype: 'F16' as const };

// ---------------------------------------------------------------------------------------------
// Sharded index

const HOSTILE_SHARD_NAMES = [
  '../outside.safetensors', '..', '/etc/passwd', '\\\\server\\share\\x.safetensors', 'C:\\x.safetensors', 'c:x.safetensors', 'sub\\x.safetensors',
  'http://example.com/x.safetensors', 'file:///etc/passwd', 'sub/../../x.safetensors', 'a\u0000b.safetensors', '', '.', './', 'sub/',
  'model.safetensors/', 'missing.safetensors', 'sub/missing.safetensors', `${'n'.repeat(300)}.safetensors`, `${'d/'.repeat(3000)}x.safetensors`,
  'ünïcødé.safetensors', 'config.json', 'model.safetensors.index.json', '\ud800.safetensors', ' ', '~/x.safetensors', '%2e%2e/x.safetensors',
];

export type IndexMutation =
  | { kind: 'shardName'; pick: number; name: string }
  | { kind: 'entryValue'; pick: number; value: RawJson }
  | { kind: 'weightMap'; value: RawJson }
  | { kind: 'metadata'; value: RawJson }
  | { kind: 'root'; value: RawJson }
  | { kind: 'removeEntry'; pick: number }
  | { kind: 'addEntry'; tensor: string; shard: string }
  | { kind: 'moveEntry'; pick: number; to: number }
  | { kind: 'deleteShard'; pick: number }
  | { kind: 'tensorInTwoShards'; pick: number; to: number }
  | { kind: 'hugeMap'; count: number; distinctShards: boolean }
  | { kind: 'indexBytes'; mutations: ByteMutation[] }
  | { kind: 'shardBytes'; pick: number; mutations: ByteMutation[] }
  | { kind: 'special'; file: 'index' | 'shard' | 'config'; pick: number; special: SpecialFile };

export interface IndexCase {
  shards: number;
  layers: number;
  mutations: IndexMutation[];
}

function indexMutationArbitrary(scale: FuzzScale): fc.Arbitrary<IndexMutation> {
  const raw = rawJsonArbitrary(scale);
  return fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('shardName' as const), pick: fc.nat(), name: fc.oneof({ arbitrary: fc.constantFrom(...HOSTILE_SHARD_NAMES), weight: 4 }, { arbitrary: fc.string({ maxLength: 16 }), weight: 1 }) }), weight: 6 },
    { arbitrary: fc.record({ kind: fc.constant('entryValue' as const), pick: fc.nat(), value: raw }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('weightMap' as const), value: raw }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('metadata' as const), value: raw }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('root' as const), value: raw }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('removeEntry' as const), pick: fc.nat() }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('addEntry' as const), tensor: fc.constantFrom(...TENSOR_NAME_POOL), shard: fc.constantFrom('model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', ...HOSTILE_SHARD_NAMES) }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('moveEntry' as const), pick: fc.nat(), to: fc.nat() }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('deleteShard' as const), pick: fc.nat() }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('tensorInTwoShards' as const), pick: fc.nat(), to: fc.nat() }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('hugeMap' as const), count: fc.integer({ min: 1, max: scale.bigCount }), distinctShards: fc.boolean() }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('indexBytes' as const), mutations: fc.array(byteMutationArbitrary, { minLength: 1, maxLength: 3 }) }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('shardBytes' as const), pick: fc.nat(), mutations: fc.array(byteMutationArbitrary, { minLength: 1, maxLength: 2 }) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('special' as const), file: fc.constantFrom('index' as const, 'shard' as const, 'config' as const), pick: fc.nat(), special: specialFileArbitrary }), weight: 1 },
  );
}

/** Writes a sharded tiny checkpoint with the fixture builder, then applies the index mutations; returns the index's size. */
async function writeIndexCase(input: IndexCase, dir: string): Promise<number> {
  const fixture = await buildFixtureCheckpoint({ dir, layers: input.layers, shards: input.shards, ...TINY_MODEL });
  const indexPath = path.join(dir, INDEX_FILE_NAME);
  const shardNames = Array.from({ length: input.shards }, (_, index) => `model-${String(index + 1).padStart(5, '0')}-of-${String(input.shards).padStart(5, '0')}.safetensors`);
  const weightMap: Record<string, unknown> = {};
  // The builder wrote the same map; rebuild it here so mutations can work on plain data.
  const builtIndex = JSON.parse(await readText(indexPath)) as { metadata: unknown; weight_map: Record<string, string> };
  Object.assign(weightMap, builtIndex.weight_map);
  let document: unknown = { metadata: builtIndex.metadata, weight_map: weightMap };
  const raws: string[] = [];
  const raw = (value: RawJson): string => {
    raws.push(rawJsonText(value));
    return rawMarker(raws.length - 1);
  };
  const tensorNames = fixture.tensors.map((tensor) => tensor.name);
  const pickOf = <T>(items: readonly T[], pick: number): T | undefined => (items.length === 0 ? undefined : items[pick % items.length]);
  const byteMutations: ByteMutation[] = [];
  const afterWrite: Array<() => Promise<void>> = [];
  for (const mutation of input.mutations) {
    const map = isRecord(document) && isRecord(document.weight_map) ? document.weight_map : null;
    const entries = map === null ? [] : Object.keys(map);
    switch (mutation.kind) {
      case 'shardName': {
        const tensor = pickOf(entries, mutation.pick);
        if (tensor !== undefined && map !== null) setOwn(map, tensor, mutation.name);
        break;
      }
      case 'entryValue': {
        const tensor = pickOf(entries, mutation.pick);
        if (tensor !== undefined && map !== null) setOwn(map, tensor, raw(mutation.value));
        break;
      }
      case 'weightMap':
        if (isRecord(document)) document.weight_map = raw(mutation.value);
        break;
      case 'metadata':
        if (isRecord(document)) document.metadata = raw(mutation.value);
        break;
      case 'root':
        document = raw(mutation.value);
        break;
      case 'removeEntry': {
        const tensor = pickOf(entries, mutation.pick);
        if (tensor !== undefined && map !== null) delete map[tensor];
        break;
      }
      case 'addEntry':
        if (map !== null) setOwn(map, mutation.tensor, mutation.shard);
        break;
      case 'moveEntry': {
        const tensor = pickOf(entries, mutation.pick);
        const shard = pickOf(shardNames, mutation.to);
        if (tensor !== undefined && shard !== undefined && map !== null) setOwn(map, tensor, shard);
        break;
      }
      case 'deleteShard': {
        const shard = pickOf(shardNames, mutation.pick);
        if (shard !== undefined) afterWrite.push(() => rm(path.join(dir, shard), { force: true, recursive: true }));
        break;
      }
      case 'tensorInTwoShards': {
        // Rewrites a shard with one more tensor, named like a tensor the index places elsewhere.
        const shard = pickOf(shardNames, mutation.to);
        const tensor = pickOf(tensorNames, mutation.pick);
        if (shard === undefined || tensor === undefined) break;
        afterWrite.push(async () => {
          const header = await readSafetensorsHeader(path.join(dir, shard)).catch(() => null);
          if (header === null) return;
          const specs = header.tensors.filter((entry) => entry.name !== tensor).map(({ name, dtype, shape }) => ({ name, dtype, shape }));
          specs.push({ name: tensor, dtype: 'F16', shape: [2] });
          const layout = layoutSafetensors(specs);
          await writeFile(path.join(dir, shard), Buffer.concat([layout.header, Buffer.alloc(layout.dataBytes)]));
        });
        break;
      }
      case 'hugeMap':
        if (map !== null) {
          for (let index = 0; index < mutation.count; index += 1) {
            map[`model.layers.${index}.extra.weight`] = mutation.distinctShards ? `shard-${index}.safetensors` : (shardNames[0] as string);
          }
        }
        break;
      case 'indexBytes':
        byteMutations.push(...mutation.mutations);
        break;
      case 'shardBytes': {
        const shard = pickOf(shardNames, mutation.pick);
        if (shard === undefined) break;
        afterWrite.push(async () => {
          const shardPath = path.join(dir, shard);
          const bytes = await readBytes(shardPath).catch(() => null);
          if (bytes !== null) await writeFile(shardPath, mutateBytes(bytes, mutation.mutations));
        });
        break;
      }
      case 'special': {
        const target = mutation.file === 'index' ? INDEX_FILE_NAME : mutation.file === 'config' ? 'config.json' : pickOf(shardNames, mutation.pick);
        if (target !== undefined) afterWrite.push(() => writeSpecialFile(path.join(dir, target), mutation.special));
        break;
      }
    }
  }
  const indexBytes = mutateBytes(Buffer.from(stringifyWithRaw(document, raws), 'utf8'), byteMutations);
  await writeFile(indexPath, indexBytes);
  for (const step of afterWrite) await step();
  return indexBytes.byteLength;
}

async function readText(filePath: string): Promise<string> {
  return (await readBytes(filePath)).toString('utf8');
}

async function readBytes(filePath: string): Promise<Buffer> {
  const handle = await open(filePath, 'r');
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** The files a checkpoint case is about: a named error must name one of them (or the file in its path). */
function checkpointFiles(dir: string, shards: number): string[] {
  const names = [INDEX_FILE_NAME, 'config.json', 'model.safetensors'];
  for (let index = 1; index <= shards; index += 1) names.push(`model-${String(index).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`);
  return [...names.map((name) => path.join(dir, name)), dir];
}

function indexTarget(scale: FuzzScale): FuzzTarget<IndexCase> {
  return {
    name: 'safetensors-index',
    weight: 15,
    arbitrary: fc.record({
      // Two shards at least: with one, the builder writes model.safetensors and no index.
      shards: fc.integer({ min: 2, max: 3 }),
      layers: fc.integer({ min: 0, max: 2 }),
      mutations: fc.array(indexMutationArbitrary(scale), { minLength: 0, maxLength: 3 }),
    }),
    regressions: [
      // Thousands of distinct missing shards: each used to be looked up with a scan of the whole map.
      { shards: 2, layers: 1, mutations: [{ kind: 'hugeMap', count: 60_000, distinctShards: true }] },
      // A shard name too long for the file system is a missing shard, not an internal error.
      { shards: 2, layers: 1, mutations: [{ kind: 'shardName', pick: 0, name: `${'n'.repeat(300)}.safetensors` }] },
      { shards: 2, layers: 1, mutations: [{ kind: 'special', file: 'index', pick: 0, special: 'fifo' }] },
      { shards: 2, layers: 1, mutations: [{ kind: 'special', file: 'config', pick: 0, special: 'device-link' }] },
      { shards: 2, layers: 1, mutations: [{ kind: 'special', file: 'shard', pick: 0, special: 'loop-link' }] },
    ],
    describe: (input) => `index: ${JSON.stringify(input).slice(0, 400)}`,
    async prepare(input, dir) {
      const inputBytes = await writeIndexCase(input, dir);
      const files = checkpointFiles(dir, input.shards);
      const read = async (): Promise<() => FuzzOutcome> => {
        const index = await attempt(() => readSafetensorsIndex(path.join(dir, INDEX_FILE_NAME)), (): FuzzOutcome => ({ kind: 'valid' }), files);
        const summary = await attempt(() => openCheckpoint(dir), checkSummaryInvariants, files);
        return combine([
          ['readSafetensorsIndex', index],
          ['openCheckpoint', summary],
        ]);
      };
      return { read, inputBytes };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// config.json

const CONFIG_PATHS: readonly string[][] = [
  ['num_hidden_layers'], ['n_layer'], ['n_layers'], ['num_layers'], ['text_config'], ['text_config', 'num_hidden_layers'], ['text_config', 'n_layer'],
  ['layer_types'], ['text_config', 'layer_types'], ['architectures'], ['model_type'], ['text_config', 'model_type'], ['tie_word_embeddings'],
  ['num_nextn_predict_layers'], ['hidden_size'], ['vocab_size'], ['num_attention_heads'], ['num_key_value_heads'], ['__proto__'], ['constructor'],
  ['__proto__', 'num_hidden_layers'], ['max_window_layers'], ['mlp_only_layers'], ['vision_config'],
];

export type ConfigMutation =
  | { kind: 'set'; path: string[]; value: RawJson }
  | { kind: 'delete'; path: string[] }
  | { kind: 'root'; value: RawJson }
  | { kind: 'bytes'; mutations: ByteMutation[] }
  | { kind: 'special'; special: SpecialFile }
  | { kind: 'large'; bytes: number };

export interface ConfigCase {
  layers: number;
  multimodal: boolean;
  mtp: boolean;
  layerTypes: boolean;
  mutations: ConfigMutation[];
}

function configMutationArbitrary(scale: FuzzScale): fc.Arbitrary<ConfigMutation> {
  const raw = rawJsonArbitrary(scale);
  return fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('set' as const), path: fc.constantFrom(...CONFIG_PATHS), value: raw }), weight: 10 },
    { arbitrary: fc.record({ kind: fc.constant('delete' as const), path: fc.constantFrom(...CONFIG_PATHS) }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('root' as const), value: raw }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('bytes' as const), mutations: fc.array(byteMutationArbitrary, { minLength: 1, maxLength: 3 }) }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('special' as const), special: specialFileArbitrary }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('large' as const), bytes: fc.constantFrom(1_000_000, 20_000_000, 200_000_000) }), weight: 1 },
  );
}

/** Writes a tiny single-file checkpoint, then config.json as the mutations make it; returns the config's size and text. */
async function writeConfigCase(input: ConfigCase, dir: string): Promise<{ bytes: number; text: Uint8Array | null }> {
  const fixture = await buildFixtureCheckpoint({ dir, layers: input.layers, multimodal: input.multimodal, mtp: input.mtp, layerTypes: input.layerTypes, ...TINY_MODEL });
  const configPath = path.join(dir, 'config.json');
  let document: unknown = structuredClone(fixture.config);
  const raws: string[] = [];
  const byteMutations: ByteMutation[] = [];
  let special: SpecialFile | null = null;
  let large = 0;
  for (const mutation of input.mutations) {
    switch (mutation.kind) {
      case 'set':
      case 'delete': {
        let parent: unknown = document;
        for (const segment of mutation.path.slice(0, -1)) {
          if (!isRecord(parent)) break;
          if (!Object.hasOwn(parent, segment) || !isRecord(parent[segment])) Object.defineProperty(parent, segment, { value: {}, enumerable: true, writable: true, configurable: true });
          parent = parent[segment];
        }
        const last = mutation.path[mutation.path.length - 1] as string;
        if (!isRecord(parent)) break;
        if (mutation.kind === 'delete') delete parent[last];
        else {
          raws.push(rawJsonText(mutation.value));
          // defineProperty, so `__proto__` becomes an own key that JSON.stringify writes out.
          Object.defineProperty(parent, last, { value: rawMarker(raws.length - 1), enumerable: true, writable: true, configurable: true });
        }
        break;
      }
      case 'root':
        raws.push(rawJsonText(mutation.value));
        document = rawMarker(raws.length - 1);
        break;
      case 'bytes':
        byteMutations.push(...mutation.mutations);
        break;
      case 'special':
        special = mutation.special;
        break;
      case 'large':
        large = mutation.bytes;
        break;
    }
  }
  if (special !== null) {
    await writeSpecialFile(configPath, special);
    return { bytes: 0, text: null };
  }
  const text = mutateBytes(Buffer.from(stringifyWithRaw(document, raws), 'utf8'), byteMutations);
  if (large > 0) {
    // A config of `large` bytes: the JSON, then a hole of zero bytes (not JSON) up to the size.
    await writeSparse(configPath, text, Math.max(large, text.byteLength));
    return { bytes: Math.max(large, text.byteLength), text: null };
  }
  await writeFile(configPath, text);
  return { bytes: text.byteLength, text };
}

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return isRecord(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

function checkConfigFacts(key: string | null, facts: ModelConfigFacts): FuzzOutcome {
  if (facts.layerCountKey !== key) return failure(`readConfigFacts says the layer count is at ${facts.layerCountKey}, findLayerCountKey says ${key}`);
  if ((key === null) !== (facts.numLayers === null)) return failure(`layer count key ${key} but numLayers ${facts.numLayers}`);
  const counts = [facts.numLayers, facts.hiddenSize, facts.intermediateSize, facts.vocabSize, facts.numAttentionHeads, facts.numKeyValueHeads, facts.numNextnPredictLayers];
  for (const count of counts) {
    if (count !== null && !(Number.isSafeInteger(count) && count >= 0)) return failure(`a count read as ${count}`);
  }
  return { kind: 'valid' };
}

function configTarget(scale: FuzzScale): FuzzTarget<ConfigCase> {
  const deep = (depth: number): RawJson => ({ kind: 'deep', depth, style: 'array' });
  return {
    name: 'config',
    weight: 15,
    arbitrary: fc.record({
      layers: fc.integer({ min: 0, max: 3 }),
      multimodal: fc.boolean(),
      mtp: fc.boolean(),
      layerTypes: fc.boolean(),
      mutations: fc.array(configMutationArbitrary(scale), { minLength: 1, maxLength: 3 }),
    }),
    regressions: [
      // A deeply nested layer count: its error message used to JSON.stringify it (stack overflow).
      { layers: 2, multimodal: false, mtp: false, layerTypes: false, mutations: [{ kind: 'set', path: ['num_hidden_layers'], value: deep(100_000) }] },
      // A deeply nested config field: the summary carries the config across IPC and HTTP as JSON.
      { layers: 2, multimodal: false, mtp: false, layerTypes: false, mutations: [{ kind: 'set', path: ['vision_config'], value: deep(100_000) }] },
      { layers: 2, multimodal: false, mtp: false, layerTypes: false, mutations: [{ kind: 'special', special: 'fifo' }] },
      { layers: 2, multimodal: false, mtp: false, layerTypes: false, mutations: [{ kind: 'special', special: 'device-link' }] },
      { layers: 2, multimodal: false, mtp: false, layerTypes: false, mutations: [{ kind: 'special', special: 'loop-link' }] },
      { layers: 2, multimodal: false, mtp: false, layerTypes: false, mutations: [{ kind: 'large', bytes: 200_000_000 }] },
    ],
    describe: (input) => `config: ${JSON.stringify(input).slice(0, 400)}`,
    // A config over the limit must be refused before it is read.
    memoryBudget: (input) => (input.mutations.some((mutation) => mutation.kind === 'large' && mutation.bytes > MAX_CONFIG_BYTES) ? NO_ALLOCATION_BUDGET : undefined),
    async prepare(input, dir) {
      // A config over the limit is refused unread: it counts as no input for the time limit.
      const written = await writeConfigCase(input, dir);
      const inputBytes = written.bytes > MAX_CONFIG_BYTES ? 0 : written.bytes;
      const configPath = path.join(dir, 'config.json');
      const files = checkpointFiles(dir, 1);
      // readConfigFacts also takes configs that did not come from readModelConfig's checks: hand it
      // whatever JSON object the text holds, however deep.
      const parsed = written.text === null ? null : parseJsonObject(written.text);
      const read = async (): Promise<() => FuzzOutcome> => {
        const direct =
          parsed === null
            ? (): FuzzOutcome => ({ kind: 'valid' })
            : await attempt(() => ({ key: findLayerCountKey(parsed), facts: readConfigFacts(parsed, configPath) }), ({ key, facts }) => checkConfigFacts(key, facts), files);
        const facts = await attempt(
          async () => {
            const config = await readModelConfig(configPath);
            return { key: findLayerCountKey(config), facts: readConfigFacts(config, configPath) };
          },
          ({ key, facts }) => checkConfigFacts(key, facts),
          files,
        );
        const summary = await attempt(() => openCheckpoint(dir), checkSummaryInvariants, files);
        return combine([
          ['readConfigFacts on the parsed JSON', direct],
          ['readModelConfig/readConfigFacts', facts],
          ['openCheckpoint', summary],
        ]);
      };
      return { read, inputBytes };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Layer indexes and layer layouts from tensor names: a header can name any layer, in any shape

export type LayerIndexCase =
  | { kind: 'indexes'; indexes: number[] }
  /** `layers` layers whose tensor names are all alike, each unique, or growing sets (layer i has names 0..i mod 64). */
  | { kind: 'many'; layers: number; names: 'same' | 'distinct' | 'growing' };

function layerTensorSpecs(input: LayerIndexCase): TensorSpec[] {
  const tensor = (layer: number, local: string): TensorSpec => ({ name: `model.layers.${layer}.${local}.weight`, dtype: 'F16', shape: [1] });
  if (input.kind === 'indexes') return [...new Set(input.indexes)].map((layer) => tensor(layer, 'mlp.up_proj'));
  const specs: TensorSpec[] = [];
  for (let layer = 0; layer < input.layers; layer += 1) {
    if (input.names === 'same') specs.push(tensor(layer, 'mlp.up_proj'));
    else if (input.names === 'distinct') specs.push(tensor(layer, `module_${layer}`));
    else for (let local = 0; local <= layer % 64; local += 1) specs.push(tensor(layer, `module_${local}`));
  }
  return specs;
}

function layerIndexTarget(scale: FuzzScale): FuzzTarget<LayerIndexCase> {
  return {
    name: 'layer-indexes',
    weight: 3,
    arbitrary: fc.oneof(
      fc.record({
        kind: fc.constant('indexes' as const),
        indexes: fc.array(fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 999_999_999 }), fc.constantFrom(999_999, 1_000_000, 99_999_999, 999_999_999)), {
          minLength: 1,
          maxLength: 4,
        }),
      }),
      fc
        .record({
          kind: fc.constant('many' as const),
          layers: fc.integer({ min: 1, max: scale.bigCount }),
          names: fc.constantFrom('same' as const, 'distinct' as const, 'growing' as const),
        })
        // Growing sets hold 32 names a layer on average: keep the header near the others' size.
        .map((input) => (input.names === 'growing' ? { ...input, layers: Math.ceil(input.layers / 32) } : input)),
    ),
    regressions: [
      // One tensor at layer 999,999,999 made the summary list a billion layers.
      { kind: 'indexes', indexes: [999_999_999] },
      { kind: 'indexes', indexes: [0, 5_000_000] },
      // 60,000 layers, each named differently: the missing-tensor check compared every layer with every other.
      { kind: 'many', layers: 60_000, names: 'distinct' },
    ],
    describe: (input) => (input.kind === 'indexes' ? `tensors at layer indexes ${input.indexes.join(', ')}` : `${input.layers} layers, names ${input.names}`),
    async prepare(input, dir) {
      // Written directly: the header is the writer's, the data buffer a hole of zeros.
      const layout = layoutSafetensors(layerTensorSpecs(input));
      const filePath = path.join(dir, 'model.safetensors');
      await writeSparse(filePath, layout.header, layout.header.byteLength + layout.dataBytes);
      const files = checkpointFiles(dir, 1);
      return { read: () => attempt(() => openCheckpoint(dir), checkSummaryInvariants, files), inputBytes: layout.header.byteLength };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// mergekit YAML

const YAML_FILE_NAME = 'fuzz.yml';

const SOLAR_YAML = [
  'slices:',
  '  - sources:',
  '      - model: ../Mistral-7B',
  '        layer_range: [0, 24]',
  '  - sources:',
  '      - model: ../Mistral-7B',
  '        layer_range: [8, 32]',
  'merge_method: passthrough',
  'dtype: bfloat16',
  '',
].join('\n');

const LLAMA_PRO_YAML = [
  'slices:',
  '  - sources:',
  '      - model: ./Llama-2-7b',
  '        layer_range: [0, 4]',
  '  - sources:',
  '      - model: ./Llama-2-7b',
  '        layer_range: [3, 4]',
  '        parameters:',
  '          scale:',
  '            - filter: o_proj',
  '              value: 0.0',
  '            - filter: down_proj',
  '              value: 0.0',
  '            - value: 1.0',
  '  - sources:',
  '      - model: ./Llama-2-7b',
  '        layer_range: [4, 8]',
  'merge_method: passthrough',
  'base_model: ./Llama-2-7b',
  'tokenizer_source: base',
  'dtype: float16',
  '',
].join('\n');

const GOLIATH_YAML = [
  'slices:',
  ...[
    ['Xwin', 0, 16], ['Euryale', 8, 24], ['Xwin', 17, 32], ['Euryale', 25, 40], ['Xwin', 33, 48],
    ['Euryale', 41, 56], ['Xwin', 49, 64], ['Euryale', 57, 72], ['Xwin', 65, 80],
  ].flatMap(([model, start, end]) => ['  - sources:', `    - model: ./${model}`, `      layer_range: [${start}, ${end}]`]),
  'merge_method: passthrough',
  'dtype: float16',
  '',
].join('\n');

/** Tokens that change YAML's structure: indicators, anchors, tags, directives, odd scalars and bytes. */
const YAML_TOKENS = [
  ': ', '- ', '[', ']', '{', '}', ',', '&a ', '*a', '*undefined', '!!binary ', '!!set ', '!!omap ', '!!str ', '!!int ', '!!float ', '!custom ', '!<tag:x> ',
  '|', '>', '|-', '"', "'", '#', '%YAML 1.1\n---\n', '%TAG ! tag:x,2000:\n', '---\n', '...\n', '? ', '<<: ', '\t', '\r\n', '\r', '\u0000', '\ufeff',
  '\ud800', '\u2028', '@', '`', '~', 'null', '.inf', '-.inf', '.nan', '1e400', '-0', '0x7fffffff', '0o777', '0b101', '1_000', '9'.repeat(400),
  '2001-12-14t21:59:43.10-05:00', 'yes', 'on', '&a [*a]', '\n  ', '\n    - ', '"\\ud800"', '"\\U0010FFFF"', '"\\x00"',
];

const YAML_SCALARS = [
  '0', '24', '-1', '1.5', '1e400', '.inf', '.nan', '-0', '9007199254740993', '1000001', '999999999999', '0x20', 'null', '~', '""', 'true', '[]', '{}',
  '[0, 1e400]', '[1, 0]', '[0]', '[0, 1, 2]', '[a, b]', '*undefined', '!!binary aGVsbG8=', '!!set {a, b}', '!!timestamp 2001-12-14', '"\\ud800"',
  '[[[[[0]]]]]', '{a: {b: {c: 1}}}', '&x [*x]', 'passthrough', 'linear', 'bfloat16', 'fp8', 'o_proj', 'a+b', '../M', '/abs/M', 'base', 'union',
];

export type YamlTextMutation =
  | { kind: 'insert'; at: number; token: string }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'swapLines'; first: number; second: number }
  | { kind: 'indent'; line: number; delta: number }
  | { kind: 'replaceNumber'; pick: number; with: string };

export type YamlCase =
  | { kind: 'mutated'; base: 'solar' | 'llama-pro' | 'goliath' | 'emitted'; plan: GeneratedPlan; mutations: YamlTextMutation[] }
  | { kind: 'flow'; fields: Record<string, string> }
  | { kind: 'bomb'; levels: number; width: number; at: 'slices' | 'unknown' | 'scale' }
  | { kind: 'aliasFlood'; count: number; rules: number }
  | { kind: 'manyKeys'; count: number; duplicateEvery: number }
  | { kind: 'deep'; style: 'flow-seq' | 'flow-map' | 'block-seq' | 'block-map'; depth: number }
  | { kind: 'manySlices'; count: number }
  | { kind: 'oversize'; bytes: number }
  | { kind: 'random'; text: string };

export interface GeneratedPlan {
  slices: Array<{ model: string; start: number; end: number; scale: Array<{ filter?: string; value: number }> }>;
  dtype?: string;
}

const generatedPlanArbitrary: fc.Arbitrary<GeneratedPlan> = fc.record(
  {
    slices: fc.array(
      fc.record({
        model: fc.constantFrom('/models/A', '/models/B', '/models/with space', '/models/ünï'),
        start: fc.integer({ min: 0, max: 80 }),
        end: fc.integer({ min: 0, max: 80 }),
        scale: fc.array(fc.record({ filter: fc.option(fc.constantFrom('o_proj', 'down_proj', '*'), { nil: undefined }), value: fc.double({ noNaN: true, noDefaultInfinity: true }) }), {
          maxLength: 3,
        }),
      }),
      { minLength: 1, maxLength: 6 },
    ),
    dtype: fc.constantFrom('bfloat16', 'float16', 'float32'),
  },
  { requiredKeys: ['slices'] },
);

const yamlTextMutationArbitrary: fc.Arbitrary<YamlTextMutation> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), token: fc.oneof({ arbitrary: fc.constantFrom(...YAML_TOKENS), weight: 4 }, { arbitrary: fc.string({ unit: 'binary', maxLength: 4 }), weight: 1 }) }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 200 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('swapLines' as const), first: fc.nat(), second: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('indent' as const), line: fc.nat(), delta: fc.integer({ min: -4, max: 4 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('replaceNumber' as const), pick: fc.nat(), with: fc.constantFrom(...YAML_SCALARS) }), weight: 3 },
);

function mutateYamlText(text: string, mutations: readonly YamlTextMutation[]): string {
  let current = text;
  for (const mutation of mutations) {
    const at = current.length === 0 ? 0 : ('at' in mutation ? mutation.at : 0) % (current.length + 1);
    switch (mutation.kind) {
      case 'insert':
        current = current.slice(0, at) + mutation.token + current.slice(at);
        break;
      case 'delete':
        current = current.slice(0, at) + current.slice(at + mutation.length);
        break;
      case 'duplicate':
        current = current.slice(0, at + mutation.length) + current.slice(at, at + mutation.length) + current.slice(at + mutation.length);
        break;
      case 'swapLines': {
        const lines = current.split('\n');
        const first = mutation.first % lines.length;
        const second = mutation.second % lines.length;
        [lines[first], lines[second]] = [lines[second] as string, lines[first] as string];
        current = lines.join('\n');
        break;
      }
      case 'indent': {
        const lines = current.split('\n');
        const line = mutation.line % lines.length;
        const text = lines[line] as string;
        lines[line] = mutation.delta >= 0 ? ' '.repeat(mutation.delta) + text : text.slice(Math.min(-mutation.delta, text.length - text.trimStart().length));
        current = lines.join('\n');
        break;
      }
      case 'replaceNumber': {
        const numbers = [...current.matchAll(/\b\d+(\.\d+)?\b/g)];
        const found = numbers.length === 0 ? undefined : numbers[mutation.pick % numbers.length];
        if (found?.index !== undefined) current = current.slice(0, found.index) + mutation.with + current.slice(found.index + found[0].length);
        break;
      }
    }
  }
  return current;
}

const FLOW_FIELDS = ['model', 'layer_range', 'scale', 'filter', 'value', 'merge_method', 'dtype', 'base_model', 'tokenizer_source', 'sources', 'slices', 'parameters'] as const;

/** A one-line flow-style config; any field may be replaced by a hostile scalar or collection. */
function flowYaml(fields: Record<string, string>): string {
  const field = (name: string, normal: string): string => fields[name] ?? normal;
  const source = `{model: ${field('model', './M')}, layer_range: ${field('layer_range', '[0, 4]')}, parameters: ${field('parameters', `{scale: ${field('scale', `[{filter: ${field('filter', 'o_proj')}, value: ${field('value', '0.0')}}, {value: 1.0}]`)}}`)}}`;
  const slices = field('slices', `[{sources: ${field('sources', `[${source}]`)}}]`);
  return `{slices: ${slices}, merge_method: ${field('merge_method', 'passthrough')}, dtype: ${field('dtype', 'bfloat16')}, base_model: ${field('base_model', './M')}, tokenizer_source: ${field('tokenizer_source', 'base')}}\n`;
}

function yamlArbitrary(scale: FuzzScale): fc.Arbitrary<YamlCase> {
  const hostileScalar = fc.oneof(
    { arbitrary: fc.constantFrom(...YAML_SCALARS), weight: 6 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 12 }), weight: 1 },
    { arbitrary: fc.integer({ min: 1, max: 400 }).map((length) => `"${'m'.repeat(length * 20)}"`), weight: 1 },
  );
  return fc.oneof(
    {
      arbitrary: fc.record({
        kind: fc.constant('mutated' as const),
        base: fc.constantFrom('solar' as const, 'llama-pro' as const, 'goliath' as const, 'emitted' as const),
        plan: generatedPlanArbitrary,
        mutations: fc.array(yamlTextMutationArbitrary, { maxLength: 4 }),
      }),
      weight: 14,
    },
    { arbitrary: fc.record({ kind: fc.constant('flow' as const), fields: fc.dictionary(fc.constantFrom(...FLOW_FIELDS), hostileScalar, { maxKeys: 3 }) }), weight: 5 },
    {
      arbitrary: fc.record({ kind: fc.constant('bomb' as const), levels: fc.integer({ min: 1, max: 12 }), width: fc.integer({ min: 2, max: 12 }), at: fc.constantFrom('slices' as const, 'unknown' as const, 'scale' as const) }),
      weight: 1,
    },
    { arbitrary: fc.record({ kind: fc.constant('aliasFlood' as const), count: fc.integer({ min: 1, max: scale.bigCount }), rules: fc.integer({ min: 0, max: 2_000 }) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('manyKeys' as const), count: fc.integer({ min: 1, max: scale.bigCount * 2 }), duplicateEvery: fc.integer({ min: 0, max: 1_000 }) }), weight: 1 },
    {
      arbitrary: fc.record({
        kind: fc.constant('deep' as const),
        style: fc.constantFrom('flow-seq' as const, 'flow-map' as const, 'block-seq' as const, 'block-map' as const),
        depth: fc.integer({ min: 1, max: scale.deepNesting }),
      }),
      weight: 1,
    },
    // 15,000 slices are about the 1 MB the API and the CLI accept.
    { arbitrary: fc.record({ kind: fc.constant('manySlices' as const), count: fc.integer({ min: 1, max: Math.min(scale.bigCount, 15_000) }) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('oversize' as const), bytes: fc.integer({ min: 900_000, max: 3_000_000 }) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('random' as const), text: fc.string({ unit: 'binary', maxLength: 200 }) }), weight: 2 },
  );
}

function yamlText(input: YamlCase): string {
  switch (input.kind) {
    case 'mutated': {
      const base =
        input.base === 'solar'
          ? SOLAR_YAML
          : input.base === 'llama-pro'
            ? LLAMA_PRO_YAML
            : input.base === 'goliath'
              ? GOLIATH_YAML
              : emitMergekitYaml({
                  slices: input.plan.slices.map((slice) => ({
                    model: slice.model,
                    start: slice.start,
                    end: slice.end,
                    ...(slice.scale.length > 0 ? { scale: slice.scale.map((rule) => (rule.filter === undefined ? { value: rule.value } : { filter: rule.filter, value: rule.value })) } : {}),
                  })),
                  ...(input.plan.dtype === undefined ? {} : { dtype: input.plan.dtype }),
                });
      return mutateYamlText(base, input.mutations);
    }
    case 'flow':
      return flowYaml(input.fields);
    case 'bomb': {
      // Billion laughs: each level lists the previous one `width` times; expanded it is width^levels.
      const lines = [`l0: &l0 [${Array.from({ length: input.width }, () => '"lol"').join(', ')}]`];
      for (let level = 1; level <= input.levels; level += 1) lines.push(`l${level}: &l${level} [${Array.from({ length: input.width }, () => `*l${level - 1}`).join(', ')}]`);
      const top = `*l${input.levels}`;
      if (input.at === 'slices') lines.push(`slices: ${top}`);
      else if (input.at === 'scale') lines.push(`slices: [{sources: [{model: ./M, layer_range: [0, 2], parameters: {scale: ${top}}}]}]`);
      else lines.push(`bomb: ${top}`);
      lines.push('merge_method: passthrough');
      return `${lines.join('\n')}\n`;
    }
    case 'aliasFlood': {
      // One anchored source with `rules` scale rules, used by `count` slices through aliases.
      const rules = Array.from({ length: input.rules }, (_, index) => `{filter: f${index}, value: 0.5}`).join(', ');
      const lines = [`slices:`, `  - sources: [&s {model: ./M, layer_range: [0, 4]${input.rules > 0 ? `, parameters: {scale: [${rules}]}` : ''}}]`];
      for (let index = 1; index < input.count; index += 1) lines.push('  - sources: [*s]');
      lines.push('merge_method: passthrough');
      return `${lines.join('\n')}\n`;
    }
    case 'manyKeys': {
      const lines = ['merge_method: passthrough', 'slices: [{sources: [{model: ./M, layer_range: [0, 4]}]}]'];
      for (let index = 0; index < input.count; index += 1) {
        const duplicate = input.duplicateEvery > 0 && index % input.duplicateEvery === input.duplicateEvery - 1;
        lines.push(`${duplicate ? `k${index - 1}` : `k${index}`}: 1`);
      }
      return `${lines.join('\n')}\n`;
    }
    case 'deep':
      switch (input.style) {
        case 'flow-seq':
          return `slices: ${'['.repeat(input.depth)}${']'.repeat(input.depth)}\nmerge_method: passthrough\n`;
        case 'flow-map':
          return `slices: ${'{a: '.repeat(input.depth)}1${'}'.repeat(input.depth)}\nmerge_method: passthrough\n`;
        case 'block-seq':
          // Text grows with depth²: keep it within about 1 MB.
          return `slices:\n${Array.from({ length: Math.min(input.depth, 1400) }, (_, level) => `${' '.repeat(level + 1)}- `).join('\n')}x\nmerge_method: passthrough\n`;
        case 'block-map':
          return `slices:\n${Array.from({ length: Math.min(input.depth, 1400) }, (_, level) => `${' '.repeat(level + 1)}a:`).join('\n')} 1\nmerge_method: passthrough\n`;
      }
      break;
    case 'manySlices':
      return `slices:\n${Array.from({ length: input.count }, (_, index) => `  - sources: [{model: ./M${index % 3}, layer_range: [${index}, ${index + 1}]}]`).join('\n')}\nmerge_method: passthrough\n`;
    case 'oversize':
      return `${SOLAR_YAML}${'#'.repeat(input.bytes)}\n`;
    case 'random':
      return input.text;
  }
  return '';
}

/** JSON with object keys sorted: plans compare by content, not by the order their YAML keys came in. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    isRecord(item) ? Object.fromEntries(Object.keys(item).sort().map((key) => [key, item[key]])) : item,
  );
}

/** parseMergekitYaml never throws: anything it throws is a failure, whatever it is. */
async function readYaml(text: string, baseDir: string): Promise<() => FuzzOutcome> {
  try {
    const imported = parseMergekitYaml(text, { baseDir, fileName: YAML_FILE_NAME });
    return () => checkYamlImport(imported, baseDir);
  } catch (error) {
    return () => failure(`parseMergekitYaml threw ${describeThrown(error)}`);
  }
}

/** A plan must be what the API contract accepts, and survive emit → parse unchanged. */
function checkYamlImport(imported: YamlImport, baseDir: string): FuzzOutcome {
  const errors = imported.problems.filter((problem) => problem.severity === 'error');
  for (const problem of imported.problems) {
    if (typeof problem.code !== 'string' || problem.code.length === 0) return failure(`a problem without a code: ${problem.message.slice(0, 200)}`);
    if (!Number.isInteger(problem.line) || (problem.line as number) < 1) return failure(`problem ${problem.code} without a line: ${problem.message.slice(0, 200)}`);
    if (!problem.message.startsWith(`${YAML_FILE_NAME}:`)) return failure(`problem ${problem.code} does not name the file: ${problem.message.slice(0, 200)}`);
  }
  if (imported.plan === null) {
    if (errors.length === 0) return failure('no plan, yet no error says why');
    return { kind: 'error', code: (errors[0] as { code: string }).code };
  }
  if (errors.length > 0) return failure(`a plan despite error ${errors[0]?.code}`);
  const checked = layerPlanSchema.safeParse(imported.plan);
  if (!checked.success) return failure(`a plan the API contract refuses: ${checked.error.issues[0]?.path.join('.')}: ${checked.error.issues[0]?.message}`);
  const emitted = emitMergekitYaml(imported.plan);
  // Aliases let a small file describe a plan whose YAML is tens of MB; the API reads at most 1 MB.
  if (Buffer.byteLength(emitted, 'utf8') > MAX_YAML_BYTES) return { kind: 'valid' };
  const again = parseMergekitYaml(emitted, { baseDir });
  const before = canonicalJson(imported.plan);
  const after = canonicalJson(again.plan);
  if (after !== before) {
    let at = 0;
    while (at < before.length && before[at] === after[at]) at += 1;
    return failure(`the plan changes when emitted and read again: …${before.slice(Math.max(0, at - 60), at + 60)}… became …${String(after).slice(Math.max(0, at - 60), at + 60)}…`);
  }
  return { kind: 'valid' };
}

function yamlTarget(scale: FuzzScale): FuzzTarget<YamlCase> {
  return {
    name: 'mergekit-yaml',
    weight: 17,
    arbitrary: yamlArbitrary(scale),
    regressions: [
      // yaml's own duplicate-key check compares every key with every other: quadratic in the keys.
      { kind: 'manyKeys', count: 60_000, duplicateEvery: 0 },
      // Each alias used to be resolved by walking the whole document.
      { kind: 'aliasFlood', count: 40_000, rules: 0 },
      // Aliases copy one source's scale rules into every slice: a billion-laughs in the plan.
      { kind: 'aliasFlood', count: 10_000, rules: 2_000 },
      // Deep nesting overflowed the stack; inside a regular expression that aborts the process.
      { kind: 'deep', style: 'block-seq', depth: 1_400 },
      { kind: 'deep', style: 'flow-seq', depth: 100_000 },
      { kind: 'bomb', levels: 12, width: 12, at: 'scale' },
      { kind: 'manySlices', count: 12_000 },
      { kind: 'flow', fields: { layer_range: '[0, 999999999999]' } },
      { kind: 'flow', fields: { model: `"${'m'.repeat(8_000)}"` } },
    ],
    describe: (input) => `YAML ${input.kind}: ${JSON.stringify(input).slice(0, 400)}`,
    msPerMegabyte: YAML_MS_PER_MB,
    memoryPerInputByte: YAML_MEMORY_PER_BYTE,
    async prepare(input, dir) {
      const text = yamlText(input);
      return { read: () => readYaml(text, dir), inputBytes: Buffer.byteLength(text, 'utf8') };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Inputs at the size limits: long run only, a few cases, each one measured

export type LargeCase =
  | { kind: 'header-json'; bytes: number }
  | { kind: 'index-json'; bytes: number }
  | { kind: 'config-json'; bytes: number }
  | { kind: 'yaml'; bytes: number };

/** A JSON object of `bytes` bytes at most: `entry(i)` members until the next would not fit. */
function jsonObjectOf(bytes: number, entry: (index: number) => string): Buffer {
  const parts: string[] = [];
  let length = 2;
  for (let index = 0; ; index += 1) {
    const member = entry(index);
    if (length + member.length + 1 > bytes) break;
    parts.push(member);
    length += member.length + 1;
  }
  return Buffer.from(`{${parts.join(',')}}`, 'utf8');
}

function largeInputTarget(): FuzzTarget<LargeCase> {
  return {
    name: 'large-inputs',
    weight: 0,
    arbitrary: fc.oneof(
      fc.record({ kind: fc.constant('header-json' as const), bytes: fc.constantFrom(10_000_000, 50_000_000, 99_999_992) }),
      fc.record({ kind: fc.constant('index-json' as const), bytes: fc.constantFrom(10_000_000, 150_000_000) }),
      fc.record({ kind: fc.constant('config-json' as const), bytes: fc.constantFrom(5_000_000, 150_000_000) }),
      fc.record({ kind: fc.constant('yaml' as const), bytes: fc.constantFrom(999_000, 5_000_000) }),
    ),
    regressions: [
      { kind: 'header-json', bytes: 99_999_992 },
      { kind: 'index-json', bytes: 150_000_000 },
      { kind: 'config-json', bytes: 150_000_000 },
      { kind: 'yaml', bytes: 999_000 },
    ],
    describe: (input) => `${input.kind} of ${formatBytes(input.bytes)}`,
    // A legal 100 MB header of 1.7 million tensors takes V8 seconds to parse: this target checks
    // that memory stays proportional to the input and time linear in it.
    timeLimit: (input) => caseTimeLimit(input.bytes, input.kind === 'yaml' ? YAML_MS_PER_MB : JSON_MS_PER_MB),
    memoryBudget: (input) => (input.kind === 'yaml' ? YAML_MEMORY_PER_BYTE : JSON_MEMORY_PER_BYTE) * input.bytes + DEFAULT_MEMORY_BUDGET,
    async prepare(input, dir) {
      switch (input.kind) {
        case 'header-json': {
          // Zero-size tensors, one after another: the largest tensor count a legal header can hold.
          const json = jsonObjectOf(input.bytes, (index) => `"t${index}":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`);
          const padded = Buffer.alloc(Math.ceil(json.byteLength / 8) * 8, 0x20);
          json.copy(padded);
          const prefix = Buffer.alloc(8);
          prefix.writeBigUInt64LE(BigInt(padded.byteLength));
          const filePath = path.join(dir, 'model.safetensors');
          await writeFile(filePath, Buffer.concat([prefix, padded]));
          return {
            read: () => attempt(() => readSafetensorsHeader(filePath), (header) => checkHeaderInvariants(header, 8 + padded.byteLength), [filePath]),
            inputBytes: padded.byteLength,
          };
        }
        case 'index-json': {
          await buildFixtureCheckpoint({ dir, layers: 1, shards: 2, ...TINY_MODEL });
          const map = jsonObjectOf(input.bytes - 64, (index) => `"model.layers.${index}.mlp.up_proj.weight":"model-00001-of-00002.safetensors"`);
          await writeFile(path.join(dir, INDEX_FILE_NAME), Buffer.concat([Buffer.from('{"metadata":{},"weight_map":'), map, Buffer.from('}')]));
          const files = checkpointFiles(dir, 2);
          return { read: () => attempt(() => openCheckpoint(dir), checkSummaryInvariants, files), inputBytes: input.bytes };
        }
        case 'config-json': {
          await buildFixtureCheckpoint({ dir, layers: 1, ...TINY_MODEL });
          await writeFile(path.join(dir, 'config.json'), jsonObjectOf(input.bytes, (index) => `"key_${index}":[${index},"value"]`));
          const files = checkpointFiles(dir, 1);
          return { read: () => attempt(() => openCheckpoint(dir), checkSummaryInvariants, files), inputBytes: input.bytes };
        }
        case 'yaml': {
          const line = '  - sources: [{model: ./M, layer_range: [0, 1]}]\n';
          const text = `merge_method: passthrough\nslices:\n${line.repeat(Math.floor(input.bytes / line.length))}`;
          return { read: () => readYaml(text, dir), inputBytes: text.length };
        }
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** Every target at the given scale; the long run adds the size-limit target. */
export function createFuzzTargets(scale: FuzzScale, options: { large?: boolean } = {}): FuzzTarget[] {
  const targets = [
    erase(headerTarget(scale)),
    erase(safetensorsFileTarget(scale)),
    erase(indexTarget(scale)),
    erase(configTarget(scale)),
    erase(layerIndexTarget(scale)),
    erase(yamlTarget(scale)),
    erase(ggufTarget()),
  ];
  if (options.large === true) targets.push(erase(largeInputTarget()));
  return targets;
}

/** Targets run side by side through one interface; each one's input type is its own business. */
function erase<Input>(target: FuzzTarget<Input>): FuzzTarget {
  return target as unknown as FuzzTarget;
}

// ---------------------------------------------------------------------------------------------
// GGUF: a valid file from the project's writer, then byte-level damage where it hurts most

export interface GgufCase {
  tensors: Array<{ name: string; type: GgmlTypeName; rows: number; blocks: number }>;
  keys: Array<{ key: string; value: GgufValue }>;
  mutations: GgufMutation[];
}

export type GgufMutation =
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'u64'; at: number; value: bigint }
  | { kind: 'i32'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'append'; count: number };

const GGUF_HOSTILE_U64 = [0n, 1n, 31n, 32n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];
const GGUF_HOSTILE_I32 = [-1, 4, 5, 9, 12, 13, 31, 36, 41, 2 ** 31 - 1];

const ggufValueArbitrary: fc.Arbitrary<GgufValue> = fc.oneof(
  fc.record({ type: fc.constant('UINT32' as const), value: fc.nat({ max: 2 ** 32 - 1 }) }),
  fc.record({ type: fc.constant('STRING' as const), value: fc.string({ maxLength: 12 }) }),
  fc.record({ type: fc.constant('BOOL' as const), value: fc.boolean() }),
  fc.record({ type: fc.constant('FLOAT32' as const), value: fc.constantFrom(0, 1.5, -2) }),
  fc.record({ type: fc.constant('ARRAY' as const), itemType: fc.constant('INT32' as const), values: fc.array(fc.integer({ min: -5, max: 5 }), { maxLength: 6 }) }),
  fc.record({ type: fc.constant('ARRAY' as const), itemType: fc.constant('STRING' as const), values: fc.array(fc.string({ maxLength: 4 }), { maxLength: 6 }) }),
);

const ggufCaseArbitrary: fc.Arbitrary<GgufCase> = fc.record({
  tensors: fc.uniqueArray(
    fc.record({
      name: fc.oneof(fc.constantFrom('token_embd.weight', 'output_norm.weight', 'blk.0.attn_q.weight', 'blk.1.ffn_down.weight', 'blk.0.attn_norm.weight'), fc.string({ minLength: 1, maxLength: 8 })),
      type: fc.constantFrom(...(Object.keys(GGML_TYPES) as GgmlTypeName[])),
      rows: fc.integer({ min: 1, max: 3 }),
      blocks: fc.integer({ min: 1, max: 2 }),
    }),
    { selector: (tensor) => tensor.name, maxLength: 5 },
  ),
  keys: fc.uniqueArray(
    fc.record({
      key: fc.oneof(
        fc.constantFrom('general.name', 'general.alignment', 'llama.block_count', 'split.count', 'split.no', 'tokenizer.ggml.tokens', 'llama.feed_forward_length'),
        fc.string({ minLength: 1, maxLength: 10 }),
      ),
      value: ggufValueArbitrary,
    }),
    { selector: (entry) => entry.key, maxLength: 5 },
  ),
  mutations: fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('byte' as const), at: fc.nat({ max: 2000 }), value: fc.nat({ max: 255 }) }),
      fc.record({ kind: fc.constant('u64' as const), at: fc.nat({ max: 2000 }), value: fc.constantFrom(...GGUF_HOSTILE_U64) }),
      fc.record({ kind: fc.constant('i32' as const), at: fc.nat({ max: 2000 }), value: fc.constantFrom(...GGUF_HOSTILE_I32) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat({ max: 4000 }) }),
      fc.record({ kind: fc.constant('append' as const), count: fc.integer({ min: 1, max: 64 }) }),
    ),
    { maxLength: 3 },
  ),
});

function ggufCaseBytes(input: GgufCase): Buffer {
  const metadata = new Map<string, GgufValue>([['general.architecture', { type: 'STRING', value: 'llama' }]]);
  for (const { key, value } of input.keys) {
    // The writer trusts its caller's alignment; give it a valid one and let the mutations break it.
    if (key === 'general.alignment') metadata.set(key, { type: 'UINT32', value: 64 });
    else if (key === 'llama.block_count') metadata.set(key, { type: 'UINT32', value: 2 });
    else if (key !== 'split.count' && key !== 'split.no') metadata.set(key, value);
  }
  const tensors = input.tensors.map(({ name, type, rows, blocks }) => {
    const geometry = GGML_TYPES[type];
    return { name, type, shape: [geometry.blockElements * blocks, rows], data: new Uint8Array(geometry.blockBytes * blocks * rows).fill(name.length) };
  });
  let file = Buffer.from(ggufFileBytes(metadata, tensors));
  for (const mutation of input.mutations) {
    switch (mutation.kind) {
      case 'byte':
        if (mutation.at < file.byteLength) file[mutation.at] = mutation.value;
        break;
      case 'u64':
        if (mutation.at + 8 <= file.byteLength) file.writeBigUInt64LE(mutation.value, mutation.at);
        break;
      case 'i32':
        if (mutation.at + 4 <= file.byteLength) file.writeInt32LE(mutation.value, mutation.at);
        break;
      case 'truncate':
        file = file.subarray(0, Math.min(file.byteLength, mutation.at));
        break;
      case 'append':
        file = Buffer.concat([file, Buffer.alloc(mutation.count, 0x47)]);
        break;
    }
  }
  return file;
}

/** What a valid GGUF header promises: known types, whole blocks, offsets contiguous and aligned, data within the file. */
function checkGgufHeader(header: GgufHeader, fileSize: number): FuzzOutcome {
  let expected = 0;
  for (const tensor of header.tensors) {
    const geometry = GGML_TYPES[tensor.type];
    if (geometry === undefined) return failure(`tensor ${tensor.name} has unknown type ${tensor.type}`);
    const elements = tensor.shape.reduce((product, dim) => product * dim, 1);
    if ((tensor.shape[0] ?? 0) % geometry.blockElements !== 0 || (elements / geometry.blockElements) * geometry.blockBytes !== tensor.bytes) {
      return failure(`tensor ${tensor.name} is ${tensor.bytes} bytes for ${tensor.type} [${tensor.shape.join(', ')}]`);
    }
    if (tensor.offset !== expected) return failure(`tensor ${tensor.name} at ${tensor.offset}, expected ${expected}`);
    expected += Math.ceil(tensor.bytes / header.alignment) * header.alignment;
  }
  const last = header.tensors.at(-1);
  if (last !== undefined && header.dataStart + last.offset + last.bytes > fileSize) return failure('tensor data past the end of the file');
  if (header.dataStart % header.alignment !== 0) return failure(`data section at ${header.dataStart}, not aligned to ${header.alignment}`);
  return { kind: 'valid' };
}

function ggufTarget(): FuzzTarget<GgufCase> {
  return {
    name: 'gguf',
    weight: 20,
    arbitrary: ggufCaseArbitrary,
    regressions: [
      { tensors: [{ name: 'blk.0.attn_q.weight', type: 'Q4_K', rows: 2, blocks: 1 }], keys: [], mutations: [{ kind: 'u64', at: 8, value: 2n ** 64n - 1n }] },
      { tensors: [], keys: [{ key: 'tokenizer.ggml.tokens', value: { type: 'ARRAY', itemType: 'STRING', values: ['a'] } }], mutations: [{ kind: 'truncate', at: 60 }] },
      // general.architecture "llama" → ".lama": its keys' paths had an empty first part (seed 20261202, case 16997).
      { tensors: [{ name: 'token_embd.weight', type: 'Q8_0', rows: 1, blocks: 2 }], keys: [], mutations: [{ kind: 'byte', at: 64, value: 46 }] },
    ],
    describe: (input) => JSON.stringify(input, (_, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value)),
    async prepare(input, dir) {
      const bytes = ggufCaseBytes(input);
      await mkdir(dir, { recursive: true });
      const filePath = path.join(dir, 'model.gguf');
      await writeFile(filePath, bytes);
      const files = [filePath, dir];
      const read = async (): Promise<() => FuzzOutcome> => {
        const parsed = await attempt(() => parseGgufFile(bytes, filePath), (header) => checkGgufHeader(header, bytes.byteLength), files);
        const summary = await attempt(() => openCheckpoint(filePath), checkSummaryInvariants, files);
        return combine([
          ['parseGgufFile', parsed],
          ['openCheckpoint', summary],
        ]);
      };
      return { read, inputBytes: bytes.byteLength };
    },
  };
}
