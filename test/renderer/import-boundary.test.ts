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

  it('imports only types from electron/, except the StudioError class and the event list', () => {
    const offending: string[] = [];
    for (const [file, text] of Object.entries(sources)) {
      for (const match of text.matchAll(importPattern)) {
        const [, typeOnly, names, from] = match;
        if (!from!.includes('electron/')) continue;
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

  it('uses no Node built-ins and no fetch outside the client', () => {
    const offending: string[] = [];
    for (const [file, text] of Object.entries(sources)) {
      if (/from\s+['"](node:|fs|path|child_process|electron['"])/.test(text)) offending.push(`${file}: node import`);
      if (!file.endsWith('/studio-client.ts') && /\bfetch\(|new EventSource\(|window\.dusStudio/.test(text)) offending.push(`${file}: talks to the engine directly`);
    }
    expect(offending).toEqual([]);
  });
});
