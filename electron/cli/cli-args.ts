/**
 * The `dus-studio` command line: the usage texts and the parsing of argv into one typed command.
 * Parsing is strict (node:util parseArgs): unknown flags, missing values and bad numbers are usage
 * errors (exit 2), found before any work starts.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BYTE_SIZE_EXAMPLES, parseByteSize } from '../common/byte-size.js';
import { isLoopbackHost } from '../serve/loopback.js';

/** A mistake in the command line; main prints it with the command's usage line and exits 2. */
export class UsageError extends Error {
  readonly command: CommandName | null;

  constructor(message: string, command: CommandName | null = null) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

export const COMMAND_NAMES = ['inspect', 'dus', 'llama-pro', 'stack', 'merge', 'verify', 'eval', 'sweep', 'serve'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export function isCommandName(name: string): name is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(name);
}

const EXPORT_OPTIONS_HELP = `export options:
  --out DIR            folder to write (required unless --dry-run); NAME.gguf for GGUF sources
  --shard-size SIZE    largest shard: 5GB (default), 500MB, 1.5GiB or a byte count
  --replace            replace a non-empty --out folder
  --skip-verify        do not re-read the export against its sources (faster; verify later
                       with dus-studio verify DIR)
  --dry-run            print the resolved plan and its mergekit YAML; write nothing`;

const DTYPE_HELP = '  --dtype NAME         convert weights: bfloat16, float16 or float32 (default: keep)';

/** One-line usage per command, printed after a usage error. */
export const COMMAND_USAGE: Readonly<Record<CommandName, string>> = {
  inspect: 'dus-studio inspect PATH [--json] [--stats]',
  dus: 'dus-studio dus MODEL (--drop M | --splice A:B) --out DIR [--shard-size 5GB] [--replace] [--skip-verify] [--dtype bfloat16] [--dry-run]',
  'llama-pro': 'dus-studio llama-pro MODEL --every K --out DIR [--shard-size 5GB] [--replace] [--skip-verify] [--dtype bfloat16] [--dry-run]',
  stack: 'dus-studio stack MODEL --times G --out DIR [--shard-size 5GB] [--replace] [--skip-verify] [--dtype bfloat16] [--dry-run]',
  merge: 'dus-studio merge CONFIG.yml --out DIR [--shard-size 5GB] [--replace] [--skip-verify] [--dtype bfloat16] [--allow-crimes] [--dry-run]',
  verify: 'dus-studio verify DIR|NAME.gguf [--json]',
  eval: 'dus-studio eval MODEL|PLAN.yml [--drop M | --splice A:B | --every K | --times G] [--text FILE] [--tokens N] [--prompt TEXT] [--json] [--cpu] [--work-dir DIR]',
  sweep: 'dus-studio sweep MODEL [--drop FROM:TO | --grid [A0:A1,B0:B1]] [--text FILE] [--tokens N] [--json] [--cpu] [--work-dir DIR]',
  serve: 'dus-studio serve [--port N] [--host 127.0.0.1 [--allow-remote]] [--open PATH]... [--root DIR]...',
};

export const GENERAL_USAGE = 'dus-studio <command> [options]';

/** The help text of each command (`dus-studio <command> --help`). */
export const COMMAND_HELP: Readonly<Record<CommandName, string>> = {
  inspect: `usage: ${COMMAND_USAGE.inspect}

Summarises a checkpoint (a model folder, a .safetensors file, an index file or a .gguf file) from its headers and
config.json: architecture, layer family, layers, parameters, bytes, dtypes, tied embeddings, side
files, warnings and a per-layer table.

options:
  --json               print one JSON object instead (tensors with name, dtype, shape, layer, bytes)
  --stats              also compute per-tensor statistics (L2, RMS, max |x|, mean, NaN and Inf
                       counts); this reads every weight once`,
  dus: `usage: ${COMMAND_USAGE.dus}

SOLAR-style depth up-scaling of one model with n layers: two copies, joined at a seam.
  --drop M             drop the last M layers of the first copy and the first M of the second
                       (SOLAR: n = 32, M = 8 gives 48 layers)
  --splice A:B         splice points: the first copy keeps layers [0, A), the second [B, n)
${DTYPE_HELP}
${EXPORT_OPTIONS_HELP}`,
  'llama-pro': `usage: ${COMMAND_USAGE['llama-pro']}

LLaMA-Pro block expansion: after every K-th layer, insert a copy of it whose o_proj and down_proj are
zero, so each new block starts as an identity.
  --every K            insert a block after every K-th layer
${DTYPE_HELP}
${EXPORT_OPTIONS_HELP}`,
  stack: `usage: ${COMMAND_USAGE.stack}

G_stack: the whole layer stack G times over (embeddings, final norm and head once).
  --times G            how many times to repeat the stack
${DTYPE_HELP}
${EXPORT_OPTIONS_HELP}`,
  merge: `usage: ${COMMAND_USAGE.merge}

Runs a mergekit passthrough YAML (slices with layer_range, optional scale parameters). Model paths in
the YAML are relative to the YAML's folder.
  --dtype NAME         write weights as bfloat16, float16 or float32 (overrides the YAML's dtype)
  --allow-crimes       stack layers of models with different architectures (mergekit's flag)
${EXPORT_OPTIONS_HELP}`,
  verify: `usage: ${COMMAND_USAGE.verify}

Re-opens an exported folder and checks every tensor against its planned source. Exits 0 when the
export is sound, 1 otherwise.
  --json               print the report as JSON`,
  eval: `usage: ${COMMAND_USAGE.eval}

Evaluates a plan in llama.cpp before exporting it: writes its output as a temporary GGUF, scores the
evaluation text (perplexity over every token, natural log) and continues a prompt greedily, with the
source model's figures beside it. MODEL alone evaluates the model itself; a recipe flag or a mergekit
YAML evaluates that plan. Sources: Llama-family safetensors (SentencePiece tokenizer.model).
  --drop M | --splice A:B | --every K | --times G
                       the plan: SOLAR DUS, splice points, LLaMA-Pro, stacking (as the export commands)
  --text FILE          the evaluation text (UTF-8); default: the bundled TinyStories-style text
  --tokens N           score at most N tokens of it
  --prompt TEXT        the prompt to continue (default "Once upon a time")
  --json               print one JSON object (perplexity, tokens, continuation, source, …)
  --cpu                run llama.cpp on the CPU even where a GPU is available
  --work-dir DIR       where the temporary GGUF is written (default: the system's temporary
                       folder; choose one beside your models when that folder is small)`,
  sweep: `usage: ${COMMAND_USAGE.sweep}

Evaluates the SOLAR plan of MODEL at many splice points with one loaded llama.cpp and prints one row per
candidate (A, B, layers, perplexity), best first, after the source's own perplexity.
  --drop FROM:TO       every drop m in [FROM, TO]: the first copy keeps [0, n−m), the second [m, n)
                       (default: 1 to n/2)
  --grid [A0:A1,B0:B1] every splice (A, B) with A in [A0, A1] and B in [B0, B1]; alone: the full grid
  --text FILE          the evaluation text (default: the bundled text)
  --tokens N           score at most N tokens of it
  --json               print the report as JSON (rows best first, each {a, b, layers, perplexity, tokens})
  --cpu                run llama.cpp on the CPU even where a GPU is available
  --work-dir DIR       where the temporary GGUFs are written (default: the system's temporary folder)`,
  serve: `usage: ${COMMAND_USAGE.serve}

Serves the studio to a browser on this machine. The first line printed is the URL to open (it carries
a session token). Stop with Ctrl-C.
  --port N             port to listen on (default: any free port)
  --host ADDRESS       address to listen on (default 127.0.0.1, this machine only); any
                       other address needs --allow-remote
  --allow-remote       really listen beyond this machine: the session token and every
                       answer then cross the network as plain HTTP
  --open PATH          open a checkpoint at start (repeatable)
  --root DIR           a folder the browser may open files in (repeatable); default: the
                       folders of --open paths; the bundled demo model is always allowed`,
};

export const GENERAL_HELP = `dus-studio: see, reshape and export LLM layer stacks (Depth Up-Scaling)

usage: ${GENERAL_USAGE}

commands:
  inspect PATH                            summarise a checkpoint
  dus MODEL (--drop M | --splice A:B)     SOLAR depth up-scaling
  llama-pro MODEL --every K               LLaMA-Pro block expansion
  stack MODEL --times G                   repeat the layer stack G times
  merge CONFIG.yml                        run a mergekit passthrough YAML
  verify DIR|NAME.gguf                    check an exported folder or GGUF file
  eval MODEL|PLAN.yml [recipe]            perplexity and sample text in llama.cpp, before export
  sweep MODEL [--drop FROM:TO | --grid]   evaluate many splice points, best first
  serve                                   open the studio in a browser

options:
  -h, --help       help (also after a command: dus-studio dus --help)
  -V, --version    print the version

Run 'dus-studio <command> --help' for a command's options.`;

export type RecipeArgs =
  | { kind: 'dus'; drop: number }
  | { kind: 'splice'; a: number; b: number }
  | { kind: 'llama-pro'; every: number }
  | { kind: 'stack'; times: number };

export interface ExportArgs {
  out: string | null;
  shardSize: number | null;
  replace: boolean;
  verify: boolean;
  dryRun: boolean;
}

export interface EvaluationArgs {
  /** Folder for the temporary GGUF; null: the system's temporary folder. */
  workDir: string | null;
  text: string | null;
  tokens: number | null;
  prompt: string | null;
  json: boolean;
  cpu: boolean;
}

export type SweepRangeArgs =
  | { kind: 'drop'; from: number; to: number }
  | { kind: 'grid'; aFrom: number; aTo: number; bFrom: number; bTo: number }
  | { kind: 'full-grid' };

export type ParsedCommand =
  | { kind: 'help'; command: CommandName | null }
  | { kind: 'version' }
  | { kind: 'inspect'; path: string; json: boolean; stats: boolean }
  | { kind: 'recipe'; command: 'dus' | 'llama-pro' | 'stack'; model: string; recipe: RecipeArgs; dtype: string | null; export: ExportArgs }
  | { kind: 'merge'; config: string; dtype: string | null; allowCrimes: boolean; export: ExportArgs }
  | { kind: 'verify'; dir: string; json: boolean }
  | { kind: 'eval'; target: string; recipe: RecipeArgs | null; evaluation: EvaluationArgs }
  | { kind: 'sweep'; model: string; range: SweepRangeArgs | null; evaluation: EvaluationArgs }
  | { kind: 'serve'; port: number; host: string; allowRemote: boolean; open: string[]; roots: string[] };

/** --shard-size's value in bytes (electron/common/byte-size.ts holds the one rule the app shares). */
export function parseSize(text: string): number {
  const bytes = parseByteSize(text);
  if (bytes === null) throw new UsageError(`invalid size '${text}': use for example ${BYTE_SIZE_EXAMPLES}, at least 1 byte and below 9 PB`);
  return bytes;
}

/** A whole number ≥ `min`, written in decimal digits only (no `1e3`, no `0x10`, no sign). */
export function parseCount(text: string, flag: string, min: number, command: CommandName): number {
  const value = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`${flag} needs a whole number ≥ ${min}, not '${text}'`, command);
  }
  return value;
}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

