/**
 * The commands that build a plan and export it: `dus`, `llama-pro`, `stack` (a recipe) and `merge`
 * (mergekit YAML). Each only calls the API: open, build or import, resolve, export.
 */
import path from 'node:path';
import { StudioError, isStudioError } from '../api/errors.js';
import type { StudioHost } from '../api/studio-api.js';
import type { ExportPhase, LayerPlan, PlanRecipe, VerifyReport } from '../api/types.js';
import type { ExportArgs, ParsedCommand, RecipeArgs } from './cli-args.js';
import { CliExit, type CliIo } from './cli-io.js';
import { newCliJobId, runJobWithProgress } from './job-progress.js';
import { exportSummaryText, oneLine, problemText, resolvedPlanText, verifyReportText } from './plan-output.js';

type RecipeCommand = Extract<ParsedCommand, { kind: 'recipe' }>;
type MergeCommand = Extract<ParsedCommand, { kind: 'merge' }>;

export { EXIT_INTERRUPTED } from './job-progress.js';

/** Phases drawn on the progress bar; the end phases are reported by the summary instead. */
const RUNNING_PHASES: ReadonlySet<ExportPhase> = new Set(['preparing', 'copying', 'finishing', 'verifying']);

function cwdOf(io: CliIo): string {
  return io.cwd ?? process.cwd();
}

export function recipeFor(args: RecipeArgs, model: string): PlanRecipe {
  switch (args.kind) {
    case 'dus':
      return { kind: 'dus', model, drop: args.drop };
    case 'splice':
      return { kind: 'splice', model, a: args.a, b: args.b };
    case 'llama-pro':
      return { kind: 'llama-pro', model, every: args.every };
    case 'stack':
      return { kind: 'stack', model, times: args.times };
  }
}

export async function runRecipeCommand(api: StudioHost, io: CliIo, command: RecipeCommand): Promise<number> {
  const summary = await api.openCheckpoint({ path: path.resolve(cwdOf(io), command.model) });
  const built = await api.buildPlan({ recipe: recipeFor(command.recipe, summary.id) });
  const plan: LayerPlan = command.dtype === null ? built : { ...built, dtype: command.dtype };
  return runPlan(api, io, plan, command.export);
}

export async function runMergeCommand(api: StudioHost, io: CliIo, command: MergeCommand): Promise<number> {
  // The API reads the file (bounded, regular YAML files only), as it does for the app.
  const imported = await api.loadPlanFile({ path: path.resolve(cwdOf(io), command.config) });
  let errors = 0;
  for (const problem of imported.problems) {
    if (problem.severity === 'error') errors++;
    const where = problem.line === undefined ? command.config : `${command.config}:${problem.line}`;
    io.stderr.write(`${problem.severity}: ${where}: ${oneLine(problem.message)}\n`);
  }
  if (imported.plan === null || errors > 0) {
    if (errors === 0) io.stderr.write(`error: ${command.config}: no plan in this YAML\n`);
    return 1;
  }
  // --dtype overrides the YAML's dtype, as mergekit's option does; --allow-crimes is mergekit's flag.
  let plan: LayerPlan = command.dtype === null ? imported.plan : { ...imported.plan, dtype: command.dtype };
  if (command.allowCrimes) plan = { ...plan, allowCrimes: true };
  return runPlan(api, io, plan, command.export);
}

async function runPlan(api: StudioHost, io: CliIo, plan: LayerPlan, args: ExportArgs): Promise<number> {
  const resolved = await api.resolvePlan({ plan });
  if (args.dryRun) {
    const { text } = await api.planToYaml({ plan: resolved.plan });
    io.stdout.write(`${resolvedPlanText(resolved)}\nmergekit YAML:\n${text.endsWith('\n') ? text : `${text}\n`}`);
    if (!resolved.ok) {
      const count = resolved.problems.filter((problem) => problem.severity === 'error').length;
      io.stderr.write(`error: the plan has ${count} error${count === 1 ? '' : 's'} (listed above)\n`);
      return 1;
    }
    return 0;
  }
  for (const problem of resolved.problems) io.stderr.write(`${problem.severity}: ${problemText(problem)}\n`);
  if (!resolved.ok) return 1;
  if (args.out === null) throw new StudioError('InvalidRequest', 'missing --out DIR');

  const request = {
    exportId: newCliJobId(),
    plan: resolved.plan,
    target: {
      dir: path.resolve(cwdOf(io), args.out),
      ...(args.shardSize === null ? {} : { shardSize: args.shardSize }),
      ...(args.replace ? { replace: true } : {}),
      ...(args.verify ? {} : { verify: false }),
    },
  };
  const report = await runJobWithProgress(api, io, {
    jobId: request.exportId,
    what: 'the export',
    unit: 'bytes',
    figures: (event) =>
      event.kind === 'export' && RUNNING_PHASES.has(event.progress.phase)
        ? { phase: event.progress.phase, done: event.progress.doneBytes, total: event.progress.totalBytes }
        : null,
    cancellingNote: '; removing what was written',
    cancelledNote: `export cancelled; nothing was left at ${request.target.dir}`,
    start: async () => {
      try {
        return await api.exportPlan(request);
      } catch (error) {
        if (isStudioError(error) && error.code === 'VerifyFailed' && isVerifyReport(error.detail)) {
          // The engine kept the failed export out of the target; show what verify found.
          io.stdout.write(verifyReportText(error.detail));
          io.stderr.write(`error: ${request.target.dir}: the export failed verification (${error.detail.problems.length} problems); nothing was written there\n`);
          throw new CliExit(1);
        }
        throw error;
      }
    },
  });
  // The plan's own warnings were printed above; the export adds its own (config, tokenizer, …).
  const printed = new Set(resolved.problems.map((problem) => problem.message));
  for (const warning of report.warnings) if (!printed.has(warning)) io.stderr.write(`warning: ${oneLine(warning)}\n`);
  io.stdout.write(exportSummaryText(report));
  return 0;
}

function isVerifyReport(value: unknown): value is VerifyReport {
  return typeof value === 'object' && value !== null && Array.isArray((value as VerifyReport).problems);
}
