/**
 * The bundled CLI stopped in the middle of an export: SIGKILL at seeded random moments (nothing of
 * the exporter runs after it), and Ctrl-C (SIGINT, which the CLI turns into a cancel).
 *
 * After a SIGKILL the target must be absent or a complete export that verifies (with --replace: the
 * old export or the new one); anything else in the folder must be a temporary folder named for the
 * killed process, which the next export to the same place removes, or (with --replace) the old
 * export set aside, which is never deleted: verify names it, and the next export puts it back when
 * the target is missing or names where it is. With --replace the old export is never lost. The
 * source files keep their bytes.
 * After Ctrl-C the CLI exits 130 and leaves nothing.
 *
 * The kill moments: half the trials kill at a random time after the process starts (startup,
 * planning, copying, verifying, renaming alike), half at a random point of the copy window measured
 * on an uninterrupted run, counted from when the temporary folder appears, so that the test never
 * depends on luck to strike mid-copy. Both reach a little past the measured end; a run that
 * finished before its kill must have finished properly. Where a test needs a kill or a Ctrl-C at
 * a given moment, the process is frozen (SIGSTOP) there and the moment checked before the signal,
 * so a busy machine cannot make the signal land elsewhere.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bundleCli } from './bundled-cli.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckpointSummary } from '../../electron/api/types.js';
import { openCheckpoint } from '../../electron/engine/checkpoint/open-checkpoint.js';
import { exportPlan } from '../../electron/engine/export/export-plan.js';
import { isExportTempName, parseExportTempName } from '../../electron/engine/export/export-target.js';
import { verifyExport } from '../../electron/engine/export/verify-export.js';
import { buildFixtureCheckpoint } from '../fixtures/checkpoint-builder.js';
import { dusPlan, sourceMap } from '../engine/export/export-fixtures.js';

const repository = path.resolve(import.meta.dirname, '../..');
const nativeBinary = path.join(repository, 'native', 'build', 'Release', 'dus_native.node');

/** Seed of the kill schedule; a failure message names it with the trial. */
const SEED = 0x5eed_d05;
const TRIALS = 12;
/** The CLI's plan keeps 12 of 8 layers twice over (drop 2); the follow-up export keeps 4 (drop 6): the layer count tells them apart. */
const CLI_DROP = 2;
const CLI_LAYERS = 12;
const FOLLOW_UP_DROP = 6;
const FOLLOW_UP_LAYERS = 4;
/** Exports started to catch one at a given moment; each that runs past it first is let finish. */
const FREEZE_ATTEMPTS = 5;
/** Uninterrupted runs before the trials; the fastest sets the kill schedule's time scale. */
const CALIBRATION_RUNS = 3;
/** Kill moments reach a little past the measured end, so that some land around the final rename. */
const OVERSHOOT = 1.15;

let tempDir: string;
let cliPath: string;
let source: CheckpointSummary;
let sourceDigests: Map<string, string>;

/** mulberry32: a small seeded generator, so a failing schedule can be replayed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function digestFolder(dir: string): Promise<Map<string, string>> {
  const digests = new Map<string, string>();
  for (const name of (await readdir(dir)).sort()) digests.set(name, await sha256(path.join(dir, name)));
  return digests;
}

beforeAll(async () => {
  tempDir = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
  // Bundled as build/build.mjs bundles it, so the test runs the current sources.
  cliPath = await bundleCli(tempDir);
  // 8 layers of about 22 MB (bf16, hidden 1024, intermediate 2816) in 4 files: 176 MB of source;
  // the CLI's export writes 12 layers (264 MB) in 60 MB shards.
  const folder = path.join(tempDir, 'model');
  await buildFixtureCheckpoint({ dir: folder, layers: 8, hidden: 1024, intermediate: 2816, heads: 8, kvHeads: 2, shards: 4, sideFiles: true });
  source = await openCheckpoint(folder);
  sourceDigests = await digestFolder(folder);
});

afterAll(async () => {
  await rm(tempDir, { recursive: true, force: true });
});

function spawnExport(target: string, replace: boolean): ChildProcess {
  const args = [cliPath, 'dus', source.folder, '--drop', String(CLI_DROP), '--out', target, '--shard-size', '60MB', ...(replace ? ['--replace'] : [])];
  return spawn(process.execPath, args, { env: { ...process.env, DUS_NATIVE_PATH: nativeBinary }, stdio: ['ignore', 'ignore', 'pipe'] });
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function exited(child: ChildProcess): Promise<Exit> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    // Renamed into place, or removed, since it was seen.
    return [];
  }
}

function exportTempIn(names: readonly string[]): string | undefined {
  return names.find((name) => parseExportTempName(name)?.kind === 'export');
}

/**
 * Resolves when `found` holds, checked at once and on every change the kernel reports in `parent`
 * and in the export's temporary folder: to the ms waited, or null when the process ended first.
 * `names` holds what is in `parent` now plus every name reported since the wait began, so a folder
 * that came and went while this process was not scheduled still counts as seen; `inTemp` is what
 * the temporary folder holds now.
 */
