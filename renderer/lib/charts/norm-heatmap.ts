import { interpolateViridis, scaleBand, scaleSequential } from 'd3';
import type { TensorKind } from '../../../electron/api/types.js';
import type { NormChartData } from './norm-chart.js';
import { layerTickStep } from './similarity-heatmap.js';

/**
 * Layer × tensor-kind heatmap of the output's norms. Each row (kind) has its own colour scale,
 * from its smallest to its largest value, because kinds differ by orders of magnitude
 * (a norm weight near 1, a down_proj in the hundreds): within a row, the colour shows the profile.
 */

export interface HeatmapCell {
  key: string;
  kind: TensorKind;
  index: number;
  x: number;
  y: number;
  width: number;
  height: number;
  fill: string;
  value: number | null;
}

export interface HeatmapGeometry {
  width: number;
  height: number;
  left: number;
  top: number;
  cells: HeatmapCell[];
  /** Per row: its colour scale's range and gradient stops, for the legend at the row's right. */
  rows: { kind: TensorKind; y: number; height: number; low: number; high: number; stops: { offset: number; colour: string }[] }[];
  /** Where each row's legend (low value, gradient, high value) starts. */
  legendX: number;
  /** Width of one layer's band. */
  step: number;
  columns: { key: string; index: number; x: number; sourceLayer: number }[];
  seams: { key: string; x: number }[];
}

export const HEATMAP_MISSING = 'var(--surface-sunken)';
/** Room right of the cells for each row's colour scale: low value, a gradient bar, high value. */
export const HEATMAP_LEGEND_WIDTH = 150;
/** Advance of one character of a column label (10 px tabular digits; "←" counts as two) and the gap kept between labels. */
const LABEL_CHARACTER_WIDTH = 6.5;
const LABEL_GAP = 8;

export function heatmapGeometry(data: readonly NormChartData[], width: number, rowHeight = 18, left = 150, top = 18): HeatmapGeometry {
  const count = Math.max(1, ...data.map((row) => row.output.length));
  const cellsRight = Math.max(left + count, width - 8 - HEATMAP_LEGEND_WIDTH);
  const x = scaleBand<number>()
    .domain(Array.from({ length: count }, (_, index) => index))
    .range([left, cellsRight])
    .paddingInner(count > 60 ? 0 : 0.06);
  const cells: HeatmapCell[] = [];
  const scales = data.map((row) => {
    const values = row.output.map((point) => point.value).filter((value): value is number => value !== null);
    const low = values.length > 0 ? Math.min(...values) : 0;
    const high = values.length > 0 ? Math.max(...values) : 1;
    return { low, high, colour: scaleSequential(interpolateViridis).domain(low === high ? [low - 1, high + 1] : [low, high]) };
  });
  const rows = data.map((row, rowIndex) => {
    const { low, high, colour } = scales[rowIndex]!;
    const stops = Array.from({ length: 6 }, (_, index) => ({ offset: index / 5, colour: colour(low + ((high - low) * index) / 5) }));
    return { kind: row.kind, y: top + rowIndex * rowHeight, height: rowHeight - 2, low, high, stops };
  });
  data.forEach((row, rowIndex) => {
    const { colour } = scales[rowIndex]!;
    for (const point of row.output) {
      cells.push({
        key: `${row.kind}-${point.index}`,
        kind: row.kind,
        index: point.index,
        x: x(point.index) ?? left,
        y: rows[rowIndex]!.y,
        width: Math.max(1, x.bandwidth()),
        height: rowHeight - 2,
        fill: point.value === null ? HEATMAP_MISSING : colour(point.value),
        value: point.value,
      });
    }
  });
  const first = data[0];
  // A label every 1, 2, 5, 10… layers, as many as the widest of "137" and "←79" allows without touching.
  const widest = Math.max(String(count - 1).length, ...(first?.output ?? []).map((point) => String(point.sourceLayer).length + 2));
  const step = layerTickStep(x.step(), widest * LABEL_CHARACTER_WIDTH + LABEL_GAP);
  const columns = (first?.output ?? [])
    .filter((point) => point.index % step === 0)
    .map((point) => ({ key: `c-${point.index}`, index: point.index, x: (x(point.index) ?? left) + x.bandwidth() / 2, sourceLayer: point.sourceLayer }));
  const seams = (first?.seams ?? []).map((after) => ({ key: `s-${after}`, x: (x(after + 1) ?? left) - (x.step() - x.bandwidth()) / 2 }));
  return {
    width: Math.max(width, cellsRight + 8 + HEATMAP_LEGEND_WIDTH),
    height: top + rows.length * rowHeight + 30,
    left,
    top,
    cells,
    rows,
    legendX: cellsRight + 12,
    step: x.step(),
    columns,
    seams,
  };
}
