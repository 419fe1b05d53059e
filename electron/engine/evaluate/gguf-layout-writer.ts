/**
 * Writes a GGUF (version 3, little-endian) from a layout whose tensors are ranges of source tensors:
 * header, metadata, tensor infos, then each tensor's data at offsets aligned to 32 bytes (gguf.cpp's
 * default `general.alignment`). Streams through one bounded buffer.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { StudioError } from '../../api/errors.js';
import { fileSystemError } from '../formats/file-errors.js';
import { transformedChunks } from '../export/tensor-transform.js';
import type { GgufLayout, GgufMetadataEntry, GgufValue } from './llama-gguf-conversion.js';

export const GGUF_ALIGNMENT = 32;
const GGUF_VERSION = 3;
/** gguf_type numbers. */
const VALUE_TYPE = { uint32: 4, int32: 5, float32: 6, bool: 7, string: 8, array: 9 } as const;
/** ggml_type numbers of the float types a conversion writes. */
const TENSOR_TYPE = { F32: 0, F16: 1 } as const;
const WRITE_BUFFER_BYTES = 4 * 1024 * 1024;

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;

  bytes(value: Uint8Array): void {
    this.chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    this.length += value.byteLength;
  }
  private fixed(size: number, write: (buffer: Buffer) => void): void {
    const buffer = Buffer.alloc(size);
    write(buffer);
    this.bytes(buffer);
  }
  u32(value: number): void {
    this.fixed(4, (buffer) => buffer.writeUInt32LE(value));
  }
  i32(value: number): void {
    this.fixed(4, (buffer) => buffer.writeInt32LE(value));
  }
  u64(value: number): void {
    this.fixed(8, (buffer) => buffer.writeBigUInt64LE(BigInt(value)));
  }
  f32(value: number): void {
    this.fixed(4, (buffer) => buffer.writeFloatLE(value));
  }
  string(value: string): void {
    const encoded = Buffer.from(value, 'utf8');
    this.u64(encoded.byteLength);
    this.bytes(encoded);
  }
  pad(alignment: number): void {
    const padding = (alignment - (this.length % alignment)) % alignment;
    if (padding > 0) this.bytes(new Uint8Array(padding));
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

function writeValue(sink: ByteSink, value: GgufValue): void {
  switch (value.type) {
    case 'uint32':
      return sink.u32(value.value);
    case 'int32':
      return sink.i32(value.value);
    case 'float32':
      return sink.f32(value.value);
    case 'bool':
      return sink.bytes(Uint8Array.of(value.value ? 1 : 0));
    case 'string':
      return sink.string(value.value);
    case 'array': {
      sink.u32(VALUE_TYPE[value.itemType]);
      sink.u64(value.value.length);
      for (const item of value.value) writeValue(sink, { type: value.itemType, value: item } as GgufValue);
      return;
    }
  }
}

function alignUp(value: number): number {
  return Math.ceil(value / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;
}

/** The header, metadata and tensor infos, padded so the data section starts aligned. */
export function serializeGgufHeader(metadata: readonly GgufMetadataEntry[], layout: GgufLayout): Buffer {
  const sink = new ByteSink();
  sink.bytes(Buffer.from('GGUF', 'latin1'));
  sink.u32(GGUF_VERSION);
  sink.u64(layout.tensors.length);
  sink.u64(metadata.length);
  for (const entry of metadata) {
    sink.string(entry.key);
    sink.u32(VALUE_TYPE[entry.value.type]);
    writeValue(sink, entry.value);
  }
  let offset = 0;
  for (const tensor of layout.tensors) {
    sink.string(tensor.name);
    sink.u32(tensor.dims.length);
    for (const dim of tensor.dims) sink.u64(dim);
    sink.u32(TENSOR_TYPE[tensor.type]);
    sink.u64(offset);
    offset = alignUp(offset + tensor.bytes);
  }
  sink.pad(GGUF_ALIGNMENT);
  return sink.toBuffer();
}

export interface GgufWriteOptions {
  signal?: AbortSignal;
  onProgress?: (progress: { doneBytes: number; totalBytes: number }) => void;
}

/** Writes the layout to `filePath` (created, or truncated). The caller removes it on failure. */
export async function writeGgufLayout(filePath: string, layout: GgufLayout, options: GgufWriteOptions = {}): Promise<{ bytes: number }> {
  const header = serializeGgufHeader(layout.metadata, layout);
  const totalBytes = layout.tensors.reduce((sum, tensor) => alignUp(sum + tensor.bytes), 0);
  const sources = new Map<string, FileHandle>();
  let target: FileHandle;
  try {
    target = await open(filePath, 'w');
  } catch (error) {
    throw fileSystemError(error, filePath, 'evaluation model');
  }
  const buffer = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  let buffered = 0;
  let position = 0;
  let doneBytes = 0;
  const flush = async (): Promise<void> => {
    let written = 0;
    while (written < buffered) written += (await target.write(buffer, written, buffered - written, position + written)).bytesWritten;
    position += buffered;
    buffered = 0;
  };
  const append = async (bytes: Uint8Array): Promise<void> => {
    let done = 0;
    while (done < bytes.byteLength) {
      const length = Math.min(bytes.byteLength - done, buffer.byteLength - buffered);
      buffer.set(bytes.subarray(done, done + length), buffered);
      buffered += length;
      done += length;
      if (buffered === buffer.byteLength) await flush();
    }
  };
  try {
    await append(header);
    for (const tensor of layout.tensors) {
      for (const part of tensor.parts) {
        if (options.signal?.aborted) throw new StudioError('Cancelled', 'evaluation cancelled');
        let source = sources.get(part.source.file);
        if (source === undefined) {
          source = await open(part.source.file, 'r').catch((error: unknown) => {
            throw fileSystemError(error, part.source.file, 'source shard');
          });
          sources.set(part.source.file, source);
        }
        for await (const chunk of transformedChunks(part, source)) await append(chunk.bytes);
      }
      const padding = alignUp(tensor.bytes) - tensor.bytes;
      if (padding > 0) await append(new Uint8Array(padding));
      doneBytes += tensor.bytes + padding;
      options.onProgress?.({ doneBytes, totalBytes });
    }
    await flush();
    return { bytes: position };
  } catch (error) {
    if (error instanceof StudioError) throw error;
    throw fileSystemError(error, filePath, 'evaluation model');
  } finally {
    await target.close().catch(() => undefined);
    await Promise.all([...sources.values()].map((handle) => handle.close().catch(() => undefined)));
  }
}
