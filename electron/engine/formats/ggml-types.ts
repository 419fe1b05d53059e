/**
 * GGML tensor types as a list with their names, for lookups by id and name and the statistics'
 * type set. The table itself is electron/api/dtypes.ts's GGML_TYPES (ggml's block sizes, as gguf.cpp reads them),
 * the one the GGUF reader and writer use: this module only indexes it.
 */
import { StudioError } from '../../api/errors.js';
import { GGML_TYPES as GGML_TYPE_TABLE, type GgmlTypeName } from '../../api/dtypes.js';

export type { GgmlTypeName };

export interface GgmlTypeInfo {
  /** The id in a GGUF tensor info (ggml's `enum ggml_type`). */
  id: number;
  /** gguf-py's name: 'F32', 'Q4_K', 'IQ4_XS', ... */
  name: GgmlTypeName;
  /** Elements per block (1 for the plain number types). */
  blockElements: number;
  /** Bytes per block. */
  blockBytes: number;
}

export const GGML_TYPES: readonly GgmlTypeInfo[] = Object.entries(GGML_TYPE_TABLE).map(([name, type]) => ({ name: name as GgmlTypeName, ...type }));

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
