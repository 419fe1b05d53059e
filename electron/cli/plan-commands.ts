/**
 * The commands that build a plan and export it: `dus`, `llama-pro`, `stack` (a recipe) and `merge`
 * (mergekit YAML). Each only calls the API: open, build or import, resolve, export.
 */
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { MAX_YAML_BYTES } from '../api/schemas.js';
import { StudioError, isStudioError } from '../api/errors.js';
import type { StudioHost } from '../api/studio-api.js';
import type { ExportPhase, ExportReport, LayerPlan, PlanRecipe } from '../api/types.js';
import type { ExportArgs, ParsedCommand, RecipeArgs } from './cli-args.js';
import { CliExit, type CliIo } from './cli-io.js';
import { exportSummaryText, oneLine, problemText, resolvedPlanText, verifyReportText } from './plan-output.js';
import { createProgressBar } from './progress-bar.js';

type RecipeCommand = Extract<ParsedCommand, { kind: 'recipe' }>;
type MergeCommand = Extract<ParsedCommand, { kind: 'merge' }>;

/** Exit status of a process stopped by Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;

/** Phases drawn on the progress bar; the end phases are reported by the summary instead. */
const RUNNING_PHASES: ReadonlySet<ExportPhase> = new Set(['preparing', 'copying', 'finishing', 'verifying']);

function cwdOf(io: CliIo): string {
  return io.cwd ?? process.cwd();
}

function recipeFor(args: RecipeArgs, model: string): PlanRecipe {
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

async function readYaml(file: string, shown: string): Promise<string> {
  try {
    const info = await stat(file);
    if (info.isDirectory()) throw new StudioError('InvalidRequest', 'is a folder, not a YAML file', { path: shown });
    if (info.size > MAX_YAML_BYTES) throw new StudioError('InvalidYaml', `larger than ${MAX_YAML_BYTES / 1e6} MB; not a mergekit config`, { path: shown });
    return await readFile(file, 'utf8');
  } catch (error) {
    if (isStudioError(error)) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new StudioError('NotFound', 'no such file', { path: shown });
    if (code === 'EACCES' || code === 'EPERM') throw new StudioError('PermissionDenied', 'permission denied', { path: shown });
    throw error;
  }
}

export async function runMergeCommand(api: StudioHost, io: CliIo, command: MergeCommand): Promise<number> {
  const file = path.resolve(cwdOf(io), command.config);
  const text = await readYaml(file, command.config);
  const imported = await api.planFromYaml({ text, baseDir: path.dirname(file) });
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

  const report = await exportWithProgress(api, io, {
    exportId: `cli-${randomBytes(6).toString('hex')}`,
    plan: resolved.plan,
    target: {
      dir: path.resolve(cwdOf(io), args.out),
      ...(args.shardSize === null ? {} : { shardSize: args.shardSize }),
      ...(args.replace ? { replace: true } : {}),
      ...(args.verify ? {} : { verify: false }),
    },
  });
  // The plan's own warnings were printed above; the export adds its own (config, tokenizer, …).
  const printed = new Set(resolved.problems.map((problem) => problem.message));
  for (const warning of report.warnings) if (!printed.has(warning)) io.stderr.write(`warning: ${oneLine(warning)}\n`);
  io.stdout.write(exportSummaryText(report));
  if (report.verify !== null && !report.verify.ok) {
    io.stdout.write(verifyReportText(report.verify));
    io.stderr.write(`error: ${report.dir}: the export failed verification (${report.verify.problems.length} problems)\n`);
    return 1;
  }
  return 0;
}

/**
 * Runs the export with a progress bar on a terminal, and turns Ctrl-C into cancelExport: the export
 * removes what it wrote, and only then does the CLI exit (130). A second Ctrl-C, while that cleanup
 * runs, ends the process at once.
 */
async function exportWithProgress(api: StudioHost, io: CliIo, request: Parameters<StudioHost['exportPlan']>[0]): Promise<ExportReport> {
  const bar = io.isTTY ? createProgressBar({ write: (text) => io.stderr.write(text), now: io.now, columns: io.columns }) : null;
  const unsubscribe = api.on('exportProgress', (progress) => {
    if (progress.exportId !== request.exportId || !RUNNING_PHASES.has(progress.phase)) return;
    bar?.update({ phase: progress.phase, done: progress.doneBytes, total: progress.totalBytes });
  });
  let cancelling: Promise<void> | null = null;
  const stopListening = io.onSigint?.(() => {
    stopListening?.();
    bar?.clear();
    io.stderr.write(`cancelling the export; removing what was written (Ctrl-C again to quit at once)\n`);
    cancelling = api.cancelExport({ exportId: request.exportId }).catch((error: unknown) => {
      io.stderr.write(`warning: could not cancel: ${oneLine(error instanceof Error ? error.message : String(error))}\n`);
    });
  });
  try {
    return await api.exportPlan(request);
  } catch (error) {
    if (cancelling !== null) {
      await cancelling;
      bar?.clear();
      if (isStudioError(error) && error.code === 'Cancelled') io.stderr.write(`export cancelled; nothing was left at ${request.target.dir}\n`);
      else io.stderr.write(`error: export interrupted: ${oneLine(error instanceof Error ? error.message : String(error))}\n`);
      throw new CliExit(EXIT_INTERRUPTED);
    }
    throw error;
  } finally {
    stopListening?.();
    unsubscribe();
    bar?.clear();
  }
}
