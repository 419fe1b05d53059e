/**
 * A GGUF split set killed while its files are moved into place. The bundled CLI runs with a preload
 * that wraps fs.promises.rename and sends the process SIGKILL just before the k-th split would be
 * renamed out of its temporary folder, for every k: a real kill at an exact moment of the commit,
 * with no hook in the exporter. Afterwards verify names the interrupted commit exactly (which files
 * are in place, which wait where), and the next export to the same place finishes the set before
 * it does anything else, so a partial set never stays at the target.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isExportTempName, recoverLeftovers } from '../../electron/engine/export/export-target.js';
import { verifyExport } from '../../electron/engine/export/verify-export.js';
import { bundleCli, REPOSITORY, runCliProcess } from './bundled-cli.js';

const run = promisify(execFile);
const GGUF_SOURCE = path.resolve(REPOSITORY, '../shared/models/gguf/stories260K-f32.gguf');
const NATIVE_BINARY = path.join(REPOSITORY, 'native', 'build', 'Release', 'dus_native.node');
const BUILD_TIMEOUT_MS = 300_000;
/** 1 MB of tensors in splits of at most 200 kB: six files. */
const SHARD_SIZE = '200KB';

/**
 * Kills the process (SIGKILL: nothing of it runs afterwards) just before the rename that would move
 * split number DUS_KILL_BEFORE_MOVE (0-based) out of a temporary export folder into place.
 */
const KILL_PRELOAD = `
import { createRequire, syncBuiltinESMExports } from 'node:module';
import path from 'node:path';
const require = createRequire(import.meta.url);
const promises = require('node:fs/promises');
const rename = promises.rename;
const killBefore = Number(process.env.DUS_KILL_BEFORE_MOVE);
let moved = 0;
promises.rename = async function (from, to) {
  const leavingTemp = /\\.dus-export-\\d+-[0-9a-f]+$/.test(path.dirname(String(from))) && !String(to).includes('.dus-');
  if (leavingTemp && moved === killBefore) process.kill(process.pid, 'SIGKILL');
  await rename(from, to);
  if (leavingTemp) moved += 1;
};
syncBuiltinESMExports();
`;

let tempDir: string;
let cliPath: string;
let preload: string;

beforeAll(async () => {
  tempDir = await mkdtemp(path.join(os.tmpdir(), 'dus-gguf-kill-'));
  cliPath = await bundleCli(tempDir);
  preload = path.join(tempDir, 'kill-before-move.mjs');
  await writeFile(preload, KILL_PRELOAD);
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await rm(tempDir, { recursive: true, force: true });
});

function exportArgs(out: string, extra: string[] = []): string[] {
  return ['dus', GGUF_SOURCE, '--drop', '1', '--out', out, '--shard-size', SHARD_SIZE, ...extra];
}

/** The CLI with the kill preload; the signal that ended it (null when it exited by itself). */
async function exportKilledBeforeMove(out: string, move: number): Promise<string | null> {
  try {
    await run(process.execPath, ['--import', preload, cliPath, ...exportArgs(out)], {
      cwd: tempDir,
      env: { ...process.env, DUS_NATIVE_PATH: NATIVE_BINARY, DUS_KILL_BEFORE_MOVE: String(move) },
    });
    return null;
  } catch (error) {
    return (error as { signal?: string | null }).signal ?? null;
  }
}

const splitName = (index: number, count: number): string => `dus-${String(index + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.gguf`;

describe('a GGUF split set killed while it is moved into place', () => {
  it('is reported exactly by verify and finished by the next export to the same place, for every kill point', async () => {
    const reference = path.join(tempDir, 'reference');
    await mkdir(reference);
    expect((await runCliProcess(cliPath, exportArgs(path.join(reference, 'dus.gguf')), tempDir)).code).toBe(0);
    const splits = (await readdir(reference)).sort();
    const count = splits.length;
    expect(count).toBeGreaterThan(2);
    expect(splits).toEqual(Array.from({ length: count }, (_, index) => splitName(index, count)));

    for (let move = 0; move < count; move++) {
      const context = `killed before moving split ${move + 1} of ${count}`;
      const parent = path.join(tempDir, `kill-${move}`);
      await mkdir(parent);
      const out = path.join(parent, 'dus.gguf');
      expect(await exportKilledBeforeMove(out, move), context).toBe('SIGKILL');

      // The later splits go first and the first split (the one loaders open) last.
      const names = await readdir(parent);
      const temp = names.filter(isExportTempName);
      expect(temp, context).toHaveLength(1);
      const placed = splits.slice(count - move);
      expect(names.filter((name) => !isExportTempName(name)).sort(), context).toEqual(placed);
      const waiting = (await readdir(path.join(parent, temp[0]!))).filter((name) => !name.startsWith('.')).sort();
      expect(waiting, context).toEqual(splits.slice(0, count - move));

      const first = path.join(parent, splits[0]!);
      const verify = await verifyExport(first);
      expect(verify.ok, context).toBe(false);
      expect(verify.problems[0], context).toMatchObject({ code: 'InterruptedCommit' });
      expect(verify.problems[0]?.message, context).toContain(`${waiting.join(', ')} still in ${path.join(parent, temp[0]!)}`);

      if (move % 2 === 0) {
        // The engine's recovery, as the next export runs it first: the set is completed, the folder gone.
        const notes = await recoverLeftovers(parent, 'dus.gguf');
        expect(notes, context).toEqual([expect.stringContaining(`the ${waiting.length} files still waiting`)]);
      } else {
        // The next export (with --replace, as the completed set is there) finishes the old set, then replaces it.
        const again = await runCliProcess(cliPath, exportArgs(out, ['--replace']), tempDir);
        expect(again.code, `${context}: ${again.stderr}`).toBe(0);
      }
      expect((await readdir(parent)).sort(), context).toEqual(splits);
      const after = await verifyExport(first);
      expect(after.problems, context).toEqual([]);
      expect(after.ok, context).toBe(true);
    }
  }, 600_000);
});
