/**
 * Human-readable numbers for the CLI. Byte sizes use decimal units (1 MB = 1,000,000 bytes), as
 * huggingface_hub and the --shard-size flag do.
 */

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'] as const;

/** `1.04 MB`, `21.4 GB`, `512 B`: three significant digits. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '? B';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 999.5 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const sign = bytes < 0 ? '-' : '';
  const text = unit === 0 ? String(Math.round(value)) : value.toPrecision(3);
  return `${sign}${text} ${BYTE_UNITS[unit]}`;
}

/** `260 K`, `10.7 B` parameters (short scale); below a thousand the plain count. */
export function formatParameters(count: number): string {
  const steps: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [size, suffix] of steps) {
    if (count >= size) return `${(count / size).toPrecision(3)} ${suffix}`;
  }
  return String(count);
}

/** `1,234,567`. */
export function formatCount(count: number): string {
  return count.toLocaleString('en-US');
}

/** `1.2 s`, `0.04 s`, `2 min 5 s`, `1 h 3 min`. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(seconds < 0.1 ? 2 : 1) : Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** `0:05`, `12:34`, `1:02:03` for an ETA. */
export function formatClock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const whole = Math.round(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = String(whole % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${secs}` : `${minutes}:${secs}`;
}

/** `310 MB/s` (decimal megabytes per second). */
export function formatRate(bytesPerSecond: number): string {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond < 0) return '? MB/s';
  const megabytes = bytesPerSecond / 1e6;
  return `${megabytes >= 100 ? Math.round(megabytes) : megabytes.toPrecision(megabytes >= 1 ? 3 : 2)} MB/s`;
}

/** Statistics figures: four significant digits, exponent form for very large or small values. */
export function formatStat(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  if (Number.isNaN(value)) return 'NaN';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  return magnitude >= 1e5 || magnitude < 1e-3 ? value.toExponential(3) : value.toPrecision(4);
}
