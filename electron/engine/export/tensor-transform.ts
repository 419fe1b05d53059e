import type { FileHandle } from 'node:fs/promises';
import { StudioError } from '../../api/errors.js';
import { bytesPerElement, convertTensorBytes, scaleTensorBytes } from '../stats/float-codec.js';
import { isTransformableDtype, type OutputTensor } from './output-tensors.js';

/** Largest source chunk read at once for a scaled or converted tensor: memory stays bounded whatever the tensor's size. */
export const TRANSFORM_CHUNK_BYTES = 4 * 1024 * 1024;

/** One chunk of an output tensor's bytes, `offset` bytes after the tensor's first byte. */
export interface TransformedChunk {
  offset: number;
  bytes: Uint8Array;
}

/** True when the tensor's output bytes are its source bytes (a plain copy). */
export function isPlainCopy(tensor: OutputTensor): boolean {
  return tensor.scale === 1 && tensor.convertTo === undefined;
}

/**
 * The output bytes of one chunk of source elements. As mergekit does, the tensor is first cast to
 * the output dtype, then scaled in it (LLaMA-Pro's factors 0 and 1 are exact either way).
 */
export function transformSourceBytes(tensor: OutputTensor, sourceBytes: Uint8Array): Uint8Array {
  const { dtype, source } = tensor;
  if (!isTransformableDtype(source.dtype) || !isTransformableDtype(dtype)) {
    throw new StudioError('Internal', `${tensor.name}: cannot transform ${source.dtype} into ${dtype}; please report this`);
  }
  let bytes = sourceBytes;
  if (tensor.convertTo !== undefined) bytes = convertTensorBytes(bytes, source.dtype, tensor.convertTo);
  if (tensor.scale !== 1) bytes = scaleTensorBytes(bytes, dtype, tensor.scale);
  return bytes;
}

/** Reads exactly `length` bytes at `position`, or fails with SourceChanged when the file ends early. */
async function readExactly(handle: FileHandle, buffer: Uint8Array, length: number, position: number, file: string): Promise<Uint8Array> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new StudioError('SourceChanged', `${file} ended before the tensor data at offset ${position + done}; the file changed since it was opened`, {
        path: file,
      });
    }
    done += bytesRead;
  }
  return buffer.subarray(0, length);
}

/**
 * Streams a scaled or converted tensor's output bytes in chunks of at most `TRANSFORM_CHUNK_BYTES`
 * source bytes (whole elements), read from `source` (an open handle on `tensor.source.file`).
 */
export async function* transformedChunks(tensor: OutputTensor, source: FileHandle): AsyncGenerator<TransformedChunk> {
  if (tensor.scale === 0 && !isTransformableDtype(tensor.source.dtype)) {
    yield* zeroChunks(tensor);
    return;
  }
  const sourceElementBytes = bytesPerElement(tensor.source.dtype);
  const outputElementBytes = bytesPerElement(tensor.dtype);
  const elementsPerChunk = Math.max(1, Math.floor(TRANSFORM_CHUNK_BYTES / Math.max(sourceElementBytes, outputElementBytes)));
  const chunkBytes = elementsPerChunk * sourceElementBytes;
  const buffer = new Uint8Array(Math.min(chunkBytes, tensor.source.bytes));
  let outputOffset = 0;
  for (let done = 0; done < tensor.source.bytes; done += chunkBytes) {
    const length = Math.min(chunkBytes, tensor.source.bytes - done);
    const sourceBytes = await readExactly(source, buffer, length, tensor.source.offset + done, tensor.source.file);
    const bytes = transformSourceBytes(tensor, sourceBytes);
    yield { offset: outputOffset, bytes };
    outputOffset += bytes.byteLength;
  }
}

/**
 * A quantised tensor scaled by 0: zero blocks of its type (all-zero bytes, exactly 0 in the types
 * ggml-zero.ts lists; planOutputTensors refuses the others), nothing read from the source.
 */
function* zeroChunks(tensor: OutputTensor): Generator<TransformedChunk> {
  const zeros = new Uint8Array(Math.min(TRANSFORM_CHUNK_BYTES, tensor.bytes));
  for (let offset = 0; offset < tensor.bytes; offset += zeros.byteLength) {
    yield { offset, bytes: zeros.subarray(0, Math.min(zeros.byteLength, tensor.bytes - offset)) };
  }
}
