import { describe, expect, it } from 'vitest';
import type { NormChartData } from '../../../../renderer/lib/charts/norm-chart.js';
import { HEATMAP_LEGEND_WIDTH, heatmapGeometry } from '../../../../renderer/lib/charts/norm-heatmap.js';

/** One heatmap row of `count` output layers, each copying source layer index % 80, value = index. */
function row(count: number, kind: NormChartData['kind'] = 'q'): NormChartData {
  return {
    kind,
    output: Array.from({ length: count }, (_, index) => ({ index, value: index + 1, sourceLayer: index % 80, model: 'm', modelName: 'm', colour: '#4e79a7' })),
    sources: [],
    seams: [],
    overlaps: [],
  };
}

describe('heatmapGeometry', () => {
  for (const [count, width] of [
    [48, 1250],
    [137, 1250],
    [137, 900],
  ] as const) {
    it(`thins the column labels of ${count} layers in ${width} px so that none touch`, () => {
      const geometry = heatmapGeometry([row(count)], width, 18, 150);
      // Widest label ("136" or "←79"): 6.5 px a character, "←" counted twice.
      const labelWidth = Math.max(String(count - 1).length, 4) * 6.5;
      const xs = geometry.columns.map((column) => column.x);
      expect(xs.length).toBeGreaterThanOrEqual(8);
      for (let index = 1; index < xs.length; index++) expect(xs[index]! - xs[index - 1]!).toBeGreaterThan(labelWidth);
    });
  }

  it("gives each row its colour scale's range and keeps room for it right of the cells", () => {
    const geometry = heatmapGeometry([row(48), { ...row(48, 'k'), output: row(48).output.map((point) => ({ ...point, value: (point.value ?? 0) * 10 })) }], 1200, 18, 150);
    expect(geometry.rows.map((entry) => [entry.low, entry.high])).toEqual([
      [1, 48],
      [10, 480],
    ]);
    const right = Math.max(...geometry.cells.map((cell) => cell.x + cell.width));
    expect(geometry.legendX).toBeGreaterThan(right);
    expect(geometry.legendX + HEATMAP_LEGEND_WIDTH).toBeLessThanOrEqual(geometry.width + 12);
    expect(geometry.rows[0]!.stops[0]!.offset).toBe(0);
    expect(geometry.rows[0]!.stops.at(-1)!.offset).toBe(1);
  });
});
