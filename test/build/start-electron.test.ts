import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const repository = path.resolve(import.meta.dirname, '../..');
const UNAVAILABLE =
  'dus-studio: the Electron binary is not available here (no download possible); run the same UI in a browser with: npx dus-studio serve';

let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

function start(script: string, args: string[], env: Record<string, string>) {
  const result = spawnSync(process.execPath, [script, ...args], {
    cwd: folder,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1', ...env },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A copy of the launcher in a project of its own, with built outputs when asked. */
async function launcherProject(built: boolean): Promise<string> {
  const root = path.join(folder, 'project');
  await mkdir(path.join(root, 'build'), { recursive: true });
  await copyFile(path.join(repository, 'build', 'start-electron.mjs'), path.join(root, 'build', 'start-electron.mjs'));
  await writeFile(path.join(root, 'package.json'), '{ "type": "module", "main": "out/main.js" }\n');
  if (built) {
    await mkdir(path.join(root, 'out'));
    await writeFile(path.join(root, 'out', 'main.js'), '');
    await writeFile(path.join(root, 'out', 'preload.cjs'), '');
  }
  return path.join(root, 'build', 'start-electron.mjs');
}

describe('build/start-electron.mjs', () => {
  it('prints one line pointing to the browser UI when the Electron dist is missing', () => {
    const result = start(path.join(repository, 'build', 'start-electron.mjs'), [], {
      ELECTRON_OVERRIDE_DIST_PATH: path.join(folder, 'no-electron-here'),
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`${UNAVAILABLE}\n`);
    expect(result.stdout).toBe('');
  });

  it('prints the same line when the electron package has no binary and may not download one', async () => {
    // The copied launcher finds no electron package at all beside it.
    const script = await launcherProject(true);
    const result = start(script, [], {});
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`${UNAVAILABLE}\n`);
  });

  it('prints the same line when the binary is there but cannot be started', async () => {
    const script = await launcherProject(true);
    const dist = path.join(folder, 'dist');
    await mkdir(dist);
    const executable = path.join(dist, process.platform === 'win32' ? 'electron.exe' : 'electron');
    // Not executable: the spawn fails, as it does for a binary of another platform.
    await writeFile(executable, 'not a program');
    await chmod(executable, 0o644);
    const result = start(script, [], { ELECTRON_OVERRIDE_DIST_PATH: dist });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`${UNAVAILABLE}\n`);
  });

  it.skipIf(process.platform === 'win32')('runs Electron on the project folder with the extra arguments and passes on its exit code', async () => {
    const script = await launcherProject(true);
    const dist = path.join(folder, 'dist');
    await mkdir(dist);
    const record = path.join(folder, 'arguments.txt');
    const executable = path.join(dist, process.platform === 'darwin' ? 'Electron.app/Contents/MacOS/Electron' : 'electron');
    await mkdir(path.dirname(executable), { recursive: true });
    await writeFile(executable, `#!/bin/sh\nprintf '%s\\n' "$@" > '${record}'\nexit 3\n`);
    await chmod(executable, 0o755);
    const result = start(script, ['./my-model'], { ELECTRON_OVERRIDE_DIST_PATH: dist, ELECTRON_RUN_AS_NODE: '1' });
    expect(result.status).toBe(3);
    expect((await readFile(record, 'utf8')).trim().split('\n')).toEqual([path.dirname(path.dirname(script)), './my-model']);
  });

  it.skipIf(process.platform === 'win32')('asks for a build when out/main.js is missing', async () => {
    const script = await launcherProject(false);
    const dist = path.join(folder, 'dist');
    await mkdir(dist);
    const executable = path.join(dist, 'electron');
    await writeFile(executable, '#!/bin/sh\nexit 0\n');
    await chmod(executable, 0o755);
    const result = start(script, [], { ELECTRON_OVERRIDE_DIST_PATH: dist });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/out[/\\]main\.js is not built yet; run: npm run build/);
  });
});
