/** The text the CLI prints for `eval` and `sweep`. */
import type { PlanEvaluationReport, SweepReport } from '../api/types.js';

function perplexityText(value: number): string {
  return Number.isFinite(value) ? value.toFixed(4) : String(value);
}

export function evaluationText(report: PlanEvaluationReport, planName: string): string {
  const { plan, source } = report;
  const lines = [
    `plan: ${planName} (${plan.layers} layers), evaluated in llama.cpp (${plan.backend}) on ${report.textName}`,
    `perplexity ${perplexityText(plan.perplexity)} over ${plan.tokens} tokens`,
  ];
  if (source !== undefined) {
    const ratio = source.perplexity > 0 ? ` (plan/source ${(plan.perplexity / source.perplexity).toFixed(3)})` : '';
    lines.push(`source perplexity ${perplexityText(source.perplexity)} (${source.layers} layers)${ratio}`);
  }
  if (plan.prompt !== '') {
    lines.push('', `continuation: ${plan.prompt}${plan.continuation}`);
    if (source !== undefined) lines.push(`source:       ${source.prompt}${source.continuation}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Rows best first: A, B, layers, perplexity; the source's perplexity first. */
export function sweepText(report: SweepReport, modelName: string): string {
  const lines = [
    `${modelName}: ${report.rows.length} splice points evaluated in ${report.seconds.toFixed(1)} s on ${report.textName}`,
    `source perplexity ${perplexityText(report.source.perplexity)} (${report.source.layers} layers, ${report.source.tokens} tokens)`,
    '',
    '   A    B  layers  perplexity',
  ];
  for (const row of report.rows) {
    lines.push(`${String(row.a).padStart(4)} ${String(row.b).padStart(4)} ${String(row.layers).padStart(7)}  ${perplexityText(row.perplexity).padStart(10)}`);
  }
  return `${lines.join('\n')}\n`;
}
