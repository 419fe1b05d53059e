import { describe, expect, it } from 'vitest';
import {
  formatCosine,
  layerTickStep,
  moveSimilarityCursor,
  fitAxisTitle,
  labelWidth,
  SIMILARITY_MAX_CELL,
  SIMILARITY_MIN_CELL,
  SIMILARITY_MISSING,
  SIMILARITY_PENDING,
  similarityColourScale,
  similarityGeometry,
  similarityMargins,
} from '../../../../renderer/lib/charts/similarity-heatmap.js';

const selfMatrix = [
  [1, 0.2, -0.1],
  [0.2, 1, 0.05],
  [-0.1, 0.05, 1],
];

describe('similarityColourScale', () => {
  it('diverges around 0 over the off-diagonal values when they straddle it', () => {
    const scale = similarityColourScale(selfMatrix, true);
    expect(scale).toMatchObject({ kind: 'diverging', low: -0.2, high: 0.2 });
    // Zero is the neutral middle; alike (positive) and opposite (negative) get different hues.
    expect(scale.colour(0)).toBe(scale.stops[5]!.colour);
    expect(scale.colour(0.2)).not.toBe(scale.colour(-0.2));
    expect(scale.colour(1)).toBe(scale.colour(0.2));
  });

  it('is sequential over the values present when all lie on one side of 0, the diagonal left out', () => {
    const norms = [
      [1, 0.95, 0.93],
      [0.95, 1, 0.97],
      [0.93, 0.97, 1],
    ];
    const scale = similarityColourScale(norms, true);
    expect(scale).toMatchObject({ kind: 'sequential', low: 0.93, high: 0.97 });
    expect(scale.colour(0.93)).not.toBe(scale.colour(0.97));
    expect(scale.ticks.every((tick) => tick >= 0.93 && tick <= 0.97)).toBe(true);
    // Between two checkpoints the diagonal is data like any other cell.
    expect(similarityColourScale(norms, false)).toMatchObject({ low: 0.93, high: 1 });
  });

  it('ignores missing and pending values, and copes with none at all', () => {
    expect(similarityColourScale([[1, null], undefined], true)).toMatchObject({ low: -1, high: 1 });
    expect(similarityColourScale([[0.5]], false)).toMatchObject({ kind: 'sequential' });
  });
});

describe('similarityColourScale on a dark theme', () => {
  it('puts the middle of the diverging scale near the dark surface and the extremes bright', () => {
    const luminance = (colour: string) => {
      const channels = colour.match(/\d+/g)!.map(Number);
      return 0.2126 * channels[0]! + 0.7152 * channels[1]! + 0.0722 * channels[2]!;
    };
    const dark = similarityColourScale(selfMatrix, true, true);
    expect(dark.kind).toBe('diverging');
    expect(luminance(dark.colour(0))).toBeLessThan(60);
    expect(luminance(dark.colour(dark.high))).toBeGreaterThan(luminance(dark.colour(dark.high / 2)));
    expect(luminance(dark.colour(dark.low))).toBeGreaterThan(luminance(dark.colour(dark.low / 2)));
    // The light scale keeps RdBu's white middle.
    expect(luminance(similarityColourScale(selfMatrix, true).colour(0))).toBeGreaterThan(200);
  });
});

