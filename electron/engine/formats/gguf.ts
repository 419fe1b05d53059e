import { createHash } from 'node:crypto';
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
    /** Set when `bytes` is a read buffer that is reused after the parse: long arrays then stay in the file. */
    readonly file: ReadFile | null = null,
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
  const start = cursor.position;
  if (itemType === 'STRING') skipStrings(cursor, length, key);
  else {
    cursor.need(length * (FIXED_SIZES[itemType] as number), `the ${length} items of array "${key}"`);
    if (itemType === 'BOOL') {
      for (let index = 0; index < length; index += 1) {
        const byte = cursor.bytes[start + index] as number;
        if (byte > 1) throw cursor.fail('GgufInvalidValue', `item ${index} of array "${key}" at byte ${start + index} is a bool of value ${byte}; bools are 0 or 1`, { key });
      }
    }
    cursor.position += length * (FIXED_SIZES[itemType] as number);
  }
  const byteLength = cursor.position - start;
  if (cursor.file === null) return encodedArray(itemType, length, { bytes: cursor.bytes.subarray(start, cursor.position), file: null });
  if (byteLength <= IN_MEMORY_ARRAY_BYTES) {
    // A copy (Buffer's own slice would not copy): the read buffer is reused.
    return encodedArray(itemType, length, { bytes: new Uint8Array(cursor.bytes.subarray(start, cursor.position)), file: null });
  }
  return encodedArray(itemType, length, { bytes: null, file: { ...cursor.file, offset: start, byteLength } });
}

/**
 * Arrays whose items take more bytes than this (token lists, merges, scores, token types) stay in
 * the file when a header is read from one: they are read again on first use, which open never
 * needs. Per-layer arrays are far smaller and are kept.
 */
const IN_MEMORY_ARRAY_BYTES = 64 << 10;

/**
 * Steps over `length` strings (u64 length, then the bytes), checking each against the file, without
 * making them: a tokenizer holds hundreds of thousands (Llama 3: 128,256 tokens, 280,147 merges), and
 * building them at open costs hundreds of milliseconds, most of it garbage collection.
 */
function skipStrings(cursor: Cursor, length: number, key: string): void {
  const done = walkStrings(cursor.view, cursor.position, length, Math.min(cursor.bytes.byteLength, cursor.fileSize));
  cursor.position = walkedTo;
  if (done === length) return;
  // Item `done` does not fit the bytes at hand: the cursor's checks say whether the file is
  // truncated there (a named error) or only the first read was too short (read more).
  const itemLength = cursor.count(`the length of item ${done} of array "${key}"`, 1);
  cursor.need(itemLength, `item ${done} of array "${key}"`);
  throw new StudioError('Internal', `GGUF string walk stopped at item ${done} of "${key}", which fits; please report this`);
}

/** Where walkStrings stopped: the position after the last whole string. */
let walkedTo = 0;

/**
 * The hot loop of skipStrings, on numbers only so V8 keeps it optimised: steps over up to `count`
 * strings from `at` while each lies within the first `available` bytes; returns how many did
 * (and leaves the position after them in `walkedTo`).
 */
function walkStrings(view: DataView, at: number, count: number, available: number): number {
  let index = 0;
  for (; index < count; index += 1) {
    if (at + 8 > available) break;
    const high = view.getUint32(at + 4, true);
    // Lengths of 2^32 or more never fit the bytes at hand (a header is read whole into memory).
    if (high !== 0) break;
    const end = at + 8 + view.getUint32(at, true);
    if (end > available) break;
    at = end;
  }
  walkedTo = at;
  return index;
}

/** The file a header was read from, as it was then. */
interface ReadFile {
  path: string;
  size: number;
  mtimeMs: number;
}

/** Where a read array's items are: in memory, or a byte range of the file (absolute offsets). */
interface ItemsPlace {
  bytes: Uint8Array | null;
  file: (ReadFile & { offset: number; byteLength: number }) | null;
}

