import type { IpcRendererEvent } from 'electron';
import { describe, expect, it } from 'vitest';
import { STUDIO_METHODS } from '../../electron/api/studio-api.js';
import { DESKTOP_CHANNELS, STUDIO_EVENT_CHANNEL } from '../../electron/main/ipc-channels.js';
import { createStudioBridge, type BridgeIpc } from '../../electron/preload/studio-bridge.js';

type Listener = (event: IpcRendererEvent, ...args: unknown[]) => void;

/** ipcRenderer as a stand-in: `invoke` answers from a table and records; `emit` plays the main process. */
function standInIpc(replies: Record<string, unknown> = {}) {
  const invoked: { channel: string; args: unknown[] }[] = [];
  const listeners = new Map<string, Set<Listener>>();
  const ipc = {
    async invoke(channel: string, ...args: unknown[]) {
      invoked.push({ channel, args });
      return channel in replies ? replies[channel] : { ok: true, value: `answer of ${channel}` };
    },
    on(channel: string, listener: Listener) {
      const set = listeners.get(channel) ?? new Set();
      listeners.set(channel, set);
      set.add(listener);
      return ipc;
    },
    removeListener(channel: string, listener: Listener) {
      listeners.get(channel)?.delete(listener);
      return ipc;
    },
  };
  function emit(channel: string, message: unknown): void {
    const event = { sender: 'the ipcRenderer itself' } as unknown as IpcRendererEvent;
    for (const listener of listeners.get(channel) ?? []) listener(event, message);
  }
  return { ipc: ipc as unknown as BridgeIpc, invoked, listeners, emit };
}

const webUtils = { getPathForFile: (file: File) => `/dropped/${file.name}` };

describe('createStudioBridge', () => {
  it('invokes studio:<method> for every API method and returns its envelope', async () => {
    const { ipc, invoked } = standInIpc();
    const bridge = createStudioBridge(ipc, webUtils);
    for (const method of STUDIO_METHODS) {
      expect(await bridge.call(method, { probe: method })).toEqual({ ok: true, value: `answer of studio:${method}` });
    }
    expect(invoked).toEqual(STUDIO_METHODS.map((method) => ({ channel: `studio:${method}`, args: [{ probe: method }] })));
  });

  it('refuses names that are not API methods without touching IPC', async () => {
    const { ipc, invoked } = standInIpc();
    const bridge = createStudioBridge(ipc, webUtils);
    for (const name of ['on', 'constructor', '__proto__', 'event', '../dialog:openCheckpoint', 'dialog:openCheckpoint', '']) {
      const reply = await bridge.call(name, undefined);
      expect(reply, name).toEqual({ ok: false, error: expect.objectContaining({ code: 'InvalidRequest' }) });
    }
    expect(await bridge.call(42 as unknown as string, undefined)).toMatchObject({ ok: false });
    expect(invoked).toEqual([]);
  });

  it('turns a malformed reply into an error envelope', async () => {
    const { ipc } = standInIpc({ 'studio:appInfo': 'not an envelope' });
    expect(await createStudioBridge(ipc, webUtils).call('appInfo', undefined)).toMatchObject({ ok: false });
  });

  it('delivers studio:event messages as (event, payload) without the IPC event, until unsubscribed', () => {
    const { ipc, emit, listeners } = standInIpc();
    const bridge = createStudioBridge(ipc, webUtils);
    const received: unknown[][] = [];
    const unsubscribe = bridge.on((...args) => received.push(args));
    emit(STUDIO_EVENT_CHANNEL, { event: 'jobEnd', payload: { jobId: 'e', kind: 'export', outcome: 'done' } });
    emit(STUDIO_EVENT_CHANNEL, { event: 'menu', payload: { action: 'export' } });
    emit(STUDIO_EVENT_CHANNEL, 'garbage');
    emit('other-channel', { event: 'menu', payload: {} });
    expect(received).toEqual([
      ['jobEnd', { jobId: 'e', kind: 'export', outcome: 'done' }],
      ['menu', { action: 'export' }],
    ]);
    unsubscribe();
    emit(STUDIO_EVENT_CHANNEL, { event: 'menu', payload: { action: 'open' } });
    expect(received).toHaveLength(2);
    expect(listeners.get(STUDIO_EVENT_CHANNEL)?.size).toBe(0);
  });

  it('unwraps the dialog and shell replies and throws their errors with the code', async () => {
    const { ipc, invoked } = standInIpc({
      [DESKTOP_CHANNELS.openCheckpointDialog]: { ok: true, value: ['/models/a'] },
      [DESKTOP_CHANNELS.chooseExportFolder]: { ok: true, value: null },
      [DESKTOP_CHANNELS.chooseExportFile]: { ok: true, value: '/exports/solar.gguf' },
      [DESKTOP_CHANNELS.revealPath]: { ok: false, error: { code: 'NotFound', message: 'There is nothing at this path to show.' } },
    });
    const bridge = createStudioBridge(ipc, webUtils);
    expect(await bridge.openDialog()).toEqual(['/models/a']);
    expect(await bridge.chooseFolder()).toBeNull();
    expect(await bridge.chooseFile()).toBe('/exports/solar.gguf');
    await expect(bridge.reveal('/gone')).rejects.toThrow('NotFound: There is nothing at this path to show.');
    expect(invoked.map((call) => call.channel)).toEqual([
      DESKTOP_CHANNELS.openCheckpointDialog,
      DESKTOP_CHANNELS.chooseExportFolder,
      DESKTOP_CHANNELS.chooseExportFile,
      DESKTOP_CHANNELS.revealPath,
    ]);
    expect(invoked[3]?.args).toEqual(['/gone']);
  });

  it('gives the path of a dropped file through webUtils', () => {
    const bridge = createStudioBridge(standInIpc().ipc, webUtils);
    expect(bridge.getPathForFile(new File(['x'], 'model.safetensors'))).toBe('/dropped/model.safetensors');
  });
});
