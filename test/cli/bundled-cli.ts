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

const NATIVE_BINARY = path.join(REPOSITORY, 'native', 'build', 'Release', 'dus_native.node');

/** Runs a CLI entry as a process with the repository's native addon; the exit code and output, never a throw. */
export async function runCliProcess(entry: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [entry, ...args], { cwd, env: { ...process.env, DUS_NATIVE_PATH: NATIVE_BINARY, ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}
