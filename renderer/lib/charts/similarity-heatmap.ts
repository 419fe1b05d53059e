import { interpolateLab, interpolateRdBu, interpolateViridis, piecewise, scaleBand, scaleDiverging, scaleSequential, ticks as numberTicks } from 'd3';

/**
 * Layer × layer cosine-similarity heatmap: rows are layers of source A, columns layers of source B.
 * Projections of different layers are nearly orthogonal (cosines within ±0.3), norm weights nearly
 * parallel (0.9 and up), so the colour scale spans the values present, not [−1, 1]: diverging around
 * 0 (blue negative, red positive) when they straddle it, sequential (viridis) otherwise. Against
 * itself the diagonal is 1 by definition and would flatten everything else, so it stays off the scale
 * (drawn in the top colour).
 */

/** A row of values, or undefined while it is still being computed. */
export type SimilarityRows = readonly (readonly (number | null)[] | undefined)[];

export interface SimilarityColourScale {
  kind: 'diverging' | 'sequential';
  low: number;
  high: number;
  colour: (value: number) => string;
  /** Gradient stops for the legend, offsets 0…1 from low to high. */
  stops: { offset: number; colour: string }[];
  ticks: number[];
}

export interface SimilarityCell {
  key: string;
  i: number;
  j: number;
  x: number;
  y: number;
  width: number;
  height: number;
  /** undefined: not computed yet; null: no value (the layer lacks the kind, or a zero tensor). */
  value: number | null | undefined;
  fill: string;
}

export interface SimilarityGeometry {
  width: number;
  height: number;
  left: number;
  top: number;
  /** One cell in CSS pixels: as wide and as tall as the box allows, within ASPECT of square. */
  cellWidth: number;
  cellHeight: number;
  cells: SimilarityCell[];
  /** Column ticks (layers of B) along the bottom, row ticks (layers of A) along the left. */
  xTicks: { key: string; j: number; x: number }[];
  yTicks: { key: string; i: number; y: number }[];
  /** Baselines of the bottom axis's tick labels and of its title. */
  xTickY: number;
  xTitleY: number;
  /** Right end of the left axis's tick labels. */
  yTickX: number;
  /** The axis titles, their model names shortened with "…" where the whole title would not fit. */
  xTitle: string;
  yTitle: string;
}

/** Labels and titles are drawn at this size (0.625rem). */
export const SIMILARITY_FONT_PX = 10;
/**
 * Widest advance of a digit, letter or punctuation mark in the UI's sans-serif, in em; "→", "m"
 * and "W" are counted double. An upper bound, so a measured label is never wider than its room.
 */
const GLYPH_EM = 0.62;
const WIDE_GLYPHS = /[→mwMW…]/u;
/** Height of a 10 px label's box: the rotated title is this thick. */
const LABEL_HEIGHT = 12;
/** From the cells to the tick labels: the seam pointer (7 px) and a gap. */
const TICK_GAP = 9;

/** Width of `text` at the labels' size, never less than Chromium draws it. */
export function labelWidth(text: string): number {
  let em = 0;
  for (const glyph of text) em += WIDE_GLYPHS.test(glyph) ? 2 * GLYPH_EM : GLYPH_EM;
  return em * SIMILARITY_FONT_PX;
}

/**
 * "A layer (name) →" within `room` pixels: the name loses characters from its end (marked "…")
 * until the title fits, and goes entirely only when not one character of it fits.
 */
export function fitAxisTitle(axis: 'A' | 'B', name: string, room: number): string {
  const whole = `${axis} layer (${name}) →`;
  if (labelWidth(whole) <= room) return whole;
  const glyphs = [...name];
  for (let keep = glyphs.length - 1; keep >= 1; keep -= 1) {
    const title = `${axis} layer (${glyphs.slice(0, keep).join('')}…) →`;
    if (labelWidth(title) <= room) return title;
  }
  return `${axis} layer →`;
}

/**
 * Margins around the cells, from what is drawn in them. Left: the rotated A title, a gap, the widest
 * row label, the seam pointer. Bottom: the seam pointer, the column labels, the B title. Right: half
 * the widest column label, which is centred on the last column. Top: half a label's height, for the
 * first row's label.
 */
export function similarityMargins(rows: number, cols: number): { left: number; right: number; top: number; bottom: number } {
  const rowLabel = labelWidth(String(Math.max(rows - 1, 0)));
  const colLabel = labelWidth(String(Math.max(cols - 1, 0)));
  return {
    left: Math.ceil(4 + LABEL_HEIGHT + 3 + rowLabel + TICK_GAP),
    right: Math.max(8, Math.ceil(colLabel / 2 + 2)),
    top: Math.ceil(LABEL_HEIGHT / 2),
    bottom: TICK_GAP + 2 * LABEL_HEIGHT + 3,
  };
}

