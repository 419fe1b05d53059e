import { describe, expect, it } from 'vitest';
import { COMMAND_HELP, COMMAND_NAMES, COMMAND_USAGE, UsageError, parseCommandLine, parseSize } from '../../electron/cli/cli-args.js';

function usageMessage(argv: string[]): string {
  try {
    parseCommandLine(argv);
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error(`accepted ${argv.join(' ')}`);
}

describe('parseSize', () => {
  // The rule itself is electron/common/byte-size.ts's (test/common/byte-size.test.ts); here only its CLI face.
  it('gives the shared rule\'s byte count, and a usage error naming the text for what is not a size', () => {
    expect(parseSize('1.5GiB')).toBe(1.5 * 2 ** 30);
    expect(() => parseSize('5XB')).toThrow(/invalid size '5XB': use for example 5GB/);
    expect(() => parseSize('0')).toThrow(UsageError);
  });
});

describe('parseCommandLine', () => {
  it('reads a SOLAR DUS command with every export option', () => {
    expect(parseCommandLine(['dus', 'models/base', '--drop', '8', '--out', 'out/solar', '--shard-size', '2GB', '--replace', '--dtype', 'bfloat16'])).toEqual({
      kind: 'recipe',
      command: 'dus',
      model: 'models/base',
      recipe: { kind: 'dus', drop: 8 },
      dtype: 'bfloat16',
      export: { out: 'out/solar', shardSize: 2_000_000_000, replace: true, verify: true, dryRun: false },
    });
  });

  it('reads splice points, LLaMA-Pro and stacking', () => {
    expect(parseCommandLine(['dus', 'm', '--splice', '24:8', '--out', 'o'])).toMatchObject({ recipe: { kind: 'splice', a: 24, b: 8 } });
    expect(parseCommandLine(['llama-pro', 'm', '--every', '4', '--out', 'o'])).toMatchObject({ command: 'llama-pro', recipe: { kind: 'llama-pro', every: 4 } });
    expect(parseCommandLine(['stack', 'm', '--times', '3', '--out=o'])).toMatchObject({ command: 'stack', recipe: { kind: 'stack', times: 3 }, export: { out: 'o' } });
  });

  it('turns --skip-verify into an export without verification', () => {
    expect(parseCommandLine(['dus', 'm', '--drop', '2', '--out', 'o', '--skip-verify'])).toMatchObject({ export: { verify: false } });
  });

  it('lets --dry-run go without --out', () => {
    expect(parseCommandLine(['merge', 'c.yml', '--dry-run'])).toEqual({
      kind: 'merge',
      config: 'c.yml',
      dtype: null,
      allowCrimes: false,
      export: { out: null, shardSize: null, replace: false, verify: true, dryRun: true },
    });
    // The README lists --dtype for every export command; --allow-crimes is mergekit's own flag.
    expect(parseCommandLine(['merge', 'c.yml', '--dtype', 'bfloat16', '--allow-crimes', '--out', 'o'])).toMatchObject({ dtype: 'bfloat16', allowCrimes: true });
  });

  it('reads serve with repeated --open and --root', () => {
    expect(parseCommandLine(['serve', '--open', 'a', '--open', 'b', '--root', 'r', '--port', '8080'])).toEqual({
      kind: 'serve',
      port: 8080,
      host: '127.0.0.1',
      allowRemote: false,
      open: ['a', 'b'],
      roots: ['r'],
    });
  });

  it('refuses a --host beyond this machine unless --allow-remote is given (issue 13)', () => {
    expect(() => parseCommandLine(['serve', '--host', '0.0.0.0'])).toThrow(/--allow-remote/);
    expect(() => parseCommandLine(['serve', '--host', '192.168.1.5'])).toThrow(/plain HTTP/);
    expect(parseCommandLine(['serve', '--host', '0.0.0.0', '--allow-remote'])).toMatchObject({ host: '0.0.0.0', allowRemote: true });
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) expect(parseCommandLine(['serve', '--host', host])).toMatchObject({ host, allowRemote: false });
  });

  it('answers help for every command and overall, and the version', () => {
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'help', command: null });
    expect(parseCommandLine(['-h'])).toEqual({ kind: 'help', command: null });
    expect(parseCommandLine(['help', 'merge'])).toEqual({ kind: 'help', command: 'merge' });
    expect(parseCommandLine(['--version'])).toEqual({ kind: 'version' });
    for (const command of COMMAND_NAMES) {
      expect(parseCommandLine([command, '--help'])).toEqual({ kind: 'help', command });
      expect(parseCommandLine([command, '--bogus', '-h'])).toEqual({ kind: 'help', command });
      expect(COMMAND_HELP[command]).toContain(COMMAND_USAGE[command]);
    }
  });

  it('names each usage mistake', () => {
    const cases: [string[], RegExp][] = [
      [[], /missing command/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['--frob'], /unknown option '--frob'/],
      [['inspect'], /missing PATH/],
      [['inspect', 'a', 'b'], /unexpected argument 'b'/],
      [['inspect', 'a', '--color'], /unknown option '--color'/],
      [['dus', 'm', '--out', 'o'], /missing --drop M or --splice A:B/],
      [['dus', 'm', '--drop', '2'], /missing --out/],
      [['dus', 'm', '--drop', '2', '--splice', '3:1', '--out', 'o'], /not both/],
      [['dus', 'm', '--drop', 'x', '--out', 'o'], /--drop needs a whole number/],
      [['dus', 'm', '--drop', '-1', '--out', 'o'], /--drop/],
      [['dus', 'm', '--drop', '1.5', '--out', 'o'], /--drop needs a whole number/],
      [['dus', 'm', '--splice', '3', '--out', 'o'], /--splice needs two layer numbers/],
      [['dus', 'm', '--drop', '1', '--out'], /--out/],
      [['dus', 'm', '--drop', '1', '--out', 'o', '--shard-size', '5XB'], /--shard-size: invalid size '5XB'/],
      [['llama-pro', 'm', '--every', '0', '--out', 'o'], /--every needs a whole number ≥ 1/],
      [['llama-pro', 'm', '--out', 'o'], /missing --every K/],
      [['stack', 'm', '--times', '1e3', '--out', 'o'], /--times needs a whole number/],
      [['merge', 'c.yml', '--out', 'o', '--allow-crimes=yes'], /--allow-crimes/],
      [['verify'], /missing DIR/],
      [['serve', '--port', '70000'], /at most 65535/],
      [['serve', 'model'], /unexpected argument 'model'/],
      [['--version', 'x'], /unexpected argument 'x'/],
    ];
    for (const [argv, message] of cases) expect(usageMessage(argv), argv.join(' ')).toMatch(message);
  });
});
