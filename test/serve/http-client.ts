/**
 * A small HTTP client for the serve tests, on node:http so that tests can send any Host and Origin
 * header, stream a body, and read a server-sent event stream.
 */
import http from 'node:http';

/** Events arrive in milliseconds; the bound only catches a hang, far above what a busy machine adds. */
const EVENT_TIMEOUT_MS = 30_000;

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface HttpCall {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export function httpRequest(port: number, call: HttpCall): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: call.method ?? 'GET', path: call.path, headers: { Host: `127.0.0.1:${port}`, ...call.headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(call.body);
  });
}

/** POSTs a payload to /api/call/<method> with the token, as the renderer's client does. */
export async function callApi(port: number, token: string | null, method: string, payload: unknown): Promise<HttpAnswer & { json: unknown }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (token !== null) headers['X-DUS-Token'] = token;
  const answer = await httpRequest(port, { method: 'POST', path: `/api/call/${method}`, headers, body: JSON.stringify(payload ?? null) });
  let json: unknown = null;
  try {
    json = JSON.parse(answer.body);
  } catch {
    json = null;
  }
  return { ...answer, json };
}

export interface ServerSentEvent {
  event: string;
  data: string;
}

export interface EventStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Everything received so far, comments included. */
  raw(): string;
  /** Resolves once `count` events (not comments) have arrived. */
  events(count: number, timeoutMs?: number): Promise<ServerSentEvent[]>;
  /** Resolves once the raw stream contains `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  close(): void;
}

function parseEvents(raw: string): ServerSentEvent[] {
  const events: ServerSentEvent[] = [];
  for (const block of raw.split('\n\n')) {
    let event = '';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (event !== '' || data.length > 0) events.push({ event: event || 'message', data: data.join('\n') });
  }
  return events;
}

export function openEventStream(port: number, path: string, headers: Record<string, string> = {}): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { Host: `127.0.0.1:${port}`, ...headers }, agent: false }, (res) => {
      let raw = '';
      const waiters = new Set<() => void>();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        raw += chunk;
        for (const waiter of [...waiters]) waiter();
      });
      res.on('error', () => undefined);
      const until = (test: () => boolean, what: string, timeoutMs: number): Promise<void> =>
        new Promise((done, fail) => {
          if (test()) return done();
          const timer = setTimeout(() => {
            waiters.delete(check);
            fail(new Error(`timed out waiting for ${what}; got ${JSON.stringify(raw)}`));
          }, timeoutMs);
          const check = (): void => {
            if (!test()) return;
            clearTimeout(timer);
            waiters.delete(check);
            done();
          };
          waiters.add(check);
        });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        raw: () => raw,
        async events(count, timeoutMs = EVENT_TIMEOUT_MS) {
          await until(() => parseEvents(raw).length >= count, `${count} events`, timeoutMs);
          return parseEvents(raw).slice(0, count);
        },
        waitFor(text, timeoutMs = EVENT_TIMEOUT_MS) {
          return until(() => raw.includes(text), JSON.stringify(text), timeoutMs);
        },
        close() {
          req.destroy();
        },
      });
    });
    req.on('error', reject);
    req.end();
  });
}
