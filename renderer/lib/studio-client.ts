import { StudioError } from '../../electron/api/errors.js';
import {
  ENGINE_EVENT_NAMES,
  type StudioApi,
  type StudioEnvelope,
  type StudioHost,
  type StudioMethod,
  type StudioPayload,
  type StudioResult,
} from '../../electron/api/studio-api.js';
import type { StudioEventName, StudioEvents } from '../../electron/api/types.js';

/**
 * The renderer's one way to the engine. Under Electron it calls the preload bridge
 * (`window.dusStudio`); in serve mode it speaks HTTP to the local server: `POST /api/call/<method>`
 * with the session token, and Server-Sent Events on `/api/events` for progress.
 * Components use `studio` (or a host handed to them in tests) and never fetch anything themselves.
 */

/** What the Electron preload exposes through contextBridge. */
export interface DusStudioBridge {
  call(method: string, payload: unknown): Promise<StudioEnvelope<unknown>>;
  on(listener: (event: string, payload: unknown) => void): () => void;
  getPathForFile(file: File): string;
  /** Native Open dialog: the chosen paths, [] when cancelled. */
  openDialog?(): Promise<string[]>;
  /** Native folder chooser for an export target, null when cancelled. */
  chooseFolder?(): Promise<string | null>;
  /** Native save dialog for a GGUF export target (NAME.gguf), null when cancelled. */
  chooseFile?(): Promise<string | null>;
  /** Shows a path in the system file manager. */
  reveal?(path: string): Promise<void>;
}

/** What only the desktop app can do: native dialogs and the file manager. */
export interface DesktopActions {
  openDialog(): Promise<string[]>;
  chooseFolder(): Promise<string | null>;
  chooseFile(): Promise<string | null>;
  reveal(path: string): Promise<void>;
}

declare global {
  interface Window {
    dusStudio?: DusStudioBridge;
  }
}

/** Transport: one call and one event subscription; the host object is built on top of it. */
interface Transport {
  call(method: StudioMethod, payload: unknown): Promise<unknown>;
  subscribe(listener: (event: string, payload: unknown) => void): () => void;
}

const TOKEN_KEY = 'dus-studio-token';

/**
 * This page's session id for the serve mode: sent on every call and on the event stream, so the
 * server cancels the jobs this page started once its event stream is gone (the tab was closed).
 */
function newSessionId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function unwrap(envelope: unknown, method: string): unknown {
  if (typeof envelope === 'object' && envelope !== null && 'ok' in envelope) {
    const result = envelope as StudioEnvelope<unknown>;
    if (result.ok) return result.value;
    throw StudioError.fromData(result.error);
  }
  throw new StudioError('Internal', `The app answered "${method}" with something that is not a result; please report this.`);
}

/** The Electron transport: the preload bridge, which already returns envelopes. */
export function bridgeTransport(bridge: DusStudioBridge): Transport {
  return {
    async call(method, payload) {
      return unwrap(await bridge.call(method, payload), method);
    },
    subscribe(listener) {
      return bridge.on(listener);
    },
  };
}

export interface HttpEnvironment {
  fetch: typeof fetch;
  createEventSource: (url: string) => EventSource;
  /** Session token for `X-DUS-Token`; null when the page was opened without one. */
  token: string | null;
  /** URL prefix of the server, '' for the page's own origin. */
  baseUrl?: string;
  /** This page's session id; default a fresh random one. */
  sessionId?: string;
}

/** The serve-mode transport: JSON envelopes over HTTP, events over one shared EventSource. */
export function httpTransport(environment: HttpEnvironment): Transport {
  const base = environment.baseUrl ?? '';
  const sessionId = environment.sessionId ?? newSessionId();
  const listeners = new Set<(event: string, payload: unknown) => void>();
  let source: EventSource | null = null;

  function openEvents(): void {
    const query = new URLSearchParams({ session: sessionId });
    if (environment.token !== null) query.set('token', environment.token);
    source = environment.createEventSource(`${base}/api/events?${query.toString()}`);
    // `menu` comes only from the desktop app's main process, never from the server.
    for (const name of ENGINE_EVENT_NAMES) {
      source.addEventListener(name, (message) => {
        const data = (message as MessageEvent<string>).data;
        let payload: unknown;
        try {
          payload = JSON.parse(data);
        } catch {
          return;
        }
        for (const listener of [...listeners]) listener(name, payload);
      });
    }
  }

  return {
    async call(method, payload) {
      const headers: Record<string, string> = { 'Content-Type': 'application/json', 'X-DUS-Session': sessionId };
      if (environment.token !== null) headers['X-DUS-Token'] = environment.token;
      let response: Response;
      try {
        response = await environment.fetch(`${base}/api/call/${method}`, {
          method: 'POST',
          headers,
          body: JSON.stringify(payload ?? null),
        });
      } catch (error) {
        throw new StudioError('Internal', 'The DUS Studio server does not answer. Is `dus-studio serve` still running?', {
          cause: error,
        });
      }
      let envelope: unknown;
      try {
        envelope = await response.json();
      } catch {
        throw new StudioError(
          response.status === 401 ? 'Unauthorized' : 'Internal',
          `The server answered "${method}" with HTTP ${response.status} and no result.`,
        );
      }
      return unwrap(envelope, method);
    },
    subscribe(listener) {
      listeners.add(listener);
      if (source === null) openEvents();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && source !== null) {
          source.close();
          source = null;
        }
      };
    },
  };
}

