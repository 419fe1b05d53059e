import path from 'node:path';
import type { IpcMainInvokeEvent } from 'electron';
import { afterEach, describe, expect, it } from 'vitest';
import { StudioError, type StudioErrorData } from '../../electron/api/errors.js';
import { STUDIO_METHODS, type StudioEnvelope, type StudioHost, type StudioMethod } from '../../electron/api/studio-api.js';
import type { StudioEventName, StudioEvents } from '../../electron/api/types.js';
import {
  FORWARDED_EVENTS,
  forwardStudioEvents,
  parseRevealPath,
  registerDesktopIpc,
  registerStudioIpc,
  type IpcRegistrar,
  type StudioEventMessage,
} from '../../electron/main/ipc-binder.js';
import { DESKTOP_CHANNELS } from '../../electron/main/ipc-channels.js';
import { APP_INDEX_URL, isTrustedFrame, type SenderFrame } from '../../electron/main/window-options.js';

type Handler = (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown;

/** ipcMain as a Map of handlers; `invoke` plays the renderer. */
class StandInIpcMain implements IpcRegistrar {
  readonly handlers = new Map<string, Handler>();

  handle(channel: string, listener: Handler): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }

  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }

  async invoke(channel: string, payload: unknown, frame: SenderFrame | null = appFrame): Promise<StudioEnvelope<unknown>> {
    const handler = this.handlers.get(channel);
    if (handler === undefined) throw new Error(`No handler registered for '${channel}'`);
    return (await handler({ senderFrame: frame } as unknown as IpcMainInvokeEvent, payload)) as StudioEnvelope<unknown>;
  }
}

const appFrame: SenderFrame = { url: APP_INDEX_URL, parent: null };

/** A StudioHost that records each call and answers with what it was given, so envelopes can be traced. */
function recordingHost(behaviour: Partial<Record<StudioMethod, (payload: unknown) => unknown>> = {}) {
  const calls: { method: StudioMethod; payload: unknown }[] = [];
  const listeners = new Map<StudioEventName, Set<(payload: unknown) => void>>();
  const host = {
    on(event: StudioEventName, listener: (payload: unknown) => void) {
      const set = listeners.get(event) ?? new Set();
      listeners.set(event, set);
      set.add(listener);
      return () => set.delete(listener);
    },
  } as Record<string, unknown>;
  for (const method of STUDIO_METHODS) {
    host[method] = async (payload: unknown) => {
      calls.push({ method, payload });
      const answer = behaviour[method];
      return answer === undefined ? { answeredBy: method } : answer(payload);
    };
  }
  function emit<E extends StudioEventName>(event: E, payload: StudioEvents[E]): void {
    for (const listener of listeners.get(event) ?? []) listener(payload);
  }
  return { host: host as unknown as StudioHost, calls, emit, listeners };
}

/** A valid payload for every method, so each one can travel through its channel. */
const model = '/models/base';
const plan = { slices: [{ model, start: 0, end: 2 }] };
const validPayloads: Record<StudioMethod, unknown> = {
  appInfo: undefined,
  openCheckpoint: { path: model },
  listCheckpoints: null,
  closeCheckpoint: { id: model },
  computeStats: { checkpointId: model, sampled: true },
  layerSimilarity: { checkpointA: model, checkpointB: '/models/other', kind: 'down', sampled: false },
  buildPlan: { recipe: { kind: 'dus', model, drop: 1 } },
  resolvePlan: { plan },
  planFromYaml: { text: 'slices: []\n', baseDir: '/models' },
  loadPlanFile: { path: '/models/plan.yml' },
  planToYaml: { plan },
  exportPlan: { exportId: 'export-1', plan, target: { dir: '/exports/out' } },
  cancelJob: { jobId: 'export-1' },
  verifyExport: { dir: '/exports/out' },
  evaluatePlan: { jobId: 'eval-1', plan, maxTokens: 64, device: 'cpu' },
  sweepSplices: { jobId: 'sweep-1', model, range: { kind: 'drop', from: 1, to: 2 } },
  browse: { dir: '/models' },
};

const options = { isTrustedSender: isTrustedFrame };
let unregister: (() => void) | null = null;
afterEach(() => {
  unregister?.();
  unregister = null;
});

