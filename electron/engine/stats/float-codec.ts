/**
 * Float tensor bytes ↔ numbers, in bounded chunks, bit-exact with PyTorch's CPU conversions:
 * F16/BF16/F8 widen to float32 exactly, and narrowing is round-to-nearest-even from float32
 * (torch's `.to()`; a float64 value is first rounded to float32, as torch's double → half/bfloat16
 * casts do). Everything goes through one reusable float32 scratch block, so converting many MB
 * allocates nothing per element.
 */
import { StudioError } from '../../api/errors.js';
import { dtypeBlock } from '../../api/dtypes.js';
import { STATS_DTYPES, type Dtype, type StatsDtype } from '../../api/types.js';

export type EncodeDtype = 'F32' | 'F16' | 'BF16';

/** Elements per scratch block: 64 KiB of float32. */
const BLOCK_ELEMENTS = 16384;
const scratchBuffer = new ArrayBuffer(BLOCK_ELEMENTS * 4);
/** The same block seen as float32 bit patterns and as values. */
const scratchBits = new Uint32Array(scratchBuffer);
const scratchValues = new Float32Array(scratchBuffer);
const scratchHalves = new Uint16Array(BLOCK_ELEMENTS);
const scratchHalfBytes = new Uint8Array(scratchHalves.buffer);

/** Typed-array views are little-endian only on little-endian hosts (every platform Node ships for). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes per element of `dtype`; sub-byte (F4, F6_*) and block-quantised (Q4_K, …) dtypes have none. */
export function bytesPerElement(dtype: Dtype): number {
  const block = dtypeBlock(dtype);
  if (block === null) throw new StudioError('UnsupportedDtype', `unknown dtype ${String(dtype)}`);
  if (block.elements !== 1) {
    throw new StudioError('UnsupportedDtype', `${dtype} packs ${block.elements} elements into ${block.bytes} bytes, so it has no whole number of bytes per element`);
  }
  return block.bytes;
}

/**
 * float32 bit pattern of every IEEE half (sign, NaN payload and subnormals kept exactly), built on
 * first use: 65,536 entries cost every process that loads the engine (an export's too) a few ms.
 */
let halfToFloatBits: Uint32Array | null = null;

function halfTable(): Uint32Array {
  halfToFloatBits ??= buildHalfTable();
  return halfToFloatBits;
}
/** float32 bit pattern of every F8_E4M3 (FN: no Inf, NaN at S.1111.111) byte. */
const E4M3_TO_FLOAT_BITS = buildE4M3Table();

function buildHalfTable(): Uint32Array {
  const table = new Uint32Array(65536);
  for (let half = 0; half < 65536; half += 1) {
    const sign = (half & 0x8000) << 16;
    const exponent = (half >>> 10) & 0x1f;
    const mantissa = half & 0x3ff;
    if (exponent === 0x1f) table[half] = sign | 0x7f800000 | (mantissa << 13);
    else if (exponent !== 0) table[half] = sign | ((exponent + 112) << 23) | (mantissa << 13);
    else if (mantissa === 0) table[half] = sign;
    else {
      // Subnormal m·2^-24: shift the mantissa up to its leading one, lowering the exponent.
      let shifted = mantissa;
      let power = -14;
      while ((shifted & 0x400) === 0) {
        shifted <<= 1;
        power -= 1;
      }
      table[half] = sign | ((power + 127) << 23) | ((shifted & 0x3ff) << 13);
    }
  }
  return table;
}

function buildE4M3Table(): Uint32Array {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte += 1) {
    const sign = (byte & 0x80) << 24;
    const exponent = (byte >>> 3) & 0xf;
    const mantissa = byte & 0x7;
    if ((byte & 0x7f) === 0x7f) table[byte] = sign | 0x7fc00000;
    else if (exponent !== 0) table[byte] = sign | ((exponent + 120) << 23) | (mantissa << 20);
    else if (mantissa === 0) table[byte] = sign;
    else {
      // Subnormal m·2^-9.
      let shifted = mantissa;
      let power = -6;
      while ((shifted & 0x8) === 0) {
        shifted <<= 1;
        power -= 1;
      }
      table[byte] = sign | ((power + 127) << 23) | ((shifted & 0x7) << 20);
    }
  }
  return table;
}

