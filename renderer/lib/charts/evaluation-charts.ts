import { extent, interpolateViridis, line, scaleBand, scaleLinear, scaleSequential } from 'd3';
import type { SweepRange, SweepRow } from '../../../electron/api/types.js';
import { rankSweep } from '../../../electron/common/evaluation/sweep-rules.js';

/**
 * The Evaluate tab's charts: the per-token NLL curve of a plan against its source, and a splice
 * sweep's perplexity against the splice point (a line over SOLAR's drop m, or an A × B heatmap for a
 * grid). d3 does the maths here; the components draw the SVG.
 */

export const EVALUATION_MARGIN = { left: 40, right: 10, top: 8, bottom: 28 } as const;

interface Plot {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function plotArea(width: number, height: number): Plot {
  const margin = EVALUATION_MARGIN;
  return { left: margin.left, right: Math.max(margin.left + 20, width - margin.right), top: margin.top, bottom: Math.max(margin.top + 20, height - margin.bottom) };
}

/**
 * Per-token NLL swings by several nats from one token to the next, so two raw curves drawn over each
 * other read as noise; a centred rolling mean over about 1/40 of the text shows where one model loses
 * to the other.
 */
export function rollingMean(values: readonly number[], window: number): number[] {
  const half = Math.max(0, Math.floor(window / 2));
  const prefix = [0];
  for (const value of values) prefix.push(prefix.at(-1)! + value);
  return values.map((_, index) => {
    const start = Math.max(0, index - half);
    const end = Math.min(values.length, index + half + 1);
    return (prefix[end]! - prefix[start]!) / (end - start);
  });
}

export function nllWindow(tokens: number): number {
  return Math.max(1, Math.round(tokens / 40));
}

export interface NllCurveGeometry {
  plot: Plot;
  planPath: string;
  sourcePath: string;
  window: number;
  xTicks: { key: string; x: number; label: string }[];
  yTicks: { key: string; y: number; label: string }[];
}

export function nllCurveGeometry(plan: readonly number[], source: readonly number[] | undefined, width: number, height: number): NllCurveGeometry {
  const plot = plotArea(width, height);
  const window = nllWindow(Math.max(plan.length, source?.length ?? 0));
  const planCurve = rollingMean(plan, window);
  const sourceCurve = source ? rollingMean(source, window) : [];
  const count = Math.max(plan.length, sourceCurve.length, 2);
  const x = scaleLinear().domain([0, count - 1]).range([plot.left, plot.right]);
  const high = Math.max(0.1, ...planCurve, ...sourceCurve);
  const y = scaleLinear().domain([0, high]).nice(4).range([plot.bottom, plot.top]);
  const path = line<number>()
    .x((_, index) => x(index))
    .y((value) => y(value));
  return {
    plot,
    planPath: path(planCurve) ?? '',
    sourcePath: source ? (path(sourceCurve) ?? '') : '',
    window,
    xTicks: x.ticks(5).map((tick) => ({ key: `x-${tick}`, x: x(tick), label: String(tick) })),
    yTicks: y.ticks(3).map((tick) => ({ key: `y-${tick}`, y: y(tick), label: String(tick) })),
  };
}

/** Where the current plan sits in a sweep, when it is a two-copy splice of the swept model. */
export interface SplicePoint {
  a: number;
  b: number;
}

export interface SweepPointMark {
  key: string;
  a: number;
  b: number;
  x: number;
  y: number;
  perplexity: number;
  current: boolean;
  best: boolean;
}

export interface SweepLineGeometry {
  kind: 'drop';
  plot: Plot;
  path: string;
  points: SweepPointMark[];
  /** The source's perplexity as a horizontal line (absent until the sweep reports it). */
  sourceY: number | null;
  /** x of the current plan's drop, when it is one of the range's (marked even before its row arrives). */
  currentX: number | null;
  xTicks: { key: string; x: number; label: string }[];
  yTicks: { key: string; y: number; label: string }[];
}

function perplexityTicks(low: number, high: number): (tick: number) => string {
  const digits = high - low < 0.5 ? 3 : 2;
  return (tick) => tick.toFixed(digits);
}

/** Perplexity against SOLAR's drop m (a = n − m, b = m) for every m of the range. */
export function sweepLineGeometry(
  range: Extract<SweepRange, { kind: 'drop' }>,
  /** The swept model's layer count n. */
  layers: number,
  rows: readonly SweepRow[],
  source: number | null,
  current: SplicePoint | null,
  width: number,
  height: number,
): SweepLineGeometry {
  const plot = plotArea(width, height);
  const x = scaleLinear()
    .domain([range.from - 0.5, range.to + 0.5])
    .range([plot.left, plot.right]);
  const values = [...rows.map((row) => row.perplexity), ...(source === null ? [] : [source])];
  const [low = 1, high = 2] = extent(values);
  const pad = Math.max((high - low) * 0.1, high * 0.01);
  const y = scaleLinear()
    .domain([Math.max(0, low - pad), high + pad])
    .nice(4)
    .range([plot.bottom, plot.top]);
  const best = bestRow(rows);
  const ordered = [...rows].sort((left, right) => left.b - right.b);
  const points = ordered.map((row) => ({
    key: `${row.a}:${row.b}`,
    a: row.a,
    b: row.b,
    x: x(row.b),
    y: y(row.perplexity),
    perplexity: row.perplexity,
    current: current !== null && current.a === row.a && current.b === row.b,
    best: row === best,
  }));
  const path = line<SweepPointMark>()
    .x((point) => point.x)
    .y((point) => point.y)(points);
  const isDrop = current !== null && current.a === layers - current.b && current.b >= range.from && current.b <= range.to;
  const domainTicks = x.ticks(Math.min(10, range.to - range.from + 1)).filter((tick) => Number.isInteger(tick) && tick >= range.from && tick <= range.to);
  const format = perplexityTicks(y.domain()[0]!, y.domain()[1]!);
  return {
    kind: 'drop',
    plot,
    path: path ?? '',
    points,
    sourceY: source === null ? null : y(source),
    currentX: isDrop && current ? x(current.b) : null,
    xTicks: domainTicks.map((tick) => ({ key: `x-${tick}`, x: x(tick), label: String(tick) })),
    yTicks: y.ticks(4).map((tick) => ({ key: `y-${tick}`, y: y(tick), label: format(tick) })),
  };
}

export interface SweepCell extends SweepPointMark {
  size: number;
  fill: string;
}

export interface SweepGridGeometry {
  kind: 'grid';
  plot: Plot;
  cell: number;
  cells: SweepCell[];
  /** Cells of the range still to come (drawn empty so the grid's shape shows from the start). */
  pending: { key: string; x: number; y: number }[];
  xTicks: { key: string; x: number; label: string }[];
  yTicks: { key: string; y: number; label: string }[];
  /** Colour legend: perplexity from low to high, with the source's perplexity placed on it. */
  legend: { low: number; high: number; stops: { offset: number; colour: string }[]; source: number | null };
}

/**
 * Perplexity over the (A, B) grid: rows are A (copy one keeps [0, A)), columns B (copy two keeps
 * [B, n)). Lower is better, so the colour runs from yellow (low, good) to purple (high). A heatmap
 * has no room for a horizontal line: the source's perplexity is placed on the legend.
 */
export function sweepGridGeometry(
  range: Extract<SweepRange, { kind: 'grid' }>,
  rows: readonly SweepRow[],
  source: number | null,
  current: SplicePoint | null,
  width: number,
  height: number,
): SweepGridGeometry {
  const plot = plotArea(width, height);
  const aValues = Array.from({ length: range.aTo - range.aFrom + 1 }, (_, index) => range.aFrom + index);
  const bValues = Array.from({ length: range.bTo - range.bFrom + 1 }, (_, index) => range.bFrom + index);
  const cell = Math.max(4, Math.min(40, Math.floor(Math.min((plot.right - plot.left) / bValues.length, (plot.bottom - plot.top) / aValues.length))));
  const x = scaleBand<number>()
    .domain(bValues)
    .range([plot.left, plot.left + cell * bValues.length]);
  const y = scaleBand<number>()
    .domain(aValues)
    .range([plot.top, plot.top + cell * aValues.length]);
  const values = rows.map((row) => row.perplexity);
  const [low = 1, high = 2] = extent(values);
  const colour = scaleSequential((t: number) => interpolateViridis(1 - t)).domain([low, high === low ? low + 1e-9 : high]);
  const best = bestRow(rows);
  const seen = new Set(rows.map((row) => `${row.a}:${row.b}`));
  const cells = rows
    .filter((row) => x(row.b) !== undefined && y(row.a) !== undefined)
    .map((row) => ({
      key: `${row.a}:${row.b}`,
      a: row.a,
      b: row.b,
      x: x(row.b)!,
      y: y(row.a)!,
      size: cell,
      perplexity: row.perplexity,
      fill: colour(row.perplexity),
      current: current !== null && current.a === row.a && current.b === row.b,
      best: row === best,
    }));
  const pending = aValues.flatMap((a) => bValues.filter((b) => !seen.has(`${a}:${b}`)).map((b) => ({ key: `${a}:${b}`, x: x(b)!, y: y(a)! })));
  const every = (count: number) => Math.max(1, Math.ceil((count * 14) / Math.max(1, cell * count)));
  return {
    kind: 'grid',
    plot,
    cell,
    cells,
    pending,
    xTicks: bValues.filter((_, index) => index % every(bValues.length) === 0).map((b) => ({ key: `x-${b}`, x: x(b)! + cell / 2, label: String(b) })),
    yTicks: aValues.filter((_, index) => index % every(aValues.length) === 0).map((a) => ({ key: `y-${a}`, y: y(a)! + cell / 2, label: String(a) })),
    legend: {
      low,
      high,
      stops: [0, 0.25, 0.5, 0.75, 1].map((offset) => ({ offset, colour: interpolateViridis(1 - offset) })),
      source,
    },
  };
}

function bestRow(rows: readonly SweepRow[]): SweepRow | undefined {
  return rankSweep(rows)[0];
}
