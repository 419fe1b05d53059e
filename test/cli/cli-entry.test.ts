/**
 * The CLI as users run it: electron/cli/cli.ts bundled the way build/build.mjs bundles it (ESM, a
 * shebang and a require shim), started as a process directly and through a bin link, on the real
 * engine and the bundled demo model.
 */
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleCli, runCliProcess as runBundledCli } from './bundled-cli.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };

const repository = path.resolve(import.meta.dirname, '../..');
const demo = path.join(repository, 'build', 'demo', 'stories260K');

let tempDir: string;
let cliPath: string;

beforeAll(async () => {
  tempDir = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
  cliPath = await bundleCli(tempDir);
  await symlink(cliPath, path.join(tempDir, 'dus-studio'));
});

afterAll(async () => {
  await rm(tempDir, { recursive: true, force: true });
});

async function runCliProcess(entry: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return runBundledCli(entry, args, tempDir, env);
}

describe('the bundled dus-studio', () => {
  it('runs when started directly and through a bin link', async () => {
    const direct = await runCliProcess(cliPath, ['--version']);
    expect(direct).toEqual({ code: 0, stdout: `${packageJson.version}\n`, stderr: '' });
    const linked = await runCliProcess(path.join(tempDir, 'dus-studio'), ['--version']);
    expect(linked.stdout).toBe(`${packageJson.version}\n`);
  });

  it('inspects the demo model with the real engine and prints one JSON object', async () => {
    const result = await runCliProcess(cliPath, ['inspect', demo, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const json = JSON.parse(result.stdout) as { architecture: string; numLayers: number; tiedEmbeddings: boolean; tensors: { layer: number | null }[] };
    expect(json.architecture).toBe('LlamaForCausalLM');
    expect(json.numLayers).toBe(5);
    expect(json.tiedEmbeddings).toBe(true);
    expect(json.tensors.filter((tensor) => tensor.layer === 4)).toHaveLength(9);
  });

  it('exits 1 with one error line for a path that is not a checkpoint, and 2 for a usage error', async () => {
    const missing = await runCliProcess(cliPath, ['inspect', path.join(tempDir, 'nothing-here')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: .*nothing-here: [^\n]+\n$/);
    expect(missing.stderr).not.toContain('    at ');
    const usage = await runCliProcess(cliPath, ['dus', demo, '--drop', 'many']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^error: --drop needs a whole number/);
  });

  it('refuses `--replace` over a folder of documents, naming the first file that is not part of an export (issue 13)', async () => {
    const documents = path.join(tempDir, 'documents');
    await mkdir(documents);
    await writeFile(path.join(documents, 'letters.odt'), 'mine');
    const refused = await runCliProcess(cliPath, ['dus', demo, '--drop', '1', '--out', documents, '--replace']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(path.join(documents, 'letters.odt'));
    expect(await readdir(documents)).toEqual(['letters.odt']);
    expect(await readFile(path.join(documents, 'letters.odt'), 'utf8')).toBe('mine');
  });

  it('refuses to export over the bundled demo model, even one that looks like an export', async () => {
    // A demo folder holding only export files, so that only the demo rule can refuse it.
    const bundledDemo = path.join(tempDir, 'bundled-demo');
    await mkdir(bundledDemo);
    for (const name of ['config.json', 'model.safetensors', 'tokenizer.model', 'tokenizer_config.json']) await cp(path.join(demo, name), path.join(bundledDemo, name));
    const refused = await runCliProcess(cliPath, ['dus', demo, '--drop', '1', '--out', bundledDemo, '--replace'], { DUS_DEMO_PATH: bundledDemo });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/never writes over/);
    expect((await readdir(bundledDemo)).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.model', 'tokenizer_config.json']);
  });

  it('reads a merge config through the API and exports it', async () => {
    const config = path.join(tempDir, 'plan.yml');
    await writeFile(config, `merge_method: passthrough\nslices:\n  - sources:\n      - model: ${demo}\n        layer_range: [0, 3]\n`);
    const merged = await runCliProcess(cliPath, ['merge', config, '--out', path.join(tempDir, 'merged')]);
    expect(merged.code, merged.stderr).toBe(0);
    const notYaml = await runCliProcess(cliPath, ['merge', path.join(demo, 'config.json'), '--out', path.join(tempDir, 'never')]);
    expect(notYaml.code).toBe(1);
    expect(notYaml.stderr).toMatch(/not a mergekit YAML plan/);
  });
});
