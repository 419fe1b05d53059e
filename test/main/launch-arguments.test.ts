import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pathsFromArgv } from '../../electron/main/launch-arguments.js';

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
  await mkdir(path.join(folder, 'model'));
  await mkdir(path.join(folder, 'app', 'out'), { recursive: true });
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('pathsFromArgv', () => {
  it('keeps existing paths after the executable, resolved against the launch folder', () => {
    const argv = ['/usr/bin/electron', '--no-sandbox', 'model', path.join(folder, 'model'), 'missing', '--inspect=9229'];
    expect(pathsFromArgv(argv, { cwd: folder, skip: [] })).toEqual([path.join(folder, 'model')]);
  });

  it('skips the app itself in development runs', () => {
    const app = path.join(folder, 'app');
    const argv = ['/usr/bin/electron', app, 'model'];
    expect(pathsFromArgv(argv, { cwd: folder, skip: [app, path.join(app, 'out')] })).toEqual([path.join(folder, 'model')]);
  });
});