function waitForNames(parent: string, child: ChildProcess, found: (names: string[], inTemp: string[]) => boolean): Promise<number | null> {
  const started = performance.now();
  const reported = new Set<string>();
  const watchers = new Map<string, FSWatcher>();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (value: number | null): void => {
      if (settled) return;
      settled = true;
      for (const watcher of watchers.values()) watcher.close();
      child.off('exit', onExit);
      resolve(value);
    };
    const check = (): void => {
      if (settled) return;
      const present = namesIn(parent);
      const temp = exportTempIn(present);
      if (temp !== undefined && !watchers.has(temp)) {
        try {
          watchers.set(temp, watch(path.join(parent, temp), check));
        } catch {
          // Gone already: the parent's listing says what became of it.
        }
      }
      if (found([...new Set([...present, ...reported])], temp === undefined ? [] : namesIn(path.join(parent, temp)))) finish(performance.now() - started);
    };
    const onExit = (): void => {
      check();
      finish(null);
    };
    watchers.set(parent, watch(parent, (_event, name) => {
      if (name !== null) reported.add(name);
      check();
    }));
    child.once('exit', onExit);
    check();
    if (child.exitCode !== null || child.signalCode !== null) onExit();
  });
}

/** SIGSTOPs `child` and resolves once the kernel shows it stopped, so what is on disk stays as it is until SIGCONT. */
async function stopped(child: ChildProcess): Promise<void> {
  child.kill('SIGSTOP');
  const statFile = `/proc/${child.pid}/stat`;
  // The state is the field after the parenthesised command name; T once every thread has stopped.
  while (!/\) T /.test(readFileSync(statFile, 'utf8'))) await sleep(1);
}

/**
 * Runs exports into `parent` until one is frozen (SIGSTOP) at a moment where `holds` is true for
 * the temporary folder's names and the target does not exist yet; returns that child, still
 * stopped, and its exit. An export that ran past the moment before it stopped is let finish, its
 * result removed, and tried again: the moment is then certain, not a matter of timing.
 */
async function frozenAt(parent: string, holds: (inTemp: string[]) => boolean): Promise<{ child: ChildProcess; exit: Promise<Exit> }> {
  for (let attempt = 1; attempt <= FREEZE_ATTEMPTS; attempt += 1) {
    const child = spawnExport(path.join(parent, 'out'), false);
    const exit = exited(child);
    const waited = await waitForNames(parent, child, (_names, inTemp) => holds(inTemp));
    if (waited !== null) {
      await stopped(child);
      const present = namesIn(parent);
      const temp = exportTempIn(present);
      if (!present.includes('out') && temp !== undefined && holds(namesIn(path.join(parent, temp)))) return { child, exit };
      child.kill('SIGCONT');
    }
    const finished = await exit;
    expect(finished, finished.stderr).toMatchObject({ code: 0 });
    await rm(path.join(parent, 'out'), { recursive: true, force: true });
  }
  throw new Error(`no export of ${FREEZE_ATTEMPTS} was caught at the moment before it passed it`);
}

/** Layer count of a verified export at `dir`. */
async function verifiedLayers(dir: string): Promise<number> {
  const report = await verifyExport(dir, { sources: sourceMap(source) });
  expect(report.problems, `${dir} verifies`).toEqual([]);
  const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as { num_hidden_layers: number };
  return config.num_hidden_layers;
}

