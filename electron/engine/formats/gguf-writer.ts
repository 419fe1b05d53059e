import { StudioError } from '../../api/errors.js';
import { GGML_TYPES, tensorBytes, type GgmlTypeName } from '../../api/dtypes.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_VALUE_TYPES, ggufArrayLength, ggufEncodedItems, padTo, type GgufScalar, type GgufScalarType, type GgufValue } from './gguf.js';

export interface GgufTensorLayoutInput {
  name: string;
  type: GgmlTypeName;
  /** ggml order: fastest-varying first. */
  shape: number[];
}

export interface GgufLayout {
  /** Magic to the end of the tensor infos, zero-padded to the alignment: the data section starts at `header.byteLength`. */
  header: Buffer;
  /** Per tensor, in the order given: offset relative to the data section, and bytes. */
  tensors: Array<{ name: string; offset: number; bytes: number }>;
  /** Data section length, the last tensor padded too (gguf-py pads every tensor, the last included). */
  dataBytes: number;
  alignment: number;
}

const encoder = new TextEncoder();

/** Growable little-endian byte sink. */
class ByteSink {
  private buffer = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.byteLength) return;
    const next = Buffer.alloc(Math.max(this.buffer.byteLength * 2, this.length + bytes));
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }

  u8(value: number): void {
    this.reserve(1);
    this.buffer.writeUInt8(value, this.length);
    this.length += 1;
  }

  u32(value: number): void {
    this.reserve(4);
    this.buffer.writeUInt32LE(value, this.length);
    this.length += 4;
  }

  i32(value: number): void {
    this.reserve(4);
    this.buffer.writeInt32LE(value, this.length);
    this.length += 4;
  }

  u64(value: number | bigint): void {
    this.reserve(8);
    this.buffer.writeBigUInt64LE(BigInt(value), this.length);
    this.length += 8;
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.byteLength);
    this.buffer.set(data, this.length);
    this.length += data.byteLength;
  }

  string(text: string): void {
    const data = encoder.encode(text);
    this.u64(data.byteLength);
    this.bytes(data);
  }

  scalar(type: GgufScalarType, value: GgufScalar): void {
    const size = { UINT8: 1, INT8: 1, UINT16: 2, INT16: 2, UINT32: 4, INT32: 4, FLOAT32: 4, BOOL: 1, UINT64: 8, INT64: 8, FLOAT64: 8 } as const;
    if (type === 'STRING') {
      this.string(String(value));
      return;
    }
    this.reserve(size[type]);
    const at = this.length;
    const number = typeof value === 'bigint' ? value : Number(value);
    switch (type) {
      case 'UINT8':
        this.buffer.writeUInt8(Number(number), at);
        break;
      case 'INT8':
        this.buffer.writeInt8(Number(number), at);
        break;
      case 'UINT16':
        this.buffer.writeUInt16LE(Number(number), at);
        break;
      case 'INT16':
        this.buffer.writeInt16LE(Number(number), at);
        break;
      case 'UINT32':
        this.buffer.writeUInt32LE(Number(number), at);
        break;
      case 'INT32':
        this.buffer.writeInt32LE(Number(number), at);
        break;
      case 'FLOAT32':
        this.buffer.writeFloatLE(Number(number), at);
        break;
      case 'FLOAT64':
        this.buffer.writeDoubleLE(Number(number), at);
        break;
      case 'BOOL':
        this.buffer.writeUInt8(value === true ? 1 : 0, at);
        break;
      case 'UINT64':
        this.buffer.writeBigUInt64LE(BigInt(number), at);
        break;
      case 'INT64':
        this.buffer.writeBigInt64LE(BigInt(number), at);
        break;
    }
    this.length += size[type];
  }

  take(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

/**
 * Lays out a GGUF v3 file as gguf.cpp reads it: the key/values in the order given, the tensor infos
 * in the order given with offsets exactly contiguous after padding each tensor to the alignment
 * (`general.alignment` when the metadata sets it, else 32), the header zero-padded so the data
 * section starts aligned.
 */
export function layoutGguf(metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensorLayoutInput[]): GgufLayout {
  const alignmentValue = metadata.get('general.alignment');
  const alignment = alignmentValue !== undefined && alignmentValue.type === 'UINT32' ? Number(alignmentValue.value) : GGUF_DEFAULT_ALIGNMENT;
  const sink = new ByteSink();
  sink.bytes(encoder.encode('GGUF'));
  sink.u32(3);
  sink.u64(tensors.length);
  sink.u64(metadata.size);
  for (const [key, value] of metadata) {
    sink.string(key);
    sink.i32(GGUF_VALUE_TYPES.indexOf(value.type));
    if (value.type === 'ARRAY') {
      sink.i32(GGUF_VALUE_TYPES.indexOf(value.itemType));
      sink.u64(ggufArrayLength(value));
      // An array read from a file goes back byte for byte (and without making its strings).
      const encoded = ggufEncodedItems(value);
      if (encoded !== null) sink.bytes(encoded);
      else for (const item of value.values) sink.scalar(value.itemType, item);
    } else {
      sink.scalar(value.type, value.value);
    }
  }
  const placed: GgufLayout['tensors'] = [];
  const names = new Set<string>();
  let offset = 0;
  for (const tensor of tensors) {
    if (names.has(tensor.name)) throw new StudioError('DuplicateTensor', `tensor "${tensor.name}" is listed twice`);
    names.add(tensor.name);
    const elements = tensor.shape.reduce((product, dim) => product * dim, 1);
    const bytes = tensorBytes(tensor.type, elements);
    if (bytes === null || (tensor.shape[0] ?? 0) % GGML_TYPES[tensor.type].blockElements !== 0) {
      throw new StudioError('GgufInvalidTensorInfo', `tensor "${tensor.name}" (${tensor.type} [${tensor.shape.join(', ')}]) is not a whole number of ${tensor.type} blocks per row`);
    }
    sink.string(tensor.name);
    sink.u32(tensor.shape.length);
    for (const dim of tensor.shape) sink.u64(dim);
    sink.i32(GGML_TYPES[tensor.type].id);
    sink.u64(offset);
    placed.push({ name: tensor.name, offset, bytes });
    offset += padTo(bytes, alignment);
  }
  const unpadded = sink.take();
  const header = Buffer.alloc(padTo(unpadded.byteLength, alignment));
  unpadded.copy(header);
  return { header, tensors: placed, dataBytes: offset, alignment };
}

/** A whole GGUF file in memory (tests, fixtures, the fuzzer); exports stream through layoutGguf. */
export function ggufFileBytes(metadata: ReadonlyMap<string, GgufValue>, tensors: ReadonlyArray<GgufTensorLayoutInput & { data: Uint8Array }>): Buffer {
  const layout = layoutGguf(metadata, tensors);
  const file = Buffer.alloc(layout.header.byteLength + layout.dataBytes);
  layout.header.copy(file);
  tensors.forEach((tensor, index) => {
    const placed = layout.tensors[index] as GgufLayout['tensors'][number];
    if (tensor.data.byteLength !== placed.bytes) {
      throw new StudioError('TensorInvalidInfo', `tensor "${tensor.name}" has ${tensor.data.byteLength} bytes of data, but ${tensor.type} [${tensor.shape.join(', ')}] needs ${placed.bytes}`);
    }
    file.set(tensor.data, layout.header.byteLength + placed.offset);
  });
  return file;
}
