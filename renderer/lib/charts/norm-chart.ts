import { line, scaleLinear } from 'd3';
import type { OutputLayer, ScaleRule, TensorKind } from '../../../electron/api/types.js';
import { sourceKey, useCounts } from '../../../electron/common/plan/layer-plan.js';
import { kindNorm, kindSeries, type NormMetric, type SourceNormProfile } from '../stats/layer-norms.js';

/** Width of one character of a tick label (10 px tabular digits) and the space kept between labels. */
const TICK_CHARACTER_WIDTH = 6.5;
const TICK_GAP = 8;
const TICK_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000];

/**
 * The weight-norm small multiples: for one tensor kind, the output's profile along its layers
 * (x = output layer, with the source layer in the tick label), each source's own profile for
 * comparison, the seams as vertical lines and the overlap as shaded bands.
 */

export interface OutputPoint {
  index: number;
  value: number | null;
  /** Source layer, shown under the output index in tick labels. */
  sourceLayer: number;
  /** The checkpoint the layer is copied from, and its name for the tooltip. */
  model: string;
  modelName: string;
  colour: string;
}

export interface SourceSeries {
  id: string;
  name: string;
  colour: string;
  values: (number | null)[];
}

export interface NormChartData {
  kind: TensorKind;
  output: OutputPoint[];
  sources: SourceSeries[];
  /** afterOutputLayer of each seam. */
  seams: number[];
  /** Output index ranges [start, end) whose source layers are used more than once. */
  overlaps: { start: number; end: number }[];
}

export interface NormChartGeometry {
  width: number;
  height: number;
  plot: { left: number; right: number; top: number; bottom: number };
  outputPath: string;
  outputDots: { key: string; x: number; y: number; colour: string }[];
  sourcePaths: { id: string; d: string; colour: string }[];
  xTicks: { key: string; x: number; outputIndex: number; sourceLayer: number; colour: string }[];
  yTicks: { key: string; y: number; label: string }[];
  seams: { key: string; x: number; afterOutputLayer: number }[];
  overlaps: { key: string; x: number; width: number }[];
}

export const NORM_CHART_MARGIN = { left: 40, right: 8, top: 8, bottom: 30 } as const;

/** The per-kind data of every chart, from the output stack and the source profiles. */
export function normChartData(
  kinds: readonly TensorKind[],
  layers: readonly OutputLayer[],
  profiles: ReadonlyMap<string, SourceNormProfile>,
  colourOf: (model: string) => string,
  seams: readonly { afterOutputLayer: number }[],
  metric: NormMetric,
  nameOf: (model: string) => string = baseName,
): NormChartData[] {
  const overlaps = overlapRuns(layers);
  const seamIndexes = seams.map((seam) => seam.afterOutputLayer);
  return kinds.map((kind) => ({
    kind,
    output: layers.map((layer) => ({
      index: layer.index,
      value: outputValue(profiles.get(layer.model), kind, layer.sourceLayer, layer.scale, metric),
      sourceLayer: layer.sourceLayer,
      model: layer.model,
      modelName: nameOf(layer.model),
      colour: colourOf(layer.model),
    })),
    sources: [...profiles.values()]
      .filter((profile) => profile.kinds.includes(kind))
      .map((profile) => ({
        id: profile.checkpointId,
        name: nameOf(profile.checkpointId),
        colour: colourOf(profile.checkpointId),
        values: kindSeries(profile, kind, metric),
      })),
    seams: seamIndexes,
    overlaps,
  }));
}

/** A checkpoint's folder or file name, for callers that know no friendlier name. */
function baseName(model: string): string {
  return model.split(/[\\/]/).filter(Boolean).at(-1) ?? model;
}

function outputValue(
  profile: SourceNormProfile | undefined,
  kind: TensorKind,
  sourceLayer: number,
  scale: readonly ScaleRule[],
  metric: NormMetric,
): number | null {
  if (!profile) return null;
  return kindNorm(profile.entries[kind]?.[sourceLayer], scale)?.[metric] ?? null;
}

