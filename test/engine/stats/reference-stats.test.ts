import { describe, expect, it } from 'vitest';
import { encodeFromFloat64 } from '../../../electron/engine/stats/float-codec.js';
import { referenceTensorStats, statsFromSums } from '../../../electron/engine/stats/reference-stats.js';

describe('referenceTensorStats', () => {
  it('counts NaN and infinities and leaves them out of the sums and the maximum', () => {
    const bytes = encodeFromFloat64([3, -4, NaN, Infinity, -Infinity, 0], 'F32');
    expect(referenceTensorStats('w', bytes, 'F32')).toEqual({
      name: 'w',
      elements: 6,
      l2: 5,
      rms: Math.sqrt(25 / 3),
      mean: -1 / 3,
      maxAbs: 4,
      nanCount: 1,
      infCount: 2,
      sampled: false,
    });
  });

  it('finds no infinities in F8_E4M3, whose top pattern is NaN', () => {
    // 0x7E = 448, 0x7F = NaN, 0xFF = NaN, 0xB8 = −1.
    const stats = referenceTensorStats('f8', new Uint8Array([0x7e, 0x7f, 0xff, 0xb8]), 'F8_E4M3');
    expect(stats).toMatchObject({ elements: 4, nanCount: 2, infCount: 0, maxAbs: 448, mean: (448 - 1) / 2 });
    expect(stats.l2).toBeCloseTo(Math.sqrt(448 * 448 + 1), 12);
  });

  it('reports zeros for an empty tensor and for one without a finite element', () => {
    expect(referenceTensorStats('empty', new Uint8Array(0), 'BF16')).toMatchObject({ elements: 0, l2: 0, rms: 0, mean: 0, maxAbs: 0 });
    const allNaN = referenceTensorStats('nan', encodeFromFloat64([NaN, NaN], 'F16'), 'F16');
    expect(allNaN).toMatchObject({ elements: 2, nanCount: 2, l2: 0, rms: 0, mean: 0, maxAbs: 0 });
  });

  it('gives rms = l2 / √n for a tensor of finite values', () => {
    const values = Array.from({ length: 1000 }, (_, index) => Math.sin(index) * 3);
    const stats = referenceTensorStats('sine', encodeFromFloat64(values, 'BF16'), 'BF16');
    expect(stats.rms).toBeCloseTo(stats.l2 / Math.sqrt(1000), 12);
    expect(stats.maxAbs).toBeLessThanOrEqual(3);
  });
});

describe('statsFromSums', () => {
  it('divides by the finite elements and keeps the sampled flag', () => {
    const stats = statsFromSums('t', { elements: 10, sum: 8, sumSquares: 32, maxAbs: 4, nanCount: 1, infCount: 1 }, true);
    expect(stats).toEqual({ name: 't', elements: 10, l2: Math.sqrt(32), rms: 2, mean: 1, maxAbs: 4, nanCount: 1, infCount: 1, sampled: true });
  });
});
