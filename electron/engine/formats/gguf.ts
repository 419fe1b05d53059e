import fs from 'node:fs';
import path from 'node:path';
import { StudioError, type ErrorCode } from '../../api/errors.js';
import { GGML_TYPES, tensorBytes, type GgmlTypeName } from '../../api/dtypes.js';
import { READ_ONLY_NONBLOCKING } from './bounded-read.js';
import { fileSystemError } from './file-errors.js';

/**
 * GGUF, header only (ggml `docs/gguf.md`; what llama.cpp accepts is `ggml/src/gguf.cpp`): magic,
 * version, tensor and key/value counts, the key/values, the tensor infos, then the data section at
 * the next multiple of `general.alignment`. Written from the spec rather than taken from
 * `@huggingface/gguf`, which reads remote headers leniently (it checks neither offsets, nor
 * duplicate names, nor the key types llama.cpp insists on, and keeps going past unknown types).
 */

export const GGUF_MAGIC = 'GGUF';
/** gguf.cpp reads versions 2 and 3 (version 1 had 32-bit counts and is refused). */
export const GGUF_VERSIONS: readonly number[] = [2, 3];
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS. */
export const GGUF_MAX_DIMS = 4;
/** ggml's GGML_MAX_NAME (64) less the terminating NUL. */
export const GGUF_MAX_NAME_BYTES = 63;

/** GGUF value types (gguf.md `gguf_metadata_value_type`). */
export const GGUF_VALUE_TYPES = ['UINT8', 'INT8', 'UINT16', 'INT16', 'UINT32', 'INT32', 'FLOAT32', 'BOOL', 'STRING', 'ARRAY', 'UINT64', 'INT64', 'FLOAT64'] as const;
export type GgufValueType = (typeof GGUF_VALUE_TYPES)[number];
export type GgufScalarType = Exclude<GgufValueType, 'ARRAY'>;

const FIXED_SIZES: Partial<Record<GgufValueType, number>> = {
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  UINT32: 4,
  INT32: 4,
  FLOAT32: 4,
  BOOL: 1,
  UINT64: 8,
  INT64: 8,
  FLOAT64: 8,
};

/** A 64-bit integer stays a bigint only where a number would lose it. */
export type GgufScalar = number | bigint | boolean | string;

export type GgufValue =
  | { type: GgufScalarType; value: GgufScalar }
  | { type: 'ARRAY'; itemType: GgufScalarType; values: GgufScalar[] };

export interface GgufTensorInfo {
  name: string;
  type: GgmlTypeName;
  /** As the header gives it: fastest-varying dimension first (ggml's ne). */
  shape: number[];
  /** Relative to the data section. */
  offset: number;
  bytes: number;
}

export interface GgufHeader {
  path: string;
  fileSize: number;
  version: number;
  /** In file order (the order the writer chose, which later writers keep). */
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute offset of the data section. */
  dataStart: number;
  mtimeMs?: number;
}

/** Thrown inside the parser when the bytes read so far end before the header does; the reader reads more and parses again. */
class NeedMoreBytes extends Error {
  constructor(readonly needed: number) {
    super('need more bytes');
  }
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Lenient = new TextDecoder('utf-8', { ignoreBOM: true });

const ggmlTypeById = new Map<number, GgmlTypeName>(Object.entries(GGML_TYPES).map(([name, type]) => [type.id, name as GgmlTypeName]));

/** Keys whose type llama.cpp checks: a file with another type there is refused (gguf.cpp, llama-model-loader). */
const KEY_TYPES: Record<string, GgufValueType> = {
  'general.alignment': 'UINT32',
  'general.architecture': 'STRING',
  'general.name': 'STRING',
  'split.no': 'UINT16',
  'split.count': 'UINT16',
  'split.tensors.count': 'INT32',
};

/** Per-architecture keys with the types llama.cpp's loader reads them as (a per-layer key may also be an array). */
const ARCHITECTURE_KEY_TYPES: Record<string, GgufValueType> = {
  block_count: 'UINT32',
  embedding_length: 'UINT32',
  context_length: 'UINT32',
};

class Cursor {
  position = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly view: DataView,
    /** Bytes the whole file has: a read past it is truncation, a read past `bytes` only means read more. */
    readonly fileSize: number,
    readonly fail: (code: ErrorCode, message: string, detail?: Record<string, unknown>) => StudioError,
  ) {}