/**
 * Cells narrower or shorter than this make the matrix scroll rather than shrink further. Between it
 * and 2 px cells keep their fractional size, so an 80- or 137-layer matrix still fits a low panel
 * whole, its axes with it; from 2 px up they are whole pixels.
 */
export const SIMILARITY_MIN_CELL = 1;
export const SIMILARITY_MAX_CELL = 44;
/**
 * Cells may be up to this many times wider than tall (or taller than wide): the bottom panel is
 * wide and low, and square cells left most of it empty around a small matrix.
 */
export const SIMILARITY_MAX_ASPECT = 3;
export const SIMILARITY_PENDING = 'var(--surface-hover)';
export const SIMILARITY_MISSING = 'var(--surface-sunken)';

/**
 * The diverging scale on a dark surface: RdBu's white middle turned a matrix of near-zero cosines
 * into a glaring white block; here the middle sits near the surface and strength means brightness,
 * blue for negative, red for positive, as in the light scale.
 */
const DARK_DIVERGING = piecewise(interpolateLab, ['#9ecae1', '#3b82c4', '#2a303c', '#d9473f', '#fcae91']);

/** The colour scale over the values present (the diagonal excluded when `self`); `dark` for a dark theme. */
export function similarityColourScale(rows: SimilarityRows, self: boolean, dark = false): SimilarityColourScale {
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  rows.forEach((row, i) =>
    row?.forEach((value, j) => {
      if (value === null || (self && i === j)) return;
      low = Math.min(low, value);
      high = Math.max(high, value);
    }),
  );
  if (!Number.isFinite(low)) {
    low = -1;
    high = 1;
  }
  if (low < 0 && high > 0) {
    const reach = Math.max(-low, high);
    // interpolateRdBu runs red → blue; reversed so that alike (positive) is warm.
    const scale = scaleDiverging(dark ? DARK_DIVERGING : (t: number) => interpolateRdBu(1 - t))
      .domain([-reach, 0, reach])
      .clamp(true);
    return finish('diverging', -reach, reach, (value) => scale(value));
  }
  if (high - low < 1e-9) {
    // One value (or all equal): a band around it, so it gets the middle colour.
    low -= 0.01;
    high += 0.01;
  }
  const scale = scaleSequential(interpolateViridis).domain([low, high]).clamp(true);
  return finish('sequential', low, high, (value) => scale(value));
}

function finish(kind: SimilarityColourScale['kind'], low: number, high: number, colour: (value: number) => string): SimilarityColourScale {
  const stops = Array.from({ length: 11 }, (_, index) => ({ offset: index / 10, colour: colour(low + ((high - low) * index) / 10) }));
  const ticks = numberTicks(low, high, 4).filter((tick) => tick >= low && tick <= high);
  return { kind, low, high, colour, stops, ticks };
}

/** A tick every `step` layers, `step` a 1-2-5 number large enough for labels `spacing` px apart. */
export function layerTickStep(cell: number, spacing: number): number {
  const wanted = Math.max(1, spacing / Math.max(cell, 1e-9));
  for (let power = 1; ; power *= 10) {
    for (const factor of [1, 2, 5]) if (factor * power >= wanted) return factor * power;
  }
}

/** The axis titles name the sources: `labelA` along the left, `labelB` along the bottom. */
export interface SimilarityAxes {
  labelA: string;
  labelB: string;
}

