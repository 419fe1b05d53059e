import { color as d3Colour, linkHorizontal } from 'd3';
import type { OutputLayer, Seam } from '../../../electron/api/types.js';
import { sourceKey, useCounts } from '../../../electron/common/plan/layer-plan.js';
import { scalesAnything } from '../../../electron/common/plan/scale-rules.js';
import { compressedLabelStep, READABLE_ROW, rowCentre, rowHeight, rowScale, rowTop, type RowHeights, type RowScale } from './row-scale.js';

/**
 * Geometry of the stack canvas, in CSS pixels: one column per source checkpoint, one for the output
 * plan in the middle, a link from every output layer to the source layer it copies. Sources
 * alternate left and right of the output (Goliath's two parents sit on either side); a third or
 * fourth source stacks below the first two on its side, so links never cross another column and
 * three sources fit 1280 px. Each column has its own row scale (row-scale.ts): a 32-layer source
 * is not squashed to the height of a 48-layer output, and a 137-layer one becomes an overview with
 * magnified bands. Svelte draws what this returns.
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

export interface StackFocus {
  /** Output rows to magnify when the output column is an overview. */
  output: readonly number[];
  /** Source rows to magnify, per source id. */
  sources: Readonly<Record<string, readonly number[]>>;
}

export interface StackGeometryInput {
  sources: readonly StackSourceInput[];
  layers: readonly OutputLayer[];
  seams: readonly Seam[];
  width: number;
  /** Height of the drawing area; each column fits its own rows into it. */
  height: number;
  splice: { a: SplicePosition; b: SplicePosition } | null;
  focus?: StackFocus;
  /** Row heights to keep per column id ('output' for the output), while a drag is under way. */
  frozen?: Readonly<Record<string, RowHeights>>;
  /** Slices the engine reports errors for: their output rows are marked. */
  errorSlices?: ReadonlySet<number>;
}

export interface ColumnGeometry {
  id: string;
  label: string;
  colour: string;
  x: number;
  width: number;
  side: 'left' | 'right' | 'output';
  layerCount: number;
  /** y of the column's title baseline. */
  titleY: number;
  scale: RowScale;
  /** Every `labelStep`-th row of the compressed part keeps its number (1: all rows do). */
  labelStep: number;
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
  /** Draw the layer number (row tall enough, or a labelled row of an overview). */
  label: boolean;
}

export interface OutputLayerGeometry {
  key: string;
  index: number;
  model: string;
  sourceLayer: number;
  slice: number;
  /** 1 for the first pass over a source, 2 for the second (DUS copy 2), … */
  copy: number;
  x: number;
  y: number;
  width: number;
  height: number;
  colour: string;
  /** The source layer appears more than once in the output. */
  repeated: boolean;
  /** A scaled (e.g. LLaMA-Pro identity) copy. */
  scaled: boolean;
  /** The engine reports an error for this layer's slice (incompatible shapes, range outside the model…). */
  invalid: boolean;
  label: boolean;
}