interface EncodedItems extends ItemsPlace {
  itemType: GgufScalarType;
  length: number;
  /** The token list's hash, taken while its bytes were at hand (see ggufStringListSha256). */
  sha256?: string;
}

const encodedItems = new WeakMap<GgufValue, EncodedItems>();

/**
 * An array value as read: `values` is made on first use (then kept, frozen, so it always equals
 * the file's bytes), while its length, its bytes and the token list hash need no JS values at all.
 */
function encodedArray(itemType: GgufScalarType, length: number, place: ItemsPlace): GgufValue {
  const value = { type: 'ARRAY', itemType } as { type: 'ARRAY'; itemType: GgufScalarType; values: GgufScalar[] };
  const record: EncodedItems = { itemType, length, ...place };
  Object.defineProperty(value, 'values', {
    enumerable: true,
    configurable: true,
    get(): GgufScalar[] {
      const values = Object.freeze(decodeItems(itemType, length, itemBytes(record))) as GgufScalar[];
      Object.defineProperty(value, 'values', { value: values, enumerable: true, writable: false, configurable: false });
      return values;
    },
  });
  encodedItems.set(value, record);
  return value;
}

function decodeItems(itemType: GgufScalarType, length: number, bytes: Uint8Array): GgufScalar[] {
  // The bytes were checked when read: a cursor over exactly them cannot run out.
  const cursor = new Cursor(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes.byteLength, (_code, message) => new StudioError('Internal', message));
  const values = new Array<GgufScalar>(length);
  for (let index = 0; index < length; index += 1) values[index] = readScalar(cursor, itemType, 'an array item');
  return values;
}

/** The items' bytes: at hand, or read again from the file, which must be as it was when its header was read. */
function itemBytes(record: EncodedItems): Uint8Array {
  if (record.bytes !== null) return record.bytes;
  const place = record.file as NonNullable<ItemsPlace['file']>;
  const name = path.basename(place.path);
  const changed = (): StudioError =>
    new StudioError('SourceChanged', `${name}: the file changed after its header was read; open it again`, { path: place.path });
  let descriptor: number;
  try {
    descriptor = fs.openSync(place.path, 'r');
  } catch (error) {
    throw fileSystemError(error, place.path, 'GGUF file');
  }
  try {
    const stats = fs.fstatSync(descriptor);
    if (stats.size !== place.size || stats.mtimeMs !== place.mtimeMs) throw changed();
    const bytes = Buffer.allocUnsafeSlow(place.byteLength);
    let done = 0;
    while (done < bytes.byteLength) {
      const count = fs.readSync(descriptor, bytes, done, bytes.byteLength - done, place.offset + done);
      if (count === 0) throw changed();
      done += count;
    }
    // Checked again: a file rewritten within one mtime tick must not be decoded past its ends.
    const intact =
      record.itemType === 'STRING'
        ? walkStrings(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, record.length, bytes.byteLength) === record.length && walkedTo === bytes.byteLength
        : record.itemType !== 'BOOL' || bytes.every((byte) => byte <= 1);
    if (!intact) throw changed();
    return bytes;
  } catch (error) {
    throw error instanceof StudioError ? error : fileSystemError(error, place.path, 'GGUF file');
  } finally {
    fs.closeSync(descriptor);
  }
}

/** The number of items of an array value, without making them. */
export function ggufArrayLength(value: GgufValue & { type: 'ARRAY' }): number {
  return encodedItems.get(value)?.length ?? value.values.length;
}

/**
 * An array's items exactly as a GGUF file holds them (strings as u64 length + bytes, numbers
 * little-endian), or null for an array made in memory. The writer copies these, so a rewritten
 * tokenizer keeps its bytes, even ones that are not valid UTF-8. Long arrays are read again from
 * their file (SourceChanged if it changed since).
 */
export function ggufEncodedItems(value: GgufValue & { type: 'ARRAY' }): Uint8Array | null {
  const record = encodedItems.get(value);
  return record === undefined ? null : itemBytes(record);
}

