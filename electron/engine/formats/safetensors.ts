import fs from 'node:fs';
import path from 'node:path';
import { isStudioError, StudioError } from '../../api/errors.js';
import { DTYPE_BITS, type SafetensorsDtype as Dtype } from '../../api/types.js';
import { READ_ONLY_NONBLOCKING } from './bounded-read.js';
import { fileSystemError } from './file-errors.js';

/** One tensor of a safetensors header; `begin`/`end` are byte offsets relative to the data buffer. */
export interface SafetensorsTensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  path: string;
  fileSize: number;
  /** N: the length of the JSON header in bytes, padding included. */
  headerLength: number;
  /** 8 + N: file offset of the data buffer. */
  dataStart: number;
  metadata: Record<string, string> | null;
  /** Modification time of the file when its header was read (set by readSafetensorsHeader, not by the pure parser). */
  mtimeMs?: number;
  /** Sorted by `begin` (then `end`, then name, so zero-size tensors sort deterministically). */
  tensors: SafetensorsTensorEntry[];
}

/** The reference implementation's limit on N (safetensors `MAX_HEADER_SIZE`). */
export const MAX_HEADER_LENGTH = 100_000_000;

/**
 * Most bytes of header JSON parsed into objects, whitespace outside strings aside. JSON.parse holds
 * about seven times its text while it builds a header's entries, so the spec's 100 MB of dense
 * entries would take seconds and most of a gigabyte; the largest headers of real checkpoints (a
 * single file of a mixture of experts, tens of thousands of tensors) stay within a few MB. A longer
 * header is read through `compactHeader` first, in chunks, and refused as soon as its content
 * passes this.
 */
export const MAX_PARSED_HEADER_BYTES = 16_000_000;

/** Bytes read at a time while a long header is compacted. */
const HEADER_SCAN_CHUNK_BYTES = 1 << 20;

/** Bytes of the little-endian u64 that precedes the JSON header. */
const LENGTH_PREFIX_BYTES = 8;

/** Largest value a Rust `usize` field accepts on a 64-bit machine; JSON numbers above it fail to deserialize. */
const USIZE_MAX = 2 ** 64 - 1;

const TENSOR_FIELDS = new Set(['dtype', 'shape', 'data_offsets']);

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.hasOwn(DTYPE_BITS, value);
}

