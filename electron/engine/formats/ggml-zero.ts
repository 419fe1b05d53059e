import { GGML_TYPES, type Dtype, type GgmlTypeName } from '../../api/dtypes.js';
import { GGML_STATS_TYPES } from './ggml-types.js';

/**
 * GGML types whose all-zero block dequantises to exactly 0 in every element (llama.cpp's
 * dequantize_row_* / gguf-py quants.py): a block of zero bytes writes a zero tensor of the type
 * without dequantising. Checked per type:
 * - F32, F16, BF16, F64, I8…I64: zero bits are +0.
 * - Q4_0, Q5_0, Q8_0, IQ4_NL: x = d·f(q) with d = 0 (IQ4_NL's f is its table value).
 * - Q4_1, Q5_1: x = d·q + m, with d = m = 0.
 * - Q2_K, Q4_K, Q5_K: x = d·sc·q − dmin·m, with d = dmin = 0.
 * - Q3_K, Q6_K, IQ4_XS: x = d·(scale − offset)·f(q), with d = 0.
 * - Q8_K: x = d·q with d = 0 (an F32 d).
 * Types not listed (IQ1–IQ3 grids, ternary, MXFP4/NVFP4) are refused: the addon has no dequantiser
 * for them, so their zero blocks are not proved by a test.
 */
// The statistics types are exactly the block layouts checked above; the plain and Q8_K ones add to them.
const ZERO_BLOCK_TYPES: ReadonlySet<GgmlTypeName> = new Set<GgmlTypeName>([...GGML_STATS_TYPES, 'F64', 'I8', 'I16', 'I32', 'I64', 'Q8_K']);

/** True when a tensor of this type is zero when all its bytes are zero. */
export function zeroBlocksAreZero(dtype: Dtype): boolean {
  return Object.hasOwn(GGML_TYPES, dtype) && ZERO_BLOCK_TYPES.has(dtype as GgmlTypeName);
}
