import { interpolateViridis, scaleBand, scaleSequential } from 'd3';
import type { TensorKind } from '../../../electron/api/types.js';
import type { NormChartData } from './norm-chart.js';

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
  rows: { kind: TensorKind; y: number; height: number }[];
  columns: { key: string; index: number; x: number; sourceLayer: number }[];
  seams: { key: string; x: number }[];
}

export const HEATMAP_MISSING = 'var(--surface-sunken)';

export function heatmapGeometry(data: readonly NormChartData[], width: number, rowHeight = 18, left = 150, top = 8): HeatmapGeometry {
  const count = Math.max(1, ...data.map((row) => row.output.length));
  const x = scaleBand<number>()
    .domain(Array.from({ length: count }, (_, index) => index))
    .range([left, Math.max(left + count, width - 8)])
    .paddingInner(count > 60 ? 0 : 0.06);
  const cells: HeatmapCell[] = [];
  const rows = data.map((row, rowIndex) => ({ kind: row.kind, y: top + rowIndex * rowHeight, height: rowHeight - 2 }));
  data.forEach((row, rowIndex) => {
    const values = row.output.map((point) => point.value).filter((value): value is number => value !== null);
    const low = values.length > 0 ? Math.min(...values) : 0;
    const high = values.length > 0 ? Math.max(...values) : 1;
    const colour = scaleSequential(interpolateViridis).domain(low === high ? [low - 1, high + 1] : [low, high]);
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
  const room = Math.max(2, Math.floor((width - left) / 30));
  const step = Math.max(1, Math.ceil(count / room));
  const columns = (first?.output ?? [])
    .filter((point) => point.index % step === 0)
    .map((point) => ({ key: `c-${point.index}`, index: point.index, x: (x(point.index) ?? left) + x.bandwidth() / 2, sourceLayer: point.sourceLayer }));
  const seams = (first?.seams ?? []).map((after) => ({ key: `s-${after}`, x: (x(after + 1) ?? left) - (x.step() - x.bandwidth()) / 2 }));
  return { width: Math.max(width, left + count + 8), height: top + rows.length * rowHeight + 30, left, top, cells, rows, columns, seams };
}