const EXPORT_OPTIONS = {
  out: { type: 'string' },
  'shard-size': { type: 'string' },
  replace: { type: 'boolean' },
  'skip-verify': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
} as const satisfies OptionsConfig;

const OPTIONS = {
  inspect: { json: { type: 'boolean' }, stats: { type: 'boolean' } },
  dus: { ...EXPORT_OPTIONS, drop: { type: 'string' }, splice: { type: 'string' }, dtype: { type: 'string' } },
  'llama-pro': { ...EXPORT_OPTIONS, every: { type: 'string' }, dtype: { type: 'string' } },
  stack: { ...EXPORT_OPTIONS, times: { type: 'string' }, dtype: { type: 'string' } },
  merge: { ...EXPORT_OPTIONS, dtype: { type: 'string' }, 'allow-crimes': { type: 'boolean' } },
  verify: { json: { type: 'boolean' } },
  eval: {
    drop: { type: 'string' },
    splice: { type: 'string' },
    every: { type: 'string' },
    times: { type: 'string' },
    text: { type: 'string' },
    tokens: { type: 'string' },
    prompt: { type: 'string' },
    json: { type: 'boolean' },
    cpu: { type: 'boolean' },
    'work-dir': { type: 'string' },
  },
  sweep: {
    drop: { type: 'string' },
    grid: { type: 'boolean' },
    text: { type: 'string' },
    tokens: { type: 'string' },
    json: { type: 'boolean' },
    cpu: { type: 'boolean' },
    'work-dir': { type: 'string' },
  },
  serve: { port: { type: 'string' }, host: { type: 'string' }, 'allow-remote': { type: 'boolean' }, open: { type: 'string', multiple: true }, root: { type: 'string', multiple: true } },
} as const satisfies Record<CommandName, OptionsConfig>;

