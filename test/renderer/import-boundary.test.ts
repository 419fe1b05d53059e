import { describe, expect, it } from 'vitest';

// The renderer's sources as text (Vite reads them at test time), to check what they import.
const sources = import.meta.glob(['/renderer/src/**/*.{ts,svelte}', '/renderer/lib/**/*.ts'], {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>;

const importPattern = /^\s*import\s+(type\s+)?([^'"]*?)\s*from\s*['"]([^'"]+)['"]/gm;

describe('renderer import boundary', () => {
  it('reads the renderer sources', () => {
    expect(Object.keys(sources).length).toBeGreaterThan(20);
  });

  it('imports from electron/ only the contract (types, StudioError, the event list) and the shared pure code of electron/common/', () => {
    const offending: string[] = [];
    for (const [file, text] of Object.entries(sources)) {
      for (const match of text.matchAll(importPattern)) {
        const [, typeOnly, names, from] = match;
        if (!from!.includes('electron/')) continue;
        if (from!.includes('electron/common/')) continue;
        if (!from!.includes('electron/api/')) {
          offending.push(`${file}: ${from}`);
          continue;
        }
        if (typeOnly) continue;
        const values = names!
          .replace(/[{}]/g, '')
          .split(',')
          .map((name) => name.trim())
          .filter((name) => name !== '' && !name.startsWith('type '));
        const allowed = from!.endsWith('/errors.js') ? ['StudioError'] : from!.endsWith('/studio-api.js') ? ['ENGINE_EVENT_NAMES'] : [];
        if (!values.every((name) => allowed.includes(name))) offending.push(`${file}: ${names} from ${from}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('imports the shared plan model instead of keeping a copy', () => {
    const users = Object.entries(sources).filter(([, text]) => /from\s+['"][./]*electron\/common\/plan\//.test(text));
    expect(users.length).toBeGreaterThan(3);
    expect(Object.keys(sources).filter((file) => file.startsWith('/renderer/lib/plan/'))).toEqual([]);
  });

  it('uses no Node built-ins and no fetch outside the client', () => {
    const offending: string[] = [];
    for (const [file, text] of Object.entries(sources)) {
      if (/from\s+['"](node:|fs|path|child_process|electron['"])/.test(text)) offending.push(`${file}: node import`);
      if (!file.endsWith('/studio-client.ts') && /\bfetch\(|new EventSource\(|window\.dusStudio/.test(text)) offending.push(`${file}: talks to the engine directly`);
    }
    expect(offending).toEqual([]);
  });
});

// electron/common/ is what the renderer may import: it must stay pure (DESIGN.md §6).
const commonSources = import.meta.glob(['/electron/common/**/*.ts'], { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

describe('electron/common boundary', () => {
  it('reads the shared sources', () => {
    expect(Object.keys(commonSources).length).toBeGreaterThan(5);
  });

  it('imports nothing but electron/api/ and itself: no Node, no Electron, no engine', () => {
    const offending: string[] = [];
    for (const [file, text] of Object.entries(commonSources)) {
      for (const match of text.matchAll(importPattern)) {
        const from = match[3]!;
        // A bare specifier (a package, node:*) is never allowed; a relative one must stay in api/ or common/.
        const relative = from.startsWith('./') || from.startsWith('../');
        const resolved = new URL(from, `file://${file}`).pathname;
        if (!relative || !(resolved.startsWith('/electron/api/') || resolved.startsWith('/electron/common/'))) offending.push(`${file}: ${from}`);
      }
      if (/\b(require\(|process\.|Buffer\b|import\()/.test(text)) offending.push(`${file}: uses Node globals or dynamic imports`);
    }
    expect(offending).toEqual([]);
  });
});
