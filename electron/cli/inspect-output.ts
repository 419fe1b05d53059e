/**
 * What `dus-studio inspect` prints: a human summary with a per-layer table, or (--json) one JSON
 * object whose shape is part of the CLI's contract for scripts.
 */
import type { CheckpointSummary, StatsReport, TensorStats } from '../api/types.js';
import { formatBytes, formatCount, formatParameters, formatStat } from './number-format.js';

export interface InspectTensorJson {
  name: string;
  dtype: string;
  shape: number[];
  /** Text decoder layer, or null outside the layer stack. */
  layer: number | null;
  bytes: number;
  /** With --stats; null for tensors whose dtype has no statistics (integers, F4, …). */
  l2?: number | null;
  rms?: number | null;
  maxAbs?: number | null;
  mean?: number | null;
  nanCount?: number | null;
  infCount?: number | null;
}

export interface InspectJson {
  path: string;
  name: string;
  architecture: string | null;
  modelType: string | null;
  family: string;
  numLayers: number;
  configNumLayers: number | null;
  parameters: number;
  totalBytes: number;
  diskBytes: number;
  dtypes: CheckpointSummary['dtypes'];
  tiedEmbeddings: boolean;
  layerCountKey: string | null;
  mtpLayers: number[];
  sideFiles: string[];
  warnings: string[];
  tensors: InspectTensorJson[];
  /** With --stats: whether figures came from a sample, and the tensors skipped for their dtype. */
  stats?: { sampled: boolean; skipped: string[]; notAvailable?: string[]; seconds: number };
}

function statsFields(stats: TensorStats | undefined): Pick<InspectTensorJson, 'l2' | 'rms' | 'maxAbs' | 'mean' | 'nanCount' | 'infCount'> {
  return {
    l2: stats?.l2 ?? null,
    rms: stats?.rms ?? null,
    maxAbs: stats?.maxAbs ?? null,
    mean: stats?.mean ?? null,
    nanCount: stats?.nanCount ?? null,
    infCount: stats?.infCount ?? null,
  };
}

/** The --json object. JSON has no NaN or Infinity: such statistics become null. */
export function inspectJson(summary: CheckpointSummary, stats?: StatsReport): InspectJson {
  const statsByName = new Map(stats?.tensors.map((tensorStats) => [tensorStats.name, tensorStats]));
  const result: InspectJson = {
    path: summary.id,
    name: summary.name,
    architecture: summary.architecture,
    modelType: summary.modelType,
    family: summary.family,
    numLayers: summary.numLayers,
    configNumLayers: summary.configNumLayers,
    parameters: summary.parameters,
    totalBytes: summary.totalBytes,
    diskBytes: summary.diskBytes,
    dtypes: summary.dtypes,
    tiedEmbeddings: summary.tiedEmbeddings,
    layerCountKey: summary.layerCountKey,
    mtpLayers: summary.mtpLayers,
    sideFiles: summary.sideFiles,
    warnings: summary.warnings,
    tensors: summary.tensors.map((tensor) => {
      const entry: InspectTensorJson = { name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, layer: tensor.layer, bytes: tensor.bytes };
      return stats ? { ...entry, ...statsFields(statsByName.get(tensor.name)) } : entry;
    }),
  };
  if (stats) {
    result.stats = { sampled: stats.sampled, skipped: stats.skipped, seconds: stats.seconds };
    if (stats.notAvailable !== undefined && stats.notAvailable.length > 0) result.stats.notAvailable = stats.notAvailable;
  }
  return result;
}

