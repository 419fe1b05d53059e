import { describe, expect, it, vi } from 'vitest';
import { StudioError } from '../../../electron/api/errors.js';
import type { StudioEnvelope } from '../../../electron/api/studio-api.js';
import {
  bridgeTransport,
  createStudioHost,
  describeError,
  httpTransport,
  takeSessionToken,
  type DusStudioBridge,
} from '../../../renderer/lib/studio-client.js';

/** An EventSource stand-in that the test drives by hand. */
class ScriptedEventSource {
  static last: ScriptedEventSource | null = null;
  readonly url: string;
  closed = false;
  #listeners = new Map<string, ((message: MessageEvent<string>) => void)[]>();
  constructor(url: string) {
    this.url = url;
    ScriptedEventSource.last = this;
  }
  addEventListener(name: string, listener: (message: MessageEvent<string>) => void): void {
    this.#listeners.set(name, [...(this.#listeners.get(name) ?? []), listener]);
  }
  close(): void {
    this.closed = true;
  }
  deliver(name: string, data: string): void {
    for (const listener of this.#listeners.get(name) ?? []) listener(new MessageEvent(name, { data }));
  }
}

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

function httpHost(fetcher: typeof fetch, token: string | null = 'secret') {
  return createStudioHost(
    httpTransport({ fetch: fetcher, createEventSource: (url) => new ScriptedEventSource(url) as unknown as EventSource, token, sessionId: 'page-1234' }),
  );
}

describe('studio client over HTTP (serve mode)', () => {
  it('posts each call as JSON with the session token and returns the envelope value', async () => {
    const fetcher = vi.fn(async () => jsonResponse(200, { ok: true, value: { text: 'slices: []\n' } }));
    const host = httpHost(fetcher as unknown as typeof fetch);
    const plan = { slices: [{ model: '/m', start: 0, end: 2 }] };
    await expect(host.planToYaml({ plan })).resolves.toEqual({ text: 'slices: []\n' });
    const [url, init] = fetcher.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/call/planToYaml');
    expect(init.method).toBe('POST');
    expect(init.headers).toEqual({ 'Content-Type': 'application/json', 'X-DUS-Session': 'page-1234', 'X-DUS-Token': 'secret' });
    expect(JSON.parse(init.body as string)).toEqual({ plan });
  });

  it('sends null as the body of a method without payload', async () => {
    const fetcher = vi.fn(async () => jsonResponse(200, { ok: true, value: [] }));
    await httpHost(fetcher as unknown as typeof fetch).listCheckpoints();
    expect((fetcher.mock.calls[0] as unknown as [string, RequestInit])[1].body).toBe('null');
  });

  it('throws the envelope error as a StudioError with its code and path, also for HTTP 401', async () => {
    const failing = vi.fn(async () => jsonResponse(200, { ok: false, error: { code: 'NotFound', message: 'No model here.', path: '/nowhere' } }));
    const error = await httpHost(failing as unknown as typeof fetch).openCheckpoint({ path: '/nowhere' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StudioError);
    expect(error).toMatchObject({ code: 'NotFound', path: '/nowhere', message: 'No model here.' });
    expect(describeError(error)).toBe('/nowhere: No model here.');

    const unauthorized = vi.fn(async () => jsonResponse(401, { ok: false, error: { code: 'Unauthorized', message: 'Missing or wrong session token.' } }));
    await expect(httpHost(unauthorized as unknown as typeof fetch, null).appInfo()).rejects.toMatchObject({ code: 'Unauthorized' });
  });

  it('explains a server that does not answer', async () => {
    const down = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(httpHost(down as unknown as typeof fetch).appInfo()).rejects.toThrow(/does not answer/);
  });

  it('streams events from one EventSource with the session and token in the query, and closes it after the last listener', async () => {
    const host = httpHost((async () => jsonResponse(200, { ok: true, value: null })) as unknown as typeof fetch, 'a b');
    const stats: unknown[] = [];
    const exports: unknown[] = [];
    const offStats = host.on('jobProgress', (payload) => stats.push(payload));
    const offExport = host.on('jobEnd', (payload) => exports.push(payload));
    const source = ScriptedEventSource.last!;
    expect(source.url).toBe('/api/events?session=page-1234&token=a+b');
    const progress = { jobId: 's', kind: 'stats', progress: { checkpointId: '/m', done: 1, total: 6, layer: 0, tensors: [], sampled: false } };
    source.deliver('jobProgress', JSON.stringify(progress));
    source.deliver('jobEnd', JSON.stringify({ jobId: 's', kind: 'stats', outcome: 'done' }));
    expect(stats).toEqual([progress]);
    expect(exports).toHaveLength(1);
    offStats();
    expect(source.closed).toBe(false);
    offExport();
    expect(source.closed).toBe(true);
  });
});

describe('studio client over the Electron bridge', () => {
  it('calls through the preload bridge and rethrows errors with their code', async () => {
    const calls: [string, unknown][] = [];
    const bridge: DusStudioBridge = {
      async call(method, payload): Promise<StudioEnvelope<unknown>> {
        calls.push([method, payload]);
        if (method === 'browse') return { ok: false, error: { code: 'OutsideRoots', message: 'Not allowed.', path: '/etc' } };
        return { ok: true, value: { version: '1', host: 'electron', demoPath: '/demo', roots: [] } };
      },
      on: () => () => {},
      getPathForFile: () => '/dropped',
    };
    const host = createStudioHost(bridgeTransport(bridge));
    await expect(host.appInfo()).resolves.toMatchObject({ host: 'electron' });
    await expect(host.browse({ dir: '/etc' })).rejects.toMatchObject({ code: 'OutsideRoots', path: '/etc' });
    expect(calls).toEqual([
      ['appInfo', null],
      ['browse', { dir: '/etc' }],
    ]);
  });

  it('passes only the subscribed event to a listener', () => {
    let relay: ((event: string, payload: unknown) => void) | null = null;
    const bridge: DusStudioBridge = {
      call: async () => ({ ok: true, value: null }),
      on(listener) {
        relay = listener;
        return () => (relay = null);
      },
      getPathForFile: () => '',
    };
    const host = createStudioHost(bridgeTransport(bridge));
    const menus: unknown[] = [];
    const off = host.on('menu', (command) => menus.push(command));
    relay!('jobEnd', { jobId: 'x', kind: 'stats', outcome: 'done' });
    relay!('menu', { action: 'open', path: '/models/a' });
    expect(menus).toEqual([{ action: 'open', path: '/models/a' }]);
    off();
    expect(relay).toBeNull();
  });
});

describe('takeSessionToken', () => {
  it('takes the token from the address bar, keeps it for the tab and removes it from the URL', () => {
    const replaced: string[] = [];
    const history = { state: null, replaceState: (_state: unknown, _title: string, url: string) => replaced.push(url) } as unknown as History;
    const storage = new Map<string, string>();
    const store = { setItem: (key: string, value: string) => storage.set(key, value), getItem: (key: string) => storage.get(key) ?? null } as unknown as Storage;
    const token = takeSessionToken({ href: 'http://127.0.0.1:7860/?token=abc123&view=1#top' } as Location, history, store);
    expect(token).toBe('abc123');
    expect(replaced).toEqual(['/?view=1#top']);
    expect(takeSessionToken({ href: 'http://127.0.0.1:7860/?view=1' } as Location, history, store)).toBe('abc123');
    expect(replaced).toHaveLength(1);
  });
});

describe('describeError', () => {
  it('prefixes the path of a StudioError whose message does not name it', () => {
    expect(describeError(new StudioError('NotFound', 'no such file', { path: '/m/a/config.json' }))).toBe('/m/a/config.json: no such file');
  });

  it('does not repeat a path the message already names', () => {
    const message = 'tokenizer_source /m/tokenizer-130 has 130 tokens but model.embed_tokens.weight of base has 128 rows';
    expect(describeError(new StudioError('InvalidPlan', message, { path: '/m/tokenizer-130' }))).toBe(message);
  });

  it('gives the message of other errors and the text of other values', () => {
    expect(describeError(new StudioError('InvalidPlan', 'the plan has no slices'))).toBe('the plan has no slices');
    expect(describeError(new Error('boom'))).toBe('boom');
    expect(describeError(42)).toBe('42');
  });
});
