import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StudioError } from '../../electron/api/errors.js';
import { STUDIO_METHODS } from '../../electron/api/studio-api.js';
import { CONTENT_SECURITY_POLICY, createHttpHandler, tokenMatches, type HttpHandlerOptions } from '../../electron/serve/http-binder.js';
import { createFakeHost, type FakeHost } from './fake-host.js';
import { callApi, httpRequest, openEventStream, type EventStream } from './http-client.js';
import { validPayloads } from './sample-payloads.js';

const token = 'test-token-0123456789abcdefghijklmnopqrstuv';

interface TestServer {
  port: number;
  host: FakeHost;
  internalErrors: unknown[];
  close(): Promise<void>;
}

async function startTestServer(staticDir: string, options: Partial<HttpHandlerOptions> = {}): Promise<TestServer> {
  const host = createFakeHost();
  const internalErrors: unknown[] = [];
  let handler: ReturnType<typeof createHttpHandler> | null = null;
  const server = http.createServer((req, res) => handler?.(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  handler = createHttpHandler({
    api: host,
    token,
    allowedHosts: [`127.0.0.1:${port}`, `localhost:${port}`],
    staticDir,
    onInternalError: (error) => internalErrors.push(error),
    ...options,
  });
  return {
    port,
    host,
    internalErrors,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

let tempDir: string;
let staticDir: string;

beforeAll(async () => {
  tempDir = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
  staticDir = path.join(tempDir, 'renderer');
  await mkdir(path.join(staticDir, 'assets'), { recursive: true });
  await writeFile(path.join(staticDir, 'index.html'), '<!doctype html><title>DUS Studio</title>');
  await writeFile(path.join(staticDir, 'assets', 'app.js'), 'console.log("app");');
  await writeFile(path.join(staticDir, 'assets', 'app.css'), 'body { margin: 0 }');
  await writeFile(path.join(staticDir, 'assets', 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  await writeFile(path.join(staticDir, 'assets', 'data.bin'), Buffer.from([1, 2, 3]));
  await writeFile(path.join(tempDir, 'secret.txt'), 'secret');
  await symlink(tempDir, path.join(staticDir, 'escape'));
});

afterAll(async () => {
  await rm(tempDir, { recursive: true, force: true });
});

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer(staticDir);
});
afterEach(async () => {
  await server.close();
});

describe('API calls', () => {
  it('round-trips every API method through the fake host', async () => {
    const payloads = validPayloads();
    for (const method of STUDIO_METHODS) {
      const answer = await callApi(server.port, token, method, payloads[method]);
      expect(answer.status, method).toBe(200);
      expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
      const expected = await (server.host[method] as (payload: unknown) => Promise<unknown>)(payloads[method]);
      expect(answer.json, method).toEqual({ ok: true, value: expected ?? null });
    }
    const called = server.host.calls.map((call) => call.method);
    for (const method of STUDIO_METHODS) expect(called.filter((name) => name === method)).toHaveLength(2);
    const exportCall = server.host.calls.find((call) => call.method === 'exportPlan');
    expect(exportCall?.payload).toEqual(payloads.exportPlan);
  });

  it('accepts an empty body for a method without a payload', async () => {
    const answer = await httpRequest(server.port, { method: 'POST', path: '/api/call/appInfo', headers: { 'X-DUS-Token': token } });
    expect(JSON.parse(answer.body)).toMatchObject({ ok: true, value: { host: 'serve' } });
  });

  it('returns a StudioError as an error envelope with its code, message and path', async () => {
    server.host.fail('openCheckpoint', new StudioError('NotACheckpoint', 'No safetensors files here.', { path: '/models/empty', detail: { files: 0 } }));
    const answer = await callApi(server.port, token, 'openCheckpoint', { path: '/models/empty' });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      ok: false,
      error: { code: 'NotACheckpoint', message: 'No safetensors files here.', path: '/models/empty', detail: { files: 0 } },
    });
  });

  it('reports an unexpected error as Internal, asks for a report and sends no stack', async () => {
    server.host.fail('listCheckpoints', new TypeError('cannot read properties of undefined'));
    const answer = await callApi(server.port, token, 'listCheckpoints', null);
    const envelope = answer.json as { ok: boolean; error: { code: string; message: string } };
    expect(envelope.ok).toBe(false);
    expect(envelope.error.code).toBe('Internal');
    expect(envelope.error.message).toMatch(/please report/i);
    expect(answer.body).not.toMatch(/at .*\.ts:\d+/);
    expect(answer.body).not.toContain('stack');
    expect(server.internalErrors).toHaveLength(1);
  });

  it('refuses an invalid payload without calling the host', async () => {
    const answer = await callApi(server.port, token, 'exportPlan', { exportId: '../x', plan: { slices: [] }, target: { dir: '/out' } });
    expect(answer.json).toMatchObject({ ok: false, error: { code: 'InvalidRequest' } });
    expect((answer.json as { error: { message: string } }).error.message).toContain('exportId');
    expect(server.host.calls).toHaveLength(0);
  });

  it('answers 400 to a body that is not JSON', async () => {
    const answer = await httpRequest(server.port, { method: 'POST', path: '/api/call/openCheckpoint', headers: { 'X-DUS-Token': token }, body: '{path:' });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ ok: false, error: { code: 'InvalidRequest' } });
  });

  it('answers 404 with an envelope for an unknown method, and never reaches non-API members', async () => {
    for (const name of ['nope', 'on', 'constructor', '__proto__', 'toString']) {
      const answer = await callApi(server.port, token, name, null);
      expect(answer.status, name).toBe(404);
      expect(answer.json).toMatchObject({ ok: false, error: { code: 'InvalidRequest' } });
    }
    expect(server.host.calls).toHaveLength(0);
  });

  it('answers 405 to the wrong verb', async () => {
    const get = await httpRequest(server.port, { method: 'GET', path: '/api/call/appInfo', headers: { 'X-DUS-Token': token } });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    const post = await httpRequest(server.port, { method: 'POST', path: '/api/events', headers: { 'X-DUS-Token': token } });
    expect(post.status).toBe(405);
  });
});

