import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStudioError } from '../../electron/api/errors.js';
import { allowedHostsFor, startServer } from '../../electron/serve/serve.js';
import { createFakeHost } from './fake-host.js';
import { callApi, httpRequest, openEventStream } from './http-client.js';

let tempDir: string;
let staticDir: string;
let root: string;

beforeAll(async () => {
  tempDir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'dus-')));
  staticDir = path.join(tempDir, 'renderer');
  root = path.join(tempDir, 'models');
  await mkdir(staticDir, { recursive: true });
  await mkdir(path.join(root, 'tiny'), { recursive: true });
  await writeFile(path.join(staticDir, 'index.html'), '<!doctype html><title>DUS Studio</title>');
});

afterAll(async () => {
  await rm(tempDir, { recursive: true, force: true });
});

describe('startServer', () => {
  it('listens on 127.0.0.1 and prints a URL that carries a fresh 32-byte token', async () => {
    const server = await startServer({ api: createFakeHost(), roots: [root], staticDir });
    try {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
      expect(server).toMatchObject({ listening: `127.0.0.1:${server.port}`, remote: false });
      expect(Buffer.from(server.token, 'base64url')).toHaveLength(32);
      expect(server.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const page = await fetch(server.url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('DUS Studio');
    } finally {
      await server.close();
    }
    const other = await startServer({ api: createFakeHost(), roots: [root], staticDir });
    await other.close();
    expect(other.token).not.toBe(server.token);
  });

  it('reports the address it really listens on, and that a wildcard one is remote (issue 13)', async () => {
    const server = await startServer({ api: createFakeHost(), roots: [root], staticDir, host: '0.0.0.0' });
    try {
      expect(server).toMatchObject({ listening: `0.0.0.0:${server.port}`, remote: true });
    } finally {
      await server.close();
    }
  });

  it('binds the API behind the token and confines it to the roots', async () => {
    const host = createFakeHost();
    const server = await startServer({ api: host, roots: [root], staticDir, token: 'fixed-token' });
    try {
      const info = await callApi(server.port, 'fixed-token', 'appInfo', null);
      expect(info.json).toMatchObject({ ok: true, value: { roots: [root] } });
      const inside = await callApi(server.port, 'fixed-token', 'openCheckpoint', { path: path.join(root, 'tiny') });
      expect(inside.json).toMatchObject({ ok: true, value: { id: path.join(root, 'tiny') } });
      const outside = await callApi(server.port, 'fixed-token', 'openCheckpoint', { path: tempDir });
      expect(outside.json).toMatchObject({ ok: false, error: { code: 'OutsideRoots', path: tempDir } });
      expect(host.callsOf('openCheckpoint')).toEqual([{ path: path.join(root, 'tiny') }]);
      const denied = await callApi(server.port, null, 'appInfo', null);
      expect(denied.status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it('accepts localhost as a Host and refuses other names', async () => {
    const server = await startServer({ api: createFakeHost(), roots: [root], staticDir });
    try {
      expect((await httpRequest(server.port, { path: '/', headers: { Host: `localhost:${server.port}` } })).status).toBe(200);
      expect((await httpRequest(server.port, { path: '/', headers: { Host: `attacker.example:${server.port}` } })).status).toBe(403);
    } finally {
      await server.close();
    }
  });

  it('ends open event streams on close', async () => {
    const host = createFakeHost();
    const server = await startServer({ api: host, roots: [root], staticDir });
    const stream = await openEventStream(server.port, `/api/events?token=${server.token}`);
    await stream.waitFor(': connected');
    await server.close();
    await expect.poll(() => host.listenerCount(), { timeout: 5000 }).toBe(0);
    await expect(fetch(server.url)).rejects.toThrow();
  });

  it('reports a port in use as a StudioError', async () => {
    const first = await startServer({ api: createFakeHost(), roots: [root], staticDir });
    try {
      const error = await startServer({ api: createFakeHost(), roots: [root], staticDir, port: first.port }).then(
        () => null,
        (failure: unknown) => failure,
      );
      expect(isStudioError(error)).toBe(true);
      expect((error as Error).message).toContain(String(first.port));
    } finally {
      await first.close();
    }
  });
});

describe('allowedHostsFor', () => {
  it('allows the loopback names for a loopback address', () => {
    expect(allowedHostsFor('127.0.0.1', 8080).sort()).toEqual(['127.0.0.1:8080', '[::1]:8080', 'localhost:8080']);
  });

  it('allows only the given address for a specific one', () => {
    expect(allowedHostsFor('192.168.1.20', 80)).toEqual(['192.168.1.20:80']);
  });

  it('allows this machine’s addresses and name for a wildcard address', () => {
    const hosts = allowedHostsFor('0.0.0.0', 9000);
    expect(hosts).toContain('127.0.0.1:9000');
    expect(hosts).toContain(`${os.hostname().toLowerCase()}:9000`);
    expect(hosts.every((host) => host.endsWith(':9000'))).toBe(true);
  });
});
