import { describe, expect, it } from 'vitest';
import { isStudioError } from '../../../electron/api/errors.js';
import {
  CODEC_BLOCK_ELEMENTS,
  bfloat16FromFloatBits,
  bytesPerElement,
  convertTensorBytes,
  decodeToFloat64,
  encodeFromFloat64,
  halfFromFloatBits,
  scaleTensorBytes,
} from '../../../electron/engine/stats/float-codec.js';

/** Deterministic 32-bit generator (mulberry32), so failures reproduce. */
function randomWords(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return (mixed ^ (mixed >>> 14)) >>> 0;
  };
}

function halves(...words: number[]): Uint8Array {
  return new Uint8Array(new Uint16Array(words).buffer);
}

function halfWordsOf(bytes: Uint8Array): number[] {
  return Array.from(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2));
}

function floatBits(value: number): number {
  return new Uint32Array(new Float32Array([value]).buffer)[0]!;
}

function floatOfBits(bits: number): number {
  return new Float32Array(new Uint32Array([bits]).buffer)[0]!;
}

/** Value of a finite IEEE half from its fields, written out from the format's definition. */
function halfValue(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  return exponent === 0 ? sign * mantissa * 2 ** -24 : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/**
 * Round-to-nearest-even to bfloat16 by comparing distances to the two neighbours, a route that
 * shares nothing with the codec's bias trick. Above the largest bfloat16 the upper neighbour is
 * 2^128, which IEEE rounding uses in place of infinity.
 */
function bfloat16ByDistance(bits: number): number {
  if ((bits & 0x7f800000) === 0x7f800000) return bits >>> 16; // ±Inf (NaN is not generated)
  const value = floatOfBits(bits);
  const magnitude = Math.abs(value);
  const sign = bits & 0x80000000 ? 0x8000 : 0;
  const lower = (bits & 0x7fffffff) >>> 16;
  const lowerValue = floatOfBits(lower << 16);
  const upperValue = lower === 0x7f7f ? 2 ** 128 : floatOfBits((lower + 1) << 16);
  const below = magnitude - lowerValue;
  const above = upperValue - magnitude;
  const chosen = below < above ? lower : below > above ? lower + 1 : lower % 2 === 0 ? lower : lower + 1;
  return sign | chosen;
}

describe('bytesPerElement', () => {
  it('gives the byte size of whole-byte dtypes', () => {
    expect(bytesPerElement('F32')).toBe(4);
    expect(bytesPerElement('BF16')).toBe(2);
    expect(bytesPerElement('F8_E4M3')).toBe(1);
    expect(bytesPerElement('I64')).toBe(8);
    expect(bytesPerElement('BOOL')).toBe(1);
  });

  it('refuses the sub-byte dtypes F4 and F6 with UnsupportedDtype', () => {
    for (const dtype of ['F4', 'F6_E2M3', 'F6_E3M2'] as const) {
      expect(() => bytesPerElement(dtype)).toThrowError(expect.objectContaining({ code: 'UnsupportedDtype' }));
    }
  });
});

describe('decodeToFloat64', () => {
  it('reads IEEE half special values, extremes and subnormals', () => {
    const values = decodeToFloat64(halves(0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x7e00, 0x8000), 'F16');
    expect(Array.from(values.subarray(0, 8))).toEqual([1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, Infinity, -Infinity]);
    expect(values[8]).toBeNaN();
    expect(Object.is(values[9], -0)).toBe(true);
  });

  it('reads every finite half exactly as the format defines it', () => {
    const all = new Uint16Array(65536).map((_, index) => index);
    const values = decodeToFloat64(new Uint8Array(all.buffer), 'F16');
    for (let bits = 0; bits < 65536; bits += 1) {
      if (((bits >>> 10) & 0x1f) === 0x1f) continue;
      if (values[bits] !== halfValue(bits) && !(values[bits] === 0 && halfValue(bits) === 0)) {
        throw new Error(`half 0x${bits.toString(16)} read as ${values[bits]}, expected ${halfValue(bits)}`);
      }
    }
  });

  it('reads bfloat16 as the upper half of a float32', () => {
    const values = decodeToFloat64(halves(0x3f80, 0x7f7f, 0x0001, 0x7f80, 0x7fc0, 0x8000, 0xc040), 'BF16');
    expect(values[0]).toBe(1);
    expect(values[1]).toBe(floatOfBits(0x7f7f0000));
    expect(values[2]).toBe(2 ** -133);
    expect(values[3]).toBe(Infinity);
    expect(values[4]).toBeNaN();
    expect(Object.is(values[5], -0)).toBe(true);
    expect(values[6]).toBe(-3);
  });

  it('reads F8_E4M3 as the FN variant: 448 is the largest value, no infinities, NaN only at S.1111.111', () => {
    const values = decodeToFloat64(new Uint8Array([0x38, 0x7e, 0xfe, 0x01, 0x07, 0x08, 0x78, 0x7f, 0xff, 0x80, 0x77]), 'F8_E4M3');
    expect(Array.from(values.subarray(0, 7))).toEqual([1, 448, -448, 2 ** -9, 7 * 2 ** -9, 2 ** -6, 256]);
    expect(values[7]).toBeNaN();
    expect(values[8]).toBeNaN();
    expect(Object.is(values[9], -0)).toBe(true);
    expect(values[10]).toBe(240);
  });

  it('reads F8_E5M2 with infinities and NaN like a half', () => {
    const values = decodeToFloat64(new Uint8Array([0x3c, 0x7b, 0x01, 0x7c, 0xfc, 0x7d, 0x80]), 'F8_E5M2');
    expect(Array.from(values.subarray(0, 5))).toEqual([1, 57344, 2 ** -16, Infinity, -Infinity]);
    expect(values[5]).toBeNaN();
    expect(Object.is(values[6], -0)).toBe(true);
  });

  it('reads float32 from an unaligned view', () => {
    const backing = new Uint8Array(13);
    new DataView(backing.buffer).setFloat32(1, 1.5, true);
    new DataView(backing.buffer).setFloat32(5, -0.1, true);
    new DataView(backing.buffer).setFloat32(9, 3.4028234663852886e38, true);
    expect(Array.from(decodeToFloat64(backing.subarray(1), 'F32'))).toEqual([1.5, Math.fround(-0.1), 3.4028234663852886e38]);
  });

  it('refuses a partial element and a dtype without float values', () => {
    expect(() => decodeToFloat64(new Uint8Array(3), 'BF16')).toThrowError(expect.objectContaining({ code: 'TensorInvalidInfo' }));
    expect(() => decodeToFloat64(new Uint8Array(4), 'I32' as never)).toThrowError(expect.objectContaining({ code: 'UnsupportedDtype' }));
  });
});

describe('encodeFromFloat64', () => {
  it('round-trips every half bit pattern (NaN becomes the canonical NaN of its sign)', () => {
    const all = new Uint16Array(65536).map((_, index) => index);
    const encoded = new Uint16Array(encodeFromFloat64(decodeToFloat64(new Uint8Array(all.buffer), 'F16'), 'F16').buffer);
    for (let bits = 0; bits < 65536; bits += 1) {
      const isNaN = (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
      const expected = isNaN ? (bits & 0x8000) | 0x7e00 : bits;
      if (encoded[bits] !== expected) throw new Error(`half 0x${bits.toString(16)} came back as 0x${encoded[bits]!.toString(16)}`);
    }
  });

  it('round-trips every bfloat16 bit pattern (NaN becomes 0x7FC0 as in c10)', () => {
    const all = new Uint16Array(65536).map((_, index) => index);
    const encoded = new Uint16Array(encodeFromFloat64(decodeToFloat64(new Uint8Array(all.buffer), 'BF16'), 'BF16').buffer);
    for (let bits = 0; bits < 65536; bits += 1) {
      const isNaN = (bits & 0x7f80) === 0x7f80 && (bits & 0x7f) !== 0;
      const expected = isNaN ? 0x7fc0 : bits;
      if (encoded[bits] !== expected) throw new Error(`bfloat16 0x${bits.toString(16)} came back as 0x${encoded[bits]!.toString(16)}`);
    }
  });

  it('rounds bfloat16 halfway cases to the even neighbour', () => {
    const tieDown = floatOfBits(0x3f808000); // 1 + 2^-8, halfway between 0x3F80 and 0x3F81
    const tieUp = floatOfBits(0x3f818000); // halfway between 0x3F81 and 0x3F82
    const aboveTie = floatOfBits(0x3f808001);
    const belowTie = floatOfBits(0x3f807fff);
    expect(halfWordsOf(encodeFromFloat64([tieDown, tieUp, aboveTie, belowTie, -tieDown], 'BF16'))).toEqual([
      0x3f80, 0x3f82, 0x3f81, 0x3f80, 0xbf80,
    ]);
  });

  it('sends bfloat16 overflow to infinity and keeps signed zero and NaN', () => {
    const encoded = halfWordsOf(encodeFromFloat64([3.4028234663852886e38, -3.4028234663852886e38, 1e39, -0, 0, NaN, -Infinity], 'BF16'));
    expect(encoded).toEqual([0x7f80, 0xff80, 0x7f80, 0x8000, 0x0000, 0x7fc0, 0xff80]);
  });

  it('rounds a float64 to float32 first, as c10 does (BFloat16 is built from a float)', () => {
    // 1 + 2^-8 + 2^-30 is above the bfloat16 tie, but float32 rounds it onto the tie, which goes to even.
    expect(halfWordsOf(encodeFromFloat64([1 + 2 ** -8 + 2 ** -30], 'BF16'))).toEqual([0x3f80]);
  });

  it('rounds half halfway cases to even, in the normal and the subnormal range', () => {
    const values = [
      1 + 2 ** -11, // tie between 0x3C00 and 0x3C01
      1 + 3 * 2 ** -11, // tie between 0x3C01 and 0x3C02
      1 + 2 ** -11 + 2 ** -20,
      2 ** -25, // tie between 0 and the smallest subnormal
      3 * 2 ** -25, // tie between 0x0001 and 0x0002
      2 ** -25 + 2 ** -40,
      2 ** -14 - 2 ** -25, // tie between the largest subnormal and the smallest normal
      -(2 ** -25),
      5 * 2 ** -26,
      5 * 2 ** -25, // tie between 0x0002 and 0x0003
    ];
    expect(halfWordsOf(encodeFromFloat64(values, 'F16'))).toEqual([
      0x3c00, 0x3c02, 0x3c01, 0x0000, 0x0002, 0x0001, 0x0400, 0x8000, 0x0001, 0x0002,
    ]);
  });

  it('sends half overflow to infinity from the tie at 65520 up', () => {
    expect(halfWordsOf(encodeFromFloat64([65504, 65519.99, 65520, 1e6, -1e6, Infinity], 'F16'))).toEqual([
      0x7bff, 0x7bff, 0x7c00, 0x7c00, 0xfc00, 0x7c00,
    ]);
    expect(halfWordsOf(encodeFromFloat64([NaN], 'F16'))[0]! & 0x7fff).toBe(0x7e00);
  });

  it('matches rounding by distance for random float32 values within the half range', () => {
    const finite: number[] = [];
    for (let bits = 0; bits < 0x7c00; bits += 1) finite.push(halfValue(bits));
    const next = randomWords(7);
    const values: number[] = [];
    for (let index = 0; index < 20000; index += 1) values.push(floatOfBits(next() % 0x477fe000) * (next() % 2 ? 1 : -1));
    const encoded = halfWordsOf(encodeFromFloat64(values, 'F16'));
    values.forEach((value, index) => {
      const magnitude = Math.abs(value);
      // Binary search for the neighbours among the ascending positive halves.
      let low = 0;
      let high = finite.length - 1;
      while (high - low > 1) {
        const middle = (low + high) >>> 1;
        if (finite[middle]! <= magnitude) low = middle;
        else high = middle;
      }
      const below = magnitude - finite[low]!;
      const above = finite[high]! - magnitude;
      const nearest = below < above ? low : below > above ? high : low % 2 === 0 ? low : high;
      const expected = (value < 0 || Object.is(value, -0) ? 0x8000 : 0) | nearest;
      if (encoded[index] !== expected) throw new Error(`${value} encoded as 0x${encoded[index]!.toString(16)}, expected 0x${expected.toString(16)}`);
    });
  });

  it('writes into a caller buffer and returns exactly the encoded bytes', () => {
    const out = new Uint8Array(16).fill(0xee);
    const written = encodeFromFloat64([1, -2], 'F32', out);
    expect(written.length).toBe(8);
    expect(written.buffer).toBe(out.buffer);
    expect(Array.from(decodeToFloat64(written, 'F32'))).toEqual([1, -2]);
    expect(out[8]).toBe(0xee);
    expect(() => encodeFromFloat64([1, 2, 3], 'BF16', new Uint8Array(4))).toThrowError(expect.objectContaining({ code: 'Internal' }));
  });
});

describe('scaleTensorBytes', () => {
  it('scales by 0 to zeros that keep the sign, and NaN for NaN and infinities', () => {
    const input = encodeFromFloat64([1.5, -2, 0, -0, Infinity, -Infinity, NaN, 2 ** -133], 'BF16');
    const scaled = decodeToFloat64(scaleTensorBytes(input, 'BF16', 0), 'BF16');
    expect(Object.is(scaled[0], 0)).toBe(true);
    expect(Object.is(scaled[1], -0)).toBe(true);
    expect(Object.is(scaled[2], 0)).toBe(true);
    expect(Object.is(scaled[3], -0)).toBe(true);
    expect(scaled[4]).toBeNaN();
    expect(scaled[5]).toBeNaN();
    expect(scaled[6]).toBeNaN();
    expect(Object.is(scaled[7], 0)).toBe(true);
  });

  it('halves values exactly and rounds halved subnormals to even', () => {
    const bf16 = scaleTensorBytes(halves(0x3f80, 0xc0a0, 0x0001, 0x0003, 0x7f7f), 'BF16', 0.5);
    // 2^-134 and 3·2^-134 are ties: to 0 and to 2·2^-133.
    expect(halfWordsOf(bf16)).toEqual([0x3f00, 0xc020, 0x0000, 0x0002, 0x7eff]);
    const f16 = scaleTensorBytes(halves(0x3c00, 0x0001, 0x0003, 0x0005, 0xfbff), 'F16', 0.5);
    expect(halfWordsOf(f16)).toEqual([0x3800, 0x0000, 0x0002, 0x0002, 0xf7ff]);
    const f32 = decodeToFloat64(scaleTensorBytes(encodeFromFloat64([3, -1e-45, 1e38], 'F32'), 'F32', 0.5), 'F32');
    // −2^-149 · 0.5 is a tie between −0 and −2^-149: even is −0.
    expect(Array.from(f32)).toEqual([1.5, -0, Math.fround(1e38) / 2]);
  });

  it('multiplies in float32, then rounds once to the tensor dtype', () => {
    const next = randomWords(11);
    const words = new Uint16Array(5000).map(() => next() & 0xffff);
    const input = new Uint8Array(words.buffer);
    for (const dtype of ['BF16', 'F16'] as const) {
      const factor = 0.37;
      const scaled = scaleTensorBytes(input, dtype, factor);
      const expected = encodeFromFloat64(
        Array.from(decodeToFloat64(input, dtype), (value) => Math.fround(value * Math.fround(factor))),
        dtype,
      );
      expect(halfWordsOf(scaled)).toEqual(halfWordsOf(expected));
    }
  });

  it('overflows to infinity when the product leaves the dtype range', () => {
    expect(Array.from(decodeToFloat64(scaleTensorBytes(encodeFromFloat64([30000, -30000], 'F16'), 'F16', 3), 'F16'))).toEqual([
      Infinity,
      -Infinity,
    ]);
  });
});

describe('convertTensorBytes', () => {
  it('converts float32 to bfloat16 exactly as rounding by distance does', () => {
    const next = randomWords(3);
    const words = new Uint32Array(50000);
    for (let index = 0; index < words.length; index += 1) {
      let bits = next();
      if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) bits &= 0xff7fffff; // NaN → a finite pattern
      words[index] = bits;
    }
    words[0] = 0x7f7fffff;
    words[1] = 0x3f808000;
    words[2] = 0x00008000;
    words[3] = 0x80018000;
    const converted = new Uint16Array(convertTensorBytes(new Uint8Array(words.buffer), 'F32', 'BF16').buffer);
    for (let index = 0; index < words.length; index += 1) {
      const expected = bfloat16ByDistance(words[index]!);
      if (converted[index] !== expected) {
        throw new Error(`0x${words[index]!.toString(16)} converted to 0x${converted[index]!.toString(16)}, expected 0x${expected.toString(16)}`);
      }
      if (bfloat16FromFloatBits(words[index]!) !== expected) throw new Error('the scalar rounding disagrees with the block path');
    }
  });

  it('widens half and bfloat16 to float32 without changing a bit of the value', () => {
    const all = new Uint16Array(65536).map((_, index) => index);
    const bytes = new Uint8Array(all.buffer);
    const fromBf16 = new Uint32Array(convertTensorBytes(bytes, 'BF16', 'F32').buffer);
    const fromF16 = new Float32Array(convertTensorBytes(bytes, 'F16', 'F32').buffer);
    for (let bits = 0; bits < 65536; bits += 1) {
      if (fromBf16[bits] !== bits << 16 >>> 0) throw new Error(`bfloat16 0x${bits.toString(16)} widened wrongly`);
      const exponent = (bits >>> 10) & 0x1f;
      if (exponent !== 0x1f && !Object.is(fromF16[bits], halfValue(bits))) throw new Error(`half 0x${bits.toString(16)} widened wrongly`);
    }
    // NaN payloads survive widening.
    expect(new Uint32Array(convertTensorBytes(halves(0x7e01), 'F16', 'F32').buffer)[0]).toBe(0x7fc02000);
  });

  it('converts half to bfloat16 through float32 and F8 to the 16-bit formats', () => {
    expect(halfWordsOf(convertTensorBytes(halves(0x3c00, 0x3c01, 0x7bff, 0x0001), 'F16', 'BF16'))).toEqual([
      0x3f80,
      0x3f80, // 1 + 2^-10 is not a bfloat16; the nearest is 1
      0x4780, // 65504 → 65536
      bfloat16FromFloatBits(floatBits(2 ** -24)),
    ]);
    expect(Array.from(decodeToFloat64(convertTensorBytes(new Uint8Array([0x7e, 0x01, 0x7f]), 'F8_E4M3', 'F16'), 'F16'))).toEqual([
      448,
      2 ** -9,
      NaN,
    ]);
    expect(Array.from(decodeToFloat64(convertTensorBytes(new Uint8Array([0x7b, 0xfc]), 'F8_E5M2', 'BF16'), 'BF16'))).toEqual([
      57344,
      -Infinity,
    ]);
  });

  it('handles tensors longer than one scratch block and unaligned input', () => {
    const count = CODEC_BLOCK_ELEMENTS * 2 + 3;
    const values = Array.from({ length: count }, (_, index) => (index % 251) - 125);
    const backing = new Uint8Array(count * 2 + 1);
    backing.set(encodeFromFloat64(values, 'BF16'), 1);
    const unaligned = backing.subarray(1);
    expect(Array.from(decodeToFloat64(convertTensorBytes(unaligned, 'BF16', 'F32'), 'F32'))).toEqual(values);
    expect(Array.from(decodeToFloat64(scaleTensorBytes(unaligned, 'BF16', 2), 'BF16'))).toEqual(values.map((value) => value * 2));
  });

  it('copies when the dtypes match and refuses targets it cannot write', () => {
    const input = halves(0x1234, 0x7fff);
    const copy = convertTensorBytes(input, 'BF16', 'BF16');
    expect(copy).toEqual(input);
    expect(copy.buffer).not.toBe(input.buffer);
    let error: unknown;
    try {
      convertTensorBytes(input, 'BF16', 'F8_E4M3' as never);
    } catch (caught) {
      error = caught;
    }
    expect(isStudioError(error) && error.code).toBe('UnsupportedDtype');
  });
});

describe('halfFromFloatBits', () => {
  it('agrees with the block encoder for every float32 bit pattern near the half range edges', () => {
    for (const start of [0x33000000 - 64, 0x38800000 - 64, 0x477ff000 - 64]) {
      for (let bits = start; bits < start + 128; bits += 1) {
        const viaBlock = halfWordsOf(encodeFromFloat64([floatOfBits(bits)], 'F16'))[0];
        expect(halfFromFloatBits(bits)).toBe(viaBlock);
      }
    }
  });
});
