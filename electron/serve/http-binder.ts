/**
 * The serve mode's HTTP front door: binds the one StudioHost to `POST /api/call/<method>`, streams its
 * events on `GET /api/events` (server-sent events) and serves the renderer's files. It holds no logic
 * of its own beyond transport and security:
 *
 * - every /api route needs the session token (header `X-DUS-Token`; the event stream may pass it as
 *   `?token=` because EventSource cannot set headers), compared in constant time;
 * - every request must name an allowed Host (DNS rebinding) and, when it carries an Origin, come from
 *   `http://<allowed host>`; no CORS headers are ever sent, so other sites cannot read answers;
 * - request bodies are bounded, and an over-long one is refused before it is read.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { toEnvelope, type ErrorCode } from '../api/errors.js';
import { isStudioMethod, parsePayload } from '../api/schemas.js';
import type { StudioEnvelope, StudioHost, StudioMethod } from '../api/studio-api.js';
import type { StudioEventName } from '../api/types.js';
import { serveStaticFile } from './static-files.js';

/** Every event the host emits; the type-level check below keeps it in step with StudioEvents. */
export const STUDIO_EVENT_NAMES = ['exportProgress', 'statsProgress', 'similarityProgress', 'menu'] as const satisfies readonly StudioEventName[];
type UnlistedEvents = Exclude<StudioEventName, (typeof STUDIO_EVENT_NAMES)[number]>;
const everyEventListed: [UnlistedEvents] extends [never] ? true : UnlistedEvents = true;
void everyEventListed;

/** 2 MiB: a 10,000-slice plan is well under 2 MB of JSON. */
export const DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024;
/** Comment lines keep proxies and the browser from timing the event stream out. */
export const DEFAULT_KEEP_ALIVE_MS = 15_000;
/** An event stream whose client stopped reading is closed once this much is queued (EventSource reconnects). */
const MAX_QUEUED_EVENT_BYTES = 8 * 1024 * 1024;

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

export const TOKEN_HEADER = 'x-dus-token';

export interface HttpHandlerOptions {
  api: StudioHost;
  token: string;
  /** `host:port` values the Host header may take, e.g. `127.0.0.1:8080`, `localhost:8080` (case-insensitive). */
  allowedHosts: string[];
  staticDir: string;
  maxBodyBytes?: number;
  keepAliveMs?: number;
  /** Told about non-StudioErrors (bugs) with their stack, which never reaches the client. */
  onInternalError?: (error: unknown, method: StudioMethod) => void;
}

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Constant-time token check: both sides are hashed first, so the comparison never depends on length. */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined || given === '') return false;
  return timingSafeEqual(digest(expected), digest(given));
}

function sendJson(res: ServerResponse, status: number, body: unknown, extraHeaders: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
    ...extraHeaders,
  });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string, extraHeaders: Record<string, string> = {}): void {
  const envelope: StudioEnvelope<never> = { ok: false, error: { code, message } };
  sendJson(res, status, envelope, extraHeaders);
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

type BodyResult = { kind: 'body'; data: Buffer } | { kind: 'too-large' } | { kind: 'aborted' };

/** Reads at most `maxBytes`; stops reading as soon as the declared or received length is over. */
function readBody(req: IncomingMessage, maxBytes: number): Promise<BodyResult> {
  const declared = headerValue(req, 'content-length');
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.resolve({ kind: 'too-large' });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const finish = (result: BodyResult): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('aborted', onAbort);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > maxBytes) {
        req.pause();
        finish({ kind: 'too-large' });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish({ kind: 'body', data: Buffer.concat(chunks, received) });
    const onAbort = (): void => finish({ kind: 'aborted' });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('aborted', onAbort);
  });
}

/** Answers 413 and closes the connection without draining the rest of the body. */
function refuseBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): void {
  sendError(res, 413, 'InvalidRequest', `The request body is larger than ${maxBytes} bytes.`, { Connection: 'close' });
  res.on('finish', () => {
    // Half-close: the client reads the whole answer; then the socket goes, with the unread body.
    req.socket.end();
    setTimeout(() => req.socket.destroy(), 1000).unref();
  });
}

function ignoreStreamError(): void {
  // Deliberately empty: see route().
}