/** Runs of output layers whose source layer is used more than once (the DUS overlap). */
export function overlapRuns(layers: readonly OutputLayer[]): { start: number; end: number }[] {
  const uses = useCounts(layers);
  const runs: { start: number; end: number }[] = [];
  let start: number | null = null;
  for (let index = 0; index <= layers.length; index++) {
    const layer = layers[index];
    const repeated = layer !== undefined && (uses.get(sourceKey(layer.model, layer.sourceLayer)) ?? 0) >= 2;
    if (repeated && start === null) start = index;
    if (!repeated && start !== null) {
      runs.push({ start, end: index });
      start = null;
    }
  }
  return runs;
}

function formatTick(value: number): string {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e4 || magnitude < 1e-2) return value.toExponential(0);
  return String(Number(value.toPrecision(3)));
}

export function normChartGeometry(data: NormChartData, width: number, height: number): NormChartGeometry {
  const margin = NORM_CHART_MARGIN;
  const plot = { left: margin.left, right: Math.max(margin.left + 20, width - margin.right), top: margin.top, bottom: Math.max(margin.top + 20, height - margin.bottom) };
  const longestSource = Math.max(0, ...data.sources.map((source) => source.values.length));
  const count = Math.max(data.output.length, longestSource, 1);
  const x = scaleLinear().domain([-0.5, count - 0.5]).range([plot.left, plot.right]);
  const values = [
    ...data.output.map((point) => point.value),
    ...data.sources.flatMap((source) => source.values),
  ].filter((value): value is number => value !== null && Number.isFinite(value));
  const maximum = values.length > 0 ? Math.max(...values) : 1;
  const y = scaleLinear()
    .domain([0, maximum > 0 ? maximum : 1])
    .nice(4)
    .range([plot.bottom, plot.top]);

  const path = line<{ index: number; value: number | null }>()
    .defined((point) => point.value !== null)
    .x((point) => x(point.index))
    .y((point) => y(point.value ?? 0));

  const outputPath = path(data.output) ?? '';
  const sourcePaths = data.sources.map((source) => ({
    id: source.id,
    colour: source.colour,
    d: path(source.values.map((value, index) => ({ index, value }))) ?? '',
  }));
  // Dots only where they stay apart; a 137-layer line reads better without them.
  const outputDots =
    (plot.right - plot.left) / Math.max(1, data.output.length) >= 6
      ? data.output
          .filter((point) => point.value !== null)
          .map((point) => ({ key: `dot-${point.index}`, x: x(point.index), y: y(point.value!), colour: point.colour }))
      : [];

  // Ticks every 1, 2, 5, 10… layers, as many as the widest label ("47" over "←31") allows without touching.
  const widestLabel = Math.max(String(data.output.length - 1).length, ...data.output.map((point) => String(point.sourceLayer).length + 1));
  const room = Math.max(2, Math.floor((plot.right - plot.left) / (widestLabel * TICK_CHARACTER_WIDTH + TICK_GAP)));
  const step = TICK_STEPS.find((candidate) => Math.ceil(data.output.length / candidate) <= room) ?? Math.ceil(data.output.length / room);
  const tickIndexes = data.output.map((point) => point.index).filter((index) => index % step === 0);
  const xTicks = tickIndexes.flatMap((index) => {
    const point = data.output[index];
    return point ? [{ key: `x-${index}`, x: x(index), outputIndex: index, sourceLayer: point.sourceLayer, colour: point.colour }] : [];
  });
  // As many y labels as the plot's height keeps 14 px apart (10 px text): a short chart gets 0 and one more.
  const yTickCount = Math.max(1, Math.floor((plot.bottom - plot.top) / 14));
  const candidates = y.ticks(Math.min(3, yTickCount));
  const yStep = Math.max(1, Math.ceil(candidates.length / (yTickCount + 1)));
  const yTicks = candidates.filter((_, index) => index % yStep === 0).map((tick) => ({ key: `y-${tick}`, y: y(tick), label: formatTick(tick) }));
  const seams = data.seams.map((after) => ({ key: `seam-${after}`, x: x(after + 0.5), afterOutputLayer: after }));
  const overlaps = data.overlaps.map((run) => ({
    key: `overlap-${run.start}`,
    x: x(run.start - 0.5),
    width: x(run.end - 0.5) - x(run.start - 0.5),
  }));
  return { width, height, plot, outputPath, outputDots, sourcePaths, xTicks, yTicks, seams, overlaps };
}
