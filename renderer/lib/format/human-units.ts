/**
 * Numbers as people read them: parameter counts (260 K, 7.2 B), byte sizes in decimal units as
 * Hugging Face uses them (21.4 GB = 21.4 × 10⁹ bytes), speeds and durations.
 */

const COUNT_UNITS = [
  { factor: 1e12, unit: 'T' },
  { factor: 1e9, unit: 'B' },
  { factor: 1e6, unit: 'M' },
  { factor: 1e3, unit: 'K' },
] as const;

const BYTE_UNITS = [
  { factor: 1e12, unit: 'TB' },
  { factor: 1e9, unit: 'GB' },
  { factor: 1e6, unit: 'MB' },
  { factor: 1e3, unit: 'kB' },
] as const;

/** Three significant figures at most, one decimal at most: 260, 10.7, 7.2. */
function scaled(value: number): string {
  const digits = Math.abs(value) >= 100 ? 0 : 1;
  return value.toFixed(digits);
}

/** A parameter or element count: 260 K, 7.2 B, 137. */
export function formatCount(count: number): string {
  if (!Number.isFinite(count)) return '—';
  for (const { factor, unit } of COUNT_UNITS) {
    if (Math.abs(count) >= factor) return `${scaled(count / factor)} ${unit}`;
  }
  return String(Math.round(count));
}

/** Bytes in decimal units: 21.4 GB, 1.0 MB, 512 B. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '—';
  for (const { factor, unit } of BYTE_UNITS) {
    if (Math.abs(bytes) >= factor) return `${scaled(bytes / factor)} ${unit}`;
  }
  return `${Math.round(bytes)} B`;
}

/** Bytes per second: 850 MB/s. */
export function formatSpeed(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** A duration for "time left": 45 s, 3 min 20 s, 1 h 5 min. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes} min ${whole % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A norm or other statistic: four significant figures, exponent form outside [1e-3, 1e5). */
export function formatStatistic(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return '—';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || magnitude < 1e-3) return value.toExponential(2);
  return value.toPrecision(4);
}

/** "F32 100 %", "BF16 99.9 % · F32 0.1 %": parameters per dtype, largest first. */
export function formatDtypeMix(dtypes: Partial<Record<string, number>>): string {
  const entries = Object.entries(dtypes).filter((entry): entry is [string, number] => (entry[1] ?? 0) > 0);
  const total = entries.reduce((sum, [, count]) => sum + count, 0);
  if (total === 0) return '—';
  return entries
    .sort((left, right) => right[1] - left[1])
    .map(([dtype, count]) => {
      const share = (100 * count) / total;
      const shown = share >= 99.95 ? '100' : share < 0.1 ? '<0.1' : share.toFixed(1);
      return `${dtype} ${shown} %`;
    })
    .join(' · ');
}

/** A seam jump (a fraction) as a percentage, "—" before statistics exist: 12.3 %, 0.8 %, 140 %. */
export function formatSeamJump(jump: number | null): string {
  if (jump === null || !Number.isFinite(jump)) return '—';
  const percent = jump * 100;
  return `${percent >= 100 ? percent.toFixed(0) : percent.toFixed(1)} %`;
}
