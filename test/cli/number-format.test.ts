import { describe, expect, it } from 'vitest';
import { formatBytes, formatClock, formatParameters, formatRate, formatSeconds, formatStat } from '../../electron/cli/number-format.js';

describe('number formats', () => {
  it('writes sizes in decimal units with three significant digits', () => {
    expect([0, 999, 1000, 1_040_128, 21_400_000_000, 5e15].map(formatBytes)).toEqual(['0 B', '999 B', '1.00 kB', '1.04 MB', '21.4 GB', '5.00 PB']);
  });

  it('writes parameter counts on the short scale', () => {
    expect([512, 260_032, 7_241_732_096, 10_700_000_000].map(formatParameters)).toEqual(['512', '260 K', '7.24 B', '10.7 B']);
  });

  it('writes durations, clocks, rates and statistics', () => {
    expect(formatSeconds(0.04)).toBe('0.04 s');
    expect(formatSeconds(12.3)).toBe('12 s');
    expect(formatSeconds(125)).toBe('2 min 5 s');
    expect(formatClock(3723)).toBe('1:02:03');
    expect(formatClock(Number.POSITIVE_INFINITY)).toBe('--:--');
    expect(formatRate(310_400_000)).toBe('310 MB/s');
    expect(formatRate(1_500_000)).toBe('1.50 MB/s');
    expect([null, 0, 1.23456, 1e-5, 123456, Number.NaN].map(formatStat)).toEqual(['-', '0', '1.235', '1.000e-5', '1.235e+5', 'NaN']);
  });
});
