import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { StudioError } from '../../api/errors.js';
import { DTYPE_BITS, type Dtype, type SafetensorsDtype } from '../../api/types.js';
import type { SafetensorsTensorEntry } from './safetensors.js';

type FileHandle = import('node:fs/promises').FileHandle;

/** Writes all of `data` at the handle's current position; `write` may write less than asked. */
export async function writeAll(handle: FileHandle, data: Uint8Array): Promise<void> {
  let done = 0;
  while (done < data.byteLength) {
    const { bytesWritten } = await handle.write(data, done, data.byteLength - done);
    done += bytesWritten;
  }
}

export interface TensorLayoutInput {
  name: string;
  dtype: Dtype;
  shape: number[];
}

export interface SafetensorsLayout {
  /** 8-byte little-endian N followed by N bytes of JSON, padded with spaces to a multiple of 8. */
  header: Buffer;
  /** In file order; `begin`/`end` relative to the data buffer (which starts at `header.byteLength`). */
  tensors: SafetensorsTensorEntry[];
  /** Length of the data buffer. */
  dataBytes: number;
}

/** True for the dtypes a safetensors header may name (a GGML block type is none of them). */
export function isSafetensorsDtype(dtype: string): dtype is SafetensorsDtype {
  return Object.hasOwn(DTYPE_BITS, dtype);
}

/** Bytes per element used for ordering; sub-byte dtypes (F4, F6) align to 1. */
function alignmentOf(dtype: SafetensorsDtype): number {
  return Math.max(1, Math.floor(DTYPE_BITS[dtype] / 8));
}

function safetensorsBytes(tensor: TensorLayoutInput & { dtype: SafetensorsDtype }): number {
  for (const dim of tensor.shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new StudioError('InvalidHeaderDeserialization', `tensor "${tensor.name}" has an invalid dimension ${String(dim)}`);
    }
  }
  let elements = 1;
  for (const dim of tensor.shape) {
    elements *= dim;
    if (elements > Number.MAX_SAFE_INTEGER) {
      throw new StudioError('ValidationOverflow', `tensor "${tensor.name}" has too many elements to address`);
    }
  }
  const bits = elements * DTYPE_BITS[tensor.dtype];
  if (bits > Number.MAX_SAFE_INTEGER) {
    throw new StudioError('ValidationOverflow', `tensor "${tensor.name}" has too many elements to address`);
  }
  if (bits % 8 !== 0) {
    throw new StudioError('MisalignedSlice', `tensor "${tensor.name}" (${tensor.dtype} [${tensor.shape.join(', ')}]) is not a whole number of bytes`);
  }
  return bits / 8;
}

/**
 * Lays out a safetensors file as the reference writer does: tensors ordered by dtype alignment
 * descending, then by name, so every tensor starts at a multiple of its element size (the data
 * buffer starts at a multiple of 8); `__metadata__` first with `format: "pt"` (transformers refuses
 * other formats); the JSON padded with spaces to a multiple of 8.
 */
export function layoutSafetensors(tensors: TensorLayoutInput[], metadata?: Record<string, string>): SafetensorsLayout {
  const seen = new Set<string>();
  for (const tensor of tensors) {
    if (tensor.name === '__metadata__') {
      throw new StudioError('InvalidHeaderDeserialization', 'a tensor cannot be named "__metadata__"');
    }
    if (seen.has(tensor.name)) throw new StudioError('DuplicateTensor', `tensor "${tensor.name}" is listed twice`);
    seen.add(tensor.name);
  }
  const ordered = tensors
    .map((tensor) => {
      if (!isSafetensorsDtype(tensor.dtype)) {
        throw new StudioError('InvalidHeaderDeserialization', `tensor "${tensor.name}" has dtype ${String(tensor.dtype)}, which safetensors cannot hold`);
      }
      const typed = { ...tensor, dtype: tensor.dtype };
      return { tensor: typed, alignment: alignmentOf(typed.dtype), bytes: safetensorsBytes(typed) };
    })
    .sort((left, right) => {
      if (left.alignment !== right.alignment) return right.alignment - left.alignment;
      return left.tensor.name < right.tensor.name ? -1 : left.tensor.name > right.tensor.name ? 1 : 0;
    });

  const entries: SafetensorsTensorEntry[] = [];
  const json: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const fullMetadata: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (typeof value !== 'string') throw new StudioError('InvalidHeaderDeserialization', `metadata value "${key}" must be a string`);
    fullMetadata[key] = value;
  }
  fullMetadata.format = 'pt';
  json.__metadata__ = fullMetadata;

  let offset = 0;
  for (const { tensor, bytes } of ordered) {
    const entry: SafetensorsTensorEntry = {
      name: tensor.name,
      dtype: tensor.dtype,
      shape: [...tensor.shape],
      begin: offset,
      end: offset + bytes,
    };
    entries.push(entry);
    json[tensor.name] = { dtype: entry.dtype, shape: entry.shape, data_offsets: [entry.begin, entry.end] };
    offset += bytes;
  }

  const text = JSON.stringify(json);
  const textBytes = Buffer.byteLength(text, 'utf8');
  const headerLength = Math.ceil(textBytes / 8) * 8;
  const header = Buffer.alloc(8 + headerLength, 0x20);
  header.writeBigUInt64LE(BigInt(headerLength), 0);
  header.write(text, 8, 'utf8');
  return { header, tensors: entries, dataBytes: offset };
}

/**
 * Writes a whole safetensors file from in-memory tensors: for tests and fixtures, not for
 * checkpoints (the exporter streams). Writes to a temporary name beside `filePath` and renames, so
 * a reader never sees a half-written file.
 */
export async function writeSafetensors(
  filePath: string,
  tensors: Array<TensorLayoutInput & { data: Uint8Array }>,
  metadata?: Record<string, string>,
): Promise<void> {
  const layout = layoutSafetensors(tensors, metadata);
  const dataByName = new Map(tensors.map((tensor) => [tensor.name, tensor.data]));
  for (const entry of layout.tensors) {
    const data = dataByName.get(entry.name);
    if (data === undefined || data.byteLength !== entry.end - entry.begin) {
      throw new StudioError(
        'TensorInvalidInfo',
        `tensor "${entry.name}" has ${data?.byteLength ?? 0} bytes of data, but ${entry.dtype} [${entry.shape.join(', ')}] needs ${entry.end - entry.begin}`,
        { path: filePath },
      );
    }
  }

  const temporary = path.join(path.dirname(filePath), `.${path.basename(filePath)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx');
  try {
    try {
      await writeAll(handle, layout.header);
      for (const entry of layout.tensors) await writeAll(handle, dataByName.get(entry.name) as Uint8Array);
    } finally {
      await handle.close();
    }
    await rename(temporary, filePath);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