function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/**
 * Parses and validates the N JSON bytes of a safetensors header against a file of `fileSize`
 * bytes: rules 4 to 10 of DESIGN.md §3, in the reference order (huggingface/safetensors
 * `tensor.rs`). Pure, so the fuzzer can drive it without files.
 *
 * Stricter than the reference where JavaScript numbers force it: element counts and bit counts must
 * stay below 2^53 (the reference allows 2^64), which no tensor on a real disk reaches. `headerLength`
 * is N as the file's prefix gives it, when `headerBytes` is the header compacted by `compactHeader`. JSON.parse
 * keeps the last of duplicate keys, as serde_json does for a map, so duplicates are not detected;
 * a duplicate that changes the layout still fails the offset rule.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, path: string, headerLength = headerBytes.byteLength): SafetensorsHeader {
  const file = baseName(path);
  const dataStart = LENGTH_PREFIX_BYTES + headerLength;

  // Rule 4: the header is UTF-8.
  let text: string;
  try {
    text = utf8.decode(headerBytes);
  } catch (error) {
    throw new StudioError('InvalidHeader', `${file}: the header is not valid UTF-8 text`, { path, cause: error });
  }

  // Rule 5: a JSON object of tensors plus an optional `__metadata__` of strings.
  const invalid = (detail: string, cause?: unknown): StudioError =>
    new StudioError('InvalidHeaderDeserialization', `${file}: the header is not a valid safetensors header: ${detail}`, {
      path,
      cause,
    });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw invalid(`it is not JSON (${error instanceof Error ? error.message : String(error)})`, error);
  }
  if (!isPlainObject(parsed)) throw invalid(`expected a JSON object, found ${describeJson(parsed)}`);

  let metadata: Record<string, string> | null = null;
  const tensors: SafetensorsTensorEntry[] = [];
  for (const name of Object.keys(parsed)) {
    const value = parsed[name];
    if (name === '__metadata__') {
      // serde reads `Option<HashMap<String, String>>`: null means absent.
      if (value === null) continue;
      if (!isPlainObject(value)) throw invalid(`__metadata__ must be an object of strings, found ${describeJson(value)}`);
      const entries: Record<string, string> = Object.create(null) as Record<string, string>;
      for (const key of Object.keys(value)) {
        const item = value[key];
        if (typeof item !== 'string') throw invalid(`__metadata__ value "${key}" must be a string, found ${describeJson(item)}`);
        entries[key] = item;
      }
      metadata = entries;
      continue;
    }
    tensors.push(parseTensorEntry(name, value, invalid));
  }

  tensors.sort(compareByOffsets);

  // Rules 6 to 9, tensor by tensor in offset order, as the reference's `validate`.
  let expectedBegin = 0;
  for (const tensor of tensors) {
    if (tensor.begin !== expectedBegin || tensor.end < tensor.begin) {
      const problem =
        tensor.end < tensor.begin
          ? `its data ends (byte ${tensor.end}) before it begins (byte ${tensor.begin})`
          : tensor.begin > expectedBegin
            ? `its data begins at byte ${tensor.begin} of the data buffer, leaving a gap after byte ${expectedBegin}`
            : `its data begins at byte ${tensor.begin} of the data buffer, overlapping data that ends at byte ${expectedBegin}`;
      throw new StudioError('InvalidOffset', `${file}: tensor "${tensor.name}" has invalid data offsets: ${problem}`, {
        path,
        detail: { tensor: tensor.name },
      });
    }
    expectedBegin = tensor.end;

    const bits = DTYPE_BITS[tensor.dtype];
    const elements = elementCount(tensor.shape);
    if (elements === null || elements * bits > Number.MAX_SAFE_INTEGER) {
      throw new StudioError(
        'ValidationOverflow',
        `${file}: tensor "${tensor.name}" claims shape [${tensor.shape.join(', ')}], too many elements to address`,
        { path, detail: { tensor: tensor.name } },
      );
    }
    const totalBits = elements * bits;
    if (totalBits % 8 !== 0) {
      throw new StudioError(
        'MisalignedSlice',
        `${file}: tensor "${tensor.name}" has ${elements} ${tensor.dtype} elements (${totalBits} bits), not a whole number of bytes`,
        { path, detail: { tensor: tensor.name } },
      );
    }
    const bytes = totalBits / 8;
    if (tensor.end - tensor.begin !== bytes) {
      throw new StudioError(
        'TensorInvalidInfo',
        `${file}: tensor "${tensor.name}" spans ${tensor.end - tensor.begin} bytes, but ${tensor.dtype} [${tensor.shape.join(', ')}] needs ${bytes}`,
        { path, detail: { tensor: tensor.name } },
      );
    }
  }

  // Rule 10: the data buffer ends exactly at the end of the file.
  if (expectedBegin + dataStart !== fileSize) {
    const last = tensors.at(-1);
    const problem =
      expectedBegin + dataStart > fileSize
        ? `the file is truncated: the header describes ${expectedBegin + dataStart} bytes but the file has ${fileSize}`
        : `the file has ${fileSize - expectedBegin - dataStart} bytes after the last tensor's data`;
    throw new StudioError(
      'MetadataIncompleteBuffer',
      `${file}: ${problem}${last === undefined ? '' : ` (last tensor "${last.name}")`}`,
      { path, detail: last === undefined ? undefined : { tensor: last.name } },
    );
  }

  return { path, fileSize, headerLength, dataStart, metadata, tensors };
}

/**
 * Reads and validates the header of a safetensors file: opens it read-only, checks the length
 * prefix (rules 1 to 3) before allocating anything, then reads exactly the N header bytes. Never
 * reads tensor data.
 */
