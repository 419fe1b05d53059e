/**
 * Serves the built renderer (out/renderer) to the browser in serve mode: GET and HEAD of files under
 * one folder, never anything outside it (no `..`, no symlinks leading out, no encoded separators).
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';

/** Content types by extension; anything else is served as opaque bytes (with nosniff, never run). */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
};

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

/**
 * Maps a URL pathname to a file under `staticDir`, or null when it names nothing servable: a
 * malformed escape, a NUL, a backslash or encoded slash, a `..` segment, a dot-file, a folder, or a
 * symlink whose target lies outside the folder.
 */
export async function resolveStaticFile(staticDir: string, pathname: string): Promise<string | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  // Encoded slashes would let one URL segment name several path segments; refuse them outright.
  if (/%2f|%5c/i.test(pathname)) return null;
  const segments = decoded.split('/').filter((segment) => segment !== '');
  if (segments.some((segment) => segment === '..' || segment.startsWith('.'))) return null;
  if (segments.length === 0) segments.push('index.html');

  let realRoot: string;
  let realFile: string;
  try {
    realRoot = await realpath(staticDir);
    realFile = await realpath(path.join(realRoot, ...segments));
  } catch {
    return null;
  }
  if (!isInside(realFile, realRoot)) return null;
  try {
    if (!(await stat(realFile)).isFile()) return null;
  } catch {
    return null;
  }
  return realFile;
}

/**
 * Answers a GET or HEAD for a static file; the caller has already checked the Host and set the
 * security headers. Returns after the response has been handed to the stream.
 */
export async function serveStaticFile(req: IncomingMessage, res: ServerResponse, staticDir: string, pathname: string): Promise<void> {
  const file = await resolveStaticFile(staticDir, pathname);
  if (file === null) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Not found\n');
    return;
  }
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Not found\n');
    return;
  }
  res.writeHead(200, {
    'Content-Type': contentTypeOf(file),
    'Content-Length': String(size),
    // The renderer is rebuilt in place during development; always revalidate.
    'Cache-Control': 'no-cache',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}
