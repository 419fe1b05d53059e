/**
 * Writes a converted model as one GGUF file: the header laid out by the GGUF format's own writer
 * (formats/gguf-writer.ts), then each tensor's parts (ranges of source tensors, transformed) and its
 * padding, streamed through one bounded buffer.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { StudioError } from '../../api/errors.js';
import { layoutGguf } from '../formats/gguf-writer.js';
import { fileSystemError } from '../formats/file-errors.js';
import { transformedChunks } from '../export/tensor-transform.js';
import type { GgufConversion } from './llama-gguf-conversion.js';

const WRITE_BUFFER_BYTES = 4 * 1024 * 1024;

export interface GgufWriteOptions {
  signal?: AbortSignal;
  onProgress?: (progress: { doneBytes: number; totalBytes: number }) => void;
}

/** Writes the conversion to `filePath` (created, or truncated). The caller removes it on failure. */
export async function writeGgufLayout(filePath: string, conversion: GgufConversion, options: GgufWriteOptions = {}): Promise<{ bytes: number }> {
  const layout = layoutGguf(
    conversion.metadata,
    conversion.tensors.map((tensor) => ({ name: tensor.name, type: tensor.type, shape: tensor.dims })),
  );
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
    await append(layout.header);
    for (const [index, tensor] of conversion.tensors.entries()) {
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
      // Each tensor, the last included, is padded to the alignment (gguf-py does the same).
      const next = index + 1 < layout.tensors.length ? (layout.tensors[index + 1]?.offset ?? 0) : layout.dataBytes;
      const padding = next - (layout.tensors[index]?.offset ?? 0) - tensor.bytes;
      if (padding > 0) await append(new Uint8Array(padding));
      doneBytes += tensor.bytes + Math.max(0, padding);
      options.onProgress?.({ doneBytes, totalBytes: layout.dataBytes });
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
