/**
 * Starts the serve mode: one HTTP server on a loopback address that serves the renderer and binds the
 * API (confined to root folders) behind a fresh session token.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { StudioError } from '../api/errors.js';
import type { StudioHost, StudioMethod } from '../api/studio-api.js';
import { createHttpHandler } from './http-binder.js';
import { isLoopbackHost } from './loopback.js';
import { restrictToRoots } from './root-guard.js';

export interface ServeOptions {
  api: StudioHost;
  /** Address to listen on; default 127.0.0.1 (loopback only). */
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** Folders the browser may open; see root-guard.ts. */
  roots: string[];
  /** The built renderer (out/renderer). */
  staticDir: string;
  /** Session token; default 32 random bytes, base64url. */
  token?: string;
  maxBodyBytes?: number;
  onInternalError?: (error: unknown, method: StudioMethod) => void;
}

export interface RunningServer {
  /** Where to point the browser, token included: `http://127.0.0.1:N/?token=…`. */
  url: string;
  /** The address and port the server really listens on, as the kernel reports it (`0.0.0.0:8080` for every interface). */
  listening: string;
  /** True when it listens beyond this machine (a wildcard or a network address). */
  remote: boolean;
  port: number;
  token: string;
  /** Stops listening and ends every open connection (event streams included). */
  close(): Promise<void>;
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

/** An address as it appears in a Host header or URL: IPv6 in brackets. */
function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Host header values a legitimate browser sends for this server. Anything else is a DNS-rebinding
 * attempt (a hostile name that resolves to this machine) and is refused.
 */
export function allowedHostsFor(host: string, port: number): string[] {
  const names = new Set<string>();
  if (LOOPBACK_HOSTS.has(host) || WILDCARD_HOSTS.has(host)) {
    for (const loopback of LOOPBACK_HOSTS) names.add(loopback);
  }
  if (WILDCARD_HOSTS.has(host)) {
    names.add(os.hostname().toLowerCase());
    for (const addresses of Object.values(os.networkInterfaces())) {
      for (const address of addresses ?? []) names.add(address.address.toLowerCase());
    }
  } else {
    names.add(host.toLowerCase());
  }
  return [...names].map((name) => `${hostForUrl(name)}:${port}`);
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (error.code === 'EADDRINUSE') reject(new StudioError('InvalidRequest', `Port ${port} on ${host} is already in use; choose another with --port.`));
      else if (error.code === 'EACCES') reject(new StudioError('PermissionDenied', `Not allowed to listen on ${host}:${port}.`));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND')
        reject(new StudioError('InvalidRequest', `${host} is not an address of this machine.`));
      else reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** Starts the server; resolves once it listens. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? randomBytes(32).toString('base64url');
  const api = restrictToRoots(options.api, options.roots);
  // The handler needs the port for its Host check, which is known only after listening.
  let handler: ReturnType<typeof createHttpHandler> | null = null;
  // Imported here, not at the top: a bundle hoists static imports of built-ins to its start, and
  // node:http (with node:net) would load in every CLI process, not only in `serve`.
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    if (handler) handler(req, res);
    else res.destroy();
  });
  await listen(server, options.port ?? 0, host);
  const { port, address } = server.address() as AddressInfo;
  handler = createHttpHandler({
    api,
    token,
    allowedHosts: allowedHostsFor(host, port),
    staticDir: options.staticDir,
    maxBodyBytes: options.maxBodyBytes,
    onInternalError: options.onInternalError,
  });
  const urlHost = WILDCARD_HOSTS.has(host) ? '127.0.0.1' : hostForUrl(host);
  let closing: Promise<void> | null = null;
  return {
    url: `http://${urlHost}:${port}/?token=${token}`,
    listening: `${hostForUrl(address)}:${port}`,
    remote: !isLoopbackHost(address),
    port,
    token,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