export async function readSafetensorsHeader(filePath: string): Promise<SafetensorsHeader> {
  const file = baseName(filePath);
  let descriptor: number;
  try {
    descriptor = await openReadOnly(filePath);
  } catch (error) {
    throw fileSystemError(error, filePath, 'safetensors file');
  }
  try {
    let fileSize: number;
    let mtimeMs: number;
    const prefix = Buffer.alloc(LENGTH_PREFIX_BYTES);
    let regular: boolean;
    try {
      const stats = await fileStats(descriptor);
      if (stats.isDirectory()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR' });
      regular = stats.isFile();
      fileSize = stats.size;
      mtimeMs = stats.mtimeMs;
      if (regular && fileSize >= LENGTH_PREFIX_BYTES) await readExactly(descriptor, prefix, 0);
    } catch (error) {
      throw fileSystemError(error, filePath, 'safetensors file');
    }
    // A pipe or a device has no size to check the header against, and a pipe may never end.
    if (!regular) {
      throw new StudioError('NotACheckpoint', `${file}: not a regular file (a pipe, socket or device), so it is not read as safetensors`, {
        path: filePath,
      });
    }
    // Rule 1.
    if (fileSize < LENGTH_PREFIX_BYTES) {
      throw new StudioError(
        'HeaderTooSmall',
        `${file}: the file is ${fileSize} bytes long, too short for the 8-byte header length of a safetensors file`,
        { path: filePath },
      );
    }
    // Rule 2: compare as BigInt, a u64 may exceed what a Number holds exactly.
    const length = prefix.readBigUInt64LE(0);
    if (length > BigInt(MAX_HEADER_LENGTH)) {
      throw new StudioError(
        'HeaderTooLarge',
        `${file}: the header claims ${length} bytes, more than the ${MAX_HEADER_LENGTH}-byte limit of safetensors`,
        { path: filePath },
      );
    }
    const headerLength = Number(length);
    // Rule 3.
    if (LENGTH_PREFIX_BYTES + headerLength > fileSize) {
      throw new StudioError(
        'InvalidHeaderLength',
        `${file}: the header claims ${headerLength} bytes, but the file has only ${fileSize - LENGTH_PREFIX_BYTES} after the length`,
        { path: filePath },
      );
    }
    let headerBytes: Buffer;
    try {
      if (headerLength > MAX_PARSED_HEADER_BYTES) {
        headerBytes = await compactHeader(descriptor, headerLength, filePath);
      } else {
        headerBytes = Buffer.allocUnsafe(headerLength);
        await readExactly(descriptor, headerBytes, LENGTH_PREFIX_BYTES);
      }
    } catch (error) {
      throw isStudioError(error) ? error : fileSystemError(error, filePath, 'safetensors file');
    }
    return { ...parseSafetensorsHeader(headerBytes, fileSize, filePath, headerLength), mtimeMs };
  } finally {
    await closeDescriptor(descriptor);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isJsonWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** Bytes next to which whitespace means nothing: `{}[],:` and the quote. */
function isJsonPunctuation(byte: number): boolean {
  return byte === 0x7b || byte === 0x7d || byte === 0x5b || byte === 0x5d || byte === 0x2c || byte === 0x3a || byte === QUOTE;
}

/**
 * The header's JSON without its whitespace outside strings, read in chunks from a header longer
 * than MAX_PARSED_HEADER_BYTES (padding may make a small header long); refused with HeaderTooLarge
 * once what remains passes that. Memory stays at the limit plus one chunk whatever N is, and no
 * object is built. A run of whitespace between two bytes that are not punctuation stays one
 * space, so `[1 2]` does not become the valid `[12]`; elsewhere dropping it changes nothing JSON
 * means, and UTF-8 is unaffected (the dropped bytes are ASCII).
 */
async function compactHeader(descriptor: number, headerLength: number, filePath: string): Promise<Buffer> {
  const compacted = Buffer.allocUnsafe(MAX_PARSED_HEADER_BYTES);
  const chunk = Buffer.allocUnsafe(HEADER_SCAN_CHUNK_BYTES);
  let length = 0;
  let inString = false;
  let escaped = false;
  let skippedSpace = false;
  const tooLarge = (): StudioError =>
    new StudioError(
      'HeaderTooLarge',
      `${baseName(filePath)}: the header holds more than ${MAX_PARSED_HEADER_BYTES} bytes of JSON (whitespace aside); DUS Studio reads no more, far beyond any real checkpoint's header`,
      { path: filePath },
    );
  for (let position = 0; position < headerLength; position += HEADER_SCAN_CHUNK_BYTES) {
    const view = chunk.subarray(0, Math.min(HEADER_SCAN_CHUNK_BYTES, headerLength - position));
    await readExactly(descriptor, view, LENGTH_PREFIX_BYTES + position);
    for (let index = 0; index < view.length; index += 1) {
      const byte = view[index] as number;
      if (inString) {
        if (escaped) escaped = false;
        else if (byte === BACKSLASH) escaped = true;
        else if (byte === QUOTE) inString = false;
      } else if (isJsonWhitespace(byte)) {
        skippedSpace = true;
        continue;
      } else {
        if (skippedSpace && length > 0 && !isJsonPunctuation(byte) && !isJsonPunctuation(compacted[length - 1] as number)) {
          if (length === MAX_PARSED_HEADER_BYTES) throw tooLarge();
          compacted[length++] = 0x20;
        }
        skippedSpace = false;
        if (byte === QUOTE) inString = true;
      }
      if (length === MAX_PARSED_HEADER_BYTES) throw tooLarge();
      compacted[length++] = byte;
    }
  }
  return compacted.subarray(0, length);
}

function baseName(filePath: string): string {
  return path.basename(filePath) || filePath;
}

// The callback API, not fs/promises' FileHandle: opening a 191-shard checkpoint costs about 1,000
// small file operations, and each FileHandle operation is several times slower than the callback.
// Non-blocking, so a named pipe in place of a shard opens at once (and is refused) instead of
// waiting for a writer.
function openReadOnly(filePath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.open(filePath, READ_ONLY_NONBLOCKING, (error, descriptor) => (error ? reject(error) : resolve(descriptor)));
  });
}

function fileStats(descriptor: number): Promise<fs.Stats> {
  return new Promise((resolve, reject) => {
    fs.fstat(descriptor, (error, stats) => (error ? reject(error) : resolve(stats)));
  });
}

function closeDescriptor(descriptor: number): Promise<void> {
  return new Promise((resolve) => {
    // A failed close of a read-only descriptor loses nothing; the header is already read.
    fs.close(descriptor, () => resolve());
  });
}

function readAt(descriptor: number, target: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(descriptor, target, offset, length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead)));
  });
}

