/**
 * The vertical scale of one stack column: where each layer's row starts and ends. A column whose
 * rows fit at a readable height is uniform; a taller one (137 layers in 500 px) becomes an overview
 * with magnified bands: the rows around each focus (the pointer, a seam, a splice handle) get a
 * height that holds a layer number, and the rest share what is left, so every layer stays on screen
 * and the ones being looked at stay identifiable.
 */

/** Rows at least this tall carry their layer number. */
export const READABLE_ROW = 8.5;
/** Height of a magnified row. */
export const MAGNIFIED_ROW = 13;
/** Rows never grow past this, however few layers a column has. */
export const MAX_ROW = 30;
/** A magnified band covers its focus and this many rows on either side. */
export const FOCUS_RADIUS = 4;
/** Compressed rows never go below this, so every layer keeps a pixel to point at. */
const MIN_ROW = 1;

/** The two row heights a scale uses; a drag keeps them fixed so rows do not move under the pointer. */
export interface RowHeights {
  compressed: number;
  magnified: number;
}

export interface RowScale extends RowHeights {
  count: number;
  /** y of each boundary 0…count (count + 1 entries); row i spans boundaries[i]…boundaries[i + 1]. */
  boundaries: Float64Array;
  /** True when some rows are magnified (the column is an overview with bands). */
  banded: boolean;
}

/** Which rows the bands cover: every focus ± FOCUS_RADIUS, clamped to the column. */
function focusedRows(count: number, focus: readonly number[]): Uint8Array {
  const rows = new Uint8Array(count);
  for (const point of focus) {
    if (!Number.isFinite(point)) continue;
    const centre = Math.max(0, Math.min(count - 1, Math.round(point)));
    for (let row = Math.max(0, centre - FOCUS_RADIUS); row <= Math.min(count - 1, centre + FOCUS_RADIUS); row++) rows[row] = 1;
  }
  return rows;
}

/**
 * Rows of a column of `count` layers starting at `top` in `height` pixels. `focus` lists the rows
 * to magnify when the rows do not all fit at READABLE_ROW; `fixed` forces the row heights (during a
 * drag), in which case the column may end above or below `top + height`.
 */
export function rowScale(count: number, top: number, height: number, focus: readonly number[] = [], fixed?: RowHeights): RowScale {
  const uniform = count > 0 ? Math.min(MAX_ROW, Math.max(MIN_ROW, height / count)) : MAX_ROW;
  let compressed = fixed?.compressed ?? uniform;
  let magnified = fixed?.magnified ?? uniform;
  const focused = focusedRows(count, focus);
  if (!fixed && uniform < READABLE_ROW && focus.length > 0) {
    const bandRows = focused.reduce((sum, flag) => sum + flag, 0);
    const others = count - bandRows;
    magnified = MAGNIFIED_ROW;
    compressed = others > 0 ? (height - bandRows * magnified) / others : uniform;
    if (compressed < MIN_ROW) {
      // Too many bands for the height: give the bands what the other rows leave.
      compressed = MIN_ROW;
      magnified = Math.max(uniform, (height - others * MIN_ROW) / Math.max(1, bandRows));
    }
  }
  const boundaries = new Float64Array(count + 1);
  let y = top;
  for (let row = 0; row < count; row++) {
    boundaries[row] = y;
    y += focused[row] === 1 ? magnified : compressed;
  }
  boundaries[count] = y;
  return { count, boundaries, compressed, magnified, banded: magnified > compressed };
}

export function rowTop(scale: RowScale, row: number): number {
  return scale.boundaries[Math.max(0, Math.min(scale.count, row))]!;
}

export function rowHeight(scale: RowScale, row: number): number {
  if (row < 0 || row >= scale.count) return 0;
  return scale.boundaries[row + 1]! - scale.boundaries[row]!;
}

export function rowCentre(scale: RowScale, row: number): number {
  return rowTop(scale, row) + rowHeight(scale, row) / 2;
}

/** The row under a y coordinate, or null outside the column. */
export function rowAt(scale: RowScale, y: number): number | null {
  if (scale.count === 0 || y < scale.boundaries[0]! || y >= scale.boundaries[scale.count]!) return null;
  let low = 0;
  let high = scale.count - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (scale.boundaries[middle]! <= y) low = middle;
    else high = middle - 1;
  }
  return low;
}

/** The layer boundary nearest to a y coordinate (for dragging a splice handle), clamped to [min, max]. */
export function boundaryAt(scale: RowScale, y: number, min: number, max: number): number {
  let best = min;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (let boundary = Math.max(0, min); boundary <= Math.min(scale.count, max); boundary++) {
    const distance = Math.abs(scale.boundaries[boundary]! - y);
    if (distance < bestDistance) {
      best = boundary;
      bestDistance = distance;
    }
  }
  return Math.max(min, Math.min(max, best));
}

/** Every `step`-th compressed row keeps its number: the step that leaves room for one line of text. */
export function compressedLabelStep(scale: RowScale, lineHeight = 11): number {
  if (scale.compressed >= READABLE_ROW) return 1;
  const raw = Math.ceil(lineHeight / Math.max(scale.compressed, 0.1));
  for (const step of [2, 5, 10, 20, 50, 100]) if (step >= raw) return step;
  return Math.ceil(raw / 100) * 100;
}