describe('registerStudioIpc', () => {
  it('registers one studio:<method> handler per API method and nothing else', () => {
    const ipc = new StandInIpcMain();
    unregister = registerStudioIpc(ipc, recordingHost().host, options);
    expect([...ipc.handlers.keys()].sort()).toEqual(STUDIO_METHODS.map((method) => `studio:${method}`).sort());
  });

  it('passes every method its checked payload and answers with an ok envelope', async () => {
    const ipc = new StandInIpcMain();
    const { host, calls } = recordingHost();
    unregister = registerStudioIpc(ipc, host, options);
    for (const method of STUDIO_METHODS) {
      const reply = await ipc.invoke(`studio:${method}`, validPayloads[method]);
      expect(reply, method).toEqual({ ok: true, value: { answeredBy: method } });
    }
    expect(calls.map((call) => call.method)).toEqual([...STUDIO_METHODS]);
    // Methods without a payload receive undefined, also when the renderer sent null.
    expect(calls.find((call) => call.method === 'listCheckpoints')?.payload).toBeUndefined();
    expect(calls.find((call) => call.method === 'openCheckpoint')?.payload).toEqual({ path: model });
  });

  it('refuses a payload that fails its schema with InvalidRequest, without calling the API', async () => {
    const ipc = new StandInIpcMain();
    const { host, calls } = recordingHost();
    unregister = registerStudioIpc(ipc, host, options);
    const wrongType = await ipc.invoke('studio:openCheckpoint', { path: 42 });
    const extraField = await ipc.invoke('studio:closeCheckpoint', { id: model, smuggled: true });
    const missing = await ipc.invoke('studio:exportPlan', { exportId: 'x', plan });
    for (const reply of [wrongType, extraField, missing]) {
      expect(reply.ok).toBe(false);
      if (!reply.ok) expect(reply.error.code).toBe('InvalidRequest');
    }
    if (!wrongType.ok) expect(wrongType.error.message).toContain('openCheckpoint');
    expect(calls).toEqual([]);
  });

  it('refuses a sender that is not the app page with Forbidden, without calling the API', async () => {
    const ipc = new StandInIpcMain();
    const { host, calls } = recordingHost();
    unregister = registerStudioIpc(ipc, host, options);
    const strangers: (SenderFrame | null)[] = [
      { url: 'https://example.com/index.html', parent: null },
      { url: 'file:///tmp/index.html', parent: null },
      { url: APP_INDEX_URL, parent: appFrame },
      null,
    ];
    for (const frame of strangers) {
      const reply = await ipc.invoke('studio:openCheckpoint', { path: model }, frame);
      expect(reply).toEqual({ ok: false, error: expect.objectContaining({ code: 'Forbidden' }) });
    }
    expect(calls).toEqual([]);
  });

  it('returns a StudioError as its data, path included', async () => {
    const ipc = new StandInIpcMain();
    const { host } = recordingHost({
      openCheckpoint: () => {
        throw new StudioError('NotACheckpoint', 'This folder holds no safetensors files.', { path: model });
      },
    });
    unregister = registerStudioIpc(ipc, host, options);
    const reply = await ipc.invoke('studio:openCheckpoint', { path: model });
    const expected: StudioErrorData = { code: 'NotACheckpoint', message: 'This folder holds no safetensors files.', path: model };
    expect(reply).toEqual({ ok: false, error: expected });
  });

  it('turns any other failure into Internal with a please-report message and tells the log', async () => {
    const ipc = new StandInIpcMain();
    const logged: { error: unknown; channel: string }[] = [];
    const { host } = recordingHost({
      listCheckpoints: () => {
        throw new TypeError('summaries is not iterable');
      },
    });
    unregister = registerStudioIpc(ipc, host, { ...options, onInternalError: (error, channel) => logged.push({ error, channel }) });
    const reply = await ipc.invoke('studio:listCheckpoints', undefined);
    expect(reply.ok).toBe(false);
    if (!reply.ok) {
      expect(reply.error.code).toBe('Internal');
      expect(reply.error.message).toMatch(/summaries is not iterable/);
      expect(reply.error.message).toMatch(/please report/i);
    }
    expect(logged).toHaveLength(1);
    expect(logged[0]?.channel).toBe('studio:listCheckpoints');
  });

  it('removes every handler it registered when unregistered', () => {
    const ipc = new StandInIpcMain();
    ipc.handle('other:channel', () => undefined);
    const remove = registerStudioIpc(ipc, recordingHost().host, options);
    remove();
    expect([...ipc.handlers.keys()]).toEqual(['other:channel']);
  });

  it('opens the real demo checkpoint through the channel with the real engine', async () => {
    const { createStudioEngine } = await import('../../electron/engine/studio-engine.js');
    const demoPath = path.resolve(import.meta.dirname, '../../build/demo/stories260K');
    const ipc = new StandInIpcMain();
    unregister = registerStudioIpc(ipc, createStudioEngine({ host: 'electron', demoPath }), options);
    const info = await ipc.invoke('studio:appInfo', undefined);
    expect(info).toEqual({ ok: true, value: expect.objectContaining({ host: 'electron', demoPath }) });
    const opened = await ipc.invoke('studio:openCheckpoint', { path: demoPath });
    expect(opened.ok).toBe(true);
    if (opened.ok) {
      const summary = opened.value as { numLayers: number; tensors: unknown[] };
      expect(summary.numLayers).toBeGreaterThan(0);
      expect(summary.tensors.length).toBeGreaterThan(0);
    }
    const missing = await ipc.invoke('studio:openCheckpoint', { path: path.join(demoPath, 'no-such-model') });
    expect(missing.ok).toBe(false);
  });
});