/** bfloat16 bits of the float32 with bits `bits`, round-to-nearest-even; NaN → 0x7FC0 as c10 does. */
export function bfloat16FromFloatBits(bits: number): number {
  const unsigned = bits >>> 0;
  if ((unsigned & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  // unsigned + 0x7FFF + lsb stays below 2^32 for every non-NaN pattern, so >>> sees it whole.
  return (unsigned + 0x7fff + ((unsigned >>> 16) & 1)) >>> 16;
}

/** IEEE half bits of the float32 with bits `bits`, round-to-nearest-even; overflow → ±Inf, NaN → sign|0x7E00 as c10. */
export function halfFromFloatBits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const magnitude = bits & 0x7fffffff;
  if (magnitude > 0x7f800000) return sign | 0x7e00;
  // 65520 (0x477FF000) is the tie between 65504 and 2^16; it and everything above round to Inf.
  if (magnitude >= 0x477ff000) return sign | 0x7c00;
  if (magnitude >= 0x38800000) {
    // Normal half: rebias the exponent (127 → 15) and round away the low 13 mantissa bits.
    const rebased = magnitude - 0x38000000;
    return sign | ((rebased + 0x0fff + ((rebased >>> 13) & 1)) >>> 13);
  }
  // At most 2^-25, half the smallest subnormal: ties to even, which is zero.
  if (magnitude <= 0x33000000) return sign;
  // Subnormal half: a multiple of 2^-24.
  const exponent = magnitude >>> 23;
  const significand = (magnitude & 0x7fffff) | 0x800000;
  const shift = 126 - exponent;
  let quotient = significand >>> shift;
  const remainder = significand & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (remainder > halfway || (remainder === halfway && (quotient & 1) === 1)) quotient += 1;
  return sign | quotient;
}

function elementCount(bytes: Uint8Array, dtype: Dtype): number {
  const size = bytesPerElement(dtype);
  if (bytes.length % size !== 0) {
    throw new StudioError('TensorInvalidInfo', `${bytes.length} bytes are not a whole number of ${dtype} elements`);
  }
  return bytes.length / size;
}

function assertStatsDtype(dtype: string): asserts dtype is StatsDtype {
  if (!(STATS_DTYPES as readonly string[]).includes(dtype)) {
    throw new StudioError('UnsupportedDtype', `${dtype} tensors cannot be read as floating-point numbers`);
  }
}

function assertEncodeDtype(dtype: string): asserts dtype is EncodeDtype {
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') {
    throw new StudioError('UnsupportedDtype', `cannot write ${dtype} tensors (only F32, F16 and BF16)`);
  }
}

/** A little-endian Uint16Array over `bytes` (a copy when unaligned or on a big-endian host). */
function halfWords(bytes: Uint8Array): Uint16Array {
  const count = bytes.length >>> 1;
  if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, count);
  const words = new Uint16Array(count);
  for (let index = 0; index < count; index += 1) words[index] = bytes[2 * index]! | (bytes[2 * index + 1]! << 8);
  return words;
}

/** A little-endian Uint32Array over `bytes` (a copy when unaligned or on a big-endian host). */
function fullWords(bytes: Uint8Array): Uint32Array {
  const count = bytes.length >>> 2;
  if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, count);
  const words = new Uint32Array(count);
  for (let index = 0; index < count; index += 1) {
    const at = 4 * index;
    words[index] = (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
  }
  return words;
}

/** Writes float32 bit patterns of elements [first, first + count) into `into`. */
type FloatBitsReader = (first: number, count: number, into: Uint32Array) => void;

function floatBitsReader(bytes: Uint8Array, dtype: StatsDtype): FloatBitsReader {
  switch (dtype) {
    case 'F32': {
      const words = fullWords(bytes);
      return (first, count, into) => into.set(words.subarray(first, first + count));
    }
    case 'BF16': {
      const words = halfWords(bytes);
      return (first, count, into) => {
        for (let index = 0; index < count; index += 1) into[index] = words[first + index]! << 16;
      };
    }
    case 'F16': {
      const words = halfWords(bytes);
      const table = halfTable();
      return (first, count, into) => {
        for (let index = 0; index < count; index += 1) into[index] = table[words[first + index]!]!;
      };
    }
    case 'F8_E5M2': {
      // E5M2 is the upper byte of an IEEE half.
      const table = halfTable();
      return (first, count, into) => {
        for (let index = 0; index < count; index += 1) into[index] = table[bytes[first + index]! << 8]!;
      };
    }
    case 'F8_E4M3':
      return (first, count, into) => {
        for (let index = 0; index < count; index += 1) into[index] = E4M3_TO_FLOAT_BITS[bytes[first + index]!]!;
      };
  }
}