  need(length: number, what: string): void {
    const end = this.position + length;
    if (end > this.fileSize) throw this.fail('GgufTruncated', `${what} at byte ${this.position} needs ${length} bytes, but the file ends at byte ${this.fileSize}`);
    if (end > this.bytes.byteLength) throw new NeedMoreBytes(end);
  }

  u32(what: string): number {
    this.need(4, what);
    const value = this.view.getUint32(this.position, true);
    this.position += 4;
    return value;
  }

  i32(what: string): number {
    this.need(4, what);
    const value = this.view.getInt32(this.position, true);
    this.position += 4;
    return value;
  }

  u64(what: string): bigint {
    this.need(8, what);
    const value = this.view.getBigUint64(this.position, true);
    this.position += 8;
    return value;
  }

  i64(what: string): bigint {
    this.need(8, what);
    const value = this.view.getBigInt64(this.position, true);
    this.position += 8;
    return value;
  }

  /** A length or count: u64, which must fit what the rest of the file can hold at `minimumItemBytes` each. */
  count(what: string, minimumItemBytes: number): number {
    const at = this.position;
    this.need(8, what);
    // Two u32 halves, not a BigInt: token lists read hundreds of thousands of lengths.
    const low = this.view.getUint32(at, true);
    const high = this.view.getUint32(at + 4, true);
    this.position += 8;
    const room = this.fileSize - this.position;
    const value = high * 2 ** 32 + low;
    if (high >= 2 ** 20 || value * Math.max(1, minimumItemBytes) > room) {
      const exact = (BigInt(high) << 32n) | BigInt(low);
      throw this.fail('GgufTruncated', `${what} at byte ${at} is ${exact}, more than the ${room} bytes left in the file can hold`);
    }
    return value;
  }

  string(what: string, strict: boolean): string {
    const length = this.count(`the length of ${what}`, 1);
    this.need(length, what);
    const start = this.position;
    this.position += length;
    // Token lists hold hundreds of thousands of short ASCII strings: build those directly, a
    // decoder call per string costs several times more.
    if (length <= 64) {
      let ascii = '';
      let index = start;
      for (; index < start + length; index += 1) {
        const byte = this.bytes[index] as number;
        if (byte >= 0x80) break;
        ascii += String.fromCharCode(byte);
      }
      if (index === start + length) return ascii;
    }
    const raw = this.bytes.subarray(start, start + length);
    if (!strict) return utf8Lenient.decode(raw);
    try {
      return utf8Strict.decode(raw);
    } catch {
      throw this.fail('GgufInvalidValue', `${what} ending at byte ${this.position} is not valid UTF-8`);
    }
  }
}

function valueTypeName(id: number): GgufValueType | null {
  return id >= 0 && id < GGUF_VALUE_TYPES.length ? (GGUF_VALUE_TYPES[id] as GgufValueType) : null;
}

function readScalar(cursor: Cursor, type: GgufScalarType, what: string): GgufScalar {
  if (type === 'STRING') return cursor.string(what, false);
  const size = FIXED_SIZES[type] as number;
  cursor.need(size, what);
  const at = cursor.position;
  cursor.position += size;
  const view = cursor.view;
  switch (type) {
    case 'UINT8':
      return view.getUint8(at);
    case 'INT8':
      return view.getInt8(at);
    case 'UINT16':
      return view.getUint16(at, true);
    case 'INT16':
      return view.getInt16(at, true);
    case 'UINT32':
      return view.getUint32(at, true);
    case 'INT32':
      return view.getInt32(at, true);
    case 'FLOAT32':
      return view.getFloat32(at, true);
    case 'FLOAT64':
      return view.getFloat64(at, true);
    case 'BOOL': {
      const byte = view.getUint8(at);
      if (byte > 1) throw cursor.fail('GgufInvalidValue', `${what} at byte ${at} is a bool of value ${byte}; bools are 0 or 1`);
      return byte === 1;
    }
    case 'UINT64': {
      const value = view.getBigUint64(at, true);
      return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
    }
    case 'INT64': {
      const value = view.getBigInt64(at, true);
      return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value;
    }
  }
}