export interface LinkGeometry {
  key: string;
  index: number;
  d: string;
  colour: string;
  width: number;
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

/** A run of output rows that forms one copy of a source (DUS: copy 1 = base 0…a−1, copy 2 = base b…n−1). */
export interface CopyGeometry {
  key: string;
  model: string;
  copy: number;
  firstOutput: number;
  lastOutput: number;
  firstSource: number;
  lastSource: number;
  x: number;
  y1: number;
  y2: number;
}

export interface SeamGeometry {
  key: string;
  afterOutputLayer: number;
  from: number;
  to: number;
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
  /** Row height of the output column's uniform (or compressed) part. */
  layerHeight: number;
  columns: ColumnGeometry[];
  output: ColumnGeometry;
  sourceLayers: SourceLayerGeometry[];
  outputLayers: OutputLayerGeometry[];
  links: LinkGeometry[];
  overlaps: RegionGeometry[];
  /** Runs of cut source layers. */
  cuts: RegionGeometry[];
  /** Brackets beside the output column naming each copy; empty when sources sit on its right. */
  copies: CopyGeometry[];
  seams: SeamGeometry[];
  handles: HandleGeometry[];
  /** Where seam and copy labels go (right of the output column), or null when a source column is there. */
  annotationX: number | null;
}

/** Room above the columns for their titles. */
export const STACK_TOP = 32;
const BOTTOM = 8;
/** Space outside a column that carries splice tabs, for the tabs and the seam-jump label. */
const GUTTER = 116;
/** Space right of the output column for the copy brackets and the seam label, when no source sits there. */
const ANNOTATION_ZONE = 108;
/** Links wider than this only stretch the picture; the rest of the width centres it. */
const MAX_LINK_WIDTH = 300;
const MIN_LINK_WIDTH = 48;
const TAB_WIDTH = 22;
/** Between two source columns stacked on one side: room for the lower one's title. */
const STACK_GAP = 28;
const EDGE = 8;
/** Colour of a row whose source is not known (a checkpoint that is not open). */
const UNKNOWN_COLOUR = '#8a8f98';

const link = linkHorizontal<{ source: [number, number]; target: [number, number] }, [number, number]>()
  .source((datum) => datum.source)
  .target((datum) => datum.target);

/**
 * Which pass over its source each output layer belongs to. A slice that goes back to or before a
 * layer its model already reached starts a new copy (DUS's second slice); scaled identity slices
 * (LLaMA-Pro) belong to the copy they sit in.
 */
export function copyNumbers(layers: readonly OutputLayer[]): number[] {
  const reached = new Map<string, number>();
  const copyOf = new Map<string, number>();
  const sliceCopy = new Map<number, number>();
  return layers.map((layer) => {
    let copy = sliceCopy.get(layer.slice);
    if (copy === undefined) {
      copy = copyOf.get(layer.model) ?? 1;
      const last = reached.get(layer.model);
      if (!scalesAnything(layer.scale) && last !== undefined && layer.sourceLayer <= last) copy += 1;
      if (!scalesAnything(layer.scale)) copyOf.set(layer.model, copy);
      sliceCopy.set(layer.slice, copy);
    }
    if (!scalesAnything(layer.scale)) reached.set(layer.model, Math.max(reached.get(layer.model) ?? -1, layer.sourceLayer));
    return copy;
  });
}

/** The second, fourth… copy of a source is drawn in a darker tone of its colour, so copies read apart. */
export function copyColour(colour: string, copy: number): string {
  if (copy % 2 === 1) return colour;
  const parsed = d3Colour(colour);
  return parsed ? parsed.darker(0.9).formatHex() : colour;
}

/** Splits `sources` into the two sides of the output: first, third… on the left; second, fourth… on the right. */
function sides(sources: readonly StackSourceInput[]): { left: StackSourceInput[]; right: StackSourceInput[] } {
  return { left: sources.filter((_, index) => index % 2 === 0), right: sources.filter((_, index) => index % 2 === 1) };
}

/** Vertical slots for the sources of one side, stacked top to bottom, each sized by its layer count. */
function stackedSlots(side: readonly StackSourceInput[], top: number, height: number): { top: number; height: number }[] {
  if (side.length === 0) return [];
  const rows = height - (side.length - 1) * STACK_GAP;
  const total = side.reduce((sum, source) => sum + Math.max(1, source.numLayers), 0);
  const slots: { top: number; height: number }[] = [];
  let y = top;
  for (const source of side) {
    const share = (rows * Math.max(1, source.numLayers)) / total;
    slots.push({ top: y, height: share });
    y += share + STACK_GAP;
  }
  return slots;
}

/** Advance of one character of a column title (12 px, semibold), a little over the real average. */
const TITLE_CHARACTER_WIDTH = 7.2;

function truncate(label: string, width: number): string {
  const fits = Math.max(4, Math.floor(width / TITLE_CHARACTER_WIDTH));
  return label.length <= fits ? label : `${label.slice(0, fits - 1)}…`;
}

/**
 * Width a column's title may take: its column plus part of the link zone beside it, so neighbouring
 * titles never meet; the "■ " before and " · N" after the name are paid from it.
 */
function titleRoom(columnWidth: number, linkWidth: number, layerCount: number): number {
  const spill = linkZoneShare(linkWidth);
  return columnWidth + spill - (`■  · ${layerCount}`.length * TITLE_CHARACTER_WIDTH);
}

function linkZoneShare(linkWidth: number): number {
  return Math.max(0, Math.min(40, linkWidth - 12));
}

function runsOf(count: number, inRun: (index: number) => boolean): [number, number][] {
  const runs: [number, number][] = [];
  let start: number | null = null;
  for (let index = 0; index <= count; index++) {
    const inside = index < count && inRun(index);
    if (inside && start === null) start = index;
    if (!inside && start !== null) {
      runs.push([start, index]);
      start = null;
    }
  }
  return runs;
}

export function stackGeometry(input: StackGeometryInput): StackGeometry {
  const { sources, layers } = input;
  const top = STACK_TOP;
  const rowsHeight = Math.max(40, input.height - top - BOTTOM);
  const { left, right } = sides(sources);
  const handleModels = new Set(input.splice ? [input.splice.a.model, input.splice.b.model] : []);
  const leftGutter = left.some((source) => handleModels.has(source.id)) ? GUTTER : EDGE;
  const rightGutter = right.length === 0 ? ANNOTATION_ZONE : right.some((source) => handleModels.has(source.id)) ? GUTTER : EDGE;
  const columnCount = 1 + (left.length > 0 ? 1 : 0) + (right.length > 0 ? 1 : 0);
  const linkZones = columnCount - 1;
  const room = input.width - leftGutter - rightGutter - linkZones * MIN_LINK_WIDTH;
  const columnWidth = Math.max(44, Math.min(150, Math.round(input.width * 0.14), Math.floor(room / columnCount)));
  const linkWidth = linkZones === 0 ? 0 : Math.max(MIN_LINK_WIDTH, Math.min(MAX_LINK_WIDTH, (input.width - leftGutter - rightGutter - columnCount * columnWidth) / linkZones));
  const used = leftGutter + columnCount * columnWidth + linkZones * linkWidth + rightGutter;
  const margin = Math.max(0, Math.floor((input.width - used) / 2));

  const focus = input.focus ?? { output: [], sources: {} };
  const makeColumn = (source: StackSourceInput, side: 'left' | 'right', x: number, slot: { top: number; height: number }): ColumnGeometry => {
    const scale = rowScale(source.numLayers, slot.top, slot.height, focus.sources[source.id] ?? [], input.frozen?.[source.id]);
    return {
      id: source.id,
      label: truncate(source.name, titleRoom(columnWidth, linkWidth, source.numLayers)),
      colour: source.colour,
      x,
      width: columnWidth,
      side,
      layerCount: source.numLayers,
      titleY: slot.top - 12,
      scale,
      labelStep: compressedLabelStep(scale),
    };
  };

  const columns: ColumnGeometry[] = [];
  let x = margin + leftGutter;
  const leftX = x;
  if (left.length > 0) x += columnWidth + linkWidth;
  const outputScale = rowScale(layers.length, top, rowsHeight, focus.output, input.frozen?.output);
  const output: ColumnGeometry = {
    id: 'output',
    label: `Output · ${layers.length}`,
    colour: 'currentColor',
    x,
    width: columnWidth,
    side: 'output',
    layerCount: layers.length,
    titleY: top - 12,
    scale: outputScale,
    labelStep: compressedLabelStep(outputScale),
  };
  x += columnWidth;
  const rightX = x + linkWidth;
  stackedSlots(left, top, rowsHeight).forEach((slot, index) => columns.push(makeColumn(left[index]!, 'left', leftX, slot)));
  stackedSlots(right, top, rowsHeight).forEach((slot, index) => columns.push(makeColumn(right[index]!, 'right', rightX, slot)));
  const width = Math.max(input.width, used + margin);
  const columnOf = new Map(columns.map((column) => [column.id, column]));

  const uses = useCounts(layers);
  const sourceLayers: SourceLayerGeometry[] = [];
  const overlaps: RegionGeometry[] = [];
  const cuts: RegionGeometry[] = [];
  const region = (column: ColumnGeometry, [start, end]: [number, number], pad: number): RegionGeometry => ({
    key: `${column.id}\u0000${start}`,
    model: column.id,
    start,
    end,
    x: column.x - pad,
    y: rowTop(column.scale, start),
    width: column.width + 2 * pad,
    height: rowTop(column.scale, end) - rowTop(column.scale, start),
  });
  for (const column of columns) {
    const count = (index: number) => uses.get(sourceKey(column.id, index)) ?? 0;
    for (let index = 0; index < column.layerCount; index++) {
      const height = rowHeight(column.scale, index);
      sourceLayers.push({
        key: `${column.id}\u0000${index}`,
        model: column.id,
        index,
        x: column.x,
        y: rowTop(column.scale, index),
        width: column.width,
        height,
        uses: count(index),
        label: height >= READABLE_ROW || index % column.labelStep === 0,
      });
    }
    for (const run of runsOf(column.layerCount, (index) => count(index) >= 2)) overlaps.push(region(column, run, 6));
    for (const run of runsOf(column.layerCount, (index) => count(index) === 0)) cuts.push(region(column, run, 0));
  }

  const copies = copyNumbers(layers);
  const colourOf = new Map(sources.map((source) => [source.id, source.colour]));
  const outputLayers: OutputLayerGeometry[] = [];
  const links: LinkGeometry[] = [];
  for (const layer of layers) {
    const y = rowTop(outputScale, layer.index);
    const height = rowHeight(outputScale, layer.index);
    const copy = copies[layer.index]!;
    const colour = copyColour(colourOf.get(layer.model) ?? UNKNOWN_COLOUR, copy);
    const repeated = (uses.get(sourceKey(layer.model, layer.sourceLayer)) ?? 0) >= 2;
    outputLayers.push({
      key: `out-${layer.index}`,
      index: layer.index,
      model: layer.model,
      sourceLayer: layer.sourceLayer,
      slice: layer.slice,
      copy,
      x: output.x,
      y,
      width: output.width,
      height,
      colour,
      repeated,
      scaled: scalesAnything(layer.scale),
      invalid: input.errorSlices?.has(layer.slice) ?? false,
      label: height >= READABLE_ROW || layer.index % output.labelStep === 0,
    });
    const column = columnOf.get(layer.model);
    if (!column) continue;
    const sourceY = rowCentre(column.scale, layer.sourceLayer);
    const outputY = y + height / 2;
    const d =
      column.side === 'left'
        ? link({ source: [column.x + column.width, sourceY], target: [output.x, outputY] })
        : link({ source: [column.x, sourceY], target: [output.x + output.width, outputY] });
    const thinner = Math.min(height, rowHeight(column.scale, layer.sourceLayer));
    links.push({ key: `link-${layer.index}`, index: layer.index, d: d ?? '', colour, width: Math.max(1, thinner * 0.45) });
  }
  // Split at copy boundaries: DUS's two overlap runs touch at the seam but belong to different copies.
  for (const [first, last] of runsOf(layers.length, (index) => outputLayers[index]!.repeated)) {
    for (const run of splitRuns(first, last, (index) => String(copies[index]))) overlaps.push(region(output, run, 4));
  }

  const annotationX = right.length === 0 ? output.x + output.width + 8 : null;
  const copyBrackets: CopyGeometry[] = [];
  if (annotationX !== null) {
    for (const [start, end] of runsOf(layers.length, () => true).flatMap(([first, last]) => splitRuns(first, last, (index) => `${layers[index]!.model}\u0000${copies[index]}`))) {
      const first = layers[start]!;
      const last = layers[end - 1]!;
      copyBrackets.push({
        key: `copy-${start}`,
        model: first.model,
        copy: copies[start]!,
        firstOutput: start,
        lastOutput: end - 1,
        firstSource: first.sourceLayer,
        lastSource: last.sourceLayer,
        x: annotationX,
        y1: rowTop(outputScale, start) + 1,
        y2: rowTop(outputScale, end) - 1,
      });
    }
  }

  const seams: SeamGeometry[] = input.seams.map((seam) => ({
    key: `seam-${seam.afterOutputLayer}`,
    afterOutputLayer: seam.afterOutputLayer,
    from: seam.from.layer,
    to: seam.to.layer,
    x1: output.x - 8,
    x2: output.x + output.width + 8,
    y: rowTop(outputScale, seam.afterOutputLayer + 1),
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
        y: rowTop(column.scale, position.layer),
        tabX: column.side === 'left' ? column.x - offset : column.x + column.width + offset - TAB_WIDTH,
        tabWidth: TAB_WIDTH,
        side: column.side,
      });
    }
  }

  const bottom = Math.max(top + rowsHeight, outputScale.boundaries[layers.length]!, ...columns.map((column) => column.scale.boundaries[column.layerCount]!));
  // Row heights summed in floating point can overshoot the box by a hair: that would add a scrollbar,
  // narrow the box, re-measure, and could start a resize loop. Within half a pixel, the box's height it is.
  const natural = bottom + BOTTOM;
  return {
    width,
    height: natural <= input.height + 0.5 ? Math.min(natural, input.height) : Math.ceil(natural),
    top,
    layerHeight: outputScale.compressed,
    columns,
    output,
    sourceLayers,
    outputLayers,
    links,
    overlaps,
    cuts,
    copies: copyBrackets,
    seams,
    handles,
    annotationX,
  };
}

/** Splits [first, last) where the key of consecutive indices changes. */
function splitRuns(first: number, last: number, keyOf: (index: number) => string): [number, number][] {
  const runs: [number, number][] = [];
  let start = first;
  for (let index = first + 1; index <= last; index++) {
    if (index === last || keyOf(index) !== keyOf(start)) {
      runs.push([start, index]);
      start = index;
    }
  }
  return runs;
}