/**
 * sha256 of a list of strings, each string's bytes followed by a NUL: for a list read from a file,
 * its bytes as the file holds them (the token list's is taken while the header is read, so open
 * never reads it twice); for one made in memory, its UTF-8.
 */
export function ggufStringListSha256(value: GgufValue & { type: 'ARRAY' }): string {
  const record = encodedItems.get(value);
  if (record?.sha256 !== undefined) return record.sha256;
  if (record === undefined || record.itemType !== 'STRING') {
    // One update of the joined list: an update per string costs more than the hashing.
    return createHash('sha256').update(`${value.values.join('\u0000')}\u0000`).digest('hex');
  }
  return joinedStringsSha256(itemBytes(record));
}

/** Bytes of the NUL-joined list hashed at a time: small enough to stay in cache, and reused. */
const HASH_CHUNK_BYTES = 1 << 16;
let hashChunk: Uint8Array | null = null;

/**
 * sha256 of GGUF-encoded strings (each a u64 length and its bytes, as the reader checked them)
 * with a NUL after each string's bytes, copied through one small reused buffer: a typed-array
 * view per string would cost more than the hashing.
 */
function joinedStringsSha256(encoded: Uint8Array): string {
  const hash = createHash('sha256');
  hashChunk ??= new Uint8Array(HASH_CHUNK_BYTES);
  const view = new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  joinAt = 0;
  joinStringEnd = -1;
  for (;;) {
    const filled = joinInto(encoded, view, hashChunk);
    hash.update(filled === HASH_CHUNK_BYTES ? hashChunk : hashChunk.subarray(0, filled));
    if (filled < HASH_CHUNK_BYTES) return hash.digest('hex');
  }
}

/** joinInto's place in the encoded strings: the next byte, and the end of the string being copied (−1 between strings). */
let joinAt = 0;
let joinStringEnd = -1;

/**
 * Fills `chunk` with the next bytes of the NUL-joined strings; returns how many (less than the
 * chunk only at the end). Numbers and typed arrays only, so V8 keeps the loop optimised.
 */
function joinInto(encoded: Uint8Array, view: DataView, chunk: Uint8Array): number {
  let at = joinAt;
  let stringEnd = joinStringEnd;
  let filled = 0;
  const total = encoded.byteLength;
  while (filled < chunk.length) {
    if (stringEnd < 0) {
      if (at >= total) break;
      // The reader checked every length against the file: each fits what follows it.
      stringEnd = at + 8 + view.getUint32(at, true);
      at += 8;
    }
    if (at < stringEnd) {
      chunk[filled++] = encoded[at++] as number;
    } else {
      chunk[filled++] = 0;
      stringEnd = -1;
    }
  }
  joinAt = at;
  joinStringEnd = stringEnd;
  return filled;
}

/** The key whose list compatibility checks compare by hash. */
export const GGUF_TOKEN_LIST_KEY = 'tokenizer.ggml.tokens';

/**
 * llama.cpp's architecture names ("llama", "qwen3moe", "gpt-oss"): the name is the first part of
 * every per-architecture key, so a dot or an empty name would make those keys ambiguous, and the
 * names of JavaScript's own object members cannot key the model view.
 */
