/** The CLI bundled by the project's own build script into a temporary folder, so tests run the current sources. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPOSITORY = path.resolve(import.meta.dirname, '../..');

/** Runs build/build.mjs (no renderer) into `<tempDir>/out` and returns the path of the CLI bundle. */
export async function bundleCli(tempDir: string): Promise<string> {
  const outdir = path.join(tempDir, 'out');
  await run(process.execPath, [path.join(REPOSITORY, 'build', 'build.mjs'), '--outdir', outdir, '--no-renderer'], { cwd: REPOSITORY });
  return path.join(outdir, 'cli.js');
}
