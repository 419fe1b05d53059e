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
 *
 * A page names its session (`X-DUS-Session` on calls, `?session=` on its event stream). The jobs a
 * session starts (exports, statistics, similarity) are cancelled when its last event stream closes
 * and does not come back within a grace period: a closed tab stops reading the user's disks.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { toEnvelope, type ErrorCode } from '../api/errors.js';
import { isStudioMethod, parsePayload } from '../api/schemas.js';
import { JOB_ID_FIELDS, STUDIO_EVENT_NAMES, type JobMethod, type StudioEnvelope, type StudioHost, type StudioMethod } from '../api/studio-api.js';
import { serveStaticFile } from './static-files.js';

/** 2 MiB: a 10,000-slice plan is well under 2 MB of JSON. */
export const DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024;
/** Comment lines keep proxies and the browser from timing the event stream out. */
export const DEFAULT_KEEP_ALIVE_MS = 15_000;
/** An event stream whose client stopped reading is closed once this much is queued (EventSource reconnects). */
const MAX_QUEUED_EVENT_BYTES = 8 * 1024 * 1024;

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

export const TOKEN_HEADER = 'x-dus-token';
/** Names the page's session on calls (the event stream takes `?session=`). */
export const SESSION_HEADER = 'x-dus-session';
/** A session id: 8 to 64 letters, digits, "-" or "_" (the client makes 22 random ones). */
const SESSION_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
/** How long a session's jobs outlive its last event stream: EventSource reconnects within 2 s. */
export const DEFAULT_DISCONNECT_GRACE_MS = 10_000;

export interface HttpHandlerOptions {
  api: StudioHost;
  token: string;
  /** `host:port` values the Host header may take, e.g. `127.0.0.1:8080`, `localhost:8080` (case-insensitive). */
  allowedHosts: string[];
  staticDir: string;
  maxBodyBytes?: number;
  keepAliveMs?: number;
  /** Milliseconds a session's jobs run on after its last event stream closed (default 10 s). */
  disconnectGraceMs?: number;
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

function isJobMethod(method: StudioMethod): method is JobMethod {
  return Object.hasOwn(JOB_ID_FIELDS, method);
}

/** A page's session: its open event streams and the jobs it started that still run. */
interface Session {
  streams: number;
  jobs: Set<string>;
  /** Set while no stream is open: when it fires, the session's jobs are cancelled. */
  orphanTimer: NodeJS.Timeout | null;
}

/**
 * Which session started which job, and the cancelling of a session's jobs once its event streams
 * are gone. Sessions are forgotten when they have neither streams nor jobs.
 */
class SessionJobs {
  readonly #sessions = new Map<string, Session>();
  readonly #api: StudioHost;
  readonly #graceMs: number;

  constructor(api: StudioHost, graceMs: number) {
    this.#api = api;
    this.#graceMs = graceMs;
  }

  #session(id: string): Session {
    let session = this.#sessions.get(id);
    if (!session) {
      session = { streams: 0, jobs: new Set(), orphanTimer: null };
      this.#sessions.set(id, session);
    }
    return session;
  }

  #forgetIfIdle(id: string, session: Session): void {
    if (session.streams === 0 && session.jobs.size === 0 && session.orphanTimer === null) this.#sessions.delete(id);
  }

  streamOpened(id: string): void {
    const session = this.#session(id);
    session.streams += 1;
    if (session.orphanTimer !== null) clearTimeout(session.orphanTimer);
    session.orphanTimer = null;
  }

  streamClosed(id: string): void {
    const session = this.#session(id);
    session.streams -= 1;
    if (session.streams > 0) return;
    session.orphanTimer = setTimeout(() => {
      session.orphanTimer = null;
      for (const jobId of session.jobs) this.#api.cancelJob({ jobId }).catch(ignoreStreamError);
      this.#forgetIfIdle(id, session);
    }, this.#graceMs);
    session.orphanTimer.unref();
  }

  /** Runs `call` as a job of session `id`. */
  async track<T>(id: string, jobId: string, call: () => Promise<T>): Promise<T> {
    const session = this.#session(id);
    session.jobs.add(jobId);
    try {
      return await call();
    } finally {
      session.jobs.delete(jobId);
      this.#forgetIfIdle(id, session);
    }
  }
}

/** The payload of a job method with its job id filled in (a fresh one when the caller chose none). */
function withJobId(method: JobMethod, payload: unknown): { payload: unknown; jobId: string } {
  const field = JOB_ID_FIELDS[method];
  const request = payload as Record<string, unknown>;
  const given = request[field];
  if (typeof given === 'string') return { payload, jobId: given };
  const jobId = randomUUID();
  return { payload: { ...request, [field]: jobId }, jobId };
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
  const sessions = new SessionJobs(api, options.disconnectGraceMs ?? DEFAULT_DISCONNECT_GRACE_MS);

  /** The session a request names, or null when it names none (or not a well-formed one). */
  function sessionOf(given: string | null | undefined): string | null {
    return given !== null && given !== undefined && SESSION_PATTERN.test(given) ? given : null;
  }

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
      let parsed: unknown = parsePayload(method, payload);
      const call = api[method] as (input: unknown) => Promise<unknown>;
      const session = sessionOf(headerValue(req, SESSION_HEADER));
      let value: unknown;
      if (session !== null && isJobMethod(method)) {
        const job = withJobId(method, parsed);
        parsed = job.payload;
        value = await sessions.track(session, job.jobId, () => call.call(api, job.payload));
      } else {
        value = await call.call(api, parsed);
      }
      // JSON has no undefined: methods that return nothing answer null.
      envelope = { ok: true, value: value === undefined ? null : value };
    } catch (error) {
      envelope = toEnvelope(error, method, (bug) => options.onInternalError?.(bug, method));
    }
    if (!res.destroyed) sendJson(res, 200, envelope);
  }

  function handleEvents(req: IncomingMessage, res: ServerResponse, session: string | null): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write(': connected\nretry: 2000\n\n');
    const unsubscribes: (() => void)[] = [];
    let closed = false;
    if (session !== null) sessions.streamOpened(session);
    const close = (): void => {
      if (closed) return;
      closed = true;
      if (session !== null) sessions.streamClosed(session);
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
        handleEvents(req, res, sessionOf(url.searchParams.get('session')));
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
