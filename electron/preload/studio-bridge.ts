/**
 * The object the preload exposes to the page as `window.dusStudio`: one narrow function per kind of
 * message, `invoke` only, never ipcRenderer itself. Built from its Electron parts so tests can
 * drive it with stand-ins; preload.ts hands it the real ipcRenderer and webUtils.
 */
import type { IpcRenderer, IpcRendererEvent, WebUtils } from 'electron';
import type { StudioErrorData } from '../api/errors.js';
import { STUDIO_METHODS, type StudioEnvelope } from '../api/studio-api.js';
import { DESKTOP_CHANNELS, STUDIO_EVENT_CHANNEL, studioChannel } from '../main/ipc-channels.js';

/** What the renderer's client finds on `window.dusStudio`. */
export interface DusStudioBridge {
  /** Calls one API method; errors come back as `{ ok: false, error }`, never as a rejection. */
  call(method: string, payload: unknown): Promise<StudioEnvelope<unknown>>;
  /** Receives every `studio:event` message; returns the unsubscribe function. */
  on(listener: (event: string, payload: unknown) => void): () => void;
  /** The file-system path of a dropped or chosen File ('' for one that is not on disk). */
  getPathForFile(file: File): string;
  /** Native Open dialog: the chosen paths, [] when cancelled. */
  openDialog(): Promise<string[]>;
  /** Native folder chooser for an export target, null when cancelled. */
  chooseFolder(): Promise<string | null>;
  /** Native save dialog for a GGUF export target (NAME.gguf), null when cancelled. */
  chooseFile(): Promise<string | null>;
  /** Shows a path in the system file manager. */
  reveal(path: string): Promise<void>;
}

export type BridgeIpc = Pick<IpcRenderer, 'invoke' | 'on' | 'removeListener'>;
export type BridgeWebUtils = Pick<WebUtils, 'getPathForFile'>;

const methods: ReadonlySet<string> = new Set(STUDIO_METHODS);

function refused(message: string): StudioEnvelope<never> {
  const error: StudioErrorData = { code: 'InvalidRequest', message };
  return { ok: false, error };
}

function isEnvelope(value: unknown): value is StudioEnvelope<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { ok?: unknown }).ok === 'boolean';
}

/** The value of a desktop channel's envelope; its error becomes an Error carrying the message. */
async function unwrap<T>(reply: Promise<unknown>): Promise<T> {
  const envelope = await reply;
  if (!isEnvelope(envelope)) throw new Error('The main process sent an unexpected reply.');
  if (envelope.ok) return envelope.value as T;
  // contextBridge passes only an Error's message to the page, so the code travels inside it.
  throw new Error(`${envelope.error.code}: ${envelope.error.message}`);
}

export function createStudioBridge(ipc: BridgeIpc, webUtils: BridgeWebUtils): DusStudioBridge {
  return {
    async call(method: string, payload: unknown) {
      // Only API methods reach `invoke`, so the page cannot name other channels through `call`.
      if (typeof method !== 'string' || !methods.has(method)) return refused(`Unknown API method '${String(method)}'.`);
      const reply: unknown = await ipc.invoke(studioChannel(method), payload);
      return isEnvelope(reply) ? reply : refused('The main process sent an unexpected reply.');
    },
    on(listener: (event: string, payload: unknown) => void) {
      // The page gets the message only; the IpcRendererEvent (and its `sender`) stays here.
      const relay = (_event: IpcRendererEvent, message: unknown) => {
        if (typeof message !== 'object' || message === null) return;
        const { event, payload } = message as { event?: unknown; payload?: unknown };
        if (typeof event === 'string') listener(event, payload);
      };
      ipc.on(STUDIO_EVENT_CHANNEL, relay);
      return () => {
        ipc.removeListener(STUDIO_EVENT_CHANNEL, relay);
      };
    },
    getPathForFile(file: File) {
      return webUtils.getPathForFile(file);
    },
    openDialog() {
      return unwrap<string[]>(ipc.invoke(DESKTOP_CHANNELS.openCheckpointDialog));
    },
    chooseFolder() {
      return unwrap<string | null>(ipc.invoke(DESKTOP_CHANNELS.chooseExportFolder));
    },
    chooseFile() {
      return unwrap<string | null>(ipc.invoke(DESKTOP_CHANNELS.chooseExportFile));
    },
    async reveal(path: string) {
      await unwrap<unknown>(ipc.invoke(DESKTOP_CHANNELS.revealPath, path));
    },
  };
}
