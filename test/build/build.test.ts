import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const repository = path.resolve(import.meta.dirname, '../..');
const buildScript = path.join(repository, 'build', 'build.mjs');

let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

function runBuild(args: string[]) {
  const result = spawnSync(process.execPath, [buildScript, ...args], { cwd: repository, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A project tree with stand-in entries, so the script's behaviour is tested apart from the real sources. */
async function standInProject(files: Record<string, string>): Promise<string> {
  const root = path.join(folder, 'project');
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), text);
  }
  return root;
}

const standInEntries = {
  'electron/cli/cli.ts': "import { greeting } from './greeting.js';\nconsole.log(greeting('cli'));\n",
  'electron/cli/greeting.ts': 'export function greeting(name: string): string {\n  return `hello ${name}`;\n}\n',
  'electron/main/main.ts': "import { app } from 'electron';\napp.whenReady().then(() => undefined);\n",
  'electron/preload/preload.ts': "import { contextBridge } from 'electron';\ncontextBridge.exposeInMainWorld('probe', { ok: true });\n",
};

/** The module names a CommonJS bundle requires. */
function requiredModules(code: string): string[] {
  return [...code.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((match) => match[1] ?? '');
}

describe('build/build.mjs', () => {
  it('bundles the real CLI, main process and preload into the given folder', async () => {
    const out = path.join(folder, 'out');
    const result = runBuild(['--outdir', out, '--no-renderer']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);

    const cli = await readFile(path.join(out, 'cli.js'), 'utf8');
    expect(cli.split('\n')[0]).toBe('#!/usr/bin/env node');
    expect(cli).toContain('createRequire');
    if (process.platform !== 'win32') expect((await stat(path.join(out, 'cli.js'))).mode & 0o777).toBe(0o755);

    const main = await readFile(path.join(out, 'main.js'), 'utf8');
    expect(main).toMatch(/^import \{[^}]*\bBrowserWindow\b[^}]*\} from "electron";$/m);
    expect(main).toContain('registerStudioIpc');

    const preload = await readFile(path.join(out, 'preload.cjs'), 'utf8');
    expect(preload).toContain('exposeInMainWorld("dusStudio"');
    // A sandboxed preload can require nothing but electron.
    expect(new Set(requiredModules(preload))).toEqual(new Set(['electron']));
    expect(preload).not.toMatch(/^\s*(import|export)\s/m);

    const lines = result.stdout.trim().split('\n');
    for (const name of ['cli.js', 'main.js', 'preload.cjs']) {
      expect(lines.some((line) => line.includes(name) && /\d+(\.\d+)? (B|kB|MB)$/.test(line)), name).toBe(true);
    }
    // Both ESM bundles parse as modules.
    for (const name of ['cli.js', 'main.js']) {
      const check = spawnSync(process.execPath, ['--check', path.join(out, name)], { encoding: 'utf8' });
      expect(check.stderr, name).toBe('');
    }
  });

  it('builds the bench and fuzz runners only when their entries exist', async () => {
    const root = await standInProject({ ...standInEntries, 'test/bench/bench.ts': "console.log('bench');\n" });
    const out = path.join(folder, 'out');
    const result = runBuild(['--root', root, '--outdir', out]);
    expect(result.status).toBe(0);
    expect(existsSync(path.join(out, 'bench.js'))).toBe(true);
    expect(existsSync(path.join(out, 'fuzz.js'))).toBe(false);
    const run = spawnSync(process.execPath, [path.join(out, 'cli.js')], { encoding: 'utf8' });
    expect(run.stdout).toBe('hello cli\n');
  });

  it('fails with the entry and the line when a source does not compile', async () => {
    const root = await standInProject({ ...standInEntries, 'electron/main/main.ts': 'export const broken = ;\n' });
    const result = runBuild(['--root', root, '--outdir', path.join(folder, 'out')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^dus-studio build failed: could not bundle electron\/main\/main\.ts \(main\)/);
    expect(result.stderr).toContain('main.ts:1:');
  });

  it('fails with a clear message when a required entry is missing', async () => {
    const { 'electron/cli/cli.ts': _cli, ...withoutCli } = standInEntries;
    const root = await standInProject(withoutCli);
    const result = runBuild(['--root', root, '--outdir', path.join(folder, 'out')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('missing entry electron/cli/cli.ts');
  });

  it('refuses unknown options with the usage', () => {
    const result = runBuild(['--out', 'x']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('unknown option --out');
    expect(result.stderr).toContain('usage: node build/build.mjs');
  });
});