function isArchitectureName(name: string): boolean {
  return /^[a-z0-9][a-z0-9_-]*$/.test(name) && name !== 'constructor' && name !== 'prototype';
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
 * and the data section within the file. `readFrom` says `bytes` is the start of the file at
 * `filePath` in a buffer that will be reused: arrays are then copied, or left in the file when long.
 */
export function parseGgufHeader(bytes: Uint8Array, fileSize: number, filePath: string, readFrom: { mtimeMs: number } | null = null): GgufHeader {
  const file = path.basename(filePath) || filePath;
  const fail = (code: ErrorCode, message: string, detail?: Record<string, unknown>): StudioError =>
    new StudioError(code, `${file}: ${message}`, { path: filePath, detail });
  const source = readFrom === null ? null : { path: filePath, size: fileSize, mtimeMs: readFrom.mtimeMs };
  const cursor = new Cursor(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), fileSize, fail, source);

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
  if (architecture !== null && !isArchitectureName(architecture)) {
    throw fail('GgufInvalidValue', `general.architecture is ${JSON.stringify(architecture)}; an architecture name prefixes keys (ARCH.block_count), so it is lower-case letters, digits, "_" and "-"`, {
      key: 'general.architecture',
    });
  }
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
    const nameAt = cursor.position;
    const name = cursor.string(`the name of tensor ${index}`, true);
    const invalid = (message: string): StudioError => fail('GgufInvalidTensorInfo', `tensor "${name}": ${message}`, { tensor: name });
    // The name's UTF-8 bytes: what the file gave for it, after its u64 length.
    if (cursor.position - nameAt - 8 > GGUF_MAX_NAME_BYTES) throw invalid(`the name is longer than ${GGUF_MAX_NAME_BYTES} bytes`);
    if (names.has(name)) throw fail('DuplicateTensor', `tensor "${name}" appears twice`, { tensor: name });
    names.add(name);
    const dims = cursor.u32(`the dimension count of "${name}"`);
    if (dims < 1 || dims > GGUF_MAX_DIMS) throw invalid(`${dims} dimensions; ggml tensors have 1 to ${GGUF_MAX_DIMS}`);
    const shape: number[] = [];
    let elements = 1;
    for (let axis = 0; axis < dims; axis += 1) {
      // An i64 as two halves, not a BigInt: a 70B model has 723 tensors of up to 4 dimensions.
      cursor.need(8, `dimension ${axis} of "${name}"`);
      const low = cursor.view.getUint32(cursor.position, true);
      const high = cursor.view.getInt32(cursor.position + 4, true);
      cursor.position += 8;
      if (high < 0) throw invalid(`dimension ${axis} is ${(BigInt(high) << 32n) | BigInt(low)}; dimensions are not negative`);
      const dim = high * 2 ** 32 + low;
      // Rounding is monotonic: a product past 2^53 − 1 never rounds back below it.
      elements *= dim;
      if (elements > Number.MAX_SAFE_INTEGER || dim > Number.MAX_SAFE_INTEGER) throw invalid('too many elements to address');
      shape.push(dim);
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
    const bytes = tensorBytes(type, elements);
    if (bytes === null) throw invalid('too many bytes to address');
    const offsetAt = cursor.position;
    cursor.need(8, `the offset of "${name}"`);
    const offsetLow = cursor.view.getUint32(offsetAt, true);
    const offsetHigh = cursor.view.getUint32(offsetAt + 4, true);
    cursor.position += 8;
    if (offsetHigh >= 2 ** 21) {
      const offset = (BigInt(offsetHigh) << 32n) | BigInt(offsetLow);
      throw fail('GgufInvalidOffset', `tensor "${name}" has offset ${offset} (at byte ${offsetAt}), beyond any file`, { tensor: name });
    }
    tensors.push({ name, type, shape, offset: offsetHigh * 2 ** 32 + offsetLow, bytes });
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
  // The token list's hash, while its bytes are at hand: the read buffer is reused after this.
  const tokens = metadata.get(GGUF_TOKEN_LIST_KEY);
  const tokenRecord = tokens === undefined ? undefined : encodedItems.get(tokens);
  if (tokenRecord?.file != null && tokenRecord.itemType === 'STRING') {
    tokenRecord.sha256 = joinedStringsSha256(bytes.subarray(tokenRecord.file.offset, tokenRecord.file.offset + tokenRecord.file.byteLength));
  }
  return { path: filePath, fileSize, version, metadata, tensors, alignment, dataStart };
}

export function padTo(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/**
 * First read of a header. A tokenizer of 150k tokens takes a few MB, so most real headers fit it;
 * a longer one (Llama 3's merges make 7.3 MB) grows the buffer, reading only the bytes not read yet.
 */
const FIRST_READ_BYTES = 4 << 20;

/**
 * Header reads reuse one buffer: fresh memory costs a page fault per 4 KiB on first touch (on a
 * busy machine, milliseconds per MB: more than reading and parsing the bytes). The parser copies
 * what it keeps, so the buffer is free again after each read. Kept up to this size, and dropped
 * after a while without reads.
 */
const SPARE_BUFFER_MAX_BYTES = 32 << 20;
const SPARE_BUFFER_IDLE_MS = 30_000;
let spareBuffer: Buffer | null = null;
let spareTimer: NodeJS.Timeout | null = null;

function takeReadBuffer(length: number): Buffer {
  const spare = spareBuffer;
  if (spare !== null && spare.byteLength >= length) {
    spareBuffer = null;
    return spare;
  }
  // Never pooled: a pooled slice would share its memory with other buffers for as long as it is kept.
  return Buffer.allocUnsafeSlow(length);
}

function giveBackReadBuffer(buffer: Buffer): void {
  if (buffer.byteLength > SPARE_BUFFER_MAX_BYTES || (spareBuffer !== null && spareBuffer.byteLength >= buffer.byteLength)) return;
  spareBuffer = buffer;
  if (spareTimer !== null) clearTimeout(spareTimer);
  spareTimer = setTimeout(() => {
    spareBuffer = null;
    spareTimer = null;
  }, SPARE_BUFFER_IDLE_MS).unref();
}

/**
 * Reads and validates the header of a GGUF file: opens it read-only and reads only as much of the
 * start as the header takes, never tensor data. Long arrays (the tokenizer's) stay in the file
 * until used (see IN_MEMORY_ARRAY_BYTES).
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
  let buffer: Buffer | null = null;
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
    buffer = takeReadBuffer(Math.min(fileSize, FIRST_READ_BYTES));
    // A reused buffer is filled as far as it goes: those pages cost nothing more, and they may spare a second read.
    let filled = Math.min(fileSize, buffer.byteLength);
    await readRange(descriptor, buffer, 0, filled, filePath);
    for (;;) {
      try {
        return { ...parseGgufHeader(buffer.subarray(0, filled), fileSize, filePath, { mtimeMs: stats.mtimeMs }), mtimeMs: stats.mtimeMs };
      } catch (error) {
        if (!(error instanceof NeedMoreBytes)) throw error;
        const length = Math.min(fileSize, Math.max(error.needed, filled * 2));
        const grown = Buffer.allocUnsafeSlow(length);
        buffer.copy(grown, 0, 0, filled);
        buffer = grown;
        await readRange(descriptor, buffer, filled, length, filePath);
        filled = length;
      }
    }
  } finally {
    if (buffer !== null) giveBackReadBuffer(buffer);
    await new Promise<void>((resolve) => fs.close(descriptor, () => resolve()));
  }
}

/** Parses a whole in-memory GGUF file (fuzzer, tests): NeedMoreBytes cannot happen when `bytes` is the file. */
export function parseGgufFile(bytes: Uint8Array, filePath: string): GgufHeader {
  return parseGgufHeader(bytes, bytes.byteLength, filePath);
}

/** Reads bytes `from` to `to` of the file into the same place of `target`. */
async function readRange(descriptor: number, target: Buffer, from: number, to: number, filePath: string): Promise<void> {
  let done = from;
  try {
    while (done < to) {
      const bytesRead = await new Promise<number>((resolve, reject) => {
        fs.read(descriptor, target, done, to - done, done, (error, count) => (error ? reject(error) : resolve(count)));
      });
      if (bytesRead === 0) throw Object.assign(new Error(`unexpected end of file at byte ${done}`), { code: 'EIO' });
      done += bytesRead;
    }
  } catch (error) {
    throw fileSystemError(error, filePath, 'GGUF file');
  }
}

/** The scalar value of a key when it has one of `types`, else undefined. */
export function ggufScalar(metadata: ReadonlyMap<string, GgufValue>, key: string): GgufScalar | undefined {
  const value = metadata.get(key);
  return value === undefined || value.type === 'ARRAY' ? undefined : value.value;
}