describe('security', () => {
  it('compares tokens without accepting near misses', () => {
    expect(tokenMatches(token, token)).toBe(true);
    expect(tokenMatches(token, `${token}x`)).toBe(false);
    expect(tokenMatches(token, token.slice(0, -1))).toBe(false);
    expect(tokenMatches(token, '')).toBe(false);
    expect(tokenMatches(token, undefined)).toBe(false);
  });

  it('answers 401 on every API route without a token or with a wrong one', async () => {
    for (const given of [null, 'wrong', `${token}x`, token.toUpperCase()]) {
      for (const method of STUDIO_METHODS) {
        const answer = await callApi(server.port, given, method, validPayloads()[method]);
        expect(answer.status, `${method} with ${given}`).toBe(401);
        expect(answer.json).toMatchObject({ ok: false, error: { code: 'Unauthorized' } });
      }
      const unknown = await callApi(server.port, given, 'nope', null);
      expect(unknown.status).toBe(401);
      const query = given === null ? '' : `?token=${given}`;
      const events = await httpRequest(server.port, { path: `/api/events${query}` });
      expect(events.status).toBe(401);
    }
    expect(server.host.calls).toHaveLength(0);
    expect(server.host.listenerCount()).toBe(0);
  });

  it('does not accept the token in the query string of an API call', async () => {
    const answer = await httpRequest(server.port, { method: 'POST', path: `/api/call/appInfo?token=${token}`, body: 'null' });
    expect(answer.status).toBe(401);
  });

  it('answers 403 to a Host header that is not allowed (DNS rebinding)', async () => {
    for (const hostHeader of ['evil.example:80', `evil.example:${server.port}`, `127.0.0.1:${server.port + 1}`, '127.0.0.1']) {
      const api = await httpRequest(server.port, { method: 'POST', path: '/api/call/appInfo', headers: { Host: hostHeader, 'X-DUS-Token': token }, body: 'null' });
      expect(api.status, hostHeader).toBe(403);
      const page = await httpRequest(server.port, { path: '/', headers: { Host: hostHeader } });
      expect(page.status, hostHeader).toBe(403);
      expect(page.body).not.toContain('DUS Studio');
    }
    const allowed = await httpRequest(server.port, { path: '/', headers: { Host: `LOCALHOST:${server.port}` } });
    expect(allowed.status).toBe(200);
    expect(server.host.calls).toHaveLength(0);
  });

  it('answers 403 to a cross-origin request and accepts its own origin', async () => {
    for (const origin of ['http://evil.example', `http://evil.example:${server.port}`, `https://127.0.0.1:${server.port}`, 'null']) {
      const answer = await httpRequest(server.port, {
        method: 'POST',
        path: '/api/call/appInfo',
        headers: { Origin: origin, 'X-DUS-Token': token },
        body: 'null',
      });
      expect(answer.status, origin).toBe(403);
    }
    expect(server.host.calls).toHaveLength(0);
    const same = await httpRequest(server.port, {
      method: 'POST',
      path: '/api/call/appInfo',
      headers: { Origin: `http://127.0.0.1:${server.port}`, 'X-DUS-Token': token },
      body: 'null',
    });
    expect(same.status).toBe(200);
  });

  it('never sends CORS headers, and answers a preflight with 405', async () => {
    const preflight = await httpRequest(server.port, {
      method: 'OPTIONS',
      path: '/api/call/openCheckpoint',
      headers: { Origin: `http://127.0.0.1:${server.port}`, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-dus-token' },
    });
    expect(preflight.status).toBe(405);
    const answers = [
      preflight,
      await httpRequest(server.port, { method: 'OPTIONS', path: '/' }),
      await callApi(server.port, token, 'appInfo', null),
      await callApi(server.port, null, 'appInfo', null),
      await httpRequest(server.port, { path: '/' }),
    ];
    for (const answer of answers) {
      expect(Object.keys(answer.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
    }
  });

  it('answers 413 to a declared body over the limit before it is sent', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: server.port,
          method: 'POST',
          path: '/api/call/planFromYaml',
          headers: { Host: `127.0.0.1:${server.port}`, 'X-DUS-Token': token, 'Content-Length': String(3 * 1024 * 1024) },
          agent: false,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        },
      );
      req.on('error', reject);
      // Only the first 64 KiB are ever sent: the answer must come without the rest.
      req.write(Buffer.alloc(64 * 1024, 0x20));
    });
    expect(status).toBe(413);
    expect(server.host.calls).toHaveLength(0);
  }, 10_000);

  it('answers 413 to a streamed body once it passes the limit', async () => {
    await server.close();
    server = await startTestServer(staticDir, { maxBodyBytes: 1024 });
    const result = await new Promise<{ status: number; body: string; sent: number }>((resolve, reject) => {
      let sent = 0;
      const req = http.request(
        {
          host: '127.0.0.1',
          port: server.port,
          method: 'POST',
          path: '/api/call/planFromYaml',
          headers: { Host: `127.0.0.1:${server.port}`, 'X-DUS-Token': token, 'Transfer-Encoding': 'chunked' },
          agent: false,
        },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, sent }));
        },
      );
      req.on('error', () => undefined);
      const pump = (): void => {
        if (req.destroyed || sent > 1024 * 1024) return;
        req.write(Buffer.alloc(512, 0x20));
        sent += 512;
        setTimeout(pump, 1);
      };
      req.on('error', reject);
      pump();
    });
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body)).toMatchObject({ ok: false, error: { code: 'InvalidRequest' } });
    expect(result.sent).toBeLessThan(1024 * 1024);
    expect(server.host.calls).toHaveLength(0);
  }, 10_000);

  it('accepts a body just under the limit', async () => {
    await server.close();
    server = await startTestServer(staticDir, { maxBodyBytes: 1024 });
    const text = 'x'.repeat(900);
    const answer = await callApi(server.port, token, 'planFromYaml', { text });
    expect(answer.status).toBe(200);
    expect(server.host.callsOf('planFromYaml')).toEqual([{ text }]);
  });
});

