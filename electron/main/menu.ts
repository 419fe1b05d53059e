/**
 * The application menu as a template (plain data plus click callbacks), so tests read it without
 * Electron; main.ts passes it to Menu.buildFromTemplate and rebuilds it when the recent list changes.
 */
import path from 'node:path';
import type { MenuItemConstructorOptions } from 'electron';

export interface MenuActions {
  /** File → Open…: the renderer's own Open flow (its native dialog). */
  open(): void;
  /** File → Open Folder… (Windows and Linux). */
  openFolder(): void;
  openRecent(path: string): void;
  clearRecent(): void;
  /** File → Export…: the renderer's export tab. */
  export(): void;
}

export interface MenuInput {
  platform: NodeJS.Platform;
  appName: string;
  /** Most recent first. */
  recent: readonly string[];
  /** Adds Reload and the developer tools (unpackaged runs). */
  developer: boolean;
  actions: MenuActions;
}

/** `name — folder` labels, so ten checkpoints called `model` stay distinguishable. */
export function recentLabel(filePath: string): string {
  const name = path.basename(filePath) || filePath;
  const folder = path.dirname(filePath);
  return folder === filePath ? name : `${name} — ${folder}`;
}

function recentSubmenu(input: MenuInput): MenuItemConstructorOptions[] {
  if (input.recent.length === 0) return [{ label: 'No Recent Files', enabled: false }];
  return [
    ...input.recent.map(
      (filePath): MenuItemConstructorOptions => ({
        label: recentLabel(filePath),
        toolTip: filePath,
        click: () => input.actions.openRecent(filePath),
      }),
    ),
    { type: 'separator' },
    { label: 'Clear Recent', click: () => input.actions.clearRecent() },
  ];
}

/** The whole menu bar: (macOS app menu), File, Edit, View, (macOS Window). */
export function buildMenuTemplate(input: MenuInput): MenuItemConstructorOptions[] {
  const mac = input.platform === 'darwin';
  const file: MenuItemConstructorOptions[] = [
    { label: 'Open…', accelerator: 'CmdOrCtrl+O', click: () => input.actions.open() },
    // macOS's Open… dialog picks folders too; elsewhere a dialog is either files or folders.
    ...(mac
      ? []
      : [{ label: 'Open Folder…', accelerator: 'CmdOrCtrl+Shift+O', click: () => input.actions.openFolder() }]),
    { label: 'Open Recent', submenu: recentSubmenu(input) },
    { type: 'separator' },
    { label: 'Export…', accelerator: 'CmdOrCtrl+E', click: () => input.actions.export() },
    { type: 'separator' },
    mac ? { role: 'close' } : { role: 'quit', label: 'Quit', accelerator: 'Ctrl+Q' },
  ];
  // No undo/redo roles: Ctrl+Z belongs to the renderer's plan history, and a menu accelerator
  // would take the key before the page sees it.
  const edit: MenuItemConstructorOptions[] = [
    { role: 'cut' },
    { role: 'copy' },
    { role: 'paste' },
    { type: 'separator' },
    { role: 'selectAll' },
  ];
  const view: MenuItemConstructorOptions[] = [
    ...(input.developer
      ? ([{ role: 'reload' }, { role: 'toggleDevTools' }, { type: 'separator' }] as MenuItemConstructorOptions[])
      : []),
    { role: 'resetZoom' },
    { role: 'zoomIn' },
    { role: 'zoomOut' },
    { type: 'separator' },
    { role: 'togglefullscreen' },
  ];
  const template: MenuItemConstructorOptions[] = [];
  if (mac) {
    template.push({
      label: input.appName,
      submenu: [
        { role: 'about' },
        { type: 'separator' },
        { role: 'services' },
        { type: 'separator' },
        { role: 'hide' },
        { role: 'hideOthers' },
        { role: 'unhide' },
        { type: 'separator' },
        { role: 'quit' },
      ],
    });
  }
  template.push({ label: 'File', submenu: file }, { label: 'Edit', submenu: edit }, { label: 'View', submenu: view });
  if (mac) template.push({ role: 'windowMenu' });
  return template;
}