/** Right-aligns every column but the first, left-aligns the first; columns two spaces apart. */
export function formatTable(header: string[], rows: string[][], leftAligned = 1): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => (column < leftAligned ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function field(label: string, value: string): string {
  return `${label.padEnd(14)}${value}`;
}

/** The human summary. */
export function inspectText(summary: CheckpointSummary, stats?: StatsReport): string {
  const lines: string[] = [];
  lines.push(`${summary.name}  (${summary.id})`);
  const kind = [summary.modelType && `model_type ${summary.modelType}`, `family ${summary.family}`].filter(Boolean).join(', ');
  lines.push(field('architecture', `${summary.architecture ?? 'unknown (no config.json)'} (${kind})`));
  const layerNote =
    summary.configNumLayers === null
      ? 'no layer count in config.json'
      : `config ${summary.layerCountKey ?? 'layer count'} = ${summary.configNumLayers}`;
  const mtp = summary.mtpLayers.length > 0 ? `, MTP layer${summary.mtpLayers.length > 1 ? 's' : ''} ${summary.mtpLayers.join(', ')}` : '';
  lines.push(field('layers', `${summary.numLayers} (${layerNote}${mtp})`));
  lines.push(field('parameters', summary.parameters < 1000 ? String(summary.parameters) : `${formatParameters(summary.parameters)} (${formatCount(summary.parameters)})`));
  const shards = `${summary.shards.length} shard${summary.shards.length === 1 ? '' : 's'}`;
  lines.push(field('bytes', `${formatBytes(summary.totalBytes)} of tensor data (${formatCount(summary.totalBytes)}), ${formatBytes(summary.diskBytes)} on disk in ${shards}`));
  const dtypes = Object.entries(summary.dtypes).map(([dtype, count]) => `${dtype} ${formatCount(count ?? 0)}`);
  lines.push(field('dtypes', dtypes.length > 0 ? dtypes.join(', ') : 'none'));
  lines.push(field('tied', summary.tiedEmbeddings ? 'yes (no lm_head on disk: the head shares the embeddings)' : 'no'));
  const shape = [
    summary.hiddenSize !== null && `hidden ${summary.hiddenSize}`,
    summary.intermediateSize !== null && `intermediate ${summary.intermediateSize}`,
    summary.numAttentionHeads !== null &&
      `heads ${summary.numAttentionHeads}${summary.numKeyValueHeads !== null && summary.numKeyValueHeads !== summary.numAttentionHeads ? ` (${summary.numKeyValueHeads} KV)` : ''}`,
    summary.vocabSize !== null && `vocab ${summary.vocabSize}`,
  ].filter((part): part is string => typeof part === 'string');
  if (shape.length > 0) lines.push(field('shape', shape.join(', ')));
  lines.push(field('side files', summary.sideFiles.length > 0 ? summary.sideFiles.join(', ') : 'none'));
  if (summary.warnings.length === 0) lines.push(field('warnings', 'none'));
  else summary.warnings.forEach((warning, index) => lines.push(field(index === 0 ? 'warnings' : '', warning)));

  if (summary.layers.length > 0) {
    lines.push('');
    const rows = summary.layers.map((layer) => [
      `${layer.index}${layer.isMtp ? ' (MTP)' : ''}`,
      formatCount(layer.parameters),
      formatBytes(layer.bytes),
      String(layer.tensorNames.length),
    ]);
    lines.push(formatTable(['layer', 'parameters', 'bytes', 'tensors'], rows));
  }

  if (stats) {
    const statsByName = new Map(stats.tensors.map((tensorStats) => [tensorStats.name, tensorStats]));
    lines.push('');
    const rows = summary.tensors.map((tensor) => {
      const figures = statsByName.get(tensor.name);
      const anomalies = figures && figures.nanCount + figures.infCount > 0 ? `${figures.nanCount} NaN, ${figures.infCount} Inf` : '';
      return [
        tensor.name,
        tensor.dtype,
        tensor.shape.length > 0 ? tensor.shape.join('×') : 'scalar',
        formatStat(figures?.l2),
        formatStat(figures?.rms),
        formatStat(figures?.maxAbs),
        formatStat(figures?.mean),
        anomalies,
      ];
    });
    lines.push(formatTable(['tensor', 'dtype', 'shape', 'L2', 'RMS', 'max |x|', 'mean', ''], rows, 3));
    const notes = [`statistics ${stats.sampled ? 'from a sample' : 'over every element'} in ${stats.seconds.toFixed(1)} s`];
    if (stats.skipped.length > 0) notes.push(`${stats.skipped.length} tensor${stats.skipped.length === 1 ? '' : 's'} skipped (dtype without statistics)`);
    if (stats.notAvailable !== undefined) notes.push(...stats.notAvailable);
    lines.push(notes.join('; '));
  }
  return `${lines.join('\n')}\n`;
}
