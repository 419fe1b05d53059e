/**
 * Byte sizes as users type them (the shard size of the CLI's --shard-size and of the export pane).
 * One rule for both front doors: huggingface_hub's decimal units (`5GB` = 5,000,000,000), binary
 * units (`1.5GiB`) and plain byte counts, case-insensitive, fractions of a byte rounded down.
 */

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** Examples for messages that refuse a size. */
export const BYTE_SIZE_EXAMPLES = '5GB, 500MB, 1.5GiB or a byte count';

/**
 * The number of bytes `text` names, or null when it is not a size: an unknown unit, a fraction of
 * a plain byte count (`1.5`), less than one byte, or beyond what a double counts exactly.
 */
export function parseByteSize(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (match === null) return null;
  const number = match[1] ?? '';
  const multiplier = SIZE_UNITS[(match[2] ?? '').toLowerCase()];
  if (multiplier === undefined || (multiplier === 1 && number.includes('.'))) return null;
  const bytes = Math.floor(Number(number) * multiplier);
  return Number.isSafeInteger(bytes) && bytes >= 1 ? bytes : null;
}
