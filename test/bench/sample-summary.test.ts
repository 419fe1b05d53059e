import { describe, expect, it } from 'vitest';
import { quantile, summarize } from './sample-summary.js';

describe('summarize', () => {
  it('takes the middle sample of an odd count and the spread of all', () => {
    expect(summarize([9, 1, 5])).toEqual({ median: 5, min: 1, max: 9, count: 3 });
  });

  it('averages the middle two samples of an even count', () => {
    expect(summarize([4, 1, 3, 10]).median).toBe(3.5);
  });

  it('refuses an empty list and non-finite samples', () => {
    expect(() => summarize([])).toThrow(/no samples/);
    expect(() => summarize([1, Number.NaN])).toThrow(/not a finite number/);
    expect(() => summarize([Number.POSITIVE_INFINITY])).toThrow(/not a finite number/);
  });
});

describe('quantile', () => {
  it('picks the nearest-rank sample', () => {
    const samples = Array.from({ length: 100 }, (_, index) => 100 - index);
    expect(quantile(samples, 0.95)).toBe(95);
    expect(quantile(samples, 0)).toBe(1);
    expect(quantile(samples, 1)).toBe(100);
  });
});