function readValue(cursor: Cursor, key: string): GgufValue {
  const typeAt = cursor.position;
  const typeId = cursor.i32(`the type of key "${key}"`);
  const type = valueTypeName(typeId);
  if (type === null) throw cursor.fail('GgufUnknownType', `key "${key}" has value type ${typeId} (at byte ${typeAt}), which GGUF does not define`, { key });
  if (type !== 'ARRAY') return { type, value: readScalar(cursor, type, `the value of "${key}"`) };
  const itemTypeId = cursor.i32(`the item type of array "${key}"`);
  const itemType = valueTypeName(itemTypeId);
  if (itemType === null) throw cursor.fail('GgufUnknownType', `array "${key}" has item type ${itemTypeId}, which GGUF does not define`, { key });
  // gguf.cpp reads no nested arrays; a file that has one is refused there too.
  if (itemType === 'ARRAY') throw cursor.fail('GgufInvalidValue', `array "${key}" holds arrays; llama.cpp reads no nested arrays`, { key });
  const length = cursor.count(`the length of array "${key}"`, itemType === 'STRING' ? 8 : (FIXED_SIZES[itemType] as number));
  const values = new Array<GgufScalar>(length);
  for (let index = 0; index < length; index += 1) values[index] = readScalar(cursor, itemType, `item ${index} of array "${key}"`);
  return { type: 'ARRAY', itemType, values };
}

function checkKeyType(key: string, value: GgufValue, architecture: string | null, fail: Cursor['fail']): void {
  let expected = KEY_TYPES[key];
  if (expected === undefined && architecture !== null && key.startsWith(`${architecture}.`)) expected = ARCHITECTURE_KEY_TYPES[key.slice(architecture.length + 1)];
  if (expected === undefined || value.type === expected) return;
  const found = value.type === 'ARRAY' ? `an array of ${value.itemType}` : value.type;
  throw fail('GgufWrongKeyType', `key "${key}" is ${found}; llama.cpp reads it as ${expected}`, { key });
}

/**
 * Parses a GGUF header from its first bytes (`bytes` may be shorter than the file: the parser asks
 * for more by throwing NeedMoreBytes). Checks, in file order: magic, version (2 or 3), counts that
 * fit the file, every key (UTF-8, unique) and value (known type, within the file, bools 0/1, no
 * nested arrays), the types of the keys llama.cpp reads, `general.alignment` (a power of two), every
 * tensor info (UTF-8 name of at most 63 bytes, unique; 1 to 4 dims ≥ 0; a known type with no
 * removed id; a first dimension that is a whole number of blocks), then gguf.cpp's offset rule:
 * each tensor starts exactly where the previous one ended, padded to the alignment, the first at 0;
 * and the data section within the file.
 */
