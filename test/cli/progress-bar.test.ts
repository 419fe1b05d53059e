import { describe, expect, it } from 'vitest';
import { createProgressBar, renderProgressLine } from '../../electron/cli/progress-bar.js';

describe('renderProgressLine', () => {
  it('shows the phase, a bar, the percentage, bytes, speed and ETA', () => {
    const line = renderProgressLine({ phase: 'copying', done: 1_000_000_000, total: 4_000_000_000, unit: 'bytes', bytesPerSecond: 500_000_000 }, 200);
    expect(line).toBe('copying    [######------------------]   25%  1.00 GB / 4.00 GB  500 MB/s  ETA 0:06');
  });

  it('leaves out speed and ETA until a rate is known, and counts items in count mode', () => {
    expect(renderProgressLine({ phase: 'preparing', done: 0, total: 0, unit: 'bytes', bytesPerSecond: null })).toBe(
      'preparing  [------------------------]    0%  0 B / 0 B',
    );
    expect(renderProgressLine({ phase: 'statistics', done: 3, total: 12, unit: 'count', bytesPerSecond: null })).toContain('25%  3/12');
  });

  it('never gets wider than the terminal', () => {
    const line = renderProgressLine({ phase: 'copying', done: 5, total: 10, unit: 'bytes', bytesPerSecond: 1 }, 40);
    expect(line.length).toBe(39);
  });
});

describe('createProgressBar', () => {
  it('redraws in place at most every 100 ms, and at once when the phase changes', () => {
    let output = '';
    let clock = 0;
    const bar = createProgressBar({ write: (text) => (output += text), now: () => clock, columns: 120 });
    for (let step = 0; step <= 100; step++) {
      clock = step * 10;
      bar.update({ phase: 'copying', done: step, total: 100 });
    }
    bar.update({ phase: 'verifying', done: 0, total: 100 });
    const draws = output.split('\r').filter((part) => part !== '');
    // 1 s of updates every 10 ms: the first draw and one per 100 ms, then the phase change.
    expect(draws.filter((draw) => draw.startsWith('copying'))).toHaveLength(11);
    expect(draws.at(-1)).toMatch(/^verifying/);
    expect(draws.every((draw) => draw.endsWith('\u001b[K'))).toBe(true);
    expect(output).not.toContain('\n');
  });

  it('measures speed over the current phase', () => {
    let output = '';
    let clock = 0;
    const bar = createProgressBar({ write: (text) => (output += text), now: () => clock, columns: 120 });
    bar.update({ phase: 'copying', done: 0, total: 10_000_000 });
    clock = 1000;
    bar.update({ phase: 'copying', done: 2_000_000, total: 10_000_000 });
    expect(output).toContain('2.00 MB/s  ETA 0:04');
  });

  it('erases its line on clear, and only if it drew one', () => {
    let output = '';
    const bar = createProgressBar({ write: (text) => (output += text), now: () => 0 });
    bar.clear();
    expect(output).toBe('');
    bar.update({ phase: 'copying', done: 1, total: 2 });
    bar.clear();
    expect(output.endsWith('\r\u001b[K')).toBe(true);
  });
});