describe('similarityGeometry', () => {
  it('fits square cells into the box, with room for the axes', () => {
    const scale = similarityColourScale(selfMatrix, true);
    const geometry = similarityGeometry(selfMatrix, 3, 3, 400, 200, scale, true);
    const margin = similarityMargins(3, 3);
    const fit = Math.floor((200 - margin.top - margin.bottom) / 3);
    expect(geometry.cellHeight).toBe(Math.min(fit, SIMILARITY_MAX_CELL));
    expect(geometry.cellWidth).toBe(geometry.cellHeight);
    expect(geometry.cells).toHaveLength(9);
    const last = geometry.cells.at(-1)!;
    expect(last).toMatchObject({ i: 2, j: 2, x: margin.left + 2 * geometry.cellWidth, y: margin.top + 2 * geometry.cellHeight });
    expect(geometry.width).toBe(margin.left + 3 * geometry.cellWidth + margin.right);
    expect(geometry.xTicks.map((tick) => tick.j)).toEqual([0, 1, 2]);
  });

  it('fits 80 layers into a small box, thinning the ticks, and scrolls only below the smallest cell', () => {
    const values = Array.from({ length: 80 }, () => Array.from({ length: 80 }, () => 0.1));
    const geometry = similarityGeometry(values, 80, 80, 400, 220, similarityColourScale(values, false), false);
    expect(geometry.cellHeight).toBe(2);
    // The box is wider than tall: cells take the width too (up to SIMILARITY_MAX_ASPECT × their height).
    expect(geometry.cellWidth).toBe(4);
    expect(geometry.height).toBeLessThanOrEqual(220);
    expect(geometry.width).toBeLessThanOrEqual(400);
    expect(geometry.cells).toHaveLength(6400);
    expect(geometry.xTicks.map((tick) => tick.j).slice(0, 3)).toEqual([0, 5, 10]);
    const tight = similarityGeometry(values, 80, 80, 100, 100, similarityColourScale(values, false), false);
    expect(tight.cellHeight).toBe(SIMILARITY_MIN_CELL);
    expect(tight.height).toBeGreaterThan(100);
  });

  // The 1280×800 window's panel gave 196 px: 2 px rows made the matrix 202 px high and cut the B title.
  it('keeps 80 and 137 rows and both axes inside a low box, with rows under 2 px', () => {
    for (const layers of [80, 137]) {
      const values = Array.from({ length: layers }, () => Array.from({ length: layers }, () => 0.1));
      const geometry = similarityGeometry(values, layers, layers, 500, 196, similarityColourScale(values, false), false);
      expect(geometry.height, `${layers} layers`).toBeLessThanOrEqual(196);
      expect(geometry.cellHeight).toBeGreaterThanOrEqual(1);
      expect(geometry.cellHeight).toBeLessThan(2);
      expect(geometry.xTitleY + 3).toBeLessThanOrEqual(geometry.height);
      // Row labels ("136") end left of the pointer and start right of the rotated title.
      expect(geometry.yTickX - labelWidth(String(layers - 1))).toBeGreaterThanOrEqual(16);
      // The last column's label, centred on it, ends inside the picture.
      const last = geometry.xTicks.at(-1)!;
      expect(last.x + labelWidth(String(last.j)) / 2).toBeLessThanOrEqual(geometry.width);
    }
  });

  it('shortens a model name in an axis title that would not fit, and never the rest', () => {
    const values = [[0.1, 0.2]];
    const geometry = similarityGeometry(values, 1, 2, 900, 120, similarityColourScale(values, false), false, {
      labelA: 'Meta-Llama-3.1-405B-Instruct-abliterated',
      labelB: 'b',
    });
    expect(geometry.xTitle).toBe('B layer (b) →');
    expect(geometry.yTitle).toMatch(/^A layer \(Me[^)]*…\) →$/);
    expect(labelWidth(geometry.yTitle)).toBeLessThanOrEqual(geometry.height - geometry.top);
    expect(fitAxisTitle('B', 'xwin-80', 1000)).toBe('B layer (xwin-80) →');
    expect(fitAxisTitle('B', 'xwin-80', 40)).toBe('B layer →');
  });

  it('fills pending rows and missing values apart from real ones', () => {
    const scale = similarityColourScale(selfMatrix, true);
    const geometry = similarityGeometry([[1, null, 0.1], undefined, undefined], 3, 3, 400, 200, scale, true);
    expect(geometry.cells[1]).toMatchObject({ value: null, fill: SIMILARITY_MISSING });
    expect(geometry.cells[3]).toMatchObject({ value: undefined, fill: SIMILARITY_PENDING });
    expect(geometry.cells[0]!.fill).toBe(scale.colour(scale.high));
  });
});

describe('heatmap helpers', () => {
  it('steps ticks by 1, 2, 5, 10, … layers', () => {
    expect(layerTickStep(30, 22)).toBe(1);
    expect(layerTickStep(8, 22)).toBe(5);
    expect(layerTickStep(4, 22)).toBe(10);
    expect(layerTickStep(1, 22)).toBe(50);
  });

  it('moves the cursor within the matrix', () => {
    expect(moveSimilarityCursor({ i: 0, j: 0 }, 'ArrowUp', 5, 6)).toEqual({ i: 0, j: 0 });
    expect(moveSimilarityCursor({ i: 0, j: 0 }, 'ArrowRight', 5, 6)).toEqual({ i: 0, j: 1 });
    expect(moveSimilarityCursor({ i: 2, j: 3 }, 'End', 5, 6)).toEqual({ i: 2, j: 5 });
    expect(moveSimilarityCursor({ i: 2, j: 3 }, 'PageDown', 80, 80)).toEqual({ i: 10, j: 3 });
    expect(moveSimilarityCursor({ i: 2, j: 3 }, 'x', 5, 6)).toBeNull();
  });

  it('writes cosines with three decimals and a true minus sign', () => {
    expect(formatCosine(-0.2081)).toBe('−0.208');
    expect(formatCosine(1)).toBe('1.000');
    expect(formatCosine(null)).toBe('—');
    expect(formatCosine(undefined)).toBe('—');
  });
});