describe('event stream', () => {
  it('forwards every host event as a named server-sent event', async () => {
    const stream = await openEventStream(server.port, `/api/events?token=${token}`);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    await stream.waitFor(': connected');
    const progress = {
      jobId: 'e1',
      kind: 'export' as const,
      progress: { exportId: 'e1', phase: 'copying' as const, doneBytes: 10, totalBytes: 100, file: 'model.safetensors' },
    };
    const stats = { jobId: 'e1', kind: 'export' as const, outcome: 'done' as const };
    server.host.emit('jobProgress', progress);
    server.host.emit('jobEnd', stats);
    const events = await stream.events(2);
    expect(events.map((event) => event.event)).toEqual(['jobProgress', 'jobEnd']);
    expect(JSON.parse(events[0]?.data ?? '')).toEqual(progress);
    expect(JSON.parse(events[1]?.data ?? '')).toEqual(stats);
    stream.close();
  });

  it('accepts the token as a header too', async () => {
    const stream = await openEventStream(server.port, '/api/events', { 'X-DUS-Token': token });
    expect(stream.status).toBe(200);
    stream.close();
  });

  it('sends keep-alive comments', async () => {
    await server.close();
    server = await startTestServer(staticDir, { keepAliveMs: 20 });
    const stream = await openEventStream(server.port, `/api/events?token=${token}`);
    await stream.waitFor(': keep-alive\n\n');
    stream.close();
  });

  it('removes its listeners when the client goes away', async () => {
    const stream = await openEventStream(server.port, `/api/events?token=${token}`);
    await stream.waitFor(': connected');
    expect(server.host.listenerCount('jobProgress')).toBe(1);
    expect(server.host.listenerCount('jobEnd')).toBe(1);
    stream.close();
    await expect.poll(() => server.host.listenerCount(), { timeout: 5000 }).toBe(0);
  });
});

