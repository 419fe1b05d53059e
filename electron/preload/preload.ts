/**
 * The sandboxed preload. Bundled into one CommonJS file (out/preload.cjs): a sandboxed preload can
 * require only 'electron', never the project's own modules.
 */
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import { createStudioBridge } from './studio-bridge.js';

contextBridge.exposeInMainWorld('dusStudio', createStudioBridge(ipcRenderer, webUtils));
