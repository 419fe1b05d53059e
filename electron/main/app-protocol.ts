/**
 * Serves the built renderer (out/renderer) on the privileged `app://dus-studio/` scheme. Plain Node
 * (fetch's Request and Response), so tests run it without Electron; main.ts hands the handler to
 * `protocol.handle`. Every response carries the CSP, so it applies whatever else Electron does.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Privileges } from 'electron';
import { APP_HOST, APP_SCHEME, CONTENT_SECURITY_POLICY } from './window-options.js';
import { contentTypeOf } from '../serve/static-files.js';

/**
 * `standard` gives the scheme real origins (so 'self' in the CSP means the app); `secure` makes the
 * page a secure context (clipboard, crypto); nothing bypasses the CSP.
 */
export const APP_SCHEME_PRIVILEGES: Privileges = {
  standard: true,
  secure: true,
  supportFetchAPI: true,
  codeCache: true,
};

/**
 * The file under `rootDir` that an app:// URL names, or null for a URL of another origin, a path
 * that leaves the root (`..`, encoded or not), or a malformed escape. `/` is index.html.
 */
export function resolveAppFile(url: string, rootDir: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== `${APP_SCHEME}:` || parsed.host !== APP_HOST) return null;
  let relative: string;
  try {
    relative = decodeURIComponent(parsed.pathname);
  } catch {
    return null;
  }
  if (relative.includes('\0')) return null;
  if (relative === '' || relative === '/') relative = '/index.html';
  const root = path.resolve(rootDir);
  const file = path.resolve(root, `.${relative}`);
  const inside = path.relative(root, file);
  if (inside === '' || inside.startsWith('..') || path.isAbsolute(inside)) return null;
  return file;
}

function textResponse(status: number, text: string): Response {
  return new Response(text, {
    status,
    headers: {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'X-Content-Type-Options': 'nosniff',
    },
  });
}

/**
 * The `protocol.handle` handler for the app scheme: GET and HEAD of files under `rootDir`, each
 * with its type, the CSP and nosniff. Renderer assets are small, so a file is read whole.
 */
export function createAppProtocolHandler(rootDir: string): (request: Request) => Promise<Response> {
  return async function serveAppFile(request: Request): Promise<Response> {
    if (request.method !== 'GET' && request.method !== 'HEAD') return textResponse(405, 'Method not allowed');
    const file = resolveAppFile(request.url, rootDir);
    if (file === null) return textResponse(404, 'Not found');
    try {
      const info = await stat(file);
      if (!info.isFile()) return textResponse(404, 'Not found');
      const headers = {
        'Content-Type': contentTypeOf(file),
        'Content-Length': String(info.size),
        'Content-Security-Policy': CONTENT_SECURITY_POLICY,
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'no-cache',
      };
      if (request.method === 'HEAD') return new Response(null, { status: 200, headers });
      return new Response(await readFile(file), { status: 200, headers });
    } catch {
      return textResponse(404, 'Not found');
    }
  };
}
