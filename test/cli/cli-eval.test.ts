import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPOSITORY, runCliProcess } from './bundled-cli.js';

// The repository's own bundle (npm test builds out/ first): node-llama-cpp is resolved from the
// repository's node_modules, so a bundle in a temporary folder could not load it.
const CLI = path.join(REPOSITORY, 'out', 'cli.js');
const DEMO = path.join(REPOSITORY, 'build', 'demo', 'stories260K');
const GGUF = path.resolve(REPOSITORY, '../shared/models/gguf/stories260K-f32.gguf');

interface EvalJson {
  perplexity: number;
  tokens: number;
  layers: number;
  continuation: string;
  negativeLogLikelihoods: number[];
  source: { perplexity: number; layers: number; continuation: string };
}

// Generous bounds: they catch hangs, they time nothing (llama.cpp runs on the CPU here).
describe('dus-studio eval and sweep', { timeout: 300_000 }, () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await mkdtemp(path.join(os.tmpdir(), 'dus-cli-eval-'));
  });
  afterAll(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it('evaluates the DUS of the demo next to its source, the same whether the source is safetensors or llama.cpp\'s GGUF of it', async () => {
    const fromSafetensors = await runCliProcess(CLI, ['eval', DEMO, '--drop', '1', '--cpu', '--json'], cwd);
    expect(fromSafetensors.stderr).toBe('');
    expect(fromSafetensors.code).toBe(0);
    const report = JSON.parse(fromSafetensors.stdout) as EvalJson;
    expect(report.layers).toBe(8);
    expect(report.source.layers).toBe(5);
    expect(report.tokens).toBe(report.negativeLogLikelihoods.length);
    expect(report.perplexity).toBeGreaterThan(report.source.perplexity);
    expect(report.source.continuation).toContain('there was a little girl named Lily');

    const fromGguf = JSON.parse((await runCliProcess(CLI, ['eval', GGUF, '--drop', '1', '--cpu', '--json'], cwd)).stdout) as EvalJson;
    expect(fromGguf.negativeLogLikelihoods).toEqual(report.negativeLogLikelihoods);
    expect(fromGguf.source.perplexity).toBe(report.source.perplexity);
  });

  it('sweeps splice points best first, each row the perplexity a single evaluation gives', async () => {
    const sweep = await runCliProcess(CLI, ['sweep', DEMO, '--drop', '1:2', '--cpu', '--json'], cwd);
    expect(sweep.code).toBe(0);
    const rows = JSON.parse(sweep.stdout) as Array<{ a: number; b: number; layers: number; perplexity: number }>;
    expect(rows.map((row) => [row.a, row.b]).sort()).toEqual([
      [3, 2],
      [4, 1],
    ]);
    expect(rows[0]!.perplexity).toBeLessThanOrEqual(rows[1]!.perplexity);
    const single = JSON.parse((await runCliProcess(CLI, ['eval', DEMO, '--splice', '3:2', '--cpu', '--json'], cwd)).stdout) as EvalJson;
    expect(rows.find((row) => row.a === 3)?.perplexity).toBe(single.perplexity);
  });

  it('prints the plan, both perplexities and both continuations as text, leaving nothing in its work folder', async () => {
    const work = await mkdtemp(path.join(cwd, 'work-'));
    const result = await runCliProcess(CLI, ['eval', DEMO, '--every', '2', '--cpu', '--tokens', '64', '--work-dir', work], cwd);
    expect(result.code).toBe(0);
    expect(await readdir(work)).toEqual([]);
    expect(result.stdout).toMatch(/LLaMA-Pro --every 2 \(7 layers\)/);
    // Identity blocks: the plan scores exactly what the source scores.
    const [plan, source] = [...result.stdout.matchAll(/perplexity (\d+\.\d+)/g)].map((match) => match[1]);
    expect(plan).toBe(source);
    expect(result.stdout).toMatch(/^continuation: Once upon a time/m);
  });

  it('refuses two recipes at once and a missing model, as usage and file errors', async () => {
    const usage = await runCliProcess(CLI, ['eval', DEMO, '--drop', '1', '--every', '2'], cwd);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/give one of --drop, --splice, --every, --times/);
    const missing = await runCliProcess(CLI, ['eval', path.join(cwd, 'nowhere')], cwd);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: .*nowhere/m);
  });
});