describe('registerDesktopIpc', () => {
  function desktopActions() {
    const revealed: string[] = [];
    return {
      revealed,
      actions: {
        openCheckpointDialog: async () => ['/models/a', '/models/b'],
        chooseExportFolder: async () => '/exports',
        chooseExportFile: async () => '/exports/solar.gguf',
        revealPath: async (target: string) => {
          revealed.push(target);
        },
      },
    };
  }

  it('answers the dialog and shell channels with envelopes', async () => {
    const ipc = new StandInIpcMain();
    const { actions, revealed } = desktopActions();
    unregister = registerDesktopIpc(ipc, actions, options);
    expect(await ipc.invoke(DESKTOP_CHANNELS.openCheckpointDialog, undefined)).toEqual({ ok: true, value: ['/models/a', '/models/b'] });
    expect(await ipc.invoke(DESKTOP_CHANNELS.chooseExportFolder, undefined)).toEqual({ ok: true, value: '/exports' });
    expect(await ipc.invoke(DESKTOP_CHANNELS.chooseExportFile, undefined)).toEqual({ ok: true, value: '/exports/solar.gguf' });
    expect(await ipc.invoke(DESKTOP_CHANNELS.chooseExportFile, { path: '/x' })).toEqual({ ok: false, error: expect.objectContaining({ code: 'InvalidRequest' }) });
    expect(await ipc.invoke(DESKTOP_CHANNELS.revealPath, '/exports/out')).toEqual({ ok: true, value: undefined });
    expect(revealed).toEqual(['/exports/out']);
  });

  it('refuses a relative or non-string path to reveal', async () => {
    const ipc = new StandInIpcMain();
    const { actions, revealed } = desktopActions();
    unregister = registerDesktopIpc(ipc, actions, options);
    for (const payload of ['exports/out', '', 42, { path: '/x' }]) {
      const reply = await ipc.invoke(DESKTOP_CHANNELS.revealPath, payload);
      expect(reply).toEqual({ ok: false, error: expect.objectContaining({ code: 'InvalidRequest' }) });
    }
    expect(revealed).toEqual([]);
  });

  it('refuses dialogs to a sender that is not the app page', async () => {
    const ipc = new StandInIpcMain();
    unregister = registerDesktopIpc(ipc, desktopActions().actions, options);
    const reply = await ipc.invoke(DESKTOP_CHANNELS.openCheckpointDialog, undefined, { url: 'https://example.com/', parent: null });
    expect(reply).toEqual({ ok: false, error: expect.objectContaining({ code: 'Forbidden' }) });
  });

  it('removes its handlers when unregistered', () => {
    const ipc = new StandInIpcMain();
    registerDesktopIpc(ipc, desktopActions().actions, options)();
    expect(ipc.handlers.size).toBe(0);
  });
});

describe('parseRevealPath', () => {
  it('accepts POSIX and Windows absolute paths', () => {
    expect(parseRevealPath('/home/me/model')).toBe('/home/me/model');
    expect(parseRevealPath('C:\\Users\\me\\model')).toBe('C:\\Users\\me\\model');
  });
});

describe('forwardStudioEvents', () => {
  it('forwards every engine event as { event, payload } until stopped', () => {
    const { host, emit, listeners } = recordingHost();
    const sent: StudioEventMessage[] = [];
    const stop = forwardStudioEvents(host, (message) => sent.push(message));
    const progress: StudioEvents['jobProgress'] = {
      jobId: 's',
      kind: 'stats',
      progress: { checkpointId: model, done: 1, total: 3, layer: 0, tensors: [], sampled: true },
    };
    const end: StudioEvents['jobEnd'] = { jobId: 's', kind: 'stats', outcome: 'done' };
    emit('jobProgress', progress);
    emit('jobEnd', end);
    expect(sent).toEqual([
      { event: 'jobProgress', payload: progress },
      { event: 'jobEnd', payload: end },
    ]);
    expect([...listeners.keys()].sort()).toEqual([...FORWARDED_EVENTS].sort());
    stop();
    emit('jobProgress', progress);
    expect(sent).toHaveLength(2);
    for (const set of listeners.values()) expect(set.size).toBe(0);
  });
});