describe('static files', () => {
  it('serves index.html for / with the security headers', async () => {
    const answer = await httpRequest(server.port, { path: '/?token=abc' });
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('<title>DUS Studio</title>');
    expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(answer.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
  });

  it('serves files with their content types', async () => {
    const expected: Record<string, string> = {
      '/assets/app.js': 'text/javascript; charset=utf-8',
      '/assets/app.css': 'text/css; charset=utf-8',
      '/assets/logo.svg': 'image/svg+xml',
      '/assets/data.bin': 'application/octet-stream',
    };
    for (const [file, type] of Object.entries(expected)) {
      const answer = await httpRequest(server.port, { path: file });
      expect(answer.status, file).toBe(200);
      expect(answer.headers['content-type'], file).toBe(type);
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
    }
    const head = await httpRequest(server.port, { method: 'HEAD', path: '/assets/app.js' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String('console.log("app");'.length));
    expect(head.body).toBe('');
  });

  it('refuses directory traversal, encoded separators and symlinks out of the folder', async () => {
    for (const attempt of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
      '/assets%2f..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
      '/escape/secret.txt',
      '/assets%00.js',
      '/%E0%A4%A',
      '/assets',
      '/missing.js',
    ]) {
      const answer = await httpRequest(server.port, { path: attempt });
      expect(answer.status, attempt).toBe(404);
      expect(answer.body, attempt).not.toContain('secret');
    }
  });

  it('answers 405 to other verbs on static paths', async () => {
    const answer = await httpRequest(server.port, { method: 'PUT', path: '/index.html', body: 'x' });
    expect(answer.status).toBe(405);
  });
});

describe('jobs of a page whose event stream is gone', () => {
  const session = 'page-session-0001';

  /** Makes computeStats run until cancelJob names its job id, then fail with Cancelled. */
  function statsUntilCancelled(host: FakeHost): void {
    const waiting = new Map<string, () => void>();
    host.answer('computeStats', (payload) => {
      const jobId = payload.jobId ?? '';
      return new Promise((_, reject) => waiting.set(jobId, () => reject(new StudioError('Cancelled', 'statistics were cancelled'))));
    });
    host.answer('cancelJob', ({ jobId }) => waiting.get(jobId)?.());
  }

  /** A fresh server whose computeStats waits for its cancel, and the page's open event stream. */
  async function serverWithPage(disconnectGraceMs: number): Promise<EventStream> {
    await server.close();
    server = await startTestServer(staticDir, { disconnectGraceMs });
    statsUntilCancelled(server.host);
    return connectedStream();
  }

  async function connectedStream(): Promise<EventStream> {
    const stream = await openEventStream(server.port, `/api/events?token=${token}&session=${session}`);
    await stream.waitFor(': connected');
    return stream;
  }

  /** A call left running: closing the server at the end hangs it up, which is no failure here. */
  function inBackground(call: Promise<unknown>): void {
    call.catch(() => undefined);
  }

  function startStats(port: number, sessionId: string | null): Promise<{ json: unknown }> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', 'X-DUS-Token': token };
    if (sessionId !== null) headers['X-DUS-Session'] = sessionId;
    return httpRequest(port, { method: 'POST', path: '/api/call/computeStats', headers, body: JSON.stringify({ checkpointId: '/models/tiny' }) }).then(
      (answer) => ({ json: JSON.parse(answer.body) as unknown }),
    );
  }

  it('cancels the jobs a session started once its last event stream closes, giving each a job id', async () => {
    const stream = await serverWithPage(0);
    const answer = startStats(server.port, session);
    await expect.poll(() => server.host.callsOf('computeStats').length, { timeout: 10_000 }).toBe(1);
    const jobId = server.host.callsOf('computeStats')[0]?.jobId;
    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(server.host.callsOf('cancelJob')).toEqual([]);
    stream.close();
    expect((await answer).json).toMatchObject({ ok: false, error: { code: 'Cancelled' } });
    expect(server.host.callsOf('cancelJob')).toEqual([{ jobId }]);
  });

  it('lets the jobs run on while the page reconnects within the grace period', async () => {
    const first = await serverWithPage(1000);
    inBackground(startStats(server.port, session));
    await expect.poll(() => server.host.callsOf('computeStats').length, { timeout: 10_000 }).toBe(1);
    first.close();
    const second = await connectedStream();
    // Well past the grace period: the reconnected page still owns its job.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(server.host.callsOf('cancelJob')).toEqual([]);
    second.close();
    await expect.poll(() => server.host.callsOf('cancelJob').length, { timeout: 10_000 }).toBe(1);
  });

  it('leaves the jobs of calls without a session, and of other sessions, alone', async () => {
    const stream = await serverWithPage(0);
    inBackground(startStats(server.port, null));
    inBackground(startStats(server.port, 'another-page-0002'));
    await expect.poll(() => server.host.callsOf('computeStats').length, { timeout: 10_000 }).toBe(2);
    stream.close();
    await expect.poll(() => server.host.listenerCount(), { timeout: 5000 }).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.host.callsOf('cancelJob')).toEqual([]);
    // The call without a session reached the engine as sent: the engine picks its job id.
    expect(server.host.callsOf('computeStats').map((payload) => payload.jobId === undefined).sort()).toEqual([false, true]);
  });
});
