/**
 * The Electron front door: one `ipcMain.handle` per API method, plus the desktop-only dialog and
 * shell channels. Each handler checks the sender frame, checks the payload against its schema,
 * calls the one API object, and answers with an envelope, so errors cross IPC as data (Electron
 * would keep only an Error's message). Only types come from 'electron': tests pass a stand-in.
 */
import type { IpcMain } from 'electron';
import { StudioError, isStudioError, toEnvelope, type StudioErrorData } from '../api/errors.js';
import { parsePayload } from '../api/schemas.js';
import { ENGINE_EVENT_NAMES, STUDIO_METHODS, type StudioEnvelope, type StudioHost, type StudioMethod } from '../api/studio-api.js';
import type { StudioEventName, StudioEvents } from '../api/types.js';
import { DESKTOP_CHANNELS, studioChannel } from './ipc-channels.js';
import type { SenderFrame } from './window-options.js';

/** The part of ipcMain the binder uses. */
export type IpcRegistrar = Pick<IpcMain, 'handle' | 'removeHandler'>;

/** The part of an invoke event the binder reads. */
export interface InvokeEventLike {
  readonly senderFrame: SenderFrame | null;
}

export interface BinderOptions {
  /** True for the app's own top-level page (window-options.ts `isTrustedFrame`). */
  isTrustedSender(frame: SenderFrame | null): boolean;
  /** Told about failures that are bugs (not StudioErrors), for the main process's log. */
  onInternalError?(error: unknown, channel: string): void;
}

/** Engine events that reach the renderer: all of them (the list and its check live in the API). */
export const FORWARDED_EVENTS = ENGINE_EVENT_NAMES;

/** One message on the `studio:event` channel. */
export interface StudioEventMessage<E extends StudioEventName = StudioEventName> {
  event: E;
  payload: StudioEvents[E];
}

function forbidden(channel: string): StudioErrorData {
  return new StudioError('Forbidden', `Only the DUS Studio window may call ${channel}.`).toData();
}

/** Runs one request the way every channel does: sender check, then `work`, then the envelope. */
async function answer<T>(
  channel: string,
  event: InvokeEventLike,
  options: BinderOptions,
  work: () => Promise<T>,
): Promise<StudioEnvelope<T>> {
  if (!options.isTrustedSender(event.senderFrame)) return { ok: false, error: forbidden(channel) };
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return toEnvelope(error, channel, (bug) => options.onInternalError?.(bug, channel));
  }
}

function checkedPayload<M extends StudioMethod>(method: M, payload: unknown): unknown {
  try {
    return parsePayload(method, payload);
  } catch (error) {
    if (isStudioError(error)) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new StudioError('InvalidRequest', `Invalid request to ${method}: ${reason}`);
  }
}

/**
 * Registers `studio:<method>` for every method in STUDIO_METHODS. Returns the function that
 * removes them all again.
 */
export function registerStudioIpc(ipcMain: IpcRegistrar, api: StudioHost, options: BinderOptions): () => void {
  const channels: string[] = [];
  for (const method of STUDIO_METHODS) {
    const channel = studioChannel(method);
    ipcMain.handle(channel, (event: InvokeEventLike, payload: unknown) =>
      answer(channel, event, options, async () => {
        const request = checkedPayload(method, payload);
        // One payload or none, checked above against this very method's schema.
        const call = api[method] as (request: unknown) => Promise<unknown>;
        return call.call(api, request);
      }),
    );
    channels.push(channel);
  }
  return () => {
    for (const channel of channels) ipcMain.removeHandler(channel);
  };
}

/** What the desktop-only channels do; main.ts implements them with dialog and shell. */
export interface DesktopActions {
  /** Native Open dialog for checkpoints and plans: the chosen paths, or [] when cancelled. */
  openCheckpointDialog(): Promise<string[]>;
  /** Native folder chooser for an export target, or null when cancelled. */
  chooseExportFolder(): Promise<string | null>;
  /** Native save dialog for a GGUF export target (NAME.gguf), or null when cancelled. */
  chooseExportFile(): Promise<string | null>;
  /** Shows a file or folder in the system file manager. */
  revealPath(path: string): Promise<void>;
}

/** Longest path accepted from the renderer (as the API's schemas: Linux PATH_MAX). */
const MAX_PATH_LENGTH = 4096;

/** The path argument of `shell:revealPath`: a non-empty absolute path. */
export function parseRevealPath(payload: unknown): string {
  if (typeof payload !== 'string' || payload.length === 0 || payload.length > MAX_PATH_LENGTH || payload.includes('\0')) {
    throw new StudioError('InvalidRequest', 'Invalid request to reveal a path: expected a path.');
  }
  // Both separators and drive letters, so the check does not depend on the platform it runs on.
  if (!payload.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(payload) && !payload.startsWith('\\\\')) {
    throw new StudioError('InvalidRequest', 'Invalid request to reveal a path: the path must be absolute.', { path: payload });
  }
  return payload;
}

function refuseArguments(channel: string, payload: unknown): void {
  if (payload !== undefined && payload !== null) {
    throw new StudioError('InvalidRequest', `Invalid request to ${channel}: it takes no arguments.`);
  }
}

/** Registers the dialog and shell channels with the same sender check and envelopes. */
export function registerDesktopIpc(ipcMain: IpcRegistrar, actions: DesktopActions, options: BinderOptions): () => void {
  const open = DESKTOP_CHANNELS.openCheckpointDialog;
  const choose = DESKTOP_CHANNELS.chooseExportFolder;
  const chooseFile = DESKTOP_CHANNELS.chooseExportFile;
  const reveal = DESKTOP_CHANNELS.revealPath;
  ipcMain.handle(open, (event: InvokeEventLike, payload: unknown) =>
    answer(open, event, options, async () => {
      refuseArguments(open, payload);
      return actions.openCheckpointDialog();
    }),
  );
  ipcMain.handle(choose, (event: InvokeEventLike, payload: unknown) =>
    answer(choose, event, options, async () => {
      refuseArguments(choose, payload);
      return actions.chooseExportFolder();
    }),
  );
  ipcMain.handle(chooseFile, (event: InvokeEventLike, payload: unknown) =>
    answer(chooseFile, event, options, async () => {
      refuseArguments(chooseFile, payload);
      return actions.chooseExportFile();
    }),
  );
  ipcMain.handle(reveal, (event: InvokeEventLike, payload: unknown) =>
    answer(reveal, event, options, async () => actions.revealPath(parseRevealPath(payload))),
  );
  return () => {
    ipcMain.removeHandler(open);
    ipcMain.removeHandler(choose);
    ipcMain.removeHandler(chooseFile);
    ipcMain.removeHandler(reveal);
  };
}

/**
 * Forwards the engine's events as `{ event, payload }` messages (main.ts sends them on
 * `studio:event`). Returns the function that stops forwarding.
 */
export function forwardStudioEvents(api: Pick<StudioHost, 'on'>, send: (message: StudioEventMessage) => void): () => void {
  const unsubscribes = FORWARDED_EVENTS.map((event) =>
    api.on(event, (payload) => {
      send({ event, payload } as StudioEventMessage);
    }),
  );
  return () => {
    for (const unsubscribe of unsubscribes) unsubscribe();
  };
}
