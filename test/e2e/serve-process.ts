/**
 * Runs `dus-studio serve` from the built bundle as a child process, as a user would, and reads the
 * URL it prints as its first stdout line.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface ServeProcess {
  /** The first stdout line: `http://127.0.0.1:N/?token=…`. */
  url: string;
  /** `http://127.0.0.1:N`, for requests made without the token. */
  origin: string;
  token: string;
  pid: number;
  /** What the server wrote on stderr so far, for failure messages. */
  stderr(): string;
  /** SIGTERM to the server's pid (it closes cleanly on it), SIGKILL if it has not exited after 5 s. */
  stop(): Promise<void>;
}

export interface ServeProcessOptions {
  repoRoot: string;
  /** Arguments after `serve`. */
  args: string[];
  /** How long to wait for the URL line. */
  startTimeoutMs?: number;
}

/** The files the tests need from a build: the CLI bundle and the renderer it serves. */
export function builtFiles(repoRoot: string): string[] {
  return [path.join(repoRoot, 'out', 'cli.js'), path.join(repoRoot, 'out', 'renderer', 'index.html')];
}

/** Runs `node build/build.mjs` when the CLI bundle or the renderer is missing. */
export async function ensureBuilt(repoRoot: string): Promise<void> {
  if (builtFiles(repoRoot).every((file) => existsSync(file))) return;
  try {
    await execFileAsync(process.execPath, [path.join(repoRoot, 'build', 'build.mjs')], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const output = error as { stdout?: string; stderr?: string };
    throw new Error(`node build/build.mjs failed:\n${output.stdout ?? ''}${output.stderr ?? String(error)}`);
  }
  const missing = builtFiles(repoRoot).filter((file) => !existsSync(file));
  if (missing.length > 0) throw new Error(`node build/build.mjs did not produce ${missing.join(', ')}`);
}

function waitForExit(child: ReturnType<typeof spawn>, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** Starts `node out/cli.js serve …args` and resolves once it has printed its URL. */
export async function startServeProcess(options: ServeProcessOptions): Promise<ServeProcess> {
  const child = spawn(process.execPath, [path.join(options.repoRoot, 'out', 'cli.js'), 'serve', ...options.args], {
    cwd: options.repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));

  const stop = async (): Promise<void> => {
    if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    process.kill(pid, 'SIGTERM');
    if (await waitForExit(child, 5_000)) return;
    process.kill(pid, 'SIGKILL');
    await waitForExit(child, 5_000);
  };

  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => fail(new Error(`serve printed no URL within ${options.startTimeoutMs ?? 30_000} ms; stderr:\n${stderr}`)), options.startTimeoutMs ?? 30_000);
    const onData = (chunk: string): void => {
      stdout += chunk;
      const end = stdout.indexOf('\n');
      if (end < 0) return;
      cleanup();
      resolve(stdout.slice(0, end).trim());
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      fail(new Error(`serve exited (${signal ?? `code ${code}`}) before printing its URL; stderr:\n${stderr}`));
    };
    const onError = (error: Error): void => fail(error);
    function cleanup(): void {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    }
    function fail(error: Error): void {
      cleanup();
      void stop().finally(() => reject(error));
    }
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
  // Later stdout is not read by anyone; keep the pipe drained so the server never blocks on it.
  child.stdout.resume();

  const parsed = new URL(url);
  const token = parsed.searchParams.get('token');
  if (pid === undefined || token === null) {
    await stop();
    throw new Error(`serve's first line is not a URL with a token: ${url}`);
  }
  return { url, origin: parsed.origin, token, pid, stderr: () => stderr, stop };
}
