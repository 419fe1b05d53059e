/**
 * Inputs mergekit refuses, refused by `dus-studio merge` on the real engine (issue 9): slices of
 * models of different architectures unless --allow-crimes (mergekit architecture/__init__.py
 * `get_architecture_info`), and a model whose decoder layers no family names (mamba's
 * backbone.layers.N), which must say so instead of a layer-range error.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StudioHost } from '../../electron/api/studio-api.js';
import { main } from '../../electron/cli/cli.js';
import { pathExists, TempFolders, startRealEngine } from '../engine/export/export-fixtures.js';
import { buildFixtureCheckpoint, buildMambaFixture } from '../fixtures/checkpoint-builder.js';
import { memoryIo } from './memory-io.js';

const folders = new TempFolders();
let studio: StudioHost;
let work: string;

beforeAll(async () => {
  ({ studio, work } = await startRealEngine(folders));
  await buildFixtureCheckpoint({ dir: path.join(work, 'llama-4'), layers: 4, architecture: 'LlamaForCausalLM', modelType: 'llama' });
  await buildFixtureCheckpoint({ dir: path.join(work, 'mistral-4'), layers: 4, seed: 2 });
  await buildMambaFixture(path.join(work, 'mamba-2'));
});
afterAll(() => folders.removeAll());

async function cli(argv: string[]): Promise<{ code: number; stderr: string }> {
  const memory = memoryIo(studio, { cwd: work });
  const code = await main(argv, memory.io);
  return { code, stderr: memory.stderr() };
}

function passthrough(...slices: Array<[string, number, number]>): string {
  const lines = ['merge_method: passthrough', 'slices:'];
  for (const [model, start, end] of slices) lines.push('  - sources:', `      - model: ./${model}`, `        layer_range: [${start}, ${end}]`);
  return `${lines.join('\n')}\n`;
}

describe('dus-studio merge refuses what mergekit refuses', () => {
  it('refuses slices of two architectures, and stacks them with --allow-crimes (architecture/__init__.py get_architecture_info)', async () => {
    await writeFile(path.join(work, 'mixed.yml'), passthrough(['llama-4', 0, 2], ['mistral-4', 2, 4]));
    const out = path.join(work, 'mixed-out');
    const refused = await cli(['merge', 'mixed.yml', '--out', out]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('architecture MistralForCausalLM differs from LlamaForCausalLM of llama-4');
    expect(refused.stderr).toContain('--allow-crimes');
    expect(await pathExists(out)).toBe(false);

    const allowed = await cli(['merge', 'mixed.yml', '--allow-crimes', '--out', out]);
    expect(allowed.code, allowed.stderr).toBe(0);
    // The first source gives config.json, as mergekit's donor; the flag belongs to the run, not the YAML.
    expect((JSON.parse(await readFile(path.join(out, 'config.json'), 'utf8')) as { architectures: string[] }).architectures).toEqual(['LlamaForCausalLM']);
    expect(await readFile(path.join(out, 'mergekit_config.yml'), 'utf8')).not.toContain('crimes');
  });

  it('says "no decoder layers recognised in …" for mamba, from a merge config and from a recipe', async () => {
    await writeFile(path.join(work, 'mamba.yml'), passthrough(['mamba-2', 0, 2]));
    const merged = await cli(['merge', 'mamba.yml', '--out', path.join(work, 'mamba-out')]);
    expect(merged.code).toBe(1);
    expect(merged.stderr).toContain('no decoder layers recognised in mamba-2 (MambaForCausalLM)');
    expect(merged.stderr).not.toMatch(/ends past|layer range/i);
    const dus = await cli(['dus', 'mamba-2', '--drop', '1', '--out', path.join(work, 'mamba-dus')]);
    expect(dus.code).toBe(1);
    expect(dus.stderr).toContain('no decoder layers recognised in mamba-2 (MambaForCausalLM)');
    expect(await pathExists(path.join(work, 'mamba-out'))).toBe(false);
    expect(await pathExists(path.join(work, 'mamba-dus'))).toBe(false);
  });
});
