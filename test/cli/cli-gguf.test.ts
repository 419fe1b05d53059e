/** dus, llama-pro, stack, merge and verify on GGUF sources, through the bundled CLI and the real engine. */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ggufScalar, readGgufHeader } from '../../electron/engine/formats/gguf.js';
import { bundleCli, REPOSITORY, runCliProcess } from './bundled-cli.js';

const GGUF_DIR = path.resolve(REPOSITORY, '../shared/models/gguf');
const BUILD_TIMEOUT_MS = 300_000;

let tempDir: string;
let cliPath: string;

beforeAll(async () => {
  tempDir = await mkdtemp(path.join(os.tmpdir(), 'dus-gguf-cli-'));
  cliPath = await bundleCli(tempDir);
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await rm(tempDir, { recursive: true, force: true });
});

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCliProcess(cliPath, args, tempDir);
}

describe('dus-studio on GGUF files', () => {
  it('writes and verifies NAME.gguf for dus, llama-pro, stack and merge', async () => {
    const q4 = path.join(GGUF_DIR, 'quantzoo-q4_k_m.gguf');
    const q5 = path.join(GGUF_DIR, 'quantzoo-q5_k_m.gguf');
    const yaml = path.join(tempDir, 'interleave.yml');
    await writeFile(yaml, `slices:\n  - sources:\n      - model: ${q4}\n        layer_range: [0, 2]\n  - sources:\n      - model: ${q5}\n        layer_range: [1, 2]\nmerge_method: passthrough\n`);
    const runs: Array<[string[], string, number]> = [
      [['dus', path.join(GGUF_DIR, 'stories260K-f32.gguf'), '--drop', '1'], 'dus.gguf', 8],
      [['llama-pro', q4, '--every', '1'], 'pro.gguf', 4],
      [['stack', q4, '--times', '2'], 'stack.gguf', 4],
      [['merge', yaml], 'merged.gguf', 3],
    ];
    for (const [args, name, layers] of runs) {
      const out = path.join(tempDir, name);
      const result = await cli(...args, '--out', out);
      expect(result.stderr, args[0]).not.toMatch(/^error/m);
      expect(result.code, args[0]).toBe(0);
      expect(result.stdout).toMatch(/verify: ok/);
      expect(ggufScalar((await readGgufHeader(out)).metadata, 'llama.block_count')).toBe(layers);
      const verified = await cli('verify', out, '--json');
      expect(verified.code).toBe(0);
      expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, problems: [] });
    }
    // The interleave keeps each tensor's type from its own source (Q4_K_M and Q5_K_M mixed).
    const inspect = JSON.parse((await cli('inspect', path.join(tempDir, 'merged.gguf'), '--json')).stdout) as { tensors: Array<{ name: string; dtype: string }> };
    const types = new Map(inspect.tensors.map((tensor) => [tensor.name, tensor.dtype]));
    const sourceTypes = async (file: string) => new Map((await readGgufHeader(file)).tensors.map((tensor) => [tensor.name, tensor.type]));
    expect(types.get('blk.2.attn_q.weight')).toBe((await sourceTypes(q5)).get('blk.1.attn_q.weight'));
    expect(types.get('blk.0.attn_q.weight')).toBe((await sourceTypes(q4)).get('blk.0.attn_q.weight'));
  }, BUILD_TIMEOUT_MS);

  it('exits 1 naming the problem: a folder as GGUF output, a non-GGUF file to replace, dtype on GGUF', async () => {
    const stories = path.join(GGUF_DIR, 'stories260K-f32.gguf');
    const folder = await cli('dus', stories, '--drop', '1', '--out', path.join(tempDir, 'folder-out'));
    expect(folder.code).toBe(1);
    expect(folder.stderr).toMatch(/^error: .*folder-out: a GGUF export is one file: name the output NAME\.gguf/m);

    const notes = path.join(tempDir, 'notes.gguf');
    await writeFile(notes, 'mine');
    const replaced = await cli('dus', stories, '--drop', '1', '--out', notes, '--replace');
    expect(replaced.code).toBe(1);
    expect(replaced.stderr).toMatch(/not a GGUF file, so it is not replaced/);
    expect(await readFile(notes, 'utf8')).toBe('mine');

    const yaml = path.join(tempDir, 'cast.yml');
    await writeFile(yaml, `slices:\n  - sources:\n      - model: ${stories}\n        layer_range: [0, 5]\nmerge_method: passthrough\ndtype: float16\n`);
    const cast = await cli('merge', yaml, '--out', path.join(tempDir, 'cast.gguf'));
    expect(cast.code).toBe(1);
    expect(cast.stderr).toMatch(/dtype: float16 cannot be applied/);
    // Nothing half-written: no temporary folder or file left beside the targets.
    expect((await readdir(tempDir)).filter((name) => name.includes('dus-export'))).toEqual([]);
  }, BUILD_TIMEOUT_MS);
});
