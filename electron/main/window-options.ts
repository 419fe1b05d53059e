/**
 * The window's security settings in one place, as data and small decisions that tests can check
 * without Electron: webPreferences, the Content-Security-Policy, which URLs the window may show,
 * which frames may call the API, and which permissions a page gets. Only types come from 'electron'.
 *
 * The app's pages are served from the privileged `app://dus-studio/` scheme (app-protocol.ts), not
 * from file://: a file:// page shares its origin with every local file, and Electron cannot attach
 * response headers (the CSP) to file:// loads on every platform.
 */
import type {
  BrowserWindowConstructorOptions,
  HeadersReceivedResponse,
  OnHeadersReceivedListenerDetails,
  Session,
  WebContents,
  WindowOpenHandlerResponse,
} from 'electron';

export const APP_SCHEME = 'app';
export const APP_HOST = 'dus-studio';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
/** The one page the window shows. */
export const APP_INDEX_URL = `${APP_ORIGIN}/index.html`;

/**
 * Everything from the app's own origin, nothing else; no eval of any kind. Inline styles stay
 * allowed because Svelte and d3 set `style` attributes; inline scripts do not.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Permissions a page of the app may be granted; every other request is refused. */
export const ALLOWED_PERMISSIONS: ReadonlySet<string> = new Set([
  // navigator.clipboard.writeText, for "copy YAML" and copying paths; reading stays refused.
  'clipboard-sanitized-write',
]);

export interface WindowOptionsInput {
  /** Absolute path of the bundled preload (out/preload.cjs). */
  preloadPath: string;
  title?: string;
}

/** BrowserWindow options: isolated, sandboxed, no Node in the page, no webview, no eval. */
export function createWindowOptions(input: WindowOptionsInput): BrowserWindowConstructorOptions {
  return {
    title: input.title ?? 'DUS Studio',
    width: 1440,
    height: 900,
    minWidth: 960,
    minHeight: 600,
    // Shown on 'ready-to-show', so the user never sees an empty white frame.
    show: false,
    backgroundColor: '#15171c',
    webPreferences: {
      preload: input.preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      // A file dropped outside the renderer's drop zone must not replace the app with the file.
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
    },
  };
}

function parseUrl(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

/** True for the app's own page (any hash or query), and for nothing else. */
export function isAppPageUrl(url: string): boolean {
  const parsed = parseUrl(url);
  if (parsed === null) return false;
  return (
    parsed.protocol === `${APP_SCHEME}:` &&
    parsed.host === APP_HOST &&
    parsed.username === '' &&
    parsed.password === '' &&
    (parsed.pathname === '/index.html' || parsed.pathname === '/')
  );
}

/** True for any URL of the app's origin (the page and its assets). */
export function isAppOriginUrl(url: string): boolean {
  const parsed = parseUrl(url);
  return parsed !== null && parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST;
}

/** The window may only ever navigate to (or reload) the app's own page. */
export function allowNavigation(url: string): boolean {
  return isAppPageUrl(url);
}

/** The part of a WebFrameMain the sender check reads. */
export interface SenderFrame {
  readonly url: string;
  readonly parent: unknown;
}

/**
 * True when an IPC message comes from the app's own top-level page. A null frame (navigated away
 * or destroyed before the message was handled) is not trusted.
 */
export function isTrustedFrame(frame: SenderFrame | null | undefined): boolean {
  return frame !== null && frame !== undefined && frame.parent === null && isAppPageUrl(frame.url);
}

/** Only https links may leave the app, and they go to the system browser, never to a new window. */
export function isExternalLinkUrl(url: string): boolean {
  const parsed = parseUrl(url);
  return parsed !== null && parsed.protocol === 'https:' && parsed.username === '' && parsed.password === '';
}

/**
 * The window-open decision: always deny. An https link is handed to `openExternal` (the system
 * browser) when one is given; anything else is dropped.
 */
export function denyWindowOpen(url: string, openExternal?: (url: string) => void): WindowOpenHandlerResponse {
  if (openExternal !== undefined && isExternalLinkUrl(url)) openExternal(url);
  return { action: 'deny' };
}

export interface HardeningOptions {
  openExternal?: (url: string) => void;
}

/**
 * Guards one webContents (every one Electron creates, via 'web-contents-created'): no navigation
 * away from the app page, no redirects elsewhere, no new windows, no <webview>.
 */
export function hardenWebContents(contents: WebContents, options: HardeningOptions = {}): void {
  contents.on('will-navigate', (event) => {
    if (!allowNavigation(event.url)) event.preventDefault();
  });
  contents.on('will-frame-navigate', (event) => {
    if (!allowNavigation(event.url)) event.preventDefault();
  });
  contents.on('will-redirect', (event) => {
    if (!allowNavigation(event.url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
  });
  contents.setWindowOpenHandler((details) => denyWindowOpen(details.url, options.openExternal));
}

/**
 * Response headers for `session.webRequest.onHeadersReceived`: the app's origin gets the CSP (any
 * header a response brought is replaced, whatever its case); other responses pass unchanged.
 * The protocol handler sets the same header; this is the second lock on the same door.
 */
export function withContentSecurityPolicy(
  details: Pick<OnHeadersReceivedListenerDetails, 'url' | 'responseHeaders'>,
): HeadersReceivedResponse {
  if (!isAppOriginUrl(details.url)) return {};
  const headers: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(details.responseHeaders ?? {})) {
    if (name.toLowerCase() !== 'content-security-policy') headers[name] = value;
  }
  headers['Content-Security-Policy'] = [CONTENT_SECURITY_POLICY];
  return { responseHeaders: headers };
}

/** True when a page at `requestingUrl` may have `permission`: only the allowed ones, only for the app. */
export function allowPermission(permission: string, requestingUrl: string): boolean {
  return ALLOWED_PERMISSIONS.has(permission) && isAppOriginUrl(requestingUrl);
}

/** Installs the permission policy on a session: requests and checks both go through allowPermission. */
export function restrictPermissions(session: Pick<Session, 'setPermissionRequestHandler' | 'setPermissionCheckHandler'>): void {
  session.setPermissionRequestHandler((_contents, permission, callback, details) => {
    callback(allowPermission(permission, details.requestingUrl));
  });
  session.setPermissionCheckHandler((_contents, permission, requestingOrigin) => allowPermission(permission, requestingOrigin));
}
