/**
 * Native dialogs and the file manager, behind the DesktopActions interface. Electron's dialog and
 * shell arrive as plain functions, so tests drive this with stand-ins.
 */
import { stat } from 'node:fs/promises';
import type { OpenDialogOptions, OpenDialogReturnValue, SaveDialogOptions, SaveDialogReturnValue } from 'electron';
import { StudioError } from '../api/errors.js';
import type { DesktopActions } from './ipc-binder.js';

/** What a user can open: checkpoints (.safetensors, index .json, .gguf) and mergekit plans (.yml). */
export const OPEN_FILTERS = [
  { name: 'Checkpoints and plans', extensions: ['safetensors', 'gguf', 'json', 'yml', 'yaml'] },
  { name: 'All files', extensions: ['*'] },
];

/**
 * Open… dialog options. On macOS one dialog picks files or folders; on Windows and Linux a dialog
 * is either a file or a folder chooser, so there Open… picks files and Open Folder… picks folders.
 */
export function openDialogOptions(platform: NodeJS.Platform): OpenDialogOptions {
  return {
    title: 'Open checkpoint or plan',
    properties: platform === 'darwin' ? ['openFile', 'openDirectory', 'multiSelections'] : ['openFile', 'multiSelections'],
    filters: OPEN_FILTERS,
  };
}

/** Open Folder… dialog options: a model folder (config.json and shards). */
export function openFolderDialogOptions(): OpenDialogOptions {
  return { title: 'Open model folder', properties: ['openDirectory', 'multiSelections'] };
}

/** Export target chooser: one folder, which may be created on the spot. */
export function exportFolderDialogOptions(): OpenDialogOptions {
  return {
    title: 'Choose export folder',
    buttonLabel: 'Export here',
    properties: ['openDirectory', 'createDirectory', 'promptToCreate'],
  };
}

/** GGUF export target chooser: one file NAME.gguf, in a folder that may be created on the spot. */
export function exportFileDialogOptions(): SaveDialogOptions {
  return {
    title: 'Export GGUF file',
    buttonLabel: 'Export',
    filters: [{ name: 'GGUF model', extensions: ['gguf'] }],
    properties: ['createDirectory', 'showOverwriteConfirmation'],
  };
}

/** The chosen file, or null when the user cancelled. */
export function chosenFile(result: SaveDialogReturnValue): string | null {
  return result.canceled || result.filePath === undefined || result.filePath === '' ? null : result.filePath;
}

/** The chosen paths, or [] when the user cancelled. */
export function chosenPaths(result: OpenDialogReturnValue): string[] {
  return result.canceled ? [] : [...result.filePaths];
}

export interface DesktopDependencies {
  platform: NodeJS.Platform;
  /** dialog.showOpenDialog, attached to the app's window by the caller. */
  showOpenDialog(options: OpenDialogOptions): Promise<OpenDialogReturnValue>;
  /** dialog.showSaveDialog, attached to the app's window by the caller. */
  showSaveDialog(options: SaveDialogOptions): Promise<SaveDialogReturnValue>;
  /** shell.showItemInFolder. */
  showItemInFolder(path: string): void;
}

export interface MenuDesktopActions extends DesktopActions {
  /** The Open Folder… menu item's dialog (Windows and Linux; macOS's Open… already picks folders). */
  openFolderDialog(): Promise<string[]>;
}

/** DesktopActions over Electron's dialog and shell. */
export function createDesktopActions(dependencies: DesktopDependencies): MenuDesktopActions {
  return {
    async openCheckpointDialog() {
      return chosenPaths(await dependencies.showOpenDialog(openDialogOptions(dependencies.platform)));
    },
    async openFolderDialog() {
      return chosenPaths(await dependencies.showOpenDialog(openFolderDialogOptions()));
    },
    async chooseExportFolder() {
      return chosenPaths(await dependencies.showOpenDialog(exportFolderDialogOptions()))[0] ?? null;
    },
    async chooseExportFile() {
      return chosenFile(await dependencies.showSaveDialog(exportFileDialogOptions()));
    },
    async revealPath(path: string) {
      try {
        await stat(path);
      } catch (error) {
        throw new StudioError('NotFound', 'There is nothing at this path to show.', { path, cause: error });
      }
      dependencies.showItemInFolder(path);
    },
  };
}