/** Writes `count` float32 bit patterns from `bits` as `dtype` into `out` at byte `byteOffset`. */
function writeFloatBits(bits: Uint32Array, count: number, dtype: EncodeDtype, out: Uint8Array, byteOffset: number): void {
  if (dtype === 'F32') {
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(bits.buffer, bits.byteOffset, count * 4), byteOffset);
      return;
    }
    for (let index = 0; index < count; index += 1) {
      const word = bits[index]!;
      const at = byteOffset + 4 * index;
      out[at] = word & 0xff;
      out[at + 1] = (word >>> 8) & 0xff;
      out[at + 2] = (word >>> 16) & 0xff;
      out[at + 3] = word >>> 24;
    }
    return;
  }
  if (dtype === 'BF16') {
    for (let index = 0; index < count; index += 1) scratchHalves[index] = bfloat16FromFloatBits(bits[index]!);
  } else {
    for (let index = 0; index < count; index += 1) scratchHalves[index] = halfFromFloatBits(bits[index]!);
  }
  if (LITTLE_ENDIAN) {
    out.set(scratchHalfBytes.subarray(0, count * 2), byteOffset);
    return;
  }
  for (let index = 0; index < count; index += 1) {
    const half = scratchHalves[index]!;
    out[byteOffset + 2 * index] = half & 0xff;
    out[byteOffset + 2 * index + 1] = half >>> 8;
  }
}

/** The values of little-endian `bytes` of `dtype` (NaN and ±Inf included as such). */
export function decodeToFloat64(bytes: Uint8Array, dtype: StatsDtype): Float64Array {
  assertStatsDtype(dtype);
  const count = elementCount(bytes, dtype);
  const values = new Float64Array(count);
  const read = floatBitsReader(bytes, dtype);
  for (let first = 0; first < count; first += BLOCK_ELEMENTS) {
    const length = Math.min(BLOCK_ELEMENTS, count - first);
    read(first, length, scratchBits);
    values.set(scratchValues.subarray(0, length), first);
  }
  return values;
}

/**
 * `values` as little-endian `dtype` bytes, written into `out` when given (it must hold them; the
 * returned array is a view of exactly the encoded bytes). Rounding is to nearest, ties to even;
 * NaN stays NaN; magnitudes beyond the format's range become ±Inf.
 */
export function encodeFromFloat64(values: ArrayLike<number>, dtype: EncodeDtype, out?: Uint8Array): Uint8Array {
  assertEncodeDtype(dtype);
  const size = bytesPerElement(dtype);
  const byteLength = values.length * size;
  const target = out ?? new Uint8Array(byteLength);
  if (target.length < byteLength) {
    throw new StudioError('Internal', `encoding ${values.length} ${dtype} values needs ${byteLength} bytes, the buffer has ${target.length}`);
  }
  for (let first = 0; first < values.length; first += BLOCK_ELEMENTS) {
    const length = Math.min(BLOCK_ELEMENTS, values.length - first);
    // Storing into a Float32Array rounds to nearest-even float32, torch's first step from float64.
    for (let index = 0; index < length; index += 1) scratchValues[index] = values[first + index]!;
    writeFloatBits(scratchBits, length, dtype, target, first * size);
  }
  return target.length === byteLength ? target : target.subarray(0, byteLength);
}

/**
 * What mergekit's `scale` does to a tensor of `dtype`: every element times `factor`, multiplied
 * in float32 (torch's opmath for half, bfloat16 and float) and rounded back to `dtype`. A factor
 * of 0 gives +0 or −0 by the element's sign (and NaN for NaN or ±Inf), as `0 * x` does in torch.
 */
export function scaleTensorBytes(bytes: Uint8Array, dtype: EncodeDtype, factor: number): Uint8Array {
  assertEncodeDtype(dtype);
  const count = elementCount(bytes, dtype);
  const out = new Uint8Array(bytes.length);
  const read = floatBitsReader(bytes, dtype);
  const floatFactor = Math.fround(factor);
  const size = bytesPerElement(dtype);
  for (let first = 0; first < count; first += BLOCK_ELEMENTS) {
    const length = Math.min(BLOCK_ELEMENTS, count - first);
    read(first, length, scratchBits);
    // The product of two float32 values is exact in float64, so this is one float32 rounding.
    for (let index = 0; index < length; index += 1) scratchValues[index] = scratchValues[index]! * floatFactor;
    writeFloatBits(scratchBits, length, dtype, out, first * size);
  }
  return out;
}

/** A tensor's bytes converted from `from` to `to` (widening exact, narrowing round-to-nearest-even). */
export function convertTensorBytes(bytes: Uint8Array, from: StatsDtype, to: EncodeDtype): Uint8Array {
  assertStatsDtype(from);
  assertEncodeDtype(to);
  const count = elementCount(bytes, from);
  if (from === to) return bytes.slice();
  const out = new Uint8Array(count * bytesPerElement(to));
  const read = floatBitsReader(bytes, from);
  const size = bytesPerElement(to);
  for (let first = 0; first < count; first += BLOCK_ELEMENTS) {
    const length = Math.min(BLOCK_ELEMENTS, count - first);
    read(first, length, scratchBits);
    writeFloatBits(scratchBits, length, to, out, first * size);
  }
  return out;
}

/** Elements converted per scratch block; tests use it to cross a block boundary. */
export const CODEC_BLOCK_ELEMENTS = BLOCK_ELEMENTS;
