import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const repository = path.resolve(import.meta.dirname, '../..');

function sourceFiles(folder: string): string[] {
  return readdirSync(path.join(repository, folder), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|svelte)$/.test(entry.name))
    .map((entry) => path.relative(repository, path.join(entry.parentPath, entry.name)));
}

/** Every import or re-export of 'electron' (or 'electron/…'), and whether it is type-only. */
function electronImports(file: string): { typeOnly: boolean }[] {
  const text = readFileSync(path.join(repository, file), 'utf8');
  const found: { typeOnly: boolean }[] = [];
  for (const match of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^;]*?\bfrom\s+['"]electron(\/[a-z]+)?['"]/gm)) {
    found.push({ typeOnly: match[2] !== undefined });
  }
  if (/\b(require|import)\(\s*['"]electron(\/[a-z]+)?['"]\s*\)/.test(text)) found.push({ typeOnly: false });
  return found;
}

describe('where electron is imported', () => {
  it('loads electron at run time only in the main and preload entries', () => {
    const runtime = [...sourceFiles('electron/main'), ...sourceFiles('electron/preload')].filter((file) =>
      electronImports(file).some((entry) => !entry.typeOnly),
    );
    expect(runtime.sort()).toEqual([path.join('electron', 'main', 'main.ts'), path.join('electron', 'preload', 'preload.ts')]);
  });

  it('keeps electron out of the API, the engine, the CLI, the serve mode and the renderer', () => {
    const folders = ['electron/api', 'electron/engine', 'electron/cli', 'electron/serve', 'renderer'];
    const offenders = folders.flatMap(sourceFiles).filter((file) => electronImports(file).length > 0);
    expect(offenders).toEqual([]);
  });
});
