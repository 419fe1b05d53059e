import { linkHorizontal } from 'd3';
import type { OutputLayer, Seam } from '../../../electron/api/types.js';
import { sourceKey, useCounts } from '../../../electron/common/plan/layer-plan.js';
import { scalesAnything } from '../../../electron/common/plan/scale-rules.js';

/**
 * Geometry of the stack canvas, in CSS pixels: one column per source checkpoint, one for the output
 * plan in the middle, a link from every output layer to the source layer it copies. Sources
 * alternate left and right of the output (Goliath's two parents sit on either side), so links of
 * one source never cross the other's column. Svelte draws what this returns.
 */

export interface StackSourceInput {
  id: string;
  name: string;
  numLayers: number;
  colour: string;
}

export interface SplicePosition {
  model: string;
  /** Layer boundary: the handle sits between layer − 1 and layer. */
  layer: number;
}

export interface StackGeometryInput {
  sources: readonly StackSourceInput[];
  layers: readonly OutputLayer[];
  seams: readonly Seam[];
  width: number;
  layerHeight: number;
  splice: { a: SplicePosition; b: SplicePosition } | null;
}

export interface ColumnGeometry {
  id: string;
  label: string;
  colour: string;
  x: number;
  width: number;
  side: 'left' | 'right' | 'output';
  layerCount: number;
}

export interface SourceLayerGeometry {
  key: string;
  model: string;
  index: number;
  x: number;
  y: number;
  width: number;
  height: number;
  /** Output layers that copy this layer: 0 = cut, 2+ = overlap. */
  uses: number;
}

export interface OutputLayerGeometry {
  key: string;
  index: number;
  model: string;
  sourceLayer: number;
  slice: number;
  x: number;
  y: number;
  width: number;
  height: number;
  colour: string;
  /** The source layer appears more than once in the output. */
  repeated: boolean;
  /** A scaled (e.g. LLaMA-Pro identity) copy. */
  scaled: boolean;
}

export interface LinkGeometry {
  key: string;
  index: number;
  d: string;
  colour: string;
}

