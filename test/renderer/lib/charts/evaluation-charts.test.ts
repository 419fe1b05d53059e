import { describe, expect, it } from 'vitest';
import { rollingMean, sweepGridGeometry, sweepLineGeometry } from '../../../../renderer/lib/charts/evaluation-charts.js';

const rows = [
  { a: 4, b: 1, layers: 8, perplexity: 4.2, tokens: 402 },
  { a: 3, b: 2, layers: 6, perplexity: 3.55, tokens: 402 },
];

describe('evaluation charts', () => {
  it('smooths NLL with a centred rolling mean that keeps the ends', () => {
    expect(rollingMean([0, 3, 0, 3, 0], 3)).toEqual([1.5, 1, 2, 1, 1.5]);
    expect(rollingMean([1, 2, 3], 1)).toEqual([1, 2, 3]);
  });

  it('draws perplexity by drop m with the source as a line and marks the current plan and the best', () => {
    const geometry = sweepLineGeometry({ kind: 'drop', from: 1, to: 2 }, 5, rows, 3.17, { a: 4, b: 1 }, 400, 160);
    expect(geometry.points.map((point) => [point.b, point.current, point.best])).toEqual([
      [1, true, false],
      [2, false, true],
    ]);
    // Lower perplexity is drawn higher; the source (3.17) lies below both points on screen.
    expect(geometry.points[1]!.y).toBeGreaterThan(0);
    expect(geometry.points[0]!.y).toBeLessThan(geometry.points[1]!.y);
    expect(geometry.sourceY).toBeGreaterThan(geometry.points[1]!.y);
    expect(geometry.currentX).toBe(geometry.points[0]!.x);
    expect(geometry.xTicks.map((tick) => tick.label)).toEqual(['1', '2']);
  });

  it('marks no current point when the plan is not a drop of the range', () => {
    expect(sweepLineGeometry({ kind: 'drop', from: 1, to: 2 }, 5, rows, null, { a: 5, b: 3 }, 400, 160).currentX).toBeNull();
  });

  it('lays the grid out as A rows by B columns, keeping cells not yet evaluated as pending', () => {
    const geometry = sweepGridGeometry({ kind: 'grid', aFrom: 3, aTo: 4, bFrom: 1, bTo: 2 }, rows, 3.17, { a: 3, b: 2 }, 400, 160);
    expect(geometry.cells.map((cell) => cell.key)).toEqual(['4:1', '3:2']);
    expect(geometry.pending.map((cell) => cell.key)).toEqual(['3:1', '4:2']);
    const [low, high] = geometry.cells;
    expect(low!.y).toBeGreaterThan(high!.y);
    expect(low!.x).toBeLessThan(high!.x);
    expect(geometry.cells.find((cell) => cell.current)?.key).toBe('3:2');
    expect(geometry.legend).toMatchObject({ low: 3.55, high: 4.2, source: 3.17 });
    expect(low!.fill).not.toBe(high!.fill);
  });
});