/** Cell size and positions for `rows` × `cols` in a box of `width` × `height` CSS pixels. */
export function similarityGeometry(
  values: SimilarityRows,
  rows: number,
  cols: number,
  width: number,
  height: number,
  scale: SimilarityColourScale,
  self: boolean,
  axes: SimilarityAxes = { labelA: 'A', labelB: 'B' },
): SimilarityGeometry {
  const margin = similarityMargins(rows, cols);
  const fitWidth = (width - margin.left - margin.right) / Math.max(cols, 1);
  const fitHeight = (height - margin.top - margin.bottom) / Math.max(rows, 1);
  const clampCell = (size: number) => Math.max(SIMILARITY_MIN_CELL, Math.min(SIMILARITY_MAX_CELL, size >= 2 ? Math.floor(size) : size));
  const cellHeight = clampCell(Math.min(fitHeight, fitWidth * SIMILARITY_MAX_ASPECT));
  const cellWidth = clampCell(Math.min(fitWidth, cellHeight * SIMILARITY_MAX_ASPECT));
  const x = scaleBand<number>()
    .domain(Array.from({ length: cols }, (_, index) => index))
    .range([margin.left, margin.left + cellWidth * cols]);
  const y = scaleBand<number>()
    .domain(Array.from({ length: rows }, (_, index) => index))
    .range([margin.top, margin.top + cellHeight * rows]);
  const cells: SimilarityCell[] = [];
  for (let i = 0; i < rows; i += 1) {
    const row = values[i];
    for (let j = 0; j < cols; j += 1) {
      const value = row === undefined ? undefined : (row[j] ?? null);
      let fill = SIMILARITY_PENDING;
      if (value === null) fill = SIMILARITY_MISSING;
      else if (value !== undefined) fill = scale.colour(self && i === j ? scale.high : value);
      cells.push({ key: `${i}-${j}`, i, j, x: x(j)!, y: y(i)!, width: cellWidth, height: cellHeight, value, fill });
    }
  }
  // Column labels need their width plus a gap between them, row labels their height plus a gap.
  const xStep = layerTickStep(cellWidth, labelWidth(String(Math.max(cols - 1, 0))) + 4);
  const yStep = layerTickStep(cellHeight, LABEL_HEIGHT + 1);
  const xTicks = Array.from({ length: cols }, (_, j) => j)
    .filter((j) => j % xStep === 0)
    .map((j) => ({ key: `x${j}`, j, x: x(j)! + cellWidth / 2 }));
  const yTicks = Array.from({ length: rows }, (_, i) => i)
    .filter((i) => i % yStep === 0)
    .map((i) => ({ key: `y${i}`, i, y: y(i)! + cellHeight / 2 }));
  const cellsBottom = margin.top + cellHeight * rows;
  // The titles may use the whole box beside the cells (not only the cells' extent) before they are shortened.
  const drawnWidth = Math.max(margin.left + cellWidth * cols + margin.right, Math.min(width, margin.left + labelWidth(`B layer (${axes.labelB}) →`) + 2));
  const drawnHeight = Math.max(cellsBottom + margin.bottom, Math.min(height, margin.top + labelWidth(`A layer (${axes.labelA}) →`) + 2));
  return {
    width: drawnWidth,
    height: drawnHeight,
    left: margin.left,
    top: margin.top,
    cellWidth,
    cellHeight,
    cells,
    xTicks,
    yTicks,
    xTickY: cellsBottom + TICK_GAP + LABEL_HEIGHT - 3,
    xTitleY: cellsBottom + TICK_GAP + 2 * LABEL_HEIGHT,
    yTickX: margin.left - TICK_GAP,
    xTitle: fitAxisTitle('B', axes.labelB, drawnWidth - margin.left - 2),
    yTitle: fitAxisTitle('A', axes.labelA, drawnHeight - margin.top - 2),
  };
}

/** The cell a key moves the cursor to (arrows one layer, PageUp/PageDown a tenth, Home/End the row's ends), or null for other keys. */
export function moveSimilarityCursor(
  cursor: { i: number; j: number },
  key: string,
  rows: number,
  cols: number,
): { i: number; j: number } | null {
  const page = Math.max(1, Math.round(rows / 10));
  const clampI = (i: number) => Math.max(0, Math.min(rows - 1, i));
  const clampJ = (j: number) => Math.max(0, Math.min(cols - 1, j));
  switch (key) {
    case 'ArrowUp':
      return { i: clampI(cursor.i - 1), j: cursor.j };
    case 'ArrowDown':
      return { i: clampI(cursor.i + 1), j: cursor.j };
    case 'ArrowLeft':
      return { i: cursor.i, j: clampJ(cursor.j - 1) };
    case 'ArrowRight':
      return { i: cursor.i, j: clampJ(cursor.j + 1) };
    case 'PageUp':
      return { i: clampI(cursor.i - page), j: cursor.j };
    case 'PageDown':
      return { i: clampI(cursor.i + page), j: cursor.j };
    case 'Home':
      return { i: cursor.i, j: 0 };
    case 'End':
      return { i: cursor.i, j: clampJ(cols - 1) };
    default:
      return null;
  }
}

/** A cosine for reading: three decimals, a true minus sign; "—" for no value. */
export function formatCosine(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  const text = value.toFixed(3);
  return text.startsWith('-') ? `−${text.slice(1)}` : text;
}
