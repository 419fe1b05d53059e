/**
 * The benchmark's rows and how they print: one row per measure with its figure (median, min–max),
 * the baseline measured in the same run, the ratio figure / baseline, the target and PASS/FAIL.
 */
import type { SampleSummary } from './sample-summary.js';

/** Every row the benchmark prints, in order; `--only` takes these names. */
export const ROW_IDS = [
  'export',
  'export-process',
  'export-verify',
  'export-memory',
  'export-memory-4x',
  'export-gguf-process',
  'open-405b',
  'inspect-405b',
  'open-70b-gguf',
  'stats',
  'stats-gguf',
  'render-first',
  'render-drag',
  'render-drag-work',
  'resolve-plan',
  'sweep-grid',
] as const;

export type RowId = (typeof ROW_IDS)[number];

export function isRowId(name: string): name is RowId {
  return (ROW_IDS as readonly string[]).includes(name);
}

/** One condition of a target, on the figure's median or on the ratio. `within` means |ratio − 1| ≤ value. */
export interface TargetCheck {
  on: 'figure' | 'ratio';
  op: '<=' | '>=' | 'within';
  value: number;
}

export interface Measured {
  /** What was measured, in words, with its unit. */
  label: string;
  unit: string;
  summary: SampleSummary;
}

export interface BenchRow {
  id: RowId;
  figure: Measured;
  baseline: Measured;
  /** figure median / baseline median; what it means is said in `ratioMeaning`. */
  ratio: number;
  ratioMeaning: string;
  /** Null for rows that only inform (no target in the issue). */
  target: { text: string; checks: TargetCheck[] } | null;
  notes: string[];
}

/** A row whose measurement failed: printed with its error instead of numbers. */
export interface FailedRow {
  id: RowId;
  error: string;
}

export type Verdict = 'PASS' | 'FAIL' | 'info';

export function makeRow(fields: Omit<BenchRow, 'ratio'>): BenchRow {
  return { ...fields, ratio: fields.figure.summary.median / fields.baseline.summary.median };
}

function checkPasses(row: BenchRow, check: TargetCheck): boolean {
  const value = check.on === 'figure' ? row.figure.summary.median : row.ratio;
  switch (check.op) {
    case '<=':
      return value <= check.value;
    case '>=':
      return value >= check.value;
    case 'within':
      return Math.abs(value - 1) <= check.value;
  }
}

export function verdictOf(row: BenchRow): Verdict {
  if (row.target === null) return 'info';
  return row.target.checks.every((check) => checkPasses(row, check)) ? 'PASS' : 'FAIL';
}

/** Three significant digits or whole numbers: `1234`, `56.7`, `0.812`. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude >= 100) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  if (magnitude >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

function withUnit(value: number, unit: string): string {
  return unit === '' ? formatNumber(value) : `${formatNumber(value)} ${unit}`;
}

const HEADINGS = ['row', 'figure', 'median', 'min–max (n)', 'baseline (median)', 'ratio', 'target', 'result'] as const;

function cellsOf(row: BenchRow | FailedRow): string[] {
  if ('error' in row) return [row.id, `error: ${row.error}`, '-', '-', '-', '-', '-', 'ERROR'];
  const { figure, baseline } = row;
  return [
    row.id,
    figure.label,
    withUnit(figure.summary.median, figure.unit),
    `${formatNumber(figure.summary.min)}–${formatNumber(figure.summary.max)} (${figure.summary.count})`,
    `${baseline.label}: ${withUnit(baseline.summary.median, baseline.unit)}`,
    formatNumber(row.ratio),
    row.target?.text ?? '-',
    verdictOf(row),
  ];
}

/** The results as an aligned plain-text table, then one legend line per row (ratio meaning, baseline spread, notes). */
export function formatTable(rows: ReadonlyArray<BenchRow | FailedRow>): string {
  const table = [HEADINGS.slice() as string[], ...rows.map(cellsOf)];
  const widths = HEADINGS.map((_, column) => Math.max(...table.map((cells) => (cells[column] ?? '').length)));
  const lines = table.map((cells) => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] as number))).join('  '));
  lines.splice(1, 0, widths.map((width) => '-'.repeat(width)).join('  '));
  const legend: string[] = [];
  for (const row of rows) {
    if ('error' in row) continue;
    const spread = row.baseline.summary;
    legend.push(
      `${row.id}: ratio = ${row.ratioMeaning}; baseline ${formatNumber(spread.min)}–${formatNumber(spread.max)} ${row.baseline.unit} (${spread.count})`,
    );
    for (const note of row.notes) legend.push(`  ${note}`);
  }
  return `${lines.join('\n')}\n\n${legend.join('\n')}\n`;
}
