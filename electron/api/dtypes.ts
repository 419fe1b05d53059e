/**
 * Tensor element types of every checkpoint format and the bytes a tensor of each takes. Pure data
 * and arithmetic, so the engine, the CLI and the renderer size tensors with one rule.
 */
import { DTYPE_BITS } from './types.js';

/** A safetensors dtype (DESIGN.md §3). */
export type SafetensorsDtype = keyof typeof DTYPE_BITS;

/**
 * Every GGML tensor type a GGUF file may hold, by the name gguf-py spells it, with its id in the
 * file and its block geometry: `blockElements` elements are stored in `blockBytes` bytes, as
 * gguf.cpp sizes a tensor it reads (ggml's type_traits: `sizeof(block_*)` of ggml-common.h). These
 * equal gguf-py's GGML_QUANT_SIZES except Q8_1, where gguf-py still says 40 (two f32 scales, ggml's
 * old layout) but block_q8_1 holds two fp16 scales and 32 int8 quants: 36 bytes. Ids 4, 5, 31–33
 * and 36–38 were removed from ggml and are unknown types here, as they are to llama.cpp.
 */
export const GGML_TYPES = {
  F32: { id: 0, blockElements: 1, blockBytes: 4 },
  F16: { id: 1, blockElements: 1, blockBytes: 2 },
  Q4_0: { id: 2, blockElements: 32, blockBytes: 18 },
  Q4_1: { id: 3, blockElements: 32, blockBytes: 20 },
  Q5_0: { id: 6, blockElements: 32, blockBytes: 22 },
  Q5_1: { id: 7, blockElements: 32, blockBytes: 24 },
  Q8_0: { id: 8, blockElements: 32, blockBytes: 34 },
  Q8_1: { id: 9, blockElements: 32, blockBytes: 36 },
  Q2_K: { id: 10, blockElements: 256, blockBytes: 84 },
  Q3_K: { id: 11, blockElements: 256, blockBytes: 110 },
  Q4_K: { id: 12, blockElements: 256, blockBytes: 144 },
  Q5_K: { id: 13, blockElements: 256, blockBytes: 176 },
  Q6_K: { id: 14, blockElements: 256, blockBytes: 210 },
  Q8_K: { id: 15, blockElements: 256, blockBytes: 292 },
  IQ2_XXS: { id: 16, blockElements: 256, blockBytes: 66 },
  IQ2_XS: { id: 17, blockElements: 256, blockBytes: 74 },
  IQ3_XXS: { id: 18, blockElements: 256, blockBytes: 98 },
  IQ1_S: { id: 19, blockElements: 256, blockBytes: 50 },
  IQ4_NL: { id: 20, blockElements: 32, blockBytes: 18 },
  IQ3_S: { id: 21, blockElements: 256, blockBytes: 110 },
  IQ2_S: { id: 22, blockElements: 256, blockBytes: 82 },
  IQ4_XS: { id: 23, blockElements: 256, blockBytes: 136 },
  I8: { id: 24, blockElements: 1, blockBytes: 1 },
  I16: { id: 25, blockElements: 1, blockBytes: 2 },
  I32: { id: 26, blockElements: 1, blockBytes: 4 },
  I64: { id: 27, blockElements: 1, blockBytes: 8 },
  F64: { id: 28, blockElements: 1, blockBytes: 8 },
  IQ1_M: { id: 29, blockElements: 256, blockBytes: 56 },
  BF16: { id: 30, blockElements: 1, blockBytes: 2 },
  TQ1_0: { id: 34, blockElements: 256, blockBytes: 54 },
  TQ2_0: { id: 35, blockElements: 256, blockBytes: 66 },
  MXFP4: { id: 39, blockElements: 32, blockBytes: 17 },
  NVFP4: { id: 40, blockElements: 64, blockBytes: 36 },
  // ggml added these after node-llama-cpp 3.21.1's llama.cpp: block_q1_0 is an f16 scale and 128
  // sign bits, block_q2_0 an f16 scale and 64 2-bit codes. Read and copied like any type; no statistics.
  Q1_0: { id: 41, blockElements: 128, blockBytes: 18 },
  Q2_0: { id: 42, blockElements: 64, blockBytes: 18 },
} as const satisfies Record<string, { id: number; blockElements: number; blockBytes: number }>;

export type GgmlTypeName = keyof typeof GGML_TYPES;

/** Any tensor element type: a safetensors dtype or a GGML type (F32, F16, BF16, I8… are both). */
export type Dtype = SafetensorsDtype | GgmlTypeName;

/** Elements per block and bytes per block of a dtype: 1 element per block for plain types, bits/8 bytes. */
export function dtypeBlock(dtype: Dtype): { elements: number; bytes: number } | null {
  if (Object.hasOwn(GGML_TYPES, dtype)) {
    const type = GGML_TYPES[dtype as GgmlTypeName];
    return { elements: type.blockElements, bytes: type.blockBytes };
  }
  if (Object.hasOwn(DTYPE_BITS, dtype)) {
    // Sub-byte dtypes fill whole bytes in groups: F4 2 elements per byte, F6_* 4 elements per 3 bytes.
    const bits = DTYPE_BITS[dtype as SafetensorsDtype];
    const elements = 8 / greatestCommonDivisor(bits, 8);
    return { elements, bytes: (bits * elements) / 8 };
  }
  return null;
}

/**
 * Bytes of a tensor of `elements` elements of `dtype`, or null when they are not a whole number of
 * the dtype's blocks (a Q4_K row of 100 elements; 3 F4 elements) or the size passes 2^53.
 */
export function tensorBytes(dtype: Dtype, elements: number): number | null {
  const block = dtypeBlock(dtype);
  if (block === null || !Number.isSafeInteger(elements) || elements < 0 || elements % block.elements !== 0) return null;
  const bytes = (elements / block.elements) * block.bytes;
  return Number.isSafeInteger(bytes) ? bytes : null;
}

function greatestCommonDivisor(left: number, right: number): number {
  return right === 0 ? left : greatestCommonDivisor(right, left % right);
}
