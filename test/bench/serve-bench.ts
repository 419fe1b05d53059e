/**
 * Serve mode for the renderer and round-trip rows: `dus-studio serve --open X --open E` with two
 * 80-layer fixtures, the URL (with its token) read from the first stdout line; and the resolvePlan
 * round trip of the Goliath plan from Node against the cheapest call, appInfo.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { StudioEnvelope } from '../../electron/api/studio-api.js';
import type { LayerPlan, ResolvedPlan } from '../../electron/api/types.js';
import { buildFixtureCheckpoint } from '../fixtures/checkpoint-builder.js';
import { makeRow, type BenchRow } from './bench-table.js';
import type { BenchContext } from './bench-context.js';
import { GOLIATH_LAYERS, GOLIATH_SOURCE_LAYERS, goliathPlan } from './goliath-plan.js';
import { summarize } from './sample-summary.js';

const START_TIMEOUT_MS = 30_000;

export interface RunningServe {
  url: string;
  origin: string;
  token: string;
  /** Checkpoint ids (real paths) of the two Goliath sources. */
  modelX: string;
  modelE: string;
  stop(): Promise<void>;
}

/** Two 80-layer bf16 fixtures (Goliath's X and E), small: the renderer sees only their summaries and statistics. */
export async function buildGoliathSources(context: BenchContext): Promise<{ modelX: string; modelE: string }> {
  const shape = { layers: GOLIATH_SOURCE_LAYERS, hidden: 64, intermediate: 224, heads: 4, kvHeads: 2, vocab: 512, shards: 2 };
  const modelX = path.join(context.workDir, 'goliath-x');
  const modelE = path.join(context.workDir, 'goliath-e');
  await buildFixtureCheckpoint({ dir: modelX, ...shape, seed: 11 });
  await buildFixtureCheckpoint({ dir: modelE, ...shape, seed: 29 });
  return { modelX: await realpath(modelX), modelE: await realpath(modelE) };
}

/** Starts the serve process and resolves once it printed its URL. */
export async function startServe(context: BenchContext, modelX: string, modelE: string): Promise<RunningServe> {
  const child = spawn(process.execPath, [context.cliPath, 'serve', '--open', modelX, '--open', modelE], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => {
    stderr.push(chunk.toString('utf8'));
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed no URL within ${START_TIMEOUT_MS / 1000} s: ${stderr.join('').trim()}`)), START_TIMEOUT_MS);
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line.trim());
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${stderr.join('').trim()}`));
    });
  }).catch(async (error: unknown) => {
    await stopChild(child);
    throw error;
  });
  const parsed = new URL(url);
  const token = parsed.searchParams.get('token');
  if (token === null) {
    await stopChild(child);
    throw new Error(`the serve URL carries no token: ${url}`);
  }
  return { url, origin: parsed.origin, token, modelX, modelE, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** One API call as the renderer's client makes it; returns the unwrapped value. */
export async function callServe<T>(serve: RunningServe, method: string, payload: unknown): Promise<T> {
  const response = await fetch(`${serve.origin}/api/call/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-DUS-Token': serve.token },
    body: JSON.stringify(payload),
  });
  const envelope = (await response.json()) as StudioEnvelope<T>;
  if (!envelope.ok) throw new Error(`${method} failed: ${envelope.error.code}: ${envelope.error.message}`);
  return envelope.value;
}

/** resolvePlan of the 137-layer Goliath plan, timed call by call from Node, against appInfo; calls alternate. */
export async function measureResolvePlan(context: BenchContext, serve: RunningServe): Promise<BenchRow> {
  const plan: LayerPlan = goliathPlan(serve.modelX, serve.modelE);
  const resolveOnce = async (): Promise<number> => {
    const started = performance.now();
    const resolved = await callServe<ResolvedPlan>(serve, 'resolvePlan', { plan });
    const elapsed = performance.now() - started;
    if (resolved.numLayers !== GOLIATH_LAYERS || !resolved.ok) {
      throw new Error(`resolvePlan answered ${resolved.numLayers} layers, ok ${resolved.ok}: ${resolved.problems.map((problem) => problem.message).join('; ')}`);
    }
    return elapsed;
  };
  const appInfoOnce = async (): Promise<number> => {
    const started = performance.now();
    await callServe(serve, 'appInfo', null);
    return performance.now() - started;
  };
  for (let warmup = 0; warmup < 3; warmup += 1) {
    await appInfoOnce();
    await resolveOnce();
  }
  const resolveMs: number[] = [];
  const appInfoMs: number[] = [];
  for (let run = 0; run < context.profile.resolveRuns; run += 1) {
    appInfoMs.push(await appInfoOnce());
    resolveMs.push(await resolveOnce());
  }
  return makeRow({
    id: 'resolve-plan',
    figure: { label: 'POST /api/call/resolvePlan, Goliath plan (137 layers), round trip', unit: 'ms', summary: summarize(resolveMs) },
    baseline: { label: 'POST /api/call/appInfo', unit: 'ms', summary: summarize(appInfoMs) },
    ratioMeaning: 'resolvePlan round trip ÷ round trip of the cheapest call',
    target: { text: '≤ 20 ms', checks: [{ on: 'figure', op: '<=', value: 20 }] },
    notes: [`median of ${context.profile.resolveRuns} after 3 warm-up calls; Node fetch with keep-alive, X-DUS-Token header, body {plan}`],
  });
}
