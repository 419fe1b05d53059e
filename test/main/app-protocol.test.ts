import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppProtocolHandler, resolveAppFile } from '../../electron/main/app-protocol.js';
import { contentTypeOf } from '../../electron/serve/static-files.js';
import { CONTENT_SECURITY_POLICY } from '../../electron/main/window-options.js';

let base: string;
let root: string;
const indexHtml = '<!doctype html><script type="module" src="./assets/index.js"></script>';
const script = 'console.log("renderer");';

beforeAll(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
  root = path.join(base, 'renderer');
  await mkdir(path.join(root, 'assets'), { recursive: true });
  await writeFile(path.join(root, 'index.html'), indexHtml);
  await writeFile(path.join(root, 'assets', 'index.js'), script);
  await writeFile(path.join(root, 'assets', 'font file.woff2'), Buffer.from([0x77, 0x4f, 0x46, 0x32]));
  // A file beside the root that traversal must not reach.
  await writeFile(path.join(base, 'secret.txt'), 'secret');
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('resolveAppFile', () => {
  it('maps app URLs to files under the root, / to index.html', () => {
    expect(resolveAppFile('app://dus-studio/', root)).toBe(path.join(root, 'index.html'));
    expect(resolveAppFile('app://dus-studio/index.html#/plan', root)).toBe(path.join(root, 'index.html'));
    expect(resolveAppFile('app://dus-studio/assets/font%20file.woff2', root)).toBe(path.join(root, 'assets', 'font file.woff2'));
  });

  it('refuses other origins, traversal and malformed escapes', () => {
    for (const url of [
      'app://other/index.html',
      'file:///etc/passwd',
      'https://dus-studio/index.html',
      'app://dus-studio/../secret.txt',
      'app://dus-studio/%2e%2e/secret.txt',
      'app://dus-studio/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
      'app://dus-studio/assets/%2e%2e%5c%2e%2e%5csecret.txt',
      'app://dus-studio/%E0%A4%A',
      'app://dus-studio/index.html%00.js',
    ]) {
      // The URL parser folds a literal `..` into `/secret.txt`, which stays inside the root.
      const file = resolveAppFile(url, root);
      if (file !== null) expect(path.relative(root, file).startsWith('..'), url).toBe(false);
      expect(file, url).not.toBe(path.join(base, 'secret.txt'));
    }
    expect(resolveAppFile('app://dus-studio/assets/%2e%2e%2f%2e%2e%2fsecret.txt', root)).toBeNull();
    expect(resolveAppFile('app://dus-studio/%E0%A4%A', root)).toBeNull();
  });
});

describe('createAppProtocolHandler', () => {
  it('serves the page and its scripts with their types, the CSP and nosniff', async () => {
    const serve = createAppProtocolHandler(root);
    const page = await serve(new Request('app://dus-studio/index.html'));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await page.text()).toBe(indexHtml);
    const module = await serve(new Request('app://dus-studio/assets/index.js'));
    expect(module.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await module.text()).toBe(script);
  });

  it('answers 404 for missing files, folders and traversal, 405 for other methods', async () => {
    const serve = createAppProtocolHandler(root);
    expect((await serve(new Request('app://dus-studio/missing.js'))).status).toBe(404);
    expect((await serve(new Request('app://dus-studio/assets'))).status).toBe(404);
    const traversal = await serve(new Request('app://dus-studio/assets/%2e%2e%2f%2e%2e%2fsecret.txt'));
    expect(traversal.status).toBe(404);
    expect(await traversal.text()).not.toContain('secret');
    expect((await serve(new Request('app://dus-studio/index.html', { method: 'POST', body: 'x' }))).status).toBe(405);
  });

  it('answers HEAD with the headers and no body', async () => {
    const response = await createAppProtocolHandler(root)(new Request('app://dus-studio/assets/index.js', { method: 'HEAD' }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(Buffer.byteLength(script)));
    expect(await response.text()).toBe('');
  });
});

describe('contentTypeOf', () => {
  it('knows what Vite emits and falls back to opaque bytes', () => {
    expect(contentTypeOf('index.CSS')).toBe('text/css; charset=utf-8');
    expect(contentTypeOf('logo.svg')).toBe('image/svg+xml');
    expect(contentTypeOf('model.safetensors')).toBe('application/octet-stream');
  });
});
