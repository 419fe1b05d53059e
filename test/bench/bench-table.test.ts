import { describe, expect, it } from 'vitest';
import { formatNumber, formatTable, makeRow, verdictOf, type BenchRow } from './bench-table.js';
import { summarize } from './sample-summary.js';

function row(figure: number[], baseline: number[], target: BenchRow['target']): BenchRow {
  return makeRow({
    id: 'export-memory-4x',
    figure: { label: 'peak RSS of a 4× export', unit: 'MB', summary: summarize(figure) },
    baseline: { label: 'peak RSS of the 1× export', unit: 'MB', summary: summarize(baseline) },
    ratioMeaning: '4× ÷ 1×',
    target,
    notes: ['a note'],
  });
}

const memoryTarget: BenchRow['target'] = {
  text: '≤ 250 MB, ratio 0.80–1.20',
  checks: [
    { on: 'figure', op: '<=', value: 250 },
    { on: 'ratio', op: 'within', value: 0.2 },
  ],
};

describe('bench rows', () => {
  it('computes the ratio as figure median over baseline median', () => {
    expect(row([90, 100, 110], [50, 50], memoryTarget).ratio).toBe(2);
  });

  it('passes only when every check of the target holds', () => {
    expect(verdictOf(row([110], [100], memoryTarget))).toBe('PASS');
    expect(verdictOf(row([125], [100], memoryTarget))).toBe('FAIL'); // ratio 1.25
    expect(verdictOf(row([79], [100], memoryTarget))).toBe('FAIL'); // ratio 0.79
    expect(verdictOf(row([260], [250], memoryTarget))).toBe('FAIL'); // figure over 250
    expect(verdictOf(row([10], [20], { text: 'ratio ≥ 0.90', checks: [{ on: 'ratio', op: '>=', value: 0.9 }] }))).toBe('FAIL');
  });

  it('marks rows without a target as information', () => {
    expect(verdictOf(row([1], [1], null))).toBe('info');
  });

  it('prints one aligned line per row with median, spread, baseline, ratio and verdict, then the legend', () => {
    const text = formatTable([row([100, 110, 120], [100], memoryTarget), { id: 'stats', error: 'cat failed' }]);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^row\s+figure\s+median\s+min–max \(n\)\s+baseline \(median\)\s+ratio\s+target\s+result$/);
    expect(lines[2]).toMatch(/^export-memory-4x\s+peak RSS of a 4× export\s+110 MB\s+100–120 \(3\)\s+peak RSS of the 1× export: 100 MB\s+1\.10\s+≤ 250 MB, ratio 0\.80–1\.20\s+PASS$/);
    expect(lines[3]).toMatch(/^stats\s+error: cat failed\s.*ERROR$/);
    expect(text).toContain('export-memory-4x: ratio = 4× ÷ 1×; baseline 100–100 MB (1)\n  a note');
  });

  it('formats numbers to about three significant digits', () => {
    expect(formatNumber(1234.5)).toBe('1235');
    expect(formatNumber(56.78)).toBe('56.8');
    expect(formatNumber(1.234)).toBe('1.23');
    expect(formatNumber(0.01234)).toBe('0.0123');
  });
});
