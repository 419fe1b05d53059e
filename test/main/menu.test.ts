import type { MenuItemConstructorOptions } from 'electron';
import { describe, expect, it } from 'vitest';
import { buildMenuTemplate, recentLabel, type MenuActions, type MenuInput } from '../../electron/main/menu.js';

function recordingActions() {
  const log: string[] = [];
  const actions: MenuActions = {
    open: () => log.push('open'),
    openFolder: () => log.push('openFolder'),
    openRecent: (path) => log.push(`openRecent ${path}`),
    clearRecent: () => log.push('clearRecent'),
    export: () => log.push('export'),
  };
  return { log, actions };
}

function template(overrides: Partial<MenuInput> = {}) {
  const { log, actions } = recordingActions();
  const menu = buildMenuTemplate({ platform: 'linux', appName: 'DUS Studio', recent: [], developer: false, actions, ...overrides });
  return { menu, log };
}

function submenu(menu: MenuItemConstructorOptions[], label: string): MenuItemConstructorOptions[] {
  const item = menu.find((entry) => entry.label === label);
  if (item === undefined || !Array.isArray(item.submenu)) throw new Error(`no ${label} menu`);
  return item.submenu;
}

function item(items: MenuItemConstructorOptions[], label: string): MenuItemConstructorOptions {
  const found = items.find((entry) => entry.label === label);
  if (found === undefined) throw new Error(`no ${label} item`);
  return found;
}

function click(entry: MenuItemConstructorOptions): void {
  (entry.click as () => void)();
}

describe('buildMenuTemplate', () => {
  it('has File, Edit and View menus on Linux and Windows', () => {
    expect(template().menu.map((entry) => entry.label)).toEqual(['File', 'Edit', 'View']);
    expect(template({ platform: 'win32' }).menu.map((entry) => entry.label)).toEqual(['File', 'Edit', 'View']);
  });

  it('wires Open…, Open Folder…, Export… and Quit in the File menu', () => {
    const { menu, log } = template();
    const file = submenu(menu, 'File');
    const open = item(file, 'Open…');
    expect(open.accelerator).toBe('CmdOrCtrl+O');
    click(open);
    click(item(file, 'Open Folder…'));
    const exportItem = item(file, 'Export…');
    expect(exportItem.accelerator).toBe('CmdOrCtrl+E');
    click(exportItem);
    expect(log).toEqual(['open', 'openFolder', 'export']);
    expect(file.at(-1)).toMatchObject({ role: 'quit' });
  });

  it('lists the recent files, most recent first, and clears them', () => {
    const recent = ['/models/solar', '/models/llama/model.safetensors'];
    const { menu, log } = template({ recent });
    const entries = submenu(submenu(menu, 'File'), 'Open Recent');
    const files = entries.filter((entry) => entry.toolTip !== undefined);
    expect(files.map((entry) => entry.toolTip)).toEqual(recent);
    for (const entry of files) click(entry);
    click(item(entries, 'Clear Recent'));
    expect(log).toEqual(['openRecent /models/solar', 'openRecent /models/llama/model.safetensors', 'clearRecent']);
  });

  it('shows a disabled placeholder when nothing was opened yet', () => {
    const entries = submenu(submenu(template().menu, 'File'), 'Open Recent');
    expect(entries).toEqual([{ label: 'No Recent Files', enabled: false }]);
  });

  it('adds the app and Window menus on macOS, where Open… also picks folders', () => {
    const { menu } = template({ platform: 'darwin' });
    expect(menu.map((entry) => entry.label ?? entry.role)).toEqual(['DUS Studio', 'File', 'Edit', 'View', 'windowMenu']);
    const file = submenu(menu, 'File');
    expect(file.some((entry) => entry.label === 'Open Folder…')).toBe(false);
    expect(file.at(-1)).toMatchObject({ role: 'close' });
    expect(submenu(menu, 'DUS Studio').some((entry) => entry.role === 'quit')).toBe(true);
  });

  it('leaves Ctrl+Z to the renderer and the developer tools to development runs', () => {
    const roles = (menu: MenuItemConstructorOptions[], label: string) => submenu(menu, label).map((entry) => entry.role);
    const packaged = template().menu;
    expect(roles(packaged, 'Edit')).not.toContain('undo');
    expect(roles(packaged, 'Edit')).toEqual(expect.arrayContaining(['cut', 'copy', 'paste', 'selectAll']));
    expect(roles(packaged, 'View')).not.toContain('toggleDevTools');
    expect(roles(template({ developer: true }).menu, 'View')).toContain('toggleDevTools');
  });
});

describe('recentLabel', () => {
  it('names the entry first and its folder after it', () => {
    expect(recentLabel('/models/llama/model.safetensors')).toBe('model.safetensors — /models/llama');
    expect(recentLabel('/')).toBe('/');
  });
});