/** Builds the StudioHost over a transport: one function per API method, plus `on`. */
export function createStudioHost(transport: Transport): StudioHost {
  function call<M extends StudioMethod>(method: M) {
    return (payload: StudioPayload<M>) => transport.call(method, payload) as Promise<StudioResult<M>>;
  }
  const api: StudioApi = {
    appInfo: () => transport.call('appInfo', null) as Promise<StudioResult<'appInfo'>>,
    openCheckpoint: call('openCheckpoint'),
    listCheckpoints: () => transport.call('listCheckpoints', null) as Promise<StudioResult<'listCheckpoints'>>,
    closeCheckpoint: call('closeCheckpoint'),
    computeStats: call('computeStats'),
    layerSimilarity: call('layerSimilarity'),
    buildPlan: call('buildPlan'),
    resolvePlan: call('resolvePlan'),
    planFromYaml: call('planFromYaml'),
    loadPlanFile: call('loadPlanFile'),
    planToYaml: call('planToYaml'),
    exportPlan: call('exportPlan'),
    cancelJob: call('cancelJob'),
    verifyExport: call('verifyExport'),
    evaluatePlan: call('evaluatePlan'),
    sweepSplices: call('sweepSplices'),
    browse: call('browse'),
  };
  return {
    ...api,
    on<E extends StudioEventName>(event: E, listener: (payload: StudioEvents[E]) => void): () => void {
      return transport.subscribe((name, payload) => {
        if (name === event) listener(payload as StudioEvents[E]);
      });
    },
  };
}

/**
 * Reads the serve-mode token: from `?token=` on first load (then kept in sessionStorage and removed
 * from the address bar, so it is neither bookmarked nor shown), else from sessionStorage.
 */
export function takeSessionToken(location: Location, history: History, storage: Storage | null): string | null {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    try {
      storage?.setItem(TOKEN_KEY, fromUrl);
    } catch {
      // Storage may be disabled; the token then lives only in this page.
    }
    url.searchParams.delete('token');
    history.replaceState(history.state, '', url.pathname + url.search + url.hash);
    return fromUrl;
  }
  try {
    return storage?.getItem(TOKEN_KEY) ?? null;
  } catch {
    return null;
  }
}

function sessionStorageOrNull(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

/** 'electron' when the preload bridge is present, else 'browser' (serve mode). */
export function hostKind(): 'electron' | 'browser' {
  return typeof window !== 'undefined' && window.dusStudio !== undefined ? 'electron' : 'browser';
}

/**
 * The absolute path of a file dropped on the window (Electron only). In a browser a dropped file has
 * no server path, so this returns null and the UI offers the server file browser instead.
 */
export function pathForDroppedFile(file: File): string | null {
  if (hostKind() !== 'electron') return null;
  const path = window.dusStudio!.getPathForFile(file);
  return path === '' ? null : path;
}

/** The desktop app's native dialogs and file manager, or null in a browser (or an older preload). */
export function desktopActions(): DesktopActions | null {
  if (hostKind() !== 'electron') return null;
  const bridge = window.dusStudio!;
  const { openDialog, chooseFolder, chooseFile, reveal } = bridge;
  if (!openDialog || !chooseFolder || !chooseFile || !reveal) return null;
  return {
    openDialog: () => openDialog.call(bridge),
    chooseFolder: () => chooseFolder.call(bridge),
    chooseFile: () => chooseFile.call(bridge),
    reveal: (path) => reveal.call(bridge, path),
  };
}

function createDefaultHost(): StudioHost {
  if (typeof window !== 'undefined' && window.dusStudio !== undefined) {
    return createStudioHost(bridgeTransport(window.dusStudio));
  }
  let transport: Transport | null = null;
  // Built on first use, so importing this module (in tests, or before the page settles) has no effect.
  const lazy: Transport = {
    call: (method, payload) => resolveTransport().call(method, payload),
    subscribe: (listener) => resolveTransport().subscribe(listener),
  };
  function resolveTransport(): Transport {
    transport ??= httpTransport({
      fetch: (input, init) => fetch(input, init),
      createEventSource: (url) => new EventSource(url),
      token: takeSessionToken(window.location, window.history, sessionStorageOrNull()),
    });
    return transport;
  }
  return createStudioHost(lazy);
}

/** The API as this window reaches it: preload bridge under Electron, HTTP in serve mode. */
export const studio: StudioHost = createDefaultHost();

/** Reads the token now (call once at start-up) so it leaves the address bar before anything else runs. */
export function claimTokenFromAddressBar(): void {
  if (hostKind() === 'browser') takeSessionToken(window.location, window.history, sessionStorageOrNull());
}

/** A thrown value as a sentence for the UI: "path: message" for StudioErrors that name a file. */
export function describeError(error: unknown): string {
  // A message that already names its path ("tokenizer_source /m/tok has 130 tokens…") is not prefixed with it again.
  if (error instanceof StudioError) return error.path && !error.message.includes(error.path) ? `${error.path}: ${error.message}` : error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
