/**
 * A one-line progress bar for a terminal (stderr): redrawn in place with `\r`, at most every
 * `minIntervalMs` (100 ms: ten redraws a second are smooth and cost nothing), immediately when the
 * phase changes. The caller decides whether there is a terminal; this module only draws.
 */
import { formatBytes, formatClock, formatRate } from './number-format.js';

export interface ProgressBarOptions {
  write: (text: string) => void;
  /** Milliseconds, monotonic. */
  now?: () => number;
  /** Terminal width; the line stays one column shorter so it never wraps. */
  columns?: number;
  minIntervalMs?: number;
  /** 'bytes' shows sizes, speed and ETA; 'count' shows `done/total`. */
  unit?: 'bytes' | 'count';
}

export interface ProgressUpdate {
  /** What is happening: `copying`, `verifying`, `statistics`, … */
  phase: string;
  done: number;
  total: number;
}

export interface ProgressBar {
  update(progress: ProgressUpdate): void;
  /** Erases the line (before other output, and at the end). */
  clear(): void;
}

const BAR_WIDTH = 24;
const CLEAR_TO_END = '\u001b[K';

export interface ProgressFigures {
  phase: string;
  done: number;
  total: number;
  unit: 'bytes' | 'count';
  /** Null until a rate can be measured. */
  bytesPerSecond: number | null;
}

/** The text of one progress line, without control characters. */
export function renderProgressLine(figures: ProgressFigures, columns = 80): string {
  const fraction = figures.total > 0 ? Math.min(1, Math.max(0, figures.done / figures.total)) : 0;
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
  const percent = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const parts = [figures.phase.padEnd(9), bar, percent];
  if (figures.unit === 'bytes') {
    parts.push(`${formatBytes(figures.done)} / ${formatBytes(figures.total)}`);
    if (figures.bytesPerSecond !== null && figures.bytesPerSecond > 0) {
      parts.push(formatRate(figures.bytesPerSecond));
      parts.push(`ETA ${formatClock((figures.total - figures.done) / figures.bytesPerSecond)}`);
    }
  } else {
    parts.push(`${figures.done}/${figures.total}`);
  }
  const line = parts.join('  ');
  return line.length > columns - 1 ? line.slice(0, Math.max(0, columns - 1)) : line;
}

export function createProgressBar(options: ProgressBarOptions): ProgressBar {
  const now = options.now ?? (() => performance.now());
  const minIntervalMs = options.minIntervalMs ?? 100;
  const unit = options.unit ?? 'bytes';
  let lastDraw = Number.NEGATIVE_INFINITY;
  let lastPhase: string | null = null;
  let drawn = false;
  // Speed is measured from the first update of the current phase, so preparing time does not dilute it.
  let phaseStart = { time: 0, done: 0 };

  return {
    update(progress) {
      const time = now();
      const phaseChanged = progress.phase !== lastPhase;
      if (phaseChanged) {
        lastPhase = progress.phase;
        phaseStart = { time, done: progress.done };
      } else if (time - lastDraw < minIntervalMs) {
        return;
      }
      lastDraw = time;
      const elapsedSeconds = (time - phaseStart.time) / 1000;
      const bytesPerSecond = elapsedSeconds > 0.2 ? (progress.done - phaseStart.done) / elapsedSeconds : null;
      const line = renderProgressLine({ ...progress, unit, bytesPerSecond }, options.columns ?? 80);
      options.write(`\r${line}${CLEAR_TO_END}`);
      drawn = true;
    },
    clear() {
      if (!drawn) return;
      options.write(`\r${CLEAR_TO_END}`);
      drawn = false;
      lastDraw = Number.NEGATIVE_INFINITY;
    },
  };
}
