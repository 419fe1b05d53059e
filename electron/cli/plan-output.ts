/**
 * What the plan commands print: the resolved plan of `--dry-run`, plan problems, the export summary
 * and the verify report.
 */
import path from 'node:path';
import type { ExportReport, PlanProblem, ResolvedPlan, VerifyReport } from '../api/types.js';
import { formatBytes, formatCount, formatParameters, formatRate, formatSeconds } from './number-format.js';

function modelName(model: string): string {
  return path.basename(model) || model;
}

/** `layers 0-23` or `layer 5`. */
function layerRange(start: number, end: number): string {
  return end - start === 1 ? `layer ${start}` : `layers ${start}-${end - 1}`;
}

/** The resolved plan for --dry-run: size, one line per slice, seams, problems. */
export function resolvedPlanText(resolved: ResolvedPlan): string {
  const lines: string[] = [];
  lines.push(`plan: ${resolved.numLayers} layers, ${formatParameters(resolved.parameters)} parameters, ${formatBytes(resolved.totalBytes)}`);
  let output = 0;
  const rows: string[] = [];
  resolved.plan.slices.forEach((slice) => {
    const count = Math.max(0, slice.end - slice.start);
    const scaled = slice.scale && slice.scale.length > 0 ? `  scale ${slice.scale.map((rule) => `${rule.filter ?? '*'}=${rule.value}`).join(', ')}` : '';
    const target = count > 0 ? layerRange(output, output + count) : 'nothing';
    rows.push(`  ${target.padEnd(16)} <- ${modelName(slice.model)} ${layerRange(slice.start, slice.end)}${scaled}`);
    output += count;
  });
  lines.push(...rows);
  if (resolved.plan.dtype) lines.push(`dtype: ${resolved.plan.dtype}`);
  if (resolved.embeddingsFrom) lines.push(`embeddings from ${modelName(resolved.embeddingsFrom)}; final norm and head from ${modelName(resolved.headFrom ?? resolved.embeddingsFrom)}`);
  if (resolved.seams.length === 0) lines.push('seams: none');
  else {
    lines.push(`seams: ${resolved.seams.length}`);
    for (const seam of resolved.seams) {
      const from = `${modelName(seam.from.model)} layer ${seam.from.layer}`;
      const to = `${modelName(seam.to.model)} layer ${seam.to.layer}`;
      lines.push(`  after output layer ${seam.afterOutputLayer}: ${from} -> ${to}`);
    }
  }
  lines.push(resolved.problems.length === 0 ? 'problems: none' : `problems: ${resolved.problems.length}`);
  for (const problem of resolved.problems) lines.push(`  ${problem.severity}: ${problemText(problem)}`);
  return `${lines.join('\n')}\n`;
}

/** A plan problem in one line. The engine's messages name their slice and model themselves. */
export function problemText(problem: PlanProblem): string {
  return oneLine(problem.message);
}

/** Messages go on one line: a newline in an engine message would break `error: …` parsing. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** The summary after an export: files, bytes, time, speed, verification. */
export function exportSummaryText(report: ExportReport): string {
  const lines = [
    `wrote ${report.files.length} file${report.files.length === 1 ? '' : 's'} to ${report.dir}: ${report.numLayers} layers, ${formatCount(report.tensorCount)} tensors, ${formatBytes(report.totalBytes)} (${formatCount(report.totalBytes)} bytes) in ${formatSeconds(report.seconds)} (${formatRate(report.bytesPerSecond)})`,
    report.verify === null ? `verify: skipped (check later with: dus-studio verify ${report.dir})` : verifyLine(report.verify),
  ];
  return `${lines.join('\n')}\n`;
}

function verifyLine(report: VerifyReport): string {
  if (report.ok) return `verify: ok, ${formatCount(report.checkedTensors)} tensors and ${formatBytes(report.checkedBytes)} checked`;
  return `verify: FAILED, ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} (${formatCount(report.checkedTensors)} tensors checked)`;
}

/** `dus-studio verify`'s report: a verdict line, then one line per problem. */
export function verifyReportText(report: VerifyReport): string {
  const lines = [`${report.dir}`, verifyLine(report)];
  for (const problem of report.problems) {
    const where = [problem.file, problem.tensor].filter(Boolean).join(': ');
    lines.push(`  ${problem.code}${where ? ` ${where}` : ''}: ${oneLine(problem.message)}`);
  }
  return `${lines.join('\n')}\n`;
}
