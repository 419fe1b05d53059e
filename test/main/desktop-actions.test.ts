import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { OpenDialogOptions, OpenDialogReturnValue, SaveDialogOptions, SaveDialogReturnValue } from 'electron';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDesktopActions, openDialogOptions } from '../../electron/main/desktop-actions.js';

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** dialog.showOpenDialog, dialog.showSaveDialog and shell.showItemInFolder as stand-ins that answer in turn. */
function standIns(answers: OpenDialogReturnValue[], saveAnswers: SaveDialogReturnValue[] = []) {
  const asked: OpenDialogOptions[] = [];
  const askedSave: SaveDialogOptions[] = [];
  const shown: string[] = [];
  const actions = createDesktopActions({
    platform: 'linux',
    showOpenDialog: async (options) => {
      asked.push(options);
      const answer = answers.shift();
      if (answer === undefined) throw new Error('unexpected dialog');
      return answer;
    },
    showSaveDialog: async (options) => {
      askedSave.push(options);
      const answer = saveAnswers.shift();
      if (answer === undefined) throw new Error('unexpected save dialog');
      return answer;
    },
    showItemInFolder: (target) => shown.push(target),
  });
  return { actions, asked, askedSave, shown };
}

describe('openDialogOptions', () => {
  it('picks files and folders in one dialog on macOS, files elsewhere', () => {
    expect(openDialogOptions('darwin').properties).toEqual(['openFile', 'openDirectory', 'multiSelections']);
    expect(openDialogOptions('linux').properties).toEqual(['openFile', 'multiSelections']);
    expect(openDialogOptions('win32').filters?.[0]?.extensions).toEqual(['safetensors', 'gguf', 'json', 'yml', 'yaml']);
  });
});

describe('createDesktopActions', () => {
  it('returns the chosen paths, or none when the dialog is cancelled', async () => {
    const { actions, asked } = standIns([
      { canceled: false, filePaths: ['/models/a', '/models/b.safetensors'] },
      { canceled: true, filePaths: [] },
    ]);
    expect(await actions.openCheckpointDialog()).toEqual(['/models/a', '/models/b.safetensors']);
    expect(await actions.openCheckpointDialog()).toEqual([]);
    expect(asked[0]?.properties).toContain('openFile');
  });

  it('chooses one GGUF export file in a save dialog filtered to .gguf, or null', async () => {
    const { actions, asked, askedSave } = standIns(
      [],
      [
        { canceled: false, filePath: '/exports/solar.gguf' },
        { canceled: true, filePath: '/ignored.gguf' },
        { canceled: false, filePath: '' },
      ],
    );
    expect(await actions.chooseExportFile()).toBe('/exports/solar.gguf');
    expect(await actions.chooseExportFile()).toBeNull();
    expect(await actions.chooseExportFile()).toBeNull();
    expect(askedSave[0]?.filters?.[0]?.extensions).toEqual(['gguf']);
    expect(asked).toEqual([]);
  });

  it('chooses one export folder that may be created, or null', async () => {
    const { actions, asked } = standIns([
      { canceled: false, filePaths: ['/exports/solar'] },
      { canceled: true, filePaths: ['/ignored'] },
    ]);
    expect(await actions.chooseExportFolder()).toBe('/exports/solar');
    expect(await actions.chooseExportFolder()).toBeNull();
    expect(asked[0]?.properties).toEqual(['openDirectory', 'createDirectory', 'promptToCreate']);
  });

  it('opens folders from Open Folder…', async () => {
    const { actions, asked } = standIns([{ canceled: false, filePaths: ['/models/llama'] }]);
    expect(await actions.openFolderDialog()).toEqual(['/models/llama']);
    expect(asked[0]?.properties).toContain('openDirectory');
  });

  it('reveals an existing path and refuses a missing one with NotFound', async () => {
    const { actions, shown } = standIns([]);
    await actions.revealPath(folder);
    expect(shown).toEqual([folder]);
    const missing = path.join(folder, 'gone');
    await expect(actions.revealPath(missing)).rejects.toMatchObject({ code: 'NotFound', path: missing });
    expect(shown).toEqual([folder]);
  });
});