/** The export a later run makes to the same place; it must clear what a killed one left. Returns its warnings. */
async function followUpExport(target: string): Promise<string[]> {
  const report = await exportPlan({ plan: dusPlan(source, FOLLOW_UP_DROP), target: { dir: target, replace: true }, sources: sourceMap(source) });
  expect(report.verify?.ok).toBe(true);
  return report.warnings;
}

describe('the CLI killed during an export', () => {
  it(`leaves an absent or complete target, recognisable leftovers that the next export removes, and unchanged sources (${TRIALS} seeded trials)`, async () => {
    // Uninterrupted runs: each must succeed, and the fastest gives the time scale of the kill
    // schedule (the first run of a process pays for cold caches, and a slow scale would put every
    // kill after the end).
    let total = Number.POSITIVE_INFINITY;
    let targetAfter = Number.POSITIVE_INFINITY;
    for (let run = 0; run < CALIBRATION_RUNS; run += 1) {
      const measureParent = await mkdtemp(path.join(tempDir, 'measure-'));
      const measured = spawnExport(path.join(measureParent, 'out'), false);
      const measuredExit = exited(measured);
      const started = performance.now();
      const tempSeen = await waitForNames(measureParent, measured, (names) => names.some(isExportTempName));
      const targetSeen = await waitForNames(measureParent, measured, (names) => names.includes('out'));
      const clean = await measuredExit;
      expect(clean, clean.stderr).toMatchObject({ code: 0 });
      expect({ tempSeen, targetSeen }, 'the uninterrupted run was seen writing its temporary folder, then the target').toEqual({
        tempSeen: expect.any(Number),
        targetSeen: expect.any(Number),
      });
      expect(await verifiedLayers(path.join(measureParent, 'out'))).toBe(CLI_LAYERS);
      await rm(measureParent, { recursive: true, force: true });
      total = Math.min(total, performance.now() - started);
      targetAfter = Math.min(targetAfter, targetSeen as number);
    }
    // From the temporary folder's appearance to the target's: copying, verifying, renaming.
    const copyWindow = targetAfter as number;

    const random = seededRandom(SEED);
    const outcomes: Array<{ trial: number; killedAt: string; replace: boolean; target: 'absent' | 'old' | 'new'; leftovers: string[] }> = [];
    for (let trial = 0; trial < TRIALS; trial += 1) {
      const replace = trial % 4 >= 2;
      const fromTempFolder = trial % 2 === 1;
      const context = `seed ${SEED}, trial ${trial}`;
      const parent = await mkdtemp(path.join(tempDir, `trial-${trial}-`));
      const target = path.join(parent, 'out');
      if (replace) await followUpExport(target);

      const child = spawnExport(target, replace);
      const exit = exited(child);
      let killedAt: string;
      if (fromTempFolder) {
        const delay = Math.round(random() * copyWindow * OVERSHOOT);
        await waitForNames(parent, child, (names) => names.some((name) => parseExportTempName(name)?.kind === 'export'));
        await sleep(delay);
        killedAt = `${delay} ms after the temporary folder appeared`;
      } else {
        const delay = Math.round(random() * total * OVERSHOOT);
        await sleep(delay);
        killedAt = `${delay} ms after start`;
      }
      child.kill('SIGKILL');
      const { code, signal, stderr } = await exit;

      const names = await readdir(parent);
      const leftovers = names.filter((name) => name !== 'out');
      const setAside: string[] = [];
      for (const name of leftovers) {
        expect(isExportTempName(name), `${context}: ${name} is a recognisable temporary name`).toBe(true);
        expect(parseExportTempName(name), `${context}: ${name}`).toMatchObject({ targetName: 'out', pid: child.pid });
        if (parseExportTempName(name)?.kind !== 'trash') continue;
        // Only a replace sets the old export aside, and it is kept whole.
        expect(replace, `${context}: ${name} was set aside by a replace`).toBe(true);
        expect(await verifiedLayers(path.join(parent, name)), `${context}: ${name} is the old export`).toBe(FOLLOW_UP_LAYERS);
        setAside.push(path.join(parent, name));
      }
      let outcome: 'absent' | 'old' | 'new' = 'absent';
      if (names.includes('out')) {
        const layers = await verifiedLayers(target);
        expect([CLI_LAYERS, ...(replace ? [FOLLOW_UP_LAYERS] : [])], `${context}: the target is a whole export`).toContain(layers);
        outcome = layers === CLI_LAYERS ? 'new' : 'old';
      } else if (replace) {
        // Killed between the two renames: the old export is set aside, never lost, and verify says where.
        expect(setAside, `${context}: the old export is kept when the target is missing`).toHaveLength(1);
        const verify = await verifyExport(target);
        expect(verify.problems, context).toEqual([expect.objectContaining({ code: 'SetAside', message: expect.stringContaining(setAside[0] as string) })]);
      }
      if (signal === null) {
        // It finished before the kill: then it must have finished properly.
        expect({ code, outcome, leftovers }, `${context}: ${stderr}`).toEqual({ code: 0, outcome: 'new', leftovers: [] });
      }
      for (const shard of source.shards) {
        const info = await stat(shard.file);
        expect({ size: info.size, mtimeMs: info.mtimeMs }, `${context}: ${shard.file}`).toEqual({ size: shard.bytes, mtimeMs: shard.mtimeMs });
      }

      const warnings = await followUpExport(target);
      // Temporary folders are removed; a set-aside old export was put back (and then replaced) or is named in a warning.
      const kept = (await readdir(parent)).filter((name) => name !== 'out');
      for (const name of kept) expect(warnings.join('\n'), `${context}: the next export names ${name}`).toContain(path.join(parent, name));
      expect(kept.every((name) => parseExportTempName(name)?.kind === 'trash'), `${context}: only set-aside exports stay`).toBe(true);
      if (outcome === 'absent' && replace) expect(warnings.join('\n'), `${context}: the old export was put back`).toContain('restored');
      outcomes.push({ trial, killedAt, replace, target: outcome, leftovers });
      await rm(parent, { recursive: true, force: true });
    }

    const count = (target: string): number => outcomes.filter((outcome) => outcome.target === target).length;
    console.info(
      `cli-kill (seed ${SEED}; uninterrupted run ${Math.round(total)} ms, copy window ${Math.round(copyWindow)} ms): ${count('absent')} absent, ${count('new')} complete new, ${count('old')} old kept; ` +
        `${outcomes.filter((outcome) => outcome.leftovers.length > 0).length} left a temporary folder\n` +
        outcomes.map((outcome) => `  trial ${outcome.trial}${outcome.replace ? ' (replace)' : ''}: killed ${outcome.killedAt} → ${outcome.target} [${outcome.leftovers.join(', ')}]`).join('\n'),
    );
    expect(outcomes).toHaveLength(TRIALS);
    expect(await digestFolder(source.folder)).toEqual(sourceDigests);
  }, 600_000);

  it('leaves its temporary folder, which the next export removes, when killed in the middle of copying', async () => {
    // Frozen while a shard is being written, so the kill certainly lands mid-copy.
    const parent = await mkdtemp(path.join(tempDir, 'mid-copy-'));
    const { child, exit } = await frozenAt(parent, (inTemp) => inTemp.some((name) => name.startsWith('model-')));
    child.kill('SIGKILL');
    expect((await exit).signal).toBe('SIGKILL');
    const names = await readdir(parent);
    expect(names).toHaveLength(1);
    expect(parseExportTempName(names[0] as string)).toMatchObject({ targetName: 'out', pid: child.pid });
    await followUpExport(path.join(parent, 'out'));
    expect(await readdir(parent)).toEqual(['out']);
    expect(await digestFolder(source.folder)).toEqual(sourceDigests);
  }, 600_000);
});

describe('Ctrl-C in the CLI during an export', () => {
  it.each([
    { moment: 'while copying the first shard', ready: (inTemp: string[]) => inTemp.some((name) => name.startsWith('model-')) },
    { moment: 'once every file is written, as verification begins', ready: (inTemp: string[]) => inTemp.includes('README.md') },
  ])('exits 130 and leaves neither target nor temporary folder when interrupted $moment', async ({ ready }) => {
    const parent = await mkdtemp(path.join(tempDir, 'interrupt-'));
    const { child, exit } = await frozenAt(parent, ready);
    // Delivered as the process resumes, at the moment it was frozen in.
    child.kill('SIGINT');
    child.kill('SIGCONT');
    const { code, stderr } = await exit;
    expect(code, stderr).toBe(130);
    expect(stderr).toContain('export cancelled; nothing was left');
    expect(await readdir(parent)).toEqual([]);
  }, 600_000);
});