export interface RegionGeometry {
  key: string;
  model: string;
  start: number;
  end: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface SeamGeometry {
  key: string;
  afterOutputLayer: number;
  x1: number;
  x2: number;
  y: number;
}

export interface HandleGeometry {
  handle: 'A' | 'B';
  model: string;
  layer: number;
  /** Boundary line across the column. */
  x1: number;
  x2: number;
  y: number;
  /** The draggable tab, on the column's outer side. */
  tabX: number;
  tabWidth: number;
  side: 'left' | 'right';
}

export interface StackGeometry {
  width: number;
  height: number;
  top: number;
  layerHeight: number;
  columns: ColumnGeometry[];
  output: ColumnGeometry;
  sourceLayers: SourceLayerGeometry[];
  outputLayers: OutputLayerGeometry[];
  links: LinkGeometry[];
  overlaps: RegionGeometry[];
  seams: SeamGeometry[];
  handles: HandleGeometry[];
}

/** Room above the columns for their titles. */
export const STACK_TOP = 32;
const BOTTOM = 12;
/** Space outside the outer columns for the splice tabs and the seam-jump label. */
const GUTTER = 116;
/** Links wider than this only stretch the picture; the rest of the width centres it. */
const MAX_LINK_WIDTH = 300;
const TAB_WIDTH = 22;
const COLUMN_GAP = 14;

/**
 * Layer height that fits the tallest column in the space available, between readable limits.
 * Fractional (in quarter pixels), so a 137-layer stack fits a 1280×800 window instead of scrolling.
 */
export function fitLayerHeight(availableHeight: number, maxLayers: number, min = 2, max = 30): number {
  if (maxLayers <= 0) return max;
  const fit = Math.floor((4 * (availableHeight - STACK_TOP - BOTTOM)) / maxLayers) / 4;
  return Math.max(min, Math.min(max, fit));
}

/** The layer boundary nearest to a y coordinate (for dragging a splice handle), clamped. */
export function boundaryAtY(y: number, layerHeight: number, min: number, max: number, top = STACK_TOP): number {
  const boundary = Math.round((y - top) / layerHeight);
  return Math.max(min, Math.min(max, boundary));
}

const link = linkHorizontal<{ source: [number, number]; target: [number, number] }, [number, number]>()
  .source((datum) => datum.source)
  .target((datum) => datum.target);

export function stackGeometry(input: StackGeometryInput): StackGeometry {
  const { sources, layers, layerHeight: h } = input;
  const top = STACK_TOP;
  const left = sources.filter((_, index) => index % 2 === 0);
  const right = sources.filter((_, index) => index % 2 === 1);
  const columnWidth = Math.max(56, Math.min(150, Math.round(input.width * 0.14)));
  const sideWidth = (count: number) => (count === 0 ? 0 : GUTTER + count * columnWidth + (count - 1) * COLUMN_GAP);
  const fixed = sideWidth(left.length) + sideWidth(right.length) + columnWidth;
  const linkZones = (left.length > 0 ? 1 : 0) + (right.length > 0 ? 1 : 0);
  // Without right-hand sources the output column keeps 8 px clear of the edge; the links must leave it
  // room, or the picture overflows its box by those 8 px and the output column is cut at the edge.
  const rightPadding = right.length > 0 ? 0 : 8;
  const linkWidth = Math.max(60, Math.min(MAX_LINK_WIDTH, linkZones === 0 ? 0 : (input.width - fixed - rightPadding) / linkZones));
  const used = fixed + linkZones * linkWidth + rightPadding;
  const margin = Math.max(0, Math.floor((input.width - used) / 2));

  const columns: ColumnGeometry[] = [];
  let x = margin + (left.length > 0 ? GUTTER : 8);
  // Outermost left source first, so the first source sits next to the output.
  for (const source of [...left].reverse()) {
    columns.push({ id: source.id, label: source.name, colour: source.colour, x, width: columnWidth, side: 'left', layerCount: source.numLayers });
    x += columnWidth + COLUMN_GAP;
  }
  if (left.length > 0) x += linkWidth - COLUMN_GAP;
  const output: ColumnGeometry = {
    id: 'output',
    label: 'Output',
    colour: 'currentColor',
    x,
    width: columnWidth,
    side: 'output',
    layerCount: layers.length,
  };
  x += columnWidth;
  if (right.length > 0) x += linkWidth;
  for (const source of right) {
    columns.push({ id: source.id, label: source.name, colour: source.colour, x, width: columnWidth, side: 'right', layerCount: source.numLayers });
    x += columnWidth + COLUMN_GAP;
  }
  const width = Math.max(input.width, (right.length > 0 ? x - COLUMN_GAP + GUTTER : x + 8) + margin);
  const columnOf = new Map(columns.map((column) => [column.id, column]));

  const uses = useCounts(layers);
  const sourceLayers: SourceLayerGeometry[] = [];
  const overlaps: RegionGeometry[] = [];
  for (const column of columns) {
    let runStart: number | null = null;
    for (let index = 0; index <= column.layerCount; index++) {
      const count = index < column.layerCount ? (uses.get(sourceKey(column.id, index)) ?? 0) : 0;
      if (index < column.layerCount) {
        sourceLayers.push({
          key: `${column.id}\u0000${index}`,
          model: column.id,
          index,
          x: column.x,
          y: top + index * h,
          width: column.width,
          height: h,
          uses: count,
        });
      }
      if (count >= 2 && runStart === null) runStart = index;
      if (count < 2 && runStart !== null) {
        overlaps.push({
          key: `${column.id}\u0000${runStart}`,
          model: column.id,
          start: runStart,
          end: index,
          x: column.x - 6,
          y: top + runStart * h,
          width: column.width + 12,
          height: (index - runStart) * h,
        });
        runStart = null;
      }
    }
  }

  const colourOf = new Map(sources.map((source) => [source.id, source.colour]));
  const outputLayers: OutputLayerGeometry[] = [];
  const links: LinkGeometry[] = [];
  for (const layer of layers) {
    const y = top + layer.index * h;
    const colour = colourOf.get(layer.model) ?? '#8a8f98';
    outputLayers.push({
      key: `out-${layer.index}`,
      index: layer.index,
      model: layer.model,
      sourceLayer: layer.sourceLayer,
      slice: layer.slice,
      x: output.x,
      y,
      width: output.width,
      height: h,
      colour,
      repeated: (uses.get(sourceKey(layer.model, layer.sourceLayer)) ?? 0) >= 2,
      scaled: scalesAnything(layer.scale),
    });
    const column = columnOf.get(layer.model);
    if (!column) continue;
    const sourceY = top + (layer.sourceLayer + 0.5) * h;
    const outputY = y + h / 2;
    const d =
      column.side === 'left'
        ? link({ source: [column.x + column.width, sourceY], target: [output.x, outputY] })
        : link({ source: [column.x, sourceY], target: [output.x + output.width, outputY] });
    links.push({ key: `link-${layer.index}`, index: layer.index, d: d ?? '', colour });
  }

  const seams: SeamGeometry[] = input.seams.map((seam) => ({
    key: `seam-${seam.afterOutputLayer}`,
    afterOutputLayer: seam.afterOutputLayer,
    x1: output.x - 8,
    x2: output.x + output.width + 8,
    y: top + (seam.afterOutputLayer + 1) * h,
  }));

  const handles: HandleGeometry[] = [];
  if (input.splice) {
    const sameColumn = input.splice.a.model === input.splice.b.model;
    for (const handle of ['A', 'B'] as const) {
      const position = handle === 'A' ? input.splice.a : input.splice.b;
      const column = columnOf.get(position.model);
      if (!column || column.side === 'output') continue;
      // On a shared column, B's tab sits one tab further out so the two never cover each other.
      const offset = TAB_WIDTH + 4 + (sameColumn && handle === 'B' ? TAB_WIDTH + 4 : 0);
      handles.push({
        handle,
        model: position.model,
        layer: position.layer,
        x1: column.x,
        x2: column.x + column.width,
        y: top + position.layer * h,
        tabX: column.side === 'left' ? column.x - offset : column.x + column.width + offset - TAB_WIDTH,
        tabWidth: TAB_WIDTH,
        side: column.side,
      });
    }
  }

  const tallest = Math.max(layers.length, ...columns.map((column) => column.layerCount), 1);
  return {
    width,
    height: top + tallest * h + BOTTOM,
    top,
    layerHeight: h,
    columns,
    output,
    sourceLayers,
    outputLayers,
    links,
    overlaps,
    seams,
    handles,
  };
}
