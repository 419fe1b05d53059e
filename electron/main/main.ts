/**
 * The Electron main process: wiring only. Policies live in window-options.ts, the IPC front door in
 * ipc-binder.ts, the menu in menu.ts, the recent list in recent-files.ts, the page server in
 * app-protocol.ts; each is tested under plain Node. Bundled to out/main.js (ESM, 'electron' external).
 */
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserWindow, Menu, app, dialog, ipcMain, protocol, session, shell } from 'electron';
import type { MenuCommand } from '../api/types.js';
import { createStudioEngine, locateDemoModel } from '../engine/studio-engine.js';
import { APP_SCHEME_PRIVILEGES, createAppProtocolHandler } from './app-protocol.js';
import { createDesktopActions, type MenuDesktopActions } from './desktop-actions.js';
import { forwardStudioEvents, registerDesktopIpc, registerStudioIpc, type StudioEventMessage } from './ipc-binder.js';
import { STUDIO_EVENT_CHANNEL } from './ipc-channels.js';
import { pathsFromArgv } from './launch-arguments.js';
import { buildMenuTemplate } from './menu.js';
import { createRecentFiles, recordOpenedCheckpoints, type RecentFiles } from './recent-files.js';
import {
  APP_INDEX_URL,
  APP_SCHEME,
  createWindowOptions,
  hardenWebContents,
  isTrustedFrame,
  restrictPermissions,
  withContentSecurityPolicy,
} from './window-options.js';

/** out/, where the bundle, the preload and the built renderer sit side by side. */
const mainScript = fileURLToPath(import.meta.url);
const outDir = path.dirname(mainScript);
const preloadPath = path.join(outDir, 'preload.cjs');
const rendererDir = path.join(outDir, 'renderer');

let mainWindow: BrowserWindow | null = null;
let studio: { recent: RecentFiles; desktop: MenuDesktopActions } | null = null;

function logError(context: string): (error: unknown) => void {
  return (error) => console.error(`dus-studio: ${context}:`, error);
}

/** Resolves once the window's page has loaded (its client subscribes to events while it loads). */
function whenLoaded(window: BrowserWindow): Promise<void> {
  const contents = window.webContents;
  if (!contents.isLoading() && contents.getURL() !== '') return Promise.resolve();
  return new Promise((resolve) => contents.once('did-finish-load', () => resolve()));
}

function sendToWindows(message: StudioEventMessage): void {
  for (const window of BrowserWindow.getAllWindows()) {
    if (!window.isDestroyed()) window.webContents.send(STUDIO_EVENT_CHANNEL, message);
  }
}

/** A menu command for the renderer; on macOS with every window closed, a new window gets it. */
function sendMenuCommand(command: MenuCommand): void {
  const window = mainWindow ?? createWindow();
  whenLoaded(window)
    .then(() => {
      const message: StudioEventMessage<'menu'> = { event: 'menu', payload: command };
      if (!window.isDestroyed()) window.webContents.send(STUDIO_EVENT_CHANNEL, message);
    })
    .catch(logError('menu command'));
}

function createWindow(): BrowserWindow {
  const window = new BrowserWindow(createWindowOptions({ preloadPath }));
  mainWindow = window;
  window.once('ready-to-show', () => window.show());
  window.on('closed', () => {
    if (mainWindow === window) mainWindow = null;
  });
  window.loadURL(APP_INDEX_URL).catch(logError('loading the window'));
  return window;
}

async function refreshMenu(): Promise<void> {
  if (studio === null) return;
  const { recent, desktop } = studio;
  // Entries on a drive that is not mounted now stay in the file but not in the menu.
  const entries = (await recent.list()).filter((entry) => existsSync(entry));
  const template = buildMenuTemplate({
    platform: process.platform,
    appName: app.getName(),
    recent: entries,
    developer: !app.isPackaged,
    actions: {
      open: () => sendMenuCommand({ action: 'open' }),
      openFolder: () => {
        desktop
          .openFolderDialog()
          .then((paths) => {
            for (const chosen of paths) sendMenuCommand({ action: 'open', path: chosen });
          })
          .catch(logError('Open Folder'));
      },
      openRecent: (chosen) => sendMenuCommand({ action: 'open', path: chosen }),
      clearRecent: () => {
        recent.clear().then(refreshMenu).catch(logError('clearing the recent list'));
      },
      export: () => sendMenuCommand({ action: 'export' }),
    },
  });
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

function openFromArgv(argv: readonly string[], cwd: string): void {
  // `electron .` or `electron out/main.js` in development: neither argument is a checkpoint.
  const skip = [app.getAppPath(), mainScript, outDir];
  for (const chosen of pathsFromArgv(argv, { cwd, skip })) sendMenuCommand({ action: 'open', path: chosen });
}

async function start(): Promise<void> {
  protocol.handle(APP_SCHEME, createAppProtocolHandler(rendererDir));
  restrictPermissions(session.defaultSession);
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => callback(withContentSecurityPolicy(details)));

  const demoPath = locateDemoModel();
  // The engine names a checkpoint by its real path; the demo opens on every start and is not "recent".
  let demoId = demoPath;
  try {
    demoId = realpathSync(demoPath);
  } catch {
    // A demo that cannot be resolved is reported by the engine when the renderer opens it.
  }
  const engine = createStudioEngine({ host: 'electron', demoPath, version: app.getVersion() });
  const recent = createRecentFiles(path.join(app.getPath('userData'), 'recent.json'));
  const host = recordOpenedCheckpoints(engine, (opened) => {
    if (opened === demoId || opened === demoPath) return;
    recent.add(opened).then(refreshMenu).catch(logError('saving the recent list'));
  });
  const desktop = createDesktopActions({
    platform: process.platform,
    showOpenDialog: (options) => (mainWindow === null ? dialog.showOpenDialog(options) : dialog.showOpenDialog(mainWindow, options)),
    showSaveDialog: (options) => (mainWindow === null ? dialog.showSaveDialog(options) : dialog.showSaveDialog(mainWindow, options)),
    showItemInFolder: (target) => shell.showItemInFolder(target),
  });
  studio = { recent, desktop };

  const binderOptions = { isTrustedSender: isTrustedFrame, onInternalError: (error: unknown, channel: string) => logError(channel)(error) };
  registerStudioIpc(ipcMain, host, binderOptions);
  registerDesktopIpc(ipcMain, desktop, binderOptions);
  forwardStudioEvents(engine, sendToWindows);

  await refreshMenu();
  createWindow();
  openFromArgv(process.argv, process.cwd());
}

// Before 'ready': the scheme's privileges, and the sandbox for every renderer.
protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: APP_SCHEME_PRIVILEGES }]);
app.enableSandbox();

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', (_event, argv, workingDirectory) => {
    if (mainWindow !== null) {
      if (mainWindow.isMinimized()) mainWindow.restore();
      mainWindow.focus();
    }
    openFromArgv(argv, workingDirectory);
  });
  app.on('web-contents-created', (_event, contents) => {
    hardenWebContents(contents, {
      openExternal: (url) => {
        shell.openExternal(url).catch(logError('opening a link'));
      },
    });
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('activate', () => {
    if (studio !== null && BrowserWindow.getAllWindows().length === 0) createWindow();
  });
  app
    .whenReady()
    .then(start)
    .catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      dialog.showErrorBox('DUS Studio could not start', message);
      app.exit(1);
    });
}