export function parseGgufHeader(bytes: Uint8Array, fileSize: number, filePath: string): GgufHeader {
  const file = path.basename(filePath) || filePath;
  const fail = (code: ErrorCode, message: string, detail?: Record<string, unknown>): StudioError =>
    new StudioError(code, `${file}: ${message}`, { path: filePath, detail });
  const cursor = new Cursor(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), fileSize, fail);

  if (fileSize < 4) throw fail('GgufBadMagic', `the file is ${fileSize} bytes long, too short for the GGUF magic`);
  cursor.need(4, 'the magic');
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== GGUF_MAGIC) throw fail('GgufBadMagic', `the file does not start with "GGUF" (found ${JSON.stringify(magic)}); it is not a GGUF file`);
  cursor.position = 4;
  const version = cursor.u32('the version');
  if ((version & 0xffff) === 0 && version !== 0) {
    throw fail('GgufUnsupportedVersion', `version ${version} reads as a big-endian GGUF file; only little-endian files are read`);
  }
  if (!GGUF_VERSIONS.includes(version)) throw fail('GgufUnsupportedVersion', `GGUF version ${version}; llama.cpp reads versions 2 and 3`);

  // A tensor info takes at least 8 (name length) + 4 (dims) + 8 (one dim) + 4 (type) + 8 (offset) bytes; a key/value 8 + 4 + 1.
  const tensorCount = cursor.count('the tensor count', 32);
  const keyCount = cursor.count('the key/value count', 13);

  const metadata = new Map<string, GgufValue>();
  for (let index = 0; index < keyCount; index += 1) {
    const key = cursor.string(`key ${index}`, true);
    if (key.length === 0) throw fail('GgufInvalidValue', `key ${index} is empty`);
    if (metadata.has(key)) throw fail('GgufDuplicateKey', `key "${key}" appears twice`, { key });
    metadata.set(key, readValue(cursor, key));
  }
  const architectureValue = metadata.get('general.architecture');
  const architecture = architectureValue?.type === 'STRING' ? (architectureValue.value as string) : null;
  for (const [key, value] of metadata) checkKeyType(key, value, architecture, fail);

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const alignmentValue = metadata.get('general.alignment');
  if (alignmentValue !== undefined) {
    alignment = alignmentValue.type === 'UINT32' ? (alignmentValue.value as number) : 0;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
      throw fail('GgufInvalidValue', `general.alignment is ${alignment}; it must be a power of two`, { key: 'general.alignment' });
    }
  }

  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let index = 0; index < tensorCount; index += 1) {
    const name = cursor.string(`the name of tensor ${index}`, true);
    const invalid = (message: string): StudioError => fail('GgufInvalidTensorInfo', `tensor "${name}": ${message}`, { tensor: name });
    if (utf8Length(name) > GGUF_MAX_NAME_BYTES) throw invalid(`the name is longer than ${GGUF_MAX_NAME_BYTES} bytes`);
    if (names.has(name)) throw fail('DuplicateTensor', `tensor "${name}" appears twice`, { tensor: name });
    names.add(name);
    const dims = cursor.u32(`the dimension count of "${name}"`);
    if (dims < 1 || dims > GGUF_MAX_DIMS) throw invalid(`${dims} dimensions; ggml tensors have 1 to ${GGUF_MAX_DIMS}`);
    const shape: number[] = [];
    let elements = 1n;
    for (let axis = 0; axis < dims; axis += 1) {
      const dim = cursor.i64(`dimension ${axis} of "${name}"`);
      if (dim < 0n) throw invalid(`dimension ${axis} is ${dim}; dimensions are not negative`);
      elements *= dim;
      if (elements > BigInt(Number.MAX_SAFE_INTEGER) || dim > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid('too many elements to address');
      shape.push(Number(dim));
    }
    const typeAt = cursor.position;
    const typeId = cursor.i32(`the type of "${name}"`);
    const type = ggmlTypeById.get(typeId);
    if (type === undefined) {
      throw fail('GgufUnknownType', `tensor "${name}" has GGML type ${typeId} (at byte ${typeAt}), which ggml does not define or has removed`, { tensor: name });
    }
    const blockElements = GGML_TYPES[type].blockElements;
    if ((shape[0] as number) % blockElements !== 0) {
      throw invalid(`its first dimension ${shape[0]} is not a multiple of the ${blockElements}-element blocks of ${type}`);
    }
    const bytes = tensorBytes(type, Number(elements));
    if (bytes === null) throw invalid('too many bytes to address');
    const offsetAt = cursor.position;
    const offset = cursor.u64(`the offset of "${name}"`);
    if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw fail('GgufInvalidOffset', `tensor "${name}" has offset ${offset} (at byte ${offsetAt}), beyond any file`, { tensor: name });
    tensors.push({ name, type, shape, offset: Number(offset), bytes });
  }

  const dataStart = padTo(cursor.position, alignment);
  // gguf.cpp: offsets exactly contiguous after padding each tensor to the alignment, first at 0.
  let expected = 0;
  for (const tensor of tensors) {
    if (tensor.offset !== expected) {
      const problem = tensor.offset % alignment !== 0 ? `not a multiple of the alignment ${alignment}` : tensor.offset > expected ? 'leaving a gap' : 'overlapping the previous tensor';
      throw fail('GgufInvalidOffset', `tensor "${tensor.name}" starts at data offset ${tensor.offset}, expected ${expected} (${problem})`, { tensor: tensor.name });
    }
    expected += padTo(tensor.bytes, alignment);
  }
  const last = tensors.at(-1);
  const dataEnd = last === undefined ? dataStart : dataStart + last.offset + last.bytes;
  if (dataEnd > fileSize) {
    throw fail('GgufTruncated', `the tensor data ends at byte ${dataEnd}, but the file has ${fileSize} bytes${last === undefined ? '' : ` (last tensor "${last.name}")`}`, {
      tensor: last?.name,
    });
  }
  return { path: filePath, fileSize, version, metadata, tensors, alignment, dataStart };
}