/** Turns parseArgs' TypeErrors (long, with advice about `--`) into one short usage line. */
function parseArgsMessage(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const quoted = /'([^']+)'/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${quoted ?? message}'`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument '${quoted ?? message}'`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return message.replace(/^Option /, 'option ').replace(/\.$/, '');
    default:
      return message;
  }
}

function parseCommandOptions<C extends CommandName>(command: C, args: string[]) {
  try {
    return parseArgs({ args, options: OPTIONS[command], allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(parseArgsMessage(error), command);
  }
}

function onePositional(command: CommandName, positionals: string[], what: string): string {
  if (positionals.length === 0) throw new UsageError(`missing ${what}`, command);
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`, command);
  return positionals[0] as string;
}

function exportArgs(
  command: CommandName,
  values: { out?: string; 'shard-size'?: string; replace?: boolean; 'skip-verify'?: boolean; 'dry-run'?: boolean },
): ExportArgs {
  const dryRun = values['dry-run'] ?? false;
  if (values.out === undefined && !dryRun) throw new UsageError('missing --out DIR', command);
  if (values.out === '') throw new UsageError('--out needs a folder', command);
  let shardSize: number | null = null;
  if (values['shard-size'] !== undefined) {
    try {
      shardSize = parseSize(values['shard-size']);
    } catch (error) {
      throw new UsageError(`--shard-size: ${(error as Error).message}`, command);
    }
  }
  return { out: values.out ?? null, shardSize, replace: values.replace ?? false, verify: !(values['skip-verify'] ?? false), dryRun };
}

function parseSplice(text: string, command: CommandName = 'dus'): { a: number; b: number } {
  const match = /^(\d{1,9}):(\d{1,9})$/.exec(text);
  if (!match) throw new UsageError(`--splice needs two layer numbers A:B (first copy keeps [0, A), second [B, n)), not '${text}'`, command);
  return { a: Number(match[1]), b: Number(match[2]) };
}

function parseInterval(text: string, flag: string, command: CommandName): { from: number; to: number } {
  const match = /^(\d{1,9}):(\d{1,9})$/.exec(text);
  if (!match || Number(match[1]) > Number(match[2])) throw new UsageError(`${flag} needs FROM:TO with FROM ≤ TO, not '${text}'`, command);
  return { from: Number(match[1]), to: Number(match[2]) };
}

function evaluationArgs(
  command: CommandName,
  values: { text?: string; tokens?: string; prompt?: string; json?: boolean; cpu?: boolean; 'work-dir'?: string },
): EvaluationArgs {
  if (values.text === '') throw new UsageError('--text needs a file', command);
  if (values['work-dir'] === '') throw new UsageError('--work-dir needs a folder', command);
  return {
    workDir: values['work-dir'] ?? null,
    text: values.text ?? null,
    tokens: values.tokens === undefined ? null : parseCount(values.tokens, '--tokens', 1, command),
    prompt: values.prompt ?? null,
    json: values.json ?? false,
    cpu: values.cpu ?? false,
  };
}

/** The one recipe flag of `eval`, if any. */
function evalRecipe(values: { drop?: string; splice?: string; every?: string; times?: string }): RecipeArgs | null {
  const given = (['drop', 'splice', 'every', 'times'] as const).filter((flag) => values[flag] !== undefined);
  if (given.length > 1) throw new UsageError(`give one of --drop, --splice, --every, --times, not ${given.map((flag) => `--${flag}`).join(' and ')}`, 'eval');
  if (values.drop !== undefined) return { kind: 'dus', drop: parseCount(values.drop, '--drop', 0, 'eval') };
  if (values.splice !== undefined) return { kind: 'splice', ...parseSplice(values.splice, 'eval') };
  if (values.every !== undefined) return { kind: 'llama-pro', every: parseCount(values.every, '--every', 1, 'eval') };
  if (values.times !== undefined) return { kind: 'stack', times: parseCount(values.times, '--times', 1, 'eval') };
  return null;
}

const GRID_BOUNDS = /^\d{1,9}:\d{1,9},\d{1,9}:\d{1,9}$/;

/** `sweep`'s range: --drop FROM:TO, --grid alone (the full grid) or --grid A0:A1,B0:B1 (a positional after it). */
function sweepRange(values: { drop?: string; grid?: boolean }, gridBounds: string | undefined): SweepRangeArgs | null {
  if (values.drop !== undefined && values.grid === true) throw new UsageError('give --drop or --grid, not both', 'sweep');
  if (values.drop !== undefined) return { kind: 'drop', ...parseInterval(values.drop, '--drop', 'sweep') };
  if (values.grid !== true) return null;
  if (gridBounds === undefined) return { kind: 'full-grid' };
  const [aPart, bPart, extra] = gridBounds.split(',');
  if (aPart === undefined || bPart === undefined || extra !== undefined) throw new UsageError(`--grid bounds are A0:A1,B0:B1, not '${gridBounds}'`, 'sweep');
  const a = parseInterval(aPart, '--grid', 'sweep');
  const b = parseInterval(bPart, '--grid', 'sweep');
  return { kind: 'grid', aFrom: a.from, aTo: a.to, bFrom: b.from, bTo: b.to };
}

/** True when `-h`/`--help` appears among the options (not after a `--`). */
function asksForHelp(args: string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** Parses the whole command line. Throws UsageError. */
export function parseCommandLine(argv: string[]): ParsedCommand {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('missing command');
  if (first === '--help' || first === '-h') return { kind: 'help', command: null };
  if (first === '--version' || first === '-V') {
    if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
    return { kind: 'version' };
  }
  if (first === 'help') {
    const topic = rest[0];
    if (topic === undefined) return { kind: 'help', command: null };
    if (!isCommandName(topic)) throw new UsageError(`unknown command '${topic}'`);
    return { kind: 'help', command: topic };
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option '${first}'`);
  if (!isCommandName(first)) throw new UsageError(`unknown command '${first}'`);
  const command = first;
  if (asksForHelp(rest)) return { kind: 'help', command };

  switch (command) {
    case 'inspect': {
      const { values, positionals } = parseCommandOptions('inspect', rest);
      return { kind: 'inspect', path: onePositional(command, positionals, 'PATH'), json: values.json ?? false, stats: values.stats ?? false };
    }
    case 'dus': {
      const { values, positionals } = parseCommandOptions('dus', rest);
      const model = onePositional(command, positionals, 'MODEL');
      if (values.drop !== undefined && values.splice !== undefined) throw new UsageError('give --drop or --splice, not both', command);
      if (values.drop === undefined && values.splice === undefined) throw new UsageError('missing --drop M or --splice A:B', command);
      const recipe: RecipeArgs =
        values.drop !== undefined ? { kind: 'dus', drop: parseCount(values.drop, '--drop', 0, command) } : { kind: 'splice', ...parseSplice(values.splice ?? '') };
      return { kind: 'recipe', command, model, recipe, dtype: values.dtype ?? null, export: exportArgs(command, values) };
    }
    case 'llama-pro': {
      const { values, positionals } = parseCommandOptions('llama-pro', rest);
      const model = onePositional(command, positionals, 'MODEL');
      if (values.every === undefined) throw new UsageError('missing --every K', command);
      const recipe: RecipeArgs = { kind: 'llama-pro', every: parseCount(values.every, '--every', 1, command) };
      return { kind: 'recipe', command, model, recipe, dtype: values.dtype ?? null, export: exportArgs(command, values) };
    }
    case 'stack': {
      const { values, positionals } = parseCommandOptions('stack', rest);
      const model = onePositional(command, positionals, 'MODEL');
      if (values.times === undefined) throw new UsageError('missing --times G', command);
      const recipe: RecipeArgs = { kind: 'stack', times: parseCount(values.times, '--times', 1, command) };
      return { kind: 'recipe', command, model, recipe, dtype: values.dtype ?? null, export: exportArgs(command, values) };
    }
    case 'merge': {
      const { values, positionals } = parseCommandOptions('merge', rest);
      return {
        kind: 'merge',
        config: onePositional(command, positionals, 'CONFIG.yml'),
        dtype: values.dtype ?? null,
        allowCrimes: values['allow-crimes'] === true,
        export: exportArgs(command, values),
      };
    }
    case 'verify': {
      const { values, positionals } = parseCommandOptions('verify', rest);
      return { kind: 'verify', dir: onePositional(command, positionals, 'DIR'), json: values.json ?? false };
    }
    case 'eval': {
      const { values, positionals } = parseCommandOptions('eval', rest);
      const target = onePositional(command, positionals, 'MODEL or PLAN.yml');
      return { kind: 'eval', target, recipe: evalRecipe(values), evaluation: evaluationArgs(command, values) };
    }
    case 'sweep': {
      const { values, positionals } = parseCommandOptions('sweep', rest);
      // --grid is a flag; its optional bounds arrive as a positional, before or after MODEL.
      const bounds = values.grid === true ? positionals.find((item) => GRID_BOUNDS.test(item)) : undefined;
      const models = positionals.filter((item) => item !== bounds);
      const model = onePositional(command, models, 'MODEL');
      return { kind: 'sweep', model, range: sweepRange(values, bounds), evaluation: evaluationArgs(command, values) };
    }
    case 'serve': {
      const { values, positionals } = parseCommandOptions('serve', rest);
      if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (open models with --open PATH)`, command);
      const port = values.port === undefined ? 0 : parseCount(values.port, '--port', 0, command);
      if (port > 65_535) throw new UsageError(`--port must be at most 65535, not ${port}`, command);
      const host = values.host ?? '127.0.0.1';
      if (host === '') throw new UsageError('--host needs an address', command);
      const allowRemote = values['allow-remote'] ?? false;
      if (!isLoopbackHost(host) && !allowRemote) {
        throw new UsageError(
          `--host ${host} would serve beyond this machine, sending the session token over plain HTTP; add --allow-remote if that is really meant`,
          command,
        );
      }
      return { kind: 'serve', port, host, allowRemote, open: values.open ?? [], roots: values.root ?? [] };
    }
  }
}
