/**
 * `eval` and `sweep`: evaluate a plan (or many splice points) in llama.cpp before exporting. Each
 * only calls the API; Ctrl-C cancels the job (job-progress.ts, as for exports).
 */
import path from 'node:path';
import type { StudioHost } from '../api/studio-api.js';
import type { LayerPlan, SweepRange } from '../api/types.js';
import type { ParsedCommand, SweepRangeArgs } from './cli-args.js';
import { CliExit, type CliIo } from './cli-io.js';
import { evaluationText, sweepText } from './evaluation-output.js';
import { oneLine } from './plan-output.js';
import { newCliJobId, runJobWithProgress } from './job-progress.js';
import { recipeFor } from './plan-commands.js';

type EvalCommand = Extract<ParsedCommand, { kind: 'eval' }>;
type SweepCommand = Extract<ParsedCommand, { kind: 'sweep' }>;

const YAML_FILE = /\.ya?ml$/i;

function resolveFrom(io: CliIo, file: string): string {
  return path.resolve(io.cwd ?? process.cwd(), file);
}

async function planOf(api: StudioHost, io: CliIo, command: EvalCommand): Promise<{ plan: LayerPlan; name: string; compareSource: boolean }> {
  const target = resolveFrom(io, command.target);
  if (YAML_FILE.test(target)) {
    if (command.recipe !== null) throw new CliExit(usageLine(io, 'a recipe flag takes a MODEL, not a YAML plan'));
    const file = await api.loadPlanFile({ path: target });
    const errors = file.problems.filter((problem) => problem.severity === 'error');
    for (const problem of file.problems) {
      const where = problem.line === undefined ? command.target : `${command.target}:${problem.line}`;
      io.stderr.write(`${problem.severity}: ${where}: ${oneLine(problem.message)}\n`);
    }
    if (file.plan === null || errors.length > 0) throw new CliExit(1);
    return { plan: file.plan, name: path.basename(target), compareSource: true };
  }
  const summary = await api.openCheckpoint({ path: target });
  if (command.recipe === null) {
    return { plan: await api.buildPlan({ recipe: { kind: 'stack', model: summary.id, times: 1 } }), name: summary.name, compareSource: false };
  }
  const recipe = recipeFor(command.recipe, summary.id);
  const described =
    recipe.kind === 'dus'
      ? `DUS --drop ${recipe.drop}`
      : recipe.kind === 'splice'
        ? `--splice ${recipe.a}:${recipe.b}`
        : recipe.kind === 'llama-pro'
          ? `LLaMA-Pro --every ${recipe.every}`
          : recipe.kind === 'stack'
            ? `stack --times ${recipe.times}`
            : recipe.kind;
  return { plan: await api.buildPlan({ recipe }), name: `${summary.name} ${described}`, compareSource: true };
}

function usageLine(io: CliIo, message: string): number {
  io.stderr.write(`error: ${message}\n`);
  return 2;
}

export async function runEvalCommand(api: StudioHost, io: CliIo, command: EvalCommand): Promise<number> {
  const { plan, name, compareSource } = await planOf(api, io, command);
  const jobId = newCliJobId();
  const { evaluation } = command;
  const report = await runJobWithProgress(api, io, {
    jobId,
    what: 'the evaluation',
    unit: 'count',
    figures: (event) => (event.kind === 'evaluation' ? { phase: event.progress.phase, done: event.progress.done, total: event.progress.total } : null),
    cancellingNote: '; removing its temporary model',
    cancelledNote: 'evaluation cancelled',
    start: () =>
      api.evaluatePlan({
        jobId,
        plan,
        compareSource,
        ...(evaluation.text === null ? {} : { textPath: resolveFrom(io, evaluation.text) }),
        ...(evaluation.tokens === null ? {} : { maxTokens: evaluation.tokens }),
        ...(evaluation.prompt === null ? {} : { prompt: evaluation.prompt }),
        ...(evaluation.cpu ? { device: 'cpu' as const } : {}),
        ...(evaluation.workDir === null ? {} : { workDir: resolveFrom(io, evaluation.workDir) }),
      }),
  });
  if (evaluation.json) {
    const { plan: scored, source, textName } = report;
    io.stdout.write(`${JSON.stringify({ ...scored, text: textName, ...(source === undefined ? {} : { source }) }, null, 2)}\n`);
  } else {
    io.stdout.write(evaluationText(report, name));
  }
  return 0;
}

function sweepRangeOf(args: SweepRangeArgs | null, layers: number): SweepRange {
  if (args === null) return { kind: 'drop', from: 1, to: Math.max(1, Math.floor(layers / 2)) };
  if (args.kind === 'full-grid') return { kind: 'grid', aFrom: 1, aTo: layers, bFrom: 0, bTo: layers - 1 };
  return args;
}

export async function runSweepCommand(api: StudioHost, io: CliIo, command: SweepCommand): Promise<number> {
  const summary = await api.openCheckpoint({ path: resolveFrom(io, command.model) });
  const jobId = newCliJobId();
  const { evaluation } = command;
  const unsubscribe = api.on('jobProgress', (event) => {
    if (event.jobId !== jobId || event.kind !== 'sweep' || evaluation.json) return;
    const { row, done, total } = event.progress;
    io.stderr.write(`[${done}/${total}] A=${row.a} B=${row.b} (${row.layers} layers): perplexity ${row.perplexity.toFixed(4)}\n`);
  });
  try {
    const report = await runJobWithProgress(api, io, {
      jobId,
      what: 'the sweep',
      unit: 'count',
      // Each finished row is printed instead of a bar.
      figures: () => null,
      cancelledNote: 'sweep cancelled',
      start: () =>
        api.sweepSplices({
          jobId,
          model: summary.id,
          range: sweepRangeOf(command.range, summary.numLayers),
          ...(evaluation.text === null ? {} : { textPath: resolveFrom(io, evaluation.text) }),
          ...(evaluation.tokens === null ? {} : { maxTokens: evaluation.tokens }),
          ...(evaluation.cpu ? { device: 'cpu' as const } : {}),
          ...(evaluation.workDir === null ? {} : { workDir: resolveFrom(io, evaluation.workDir) }),
        }),
    });
    io.stdout.write(evaluation.json ? `${JSON.stringify(report.rows, null, 2)}\n` : sweepText(report, summary.name));
    return 0;
  } finally {
    unsubscribe();
  }
}
