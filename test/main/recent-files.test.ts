import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StudioHost } from '../../electron/api/studio-api.js';
import type { CheckpointSummary } from '../../electron/api/types.js';
import {
  RECENT_LIMIT,
  addRecent,
  createRecentFiles,
  parseRecent,
  recordOpenedCheckpoints,
} from '../../electron/main/recent-files.js';

let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('addRecent', () => {
  it('moves a reopened entry to the front instead of listing it twice', () => {
    expect(addRecent(['/a', '/b', '/c'], '/c')).toEqual(['/c', '/a', '/b']);
  });

  it('keeps the last ten', () => {
    let list: string[] = [];
    for (let index = 0; index < 15; index++) list = addRecent(list, `/models/${index}`);
    expect(list).toHaveLength(RECENT_LIMIT);
    expect(list[0]).toBe('/models/14');
    expect(list.at(-1)).toBe('/models/5');
  });
});

describe('parseRecent', () => {
  it('reads damaged or foreign content as an empty or cleaned list', () => {
    expect(parseRecent('not json')).toEqual([]);
    expect(parseRecent('{"recent": ["/a"]}')).toEqual([]);
    expect(parseRecent('["/a", 3, "relative/path", "/a", null, "/b"]')).toEqual(['/a', '/b']);
  });
});

describe('createRecentFiles', () => {
  it('persists entries across instances in recent.json', async () => {
    const file = path.join(folder, 'user-data', 'recent.json');
    const recent = createRecentFiles(file);
    expect(await recent.list()).toEqual([]);
    await recent.add('/models/a');
    await recent.add('/models/b');
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(['/models/b', '/models/a']);
    expect(await createRecentFiles(file).list()).toEqual(['/models/b', '/models/a']);
  });

  it('keeps every one of many adds made at once', async () => {
    const recent = createRecentFiles(path.join(folder, 'recent.json'));
    await Promise.all(['/1', '/2', '/3', '/4'].map((entry) => recent.add(entry)));
    expect(await recent.list()).toEqual(['/4', '/3', '/2', '/1']);
  });

  it('starts over from a damaged file and clears on request', async () => {
    const file = path.join(folder, 'recent.json');
    await writeFile(file, '{"truncated": ');
    const recent = createRecentFiles(file);
    expect(await recent.list()).toEqual([]);
    await recent.add('/models/a');
    expect(await recent.clear()).toEqual([]);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual([]);
  });
});

describe('recordOpenedCheckpoints', () => {
  function host(openCheckpoint: (request: { path: string }) => Promise<CheckpointSummary>) {
    return {
      openCheckpoint,
      async listCheckpoints() {
        return [];
      },
      on: () => () => undefined,
    } as unknown as StudioHost;
  }

  it('reports each opened checkpoint by id and passes everything else through', async () => {
    const recorded: string[] = [];
    const wrapped = recordOpenedCheckpoints(
      host(async ({ path: opened }) => ({ id: `/real${opened}` }) as CheckpointSummary),
      (opened) => recorded.push(opened),
    );
    expect((await wrapped.openCheckpoint({ path: '/models/a' })).id).toBe('/real/models/a');
    expect(await wrapped.listCheckpoints()).toEqual([]);
    expect(recorded).toEqual(['/real/models/a']);
  });

  it('records nothing when the open fails, and a failing recorder does not fail the open', async () => {
    const recorded: string[] = [];
    const failing = recordOpenedCheckpoints(
      host(async () => {
        throw new Error('not a checkpoint');
      }),
      (opened) => recorded.push(opened),
    );
    await expect(failing.openCheckpoint({ path: '/x' })).rejects.toThrow('not a checkpoint');
    expect(recorded).toEqual([]);
    const throwingRecorder = recordOpenedCheckpoints(
      host(async () => ({ id: '/x' }) as CheckpointSummary),
      () => {
        throw new Error('disk full');
      },
    );
    expect((await throwingRecorder.openCheckpoint({ path: '/x' })).id).toBe('/x');
  });
});
