import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyExport } from '../../../electron/engine/export/verify-export.js';
import { readTextFileWithin } from '../../../electron/engine/formats/bounded-read.js';
import { readPlanFile } from '../../../electron/engine/plan/plan-file.js';

const ELECTRON = path.resolve(import.meta.dirname, '../../../electron');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dus-bounded-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Every .ts file under `folder`, recursively. */
async function sourceFiles(folder: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) files.push(...(await sourceFiles(full)));
    else if (entry.name.endsWith('.ts')) files.push(full);
  }
  return files;
}

describe('the one bounded reader', () => {
  it('is the only way code behind the API reads a whole file (no readFile in engine, serve or CLI)', async () => {
    const offenders: string[] = [];
    for (const folder of ['engine', 'serve', 'cli', 'api', 'common'].map((name) => path.join(ELECTRON, name))) {
      for (const file of await sourceFiles(folder).catch(() => [])) {
        const text = await readFile(file, 'utf8');
        // Unbounded whole-file reads: they wait forever on a FIFO and fill memory from /dev/zero.
        if (/\breadFile(Sync)?\b/.test(text.replace(/\/\/.*|\/\*[\s\S]*?\*\//g, ''))) offenders.push(path.relative(ELECTRON, file));
      }
    }
    expect(offenders).toEqual([]);
  });

  it('refuses a FIFO at once instead of waiting for a writer', async () => {
    const fifo = path.join(dir, 'plan.yml');
    execFileSync('mkfifo', [fifo]);
    await expect(readTextFileWithin(fifo, { what: 'YAML plan', maxBytes: 1000, invalidCode: 'InvalidYaml' })).rejects.toMatchObject({ code: 'InvalidYaml' });
    await expect(readPlanFile(fifo)).rejects.toMatchObject({ code: 'InvalidYaml', path: fifo });
  });

  it('refuses a link to /dev/zero and a file over the limit before reading it', async () => {
    const zero = path.join(dir, 'zero.yml');
    await symlink('/dev/zero', zero);
    await expect(readPlanFile(zero)).rejects.toMatchObject({ code: 'InvalidYaml', message: expect.stringContaining('not a regular file') });
    const large = path.join(dir, 'large.yml');
    await writeFile(large, 'x'.repeat(1_000_001));
    await expect(readPlanFile(large)).rejects.toMatchObject({ code: 'InvalidYaml', message: expect.stringContaining('more than') });
  });

  it('lets verify of a folder whose mergekit_config.yml and config.json are FIFOs or /dev/zero end with problems (issue 13)', async () => {
    const fifoExport = path.join(dir, 'fifo-export');
    await rm(fifoExport, { recursive: true, force: true });
    execFileSync('mkdir', [fifoExport]);
    execFileSync('mkfifo', [path.join(fifoExport, 'mergekit_config.yml'), path.join(fifoExport, 'config.json')]);
    const report = await verifyExport(fifoExport);
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ code: 'MissingPlan', message: expect.stringContaining('not a regular file') });

    const zeroExport = path.join(dir, 'zero-export');
    execFileSync('mkdir', [zeroExport]);
    await symlink('/dev/zero', path.join(zeroExport, 'mergekit_config.yml'));
    expect((await verifyExport(zeroExport)).problems[0]).toMatchObject({ code: 'MissingPlan' });
  });
});
