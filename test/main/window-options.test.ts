import { EventEmitter } from 'node:events';
import type { HandlerDetails, Session, WebContents, WindowOpenHandlerResponse } from 'electron';
import { describe, expect, it } from 'vitest';
import {
  APP_INDEX_URL,
  CONTENT_SECURITY_POLICY,
  allowNavigation,
  allowPermission,
  createWindowOptions,
  denyWindowOpen,
  hardenWebContents,
  isTrustedFrame,
  restrictPermissions,
  withContentSecurityPolicy,
} from '../../electron/main/window-options.js';

/** The CSP as a map of directive → sources. */
function directives(policy: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const part of policy.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) map.set(name, sources);
  }
  return map;
}

/** A webContents stand-in: an EventEmitter plus the window-open handler it was given. */
class StandInContents extends EventEmitter {
  openHandler: ((details: HandlerDetails) => WindowOpenHandlerResponse) | null = null;

  setWindowOpenHandler(handler: (details: HandlerDetails) => WindowOpenHandlerResponse): void {
    this.openHandler = handler;
  }

  /** Emits a navigation-like event; true when a guard prevented it. */
  attempt(eventName: string, url: string): boolean {
    let prevented = false;
    this.emit(eventName, { url, preventDefault: () => (prevented = true) }, url);
    return prevented;
  }
}

describe('createWindowOptions', () => {
  it('isolates and sandboxes the page, without Node, webview or insecure content', () => {
    const preferences = createWindowOptions({ preloadPath: '/app/out/preload.cjs' }).webPreferences;
    expect(preferences).toMatchObject({
      preload: '/app/out/preload.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
    });
  });
});

describe('CONTENT_SECURITY_POLICY', () => {
  it('allows only the app itself and never eval', () => {
    const policy = directives(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-eval|wasm-unsafe-eval|\*/);
    expect(policy.get('default-src')).toEqual(["'self'"]);
    expect(policy.get('script-src')).toEqual(["'self'"]);
    expect(policy.get('style-src')).toEqual(["'self'", "'unsafe-inline'"]);
    expect(policy.get('img-src')).toEqual(["'self'", 'data:']);
    expect(policy.get('connect-src')).toEqual(["'self'"]);
    expect(policy.get('object-src')).toEqual(["'none'"]);
    expect(policy.get('base-uri')).toEqual(["'none'"]);
    expect(policy.get('frame-ancestors')).toEqual(["'none'"]);
  });

  it('is put on the app origin responses, replacing any policy they brought', () => {
    const response = withContentSecurityPolicy({
      url: 'app://dus-studio/assets/index.js',
      responseHeaders: { 'content-security-policy': ["script-src 'unsafe-eval'"], 'Content-Type': ['text/javascript'] },
    });
    expect(response.responseHeaders).toEqual({
      'Content-Type': ['text/javascript'],
      'Content-Security-Policy': [CONTENT_SECURITY_POLICY],
    });
  });

  it('leaves responses of other origins alone', () => {
    expect(withContentSecurityPolicy({ url: 'https://example.com/', responseHeaders: {} })).toEqual({});
  });
});

describe('navigation policy', () => {
  it('allows the app page, with a hash or query, and refuses every other URL', () => {
    expect(allowNavigation(APP_INDEX_URL)).toBe(true);
    expect(allowNavigation(`${APP_INDEX_URL}#/export`)).toBe(true);
    expect(allowNavigation('app://dus-studio/')).toBe(true);
    for (const url of [
      'https://example.com/',
      'http://localhost:5173/index.html',
      'file:///etc/passwd',
      'file:///app/out/renderer/index.html',
      'app://other-host/index.html',
      'app://dus-studio/assets/index.js',
      'app://user:secret@dus-studio/index.html',
      'javascript:alert(1)',
      'data:text/html,<script>alert(1)</script>',
      'not a url',
    ]) {
      expect(allowNavigation(url), url).toBe(false);
    }
  });

  it('guards a webContents: navigations and redirects elsewhere are prevented, the app page is not', () => {
    const contents = new StandInContents();
    hardenWebContents(contents as unknown as WebContents);
    for (const eventName of ['will-navigate', 'will-frame-navigate', 'will-redirect']) {
      expect(contents.attempt(eventName, 'https://example.com/'), eventName).toBe(true);
      expect(contents.attempt(eventName, 'file:///home/me/model.safetensors'), eventName).toBe(true);
      expect(contents.attempt(eventName, APP_INDEX_URL), eventName).toBe(false);
    }
    expect(contents.attempt('will-attach-webview', APP_INDEX_URL)).toBe(true);
  });

  it('denies every new window and hands only https links to the system browser', () => {
    const contents = new StandInContents();
    const opened: string[] = [];
    hardenWebContents(contents as unknown as WebContents, { openExternal: (url) => opened.push(url) });
    const handler = contents.openHandler;
    expect(handler).not.toBeNull();
    for (const url of ['https://huggingface.co/docs', 'http://example.com/', 'file:///etc/passwd', APP_INDEX_URL]) {
      expect(handler?.({ url } as HandlerDetails)).toEqual({ action: 'deny' });
    }
    expect(opened).toEqual(['https://huggingface.co/docs']);
    expect(denyWindowOpen('https://example.com/')).toEqual({ action: 'deny' });
  });
});

describe('isTrustedFrame', () => {
  it('trusts only the top-level app page', () => {
    expect(isTrustedFrame({ url: APP_INDEX_URL, parent: null })).toBe(true);
    expect(isTrustedFrame({ url: APP_INDEX_URL, parent: { url: APP_INDEX_URL } })).toBe(false);
    expect(isTrustedFrame({ url: 'https://example.com/index.html', parent: null })).toBe(false);
    expect(isTrustedFrame(null)).toBe(false);
  });
});

describe('permissions', () => {
  it('grants clipboard writing to the app and refuses everything else', () => {
    expect(allowPermission('clipboard-sanitized-write', APP_INDEX_URL)).toBe(true);
    expect(allowPermission('clipboard-sanitized-write', 'app://dus-studio')).toBe(true);
    expect(allowPermission('clipboard-sanitized-write', 'https://example.com/')).toBe(false);
    for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'fileSystem']) {
      expect(allowPermission(permission, APP_INDEX_URL), permission).toBe(false);
    }
  });

  it('installs the policy for permission requests and checks', () => {
    type RequestHandler = Parameters<Session['setPermissionRequestHandler']>[0];
    type CheckHandler = Parameters<Session['setPermissionCheckHandler']>[0];
    let request: RequestHandler = null;
    let check: CheckHandler = null;
    restrictPermissions({
      setPermissionRequestHandler: (handler) => (request = handler),
      setPermissionCheckHandler: (handler) => (check = handler),
    });
    const answers: boolean[] = [];
    const contents = {} as WebContents;
    request!(contents, 'media', (granted) => answers.push(granted), { requestingUrl: APP_INDEX_URL, isMainFrame: true });
    request!(contents, 'clipboard-sanitized-write', (granted) => answers.push(granted), { requestingUrl: APP_INDEX_URL, isMainFrame: true });
    expect(answers).toEqual([false, true]);
    expect(check!(contents, 'geolocation', 'app://dus-studio', { isMainFrame: true } as never)).toBe(false);
  });
});
