/**
 * GGML tensor types as GGUF files store them: the numeric id in a tensor info, the name as gguf-py
 * spells it, and the block layout (elements per block, bytes per block) from gguf-py's
 * `GGML_QUANT_SIZES`. Plain data for the GGUF reader, the writer and the statistics; ids 4, 5 and
 * 31–33, 36–38 are retired in ggml and absent here.
 */
import { StudioError } from '../../api/errors.js';

export interface GgmlTypeInfo {
  /** The id in a GGUF tensor info (ggml's `enum ggml_type`). */
  id: number;
  /** gguf-py's name: 'F32', 'Q4_K', 'IQ4_XS', ... */
  name: string;
  /** Elements per block (1 for the plain number types). */
  blockElements: number;
  /** Bytes per block. */
  blockBytes: number;
}

export const GGML_TYPES = [
  { id: 0, name: 'F32', blockElements: 1, blockBytes: 4 },
  { id: 1, name: 'F16', blockElements: 1, blockBytes: 2 },
  { id: 2, name: 'Q4_0', blockElements: 32, blockBytes: 18 },
  { id: 3, name: 'Q4_1', blockElements: 32, blockBytes: 20 },
  { id: 6, name: 'Q5_0', blockElements: 32, blockBytes: 22 },
  { id: 7, name: 'Q5_1', blockElements: 32, blockBytes: 24 },
  { id: 8, name: 'Q8_0', blockElements: 32, blockBytes: 34 },
  { id: 9, name: 'Q8_1', blockElements: 32, blockBytes: 36 },
  { id: 10, name: 'Q2_K', blockElements: 256, blockBytes: 84 },
  { id: 11, name: 'Q3_K', blockElements: 256, blockBytes: 110 },
  { id: 12, name: 'Q4_K', blockElements: 256, blockBytes: 144 },
  { id: 13, name: 'Q5_K', blockElements: 256, blockBytes: 176 },
  { id: 14, name: 'Q6_K', blockElements: 256, blockBytes: 210 },
  { id: 15, name: 'Q8_K', blockElements: 256, blockBytes: 292 },
  { id: 16, name: 'IQ2_XXS', blockElements: 256, blockBytes: 66 },
  { id: 17, name: 'IQ2_XS', blockElements: 256, blockBytes: 74 },
  { id: 18, name: 'IQ3_XXS', blockElements: 256, blockBytes: 98 },
  { id: 19, name: 'IQ1_S', blockElements: 256, blockBytes: 50 },
  { id: 20, name: 'IQ4_NL', blockElements: 32, blockBytes: 18 },
  { id: 21, name: 'IQ3_S', blockElements: 256, blockBytes: 110 },
  { id: 22, name: 'IQ2_S', blockElements: 256, blockBytes: 82 },
  { id: 23, name: 'IQ4_XS', blockElements: 256, blockBytes: 136 },
  { id: 24, name: 'I8', blockElements: 1, blockBytes: 1 },
  { id: 25, name: 'I16', blockElements: 1, blockBytes: 2 },
  { id: 26, name: 'I32', blockElements: 1, blockBytes: 4 },
  { id: 27, name: 'I64', blockElements: 1, blockBytes: 8 },
  { id: 28, name: 'F64', blockElements: 1, blockBytes: 8 },
  { id: 29, name: 'IQ1_M', blockElements: 256, blockBytes: 56 },
  { id: 30, name: 'BF16', blockElements: 1, blockBytes: 2 },
  { id: 34, name: 'TQ1_0', blockElements: 256, blockBytes: 54 },
  { id: 35, name: 'TQ2_0', blockElements: 256, blockBytes: 66 },
  { id: 39, name: 'MXFP4', blockElements: 32, blockBytes: 17 },
] as const satisfies readonly GgmlTypeInfo[];

export type GgmlTypeName = (typeof GGML_TYPES)[number]['name'];

/**
 * The types whose dequantised values the native addon sums (statistics, layer similarity). For the
 * others, statistics are "not available for TYPE"; their bytes still copy like any other.
 */
export const GGML_STATS_TYPES = [
  'F32',
  'F16',
  'BF16',
  'Q4_0',
  'Q4_1',
  'Q5_0',
  'Q5_1',
  'Q8_0',
  'Q2_K',
  'Q3_K',
  'Q4_K',
  'Q5_K',
  'Q6_K',
  'IQ4_NL',
  'IQ4_XS',
] as const satisfies readonly GgmlTypeName[];

export type GgmlStatsType = (typeof GGML_STATS_TYPES)[number];

const BY_NAME: ReadonlyMap<string, GgmlTypeInfo> = new Map(GGML_TYPES.map((type) => [type.name, type]));
const BY_ID: ReadonlyMap<number, GgmlTypeInfo> = new Map(GGML_TYPES.map((type) => [type.id, type]));

/** The type of a name ('Q4_K'), or undefined for a name ggml does not have. */
export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return BY_NAME.get(name);
}

/** The type of a GGUF tensor info's id, or undefined for an id ggml does not (or no longer) have. */
export function ggmlTypeById(id: number): GgmlTypeInfo | undefined {
  return BY_ID.get(id);
}

export function isGgmlStatsType(name: string): name is GgmlStatsType {
  return (GGML_STATS_TYPES as readonly string[]).includes(name);
}

/**
 * Bytes of `elements` elements of `type` (a name or a type). ggml quantises rows block by block, so
 * the count must be a whole number of blocks (TensorInvalidInfo otherwise); UnsupportedDtype for a
 * name ggml does not have. Exact up to 2^53 − 1 bytes (InvalidOffset beyond).
 */
export function ggmlTensorBytes(type: string | GgmlTypeInfo, elements: number): number {
  const info = typeof type === 'string' ? ggmlTypeByName(type) : type;
  if (info === undefined) throw new StudioError('UnsupportedDtype', `unknown GGML type ${String(type)}`);
  if (!Number.isSafeInteger(elements) || elements < 0) {
    throw new StudioError('TensorInvalidInfo', `a ${info.name} tensor cannot have ${String(elements)} elements`);
  }
  if (elements % info.blockElements !== 0) {
    throw new StudioError(
      'TensorInvalidInfo',
      `${elements} elements are not a whole number of ${info.name} blocks (${info.blockElements} elements each)`,
    );
  }
  const bytes = (elements / info.blockElements) * info.blockBytes;
  if (!Number.isSafeInteger(bytes)) throw new StudioError('InvalidOffset', `${elements} ${info.name} elements take more than 2^53 − 1 bytes`);
  return bytes;
}
