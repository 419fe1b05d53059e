import type { CheckpointSummary, ScaleRule, TensorKind, TensorStats } from '../../../electron/api/types.js';
import { scaleFactorFor } from '../../../electron/common/plan/scale-rules.js';

/**
 * Per-layer, per-kind weight norms of a source checkpoint, aggregated from per-tensor statistics.
 * Several tensors of one kind in a layer (a weight and its bias, experts) combine as one vector:
 * L2 = sqrt(Σ L2²), RMS = sqrt(Σ L2² / Σ elements).
 */

/** Kinds drawn as charts, in reading order; fused kinds appear only when a model has them. */
export const CHART_KINDS: readonly TensorKind[] = [
  'q',
  'k',
  'v',
  'qkv',
  'o',
  'gate',
  'up',
  'gate_up',
  'down',
  'input_norm',
  'post_attention_norm',
];

export const KIND_LABELS: Partial<Record<TensorKind, string>> = {
  q: 'q_proj',
  k: 'k_proj',
  v: 'v_proj',
  qkv: 'qkv_proj',
  o: 'o_proj',
  gate: 'gate_proj',
  up: 'up_proj',
  gate_up: 'gate_up_proj',
  down: 'down_proj',
  input_norm: 'input norm',
  post_attention_norm: 'post-attention norm',
};

export type NormMetric = 'l2' | 'rms';

export interface KindNorm {
  l2: number;
  rms: number;
}

/** The tensors of one kind in one layer: names (for scale rules), Σx² per tensor, and elements. */
export interface KindEntry {
  names: string[];
  /** Σx² of each tensor over all its elements (extrapolated from RMS when statistics were sampled). */
  sumSquares: number[];
  elements: number;
}

export interface SourceNormProfile {
  checkpointId: string;
  numLayers: number;
  /** Chart kinds this source has, in CHART_KINDS order. */
  kinds: TensorKind[];
  /** entries[kind][layer]: null while the layer's statistics are missing. */
  entries: Partial<Record<TensorKind, (KindEntry | null)[]>>;
}

/**
 * Builds a source's profile from the statistics received so far (they stream in per layer).
 * Returns null when no statistics exist yet.
 */
export function sourceNormProfile(
  summary: CheckpointSummary,
  stats: Readonly<Record<string, TensorStats>> | undefined,
): SourceNormProfile | null {
  if (!stats) return null;
  const entries: Partial<Record<TensorKind, (KindEntry | null)[]>> = {};
  const missing = new Set<string>();
  let any = false;
  for (const tensor of summary.tensors) {
    if (tensor.layer === null || tensor.layer >= summary.numLayers || !CHART_KINDS.includes(tensor.kind)) continue;
    const row = (entries[tensor.kind] ??= Array.from({ length: summary.numLayers }, () => null));
    const figures = stats[tensor.name];
    const key = `${tensor.kind}:${tensor.layer}`;
    if (!figures) {
      missing.add(key);
      continue;
    }
    any = true;
    const sumSquares = figures.sampled ? figures.rms * figures.rms * tensor.elements : figures.l2 * figures.l2;
    const entry = (row[tensor.layer] ??= { names: [], sumSquares: [], elements: 0 });
    entry.names.push(tensor.name);
    entry.sumSquares.push(sumSquares);
    entry.elements += tensor.elements;
  }
  if (!any) return null;
  // A layer whose kind has only part of its tensors measured is not shown: it would read as a dip.
  for (const key of missing) {
    const [kind, layer] = key.split(':') as [TensorKind, string];
    const row = entries[kind];
    if (row) row[Number(layer)] = null;
  }
  return {
    checkpointId: summary.id,
    numLayers: summary.numLayers,
    kinds: CHART_KINDS.filter((kind) => entries[kind] !== undefined),
    entries,
  };
}

/** The kind's norm in one layer, with a slice's scale rules applied per tensor (mergekit semantics). */
export function kindNorm(entry: KindEntry | null | undefined, rules: readonly ScaleRule[] = []): KindNorm | null {
  if (!entry || entry.elements === 0) return null;
  let total = 0;
  entry.sumSquares.forEach((sumSquares, index) => {
    const scale = rules.length === 0 ? 1 : scaleFactorFor(rules, entry.names[index]!);
    total += sumSquares * scale * scale;
  });
  return { l2: Math.sqrt(total), rms: Math.sqrt(total / entry.elements) };
}

/** The kind's profile over a source's layers as plain numbers (null where missing). */
export function kindSeries(profile: SourceNormProfile, kind: TensorKind, metric: NormMetric): (number | null)[] {
  return (profile.entries[kind] ?? []).map((entry) => kindNorm(entry)?.[metric] ?? null);
}

function meanOf(values: readonly (number | null)[]): number | null {
  let sum = 0;
  let count = 0;
  for (const value of values) {
    if (value === null) continue;
    sum += value;
    count++;
  }
  return count === 0 ? null : sum / count;
}

/**
 * The seam jump: how far the norm profile moves from the layer before the seam (source layer A − 1)
 * to the layer after it (source layer B), relative to the profile's level. For each kind both layers
 * have, |‖W(B)‖ − ‖W(A−1)‖| divided by the kind's mean norm over the sources' layers; the result is
 * the mean over kinds (0.12 = 12 %). Null until statistics for both layers exist.
 */
export function seamJump(
  from: { profile: SourceNormProfile | null; layer: number },
  to: { profile: SourceNormProfile | null; layer: number },
  metric: NormMetric = 'l2',
): number | null {
  if (!from.profile || !to.profile) return null;
  if (from.layer < 0 || from.layer >= from.profile.numLayers || to.layer < 0 || to.layer >= to.profile.numLayers) return null;
  const ratios: number[] = [];
  for (const kind of from.profile.kinds) {
    if (!to.profile.kinds.includes(kind)) continue;
    const before = kindNorm(from.profile.entries[kind]?.[from.layer])?.[metric];
    const after = kindNorm(to.profile.entries[kind]?.[to.layer])?.[metric];
    if (before === undefined || after === undefined) continue;
    const levels = [meanOf(kindSeries(from.profile, kind, metric)), meanOf(kindSeries(to.profile, kind, metric))].filter(
      (level): level is number => level !== null && level > 0,
    );
    const level = meanOf(levels);
    if (level === null || level === 0) continue;
    ratios.push(Math.abs(after - before) / level);
  }
  return meanOf(ratios);
}

/** The same measure between neighbouring layers of one source, averaged: what a seam-free step looks like. */
export function typicalStep(profile: SourceNormProfile | null, metric: NormMetric = 'l2'): number | null {
  if (!profile) return null;
  const steps: number[] = [];
  for (const kind of profile.kinds) {
    const series = kindSeries(profile, kind, metric);
    const level = meanOf(series);
    if (level === null || level === 0) continue;
    for (let layer = 1; layer < series.length; layer++) {
      const before = series[layer - 1];
      const after = series[layer];
      if (before === null || before === undefined || after === null || after === undefined) continue;
      steps.push(Math.abs(after - before) / level);
    }
  }
  return meanOf(steps);
}