/** Creates the request handler for node:http's createServer. */
export function createHttpHandler(options: HttpHandlerOptions): HttpHandler {
  const { api, token, staticDir } = options;
  const allowedHosts = new Set(options.allowedHosts.map((host) => host.toLowerCase()));
  const allowedOrigins = new Set([...allowedHosts].map((host) => `http://${host}`));
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;

  async function handleCall(req: IncomingMessage, res: ServerResponse, method: StudioMethod): Promise<void> {
    const body = await readBody(req, maxBodyBytes);
    if (body.kind === 'aborted') return;
    if (body.kind === 'too-large') {
      refuseBody(req, res, maxBodyBytes);
      return;
    }
    let payload: unknown = null;
    const text = body.data.toString('utf8').trim();
    if (text !== '') {
      try {
        payload = JSON.parse(text);
      } catch {
        sendError(res, 400, 'InvalidRequest', `The body of ${method} is not valid JSON.`);
        return;
      }
    }
    let envelope: StudioEnvelope<unknown>;
    try {
      const parsed = parsePayload(method, payload);
      const call = api[method] as (input: unknown) => Promise<unknown>;
      const value = await call.call(api, parsed);
      // JSON has no undefined: methods that return nothing answer null.
      envelope = { ok: true, value: value === undefined ? null : value };
    } catch (error) {
      envelope = toEnvelope(error, method, (bug) => options.onInternalError?.(bug, method));
    }
    if (!res.destroyed) sendJson(res, 200, envelope);
  }

  function handleEvents(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write(': connected\nretry: 2000\n\n');
    const unsubscribes: (() => void)[] = [];
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      clearInterval(keepAlive);
      for (const unsubscribe of unsubscribes) unsubscribe();
      unsubscribes.length = 0;
    };
    const send = (text: string): void => {
      if (closed) return;
      if (res.writableLength > MAX_QUEUED_EVENT_BYTES) {
        close();
        res.destroy();
        return;
      }
      res.write(text);
    };
    const keepAlive = setInterval(() => send(': keep-alive\n\n'), keepAliveMs);
    keepAlive.unref();
    for (const event of STUDIO_EVENT_NAMES) {
      // JSON.stringify never emits a raw newline, so one `data:` line carries the whole payload.
      unsubscribes.push(api.on(event, (payload) => send(`event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`)));
    }
    req.on('close', close);
    res.on('close', close);
    res.on('error', close);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A client that goes away mid-request makes the streams emit 'error'; nothing is left to answer.
    req.on('error', ignoreStreamError);
    res.on('error', ignoreStreamError);
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);

    const host = headerValue(req, 'host')?.toLowerCase();
    if (host === undefined || !allowedHosts.has(host)) {
      res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
      res.end('Forbidden: unknown Host\n');
      return;
    }
    const origin = headerValue(req, 'origin');
    if (origin !== undefined && !allowedOrigins.has(origin.toLowerCase())) {
      res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
      res.end('Forbidden: cross-origin request\n');
      return;
    }

    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://${host}`);
    } catch {
      sendError(res, 400, 'InvalidRequest', 'Malformed request URL.');
      return;
    }
    const pathname = url.pathname;

    if (pathname === '/api' || pathname.startsWith('/api/')) {
      const callMatch = /^\/api\/call\/([^/]*)$/.exec(pathname);
      const isEvents = pathname === '/api/events';
      if (!callMatch && !isEvents) {
        sendError(res, 404, 'InvalidRequest', `No API route ${pathname}.`);
        return;
      }
      const verb = callMatch ? 'POST' : 'GET';
      if (req.method !== verb) {
        sendError(res, 405, 'InvalidRequest', `${pathname} takes ${verb} only.`, { Allow: verb });
        return;
      }
      const given = headerValue(req, TOKEN_HEADER) ?? (isEvents ? (url.searchParams.get('token') ?? undefined) : undefined);
      if (!tokenMatches(token, given)) {
        sendError(res, 401, 'Unauthorized', 'Missing or wrong session token: open the URL that dus-studio serve printed.');
        return;
      }
      if (isEvents) {
        handleEvents(req, res);
        return;
      }
      const name = callMatch?.[1] ?? '';
      if (!isStudioMethod(name)) {
        sendError(res, 404, 'InvalidRequest', `Unknown API method '${name.slice(0, 64)}'.`);
        return;
      }
      await handleCall(req, res, name);
      return;
    }

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8', Allow: 'GET, HEAD' });
      res.end('Method not allowed\n');
      return;
    }
    await serveStaticFile(req, res, staticDir, pathname);
  }

  return function handleRequest(req, res) {
    route(req, res).catch((error: unknown) => {
      // Only transport failures land here (API errors become envelopes).
      if (!res.headersSent) sendError(res, 500, 'Internal', `Internal server error: ${error instanceof Error ? error.message : String(error)}. Please report it.`);
      else res.destroy();
    });
  };
}