function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

export function padTo(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/**
 * First read of a header; grown fourfold until the parser is satisfied. A tokenizer of 150k
 * tokens takes a few MB, so most real headers fit the first read (from the page cache, 4 MiB cost
 * about a millisecond; a parse cut short costs more).
 */
const FIRST_READ_BYTES = 4 << 20;

/**
 * Reads and validates the header of a GGUF file: opens it read-only and reads only as much of the
 * start as the header takes, never tensor data.
 */
export async function readGgufHeader(filePath: string): Promise<GgufHeader> {
  const file = path.basename(filePath) || filePath;
  let descriptor: number;
  try {
    descriptor = await new Promise<number>((resolve, reject) => {
      fs.open(filePath, READ_ONLY_NONBLOCKING, (error, fd) => (error ? reject(error) : resolve(fd)));
    });
  } catch (error) {
    throw fileSystemError(error, filePath, 'GGUF file');
  }
  try {
    let stats: fs.Stats;
    try {
      stats = await new Promise<fs.Stats>((resolve, reject) => fs.fstat(descriptor, (error, result) => (error ? reject(error) : resolve(result))));
    } catch (error) {
      throw fileSystemError(error, filePath, 'GGUF file');
    }
    if (!stats.isFile()) {
      throw new StudioError('NotACheckpoint', `${file}: not a regular file (a folder, pipe, socket or device), so it is not read as GGUF`, { path: filePath });
    }
    const fileSize = stats.size;
    let length = Math.min(fileSize, FIRST_READ_BYTES);
    for (;;) {
      const bytes = Buffer.allocUnsafe(length);
      try {
        await readExactly(descriptor, bytes, 0);
      } catch (error) {
        throw fileSystemError(error, filePath, 'GGUF file');
      }
      try {
        return { ...parseGgufHeader(bytes, fileSize, filePath), mtimeMs: stats.mtimeMs };
      } catch (error) {
        if (!(error instanceof NeedMoreBytes)) throw error;
        length = Math.min(fileSize, Math.max(error.needed, length * 4));
      }
    }
  } finally {
    await new Promise<void>((resolve) => fs.close(descriptor, () => resolve()));
  }
}

/** Parses a whole in-memory GGUF file (fuzzer, tests): NeedMoreBytes cannot happen when `bytes` is the file. */
export function parseGgufFile(bytes: Uint8Array, filePath: string): GgufHeader {
  return parseGgufHeader(bytes, bytes.byteLength, filePath);
}

async function readExactly(descriptor: number, target: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const bytesRead = await new Promise<number>((resolve, reject) => {
      fs.read(descriptor, target, done, target.byteLength - done, position + done, (error, count) => (error ? reject(error) : resolve(count)));
    });
    if (bytesRead === 0) throw Object.assign(new Error(`unexpected end of file at byte ${position + done}`), { code: 'EIO' });
    done += bytesRead;
  }
}

/** The scalar value of a key when it has one of `types`, else undefined. */
export function ggufScalar(metadata: ReadonlyMap<string, GgufValue>, key: string): GgufScalar | undefined {
  const value = metadata.get(key);
  return value === undefined || value.type === 'ARRAY' ? undefined : value.value;
}