async function readExactly(descriptor: number, target: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const bytesRead = await readAt(descriptor, target, done, target.byteLength - done, position + done);
    // The file shrank between stat and read: report it as the truncation it is.
    if (bytesRead === 0) {
      throw Object.assign(new Error(`unexpected end of file at byte ${position + done}`), { code: 'EIO' });
    }
    done += bytesRead;
  }
}

function parseTensorEntry(
  name: string,
  value: unknown,
  invalid: (detail: string) => StudioError,
): SafetensorsTensorEntry {
  const where = `tensor "${name}"`;
  if (!isPlainObject(value)) throw invalid(`${where} must be an object with dtype, shape and data_offsets, found ${describeJson(value)}`);
  for (const key of Object.keys(value)) {
    if (!TENSOR_FIELDS.has(key)) throw invalid(`${where} has an unknown field "${key}"`);
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (dtype === undefined) throw invalid(`${where} has no dtype`);
  if (!isDtype(dtype)) throw invalid(`${where} has an unknown dtype ${describeJson(dtype)}`);
  if (!Array.isArray(shape)) throw invalid(`${where} must have a shape array, found ${describeJson(shape)}`);
  for (const dim of shape) {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) {
      throw invalid(`${where} has a dimension ${describeJson(dim)}; dimensions are non-negative integers`);
    }
  }
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw invalid(`${where} must have data_offsets [begin, end], found ${describeJson(offsets)}`);
  }
  const [begin, end] = offsets as unknown[];
  for (const offset of [begin, end]) {
    // Offsets beyond 2^53 are not exact in JavaScript, but every offset past the file's end fails
    // the offset or buffer-length rule anyway, as it does in the reference.
    if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset > USIZE_MAX) {
      throw invalid(`${where} has a data offset ${describeJson(offset)}; offsets are non-negative integers`);
    }
  }
  return { name, dtype, shape: shape as number[], begin: begin as number, end: end as number };
}

function compareByOffsets(left: SafetensorsTensorEntry, right: SafetensorsTensorEntry): number {
  if (left.begin !== right.begin) return left.begin - right.begin;
  if (left.end !== right.end) return left.end - right.end;
  return left.name < right.name ? -1 : left.name > right.name ? 1 : 0;
}

/** Product of the dims, or null when an intermediate product passes 2^53 (checked step by step, as the reference's `checked_mul` fold). */
function elementCount(shape: readonly number[]): number | null {
  let elements = 1;
  for (const dim of shape) {
    elements *= dim;
    if (elements > Number.MAX_SAFE_INTEGER) return null;
  }
  return elements;
}

/** Element count of a shape (1 for a scalar); callers pass shapes a header already validated. */
export function shapeElements(shape: readonly number[]): number {
  let elements = 1;
  for (const dim of shape) elements *= dim;
  return elements;
}
