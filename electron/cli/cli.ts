/**
 * `dus-studio`, the command-line front door. `main` parses the arguments, calls the one API and prints;
 * it returns the exit code: 0 ok, 1 error (one `error: <path>: <message>` line on stderr), 2 usage
 * error, 130 interrupted. The bundle (out/cli.js) runs `runCli` when it is the entry point.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import packageJson from '../../package.json' with { type: 'json' };
import { isStudioError } from '../api/errors.js';
import type { StudioHost } from '../api/studio-api.js';
import { COMMAND_HELP, COMMAND_USAGE, GENERAL_HELP, GENERAL_USAGE, UsageError, parseCommandLine, type ParsedCommand } from './cli-args.js';
import { CliExit, type CliIo } from './cli-io.js';
import { inspectJson, inspectText } from './inspect-output.js';
import { oneLine, verifyReportText } from './plan-output.js';
import { runMergeCommand, runRecipeCommand } from './plan-commands.js';
import { newCliJobId, runJobWithProgress } from './job-progress.js';

export type { CliIo } from './cli-io.js';

/** Exit codes. */
export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

function usageError(io: CliIo, error: UsageError): number {
  io.stderr.write(`error: ${error.message}\n`);
  if (error.command === null) io.stderr.write(`usage: ${GENERAL_USAGE} (see dus-studio --help)\n`);
  else io.stderr.write(`usage: ${COMMAND_USAGE[error.command]} (see dus-studio ${error.command} --help)\n`);
  return EXIT_USAGE;
}

/**
 * Engine messages start with the file's name so they read well alone (in the app's panels); the
 * CLI line already leads with the full path, so the repeated name is dropped there.
 */
function withoutFileName(message: string, filePath: string | undefined): string {
  if (filePath === undefined || filePath === '') return message;
  const prefix = `${path.basename(filePath)}: `;
  return message.startsWith(prefix) ? message.slice(prefix.length) : message;
}

/** One line per failure, never a stack: StudioErrors are the user's to fix; anything else is a bug. */
function reportError(io: CliIo, error: unknown): number {
  if (error instanceof CliExit) return error.code;
  if (error instanceof UsageError) return usageError(io, error);
  if (isStudioError(error)) {
    const where = error.path === undefined || error.path === '' ? '' : `${error.path}: `;
    io.stderr.write(`error: ${where}${oneLine(withoutFileName(error.message, error.path))}\n`);
    return EXIT_ERROR;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(`error: internal error: ${oneLine(message)} (please report)\n`);
  return EXIT_ERROR;
}

async function runInspect(api: StudioHost, io: CliIo, command: Extract<ParsedCommand, { kind: 'inspect' }>): Promise<number> {
  const summary = await api.openCheckpoint({ path: path.resolve(io.cwd ?? process.cwd(), command.path) });
  let stats;
  if (command.stats) {
    const jobId = newCliJobId();
    stats = await runJobWithProgress(api, io, {
      jobId,
      what: 'statistics',
      unit: 'count',
      figures: (event) => (event.kind === 'stats' ? { phase: 'statistics', done: event.progress.done, total: event.progress.total } : null),
      cancelledNote: 'statistics cancelled',
      start: () => api.computeStats({ checkpointId: summary.id, sampled: false, jobId }),
    });
  }
  io.stdout.write(command.json ? `${JSON.stringify(inspectJson(summary, stats), null, 2)}\n` : inspectText(summary, stats));
  return EXIT_OK;
}

async function runVerify(api: StudioHost, io: CliIo, command: Extract<ParsedCommand, { kind: 'verify' }>): Promise<number> {
  const report = await api.verifyExport({ dir: path.resolve(io.cwd ?? process.cwd(), command.dir) });
  io.stdout.write(command.json ? `${JSON.stringify(report, null, 2)}\n` : verifyReportText(report));
  if (report.ok) return EXIT_OK;
  const count = report.problems.length;
  io.stderr.write(`error: ${report.dir}: the export failed verification (${count} problem${count === 1 ? '' : 's'})\n`);
  return EXIT_ERROR;
}

function runCommand(api: StudioHost, io: CliIo, command: Exclude<ParsedCommand, { kind: 'help' | 'version' }>): Promise<number> {
  switch (command.kind) {
    case 'inspect':
      return runInspect(api, io, command);
    case 'recipe':
      return runRecipeCommand(api, io, command);
    case 'merge':
      return runMergeCommand(api, io, command);
    case 'verify':
      return runVerify(api, io, command);
    // Loaded on use: serve pulls in the HTTP server and every payload schema (zod), eval and sweep
    // the evaluation output; an export or inspect process would pay to load them for nothing.
    case 'eval':
      return import('./evaluation-commands.js').then(({ runEvalCommand }) => runEvalCommand(api, io, command));
    case 'sweep':
      return import('./evaluation-commands.js').then(({ runSweepCommand }) => runSweepCommand(api, io, command));
    case 'serve':
      return import('./serve-command.js').then(({ runServeCommand }) => runServeCommand(api, io, command));
  }
}

/** Runs one command line; resolves to the exit code. Never throws. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  try {
    const command = parseCommandLine(argv);
    if (command.kind === 'help') {
      io.stdout.write(`${command.command === null ? GENERAL_HELP : COMMAND_HELP[command.command]}\n`);
      return EXIT_OK;
    }
    if (command.kind === 'version') {
      io.stdout.write(`${io.version ?? packageJson.version}\n`);
      return EXIT_OK;
    }
    const api = io.createApi(command.kind === 'serve' ? 'serve' : 'cli');
    return await runCommand(api, io, command);
  } catch (error) {
    return reportError(io, error);
  }
}

/** The real process: engine, stdout/stderr, signals. Loads the engine only when a command needs it. */
export async function runCli(argv: string[] = process.argv.slice(2)): Promise<number> {
  const { createStudioEngine, locateDemoModel } = await import('../engine/studio-engine.js');
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    // `dus-studio inspect --json | head`: the reader left; stop quietly.
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  const io: CliIo = {
    stdout: process.stdout,
    stderr: process.stderr,
    isTTY: process.stderr.isTTY === true,
    columns: process.stderr.columns,
    version: packageJson.version,
    createApi: (host) => {
      let demoPath = '';
      try {
        demoPath = locateDemoModel();
      } catch {
        // Without the demo every command but the demo itself still works.
      }
      return createStudioEngine({ host, demoPath, version: packageJson.version });
    },
    onSigint: (handler) => {
      process.on('SIGINT', handler);
      process.on('SIGTERM', handler);
      return () => {
        process.off('SIGINT', handler);
        process.off('SIGTERM', handler);
      };
    },
  };
  const code = await main(argv, io);
  process.exitCode = code;
  return code;
}

/**
 * True when this module is the program: the bundle out/cli.js run directly or through the bin link
 * (node_modules/.bin/dus-studio points at it: real paths are compared). A bundle of something else
 * that happens to include this module is named differently and does not start the CLI.
 */
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  const self = fileURLToPath(import.meta.url);
  if (entry === undefined || path.basename(self, path.extname(self)) !== 'cli') return false;
  try {
    return realpathSync(entry) === realpathSync(self);
  } catch {
    return false;
  }
}

if (isEntryPoint()) void runCli();
