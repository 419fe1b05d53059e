import type { SweepRow } from '../../../electron/api/types.js';
import { rankCorrelation } from '../../../electron/common/evaluation/sweep-rules.js';
import { seamJump, type NormMetric, type SourceNormProfile } from './layer-norms.js';
import type { SimilarityRows } from '../charts/similarity-heatmap.js';

/**
 * The cheap proxies the window already has, for each splice point of a sweep: the seam's cosine
 * similarity (the source's layer similarity matrix at (A − 1, B)) and its norm jump, and how well
 * each predicts perplexity (Spearman's ρ over the rows that have both).
 */

export interface SweepProxyRow {
  row: SweepRow;
  /** Cosine of layer A − 1 against layer B for the chosen tensor kind; null until that matrix row exists. */
  cosine: number | null;
  /** Relative norm jump from layer A − 1 to layer B (0.12 = 12 %); null before statistics. */
  normJump: number | null;
}

export interface ProxyCorrelation {
  /** Spearman's ρ against perplexity; null with fewer than three rows holding the proxy. */
  rho: number | null;
  /** Rows it was computed over. */
  count: number;
}

export function sweepProxyRows(
  rows: readonly SweepRow[],
  similarity: SimilarityRows | undefined,
  profile: SourceNormProfile | null,
  metric: NormMetric,
): SweepProxyRow[] {
  return rows.map((row) => ({
    row,
    cosine: similarity?.[row.a - 1]?.[row.b] ?? null,
    normJump: seamJump({ profile, layer: row.a - 1 }, { profile, layer: row.b }, metric),
  }));
}

export function proxyCorrelation(rows: readonly SweepProxyRow[], proxy: 'cosine' | 'normJump'): ProxyCorrelation {
  const pairs = rows.filter((entry) => entry[proxy] !== null && Number.isFinite(entry[proxy]));
  // Two points always correlate perfectly (±1): say nothing until a ranking could disagree.
  if (pairs.length < 3) return { rho: null, count: pairs.length };
  const rho = rankCorrelation(
    pairs.map((entry) => entry[proxy] as number),
    pairs.map((entry) => entry.row.perplexity),
  );
  return { rho: Number.isFinite(rho) ? rho : null, count: pairs.length };
}
