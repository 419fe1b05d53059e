/**
 * Everything the CLI touches outside its arguments, passed in so that tests can run `main` with
 * string buffers, a fake API and a simulated Ctrl-C.
 */
import type { StudioHost } from '../api/studio-api.js';

export interface TextSink {
  write(text: string): unknown;
}

export interface CliIo {
  stdout: TextSink;
  stderr: TextSink;
  /** True when stderr is a terminal: only then is a progress bar drawn. */
  isTTY: boolean;
  /** Creates the API (the engine) once per run; `host` is what appInfo will report. */
  createApi: (host: 'cli' | 'serve') => StudioHost;
  /**
   * Subscribes to Ctrl-C (SIGINT) and SIGTERM; returns the unsubscribe function. After the CLI
   * unsubscribes, a second Ctrl-C gets the default behaviour (the process ends at once).
   */
  onSigint?: (handler: () => void) => () => void;
  /** The built renderer that `serve` hands to the browser. */
  rendererDir?: string;
  /** Printed by --version. */
  version?: string;
  /** Terminal width for the progress bar. */
  columns?: number;
  /** Milliseconds, monotonic (progress speed and ETA). */
  now?: () => number;
  /** Folder that relative paths are resolved against; default process.cwd(). */
  cwd?: string;
}

/** Thrown by commands that have already printed their own error lines; main exits with `code`. */
export class CliExit extends Error {
  readonly code: number;

  constructor(code: number) {
    super(`exit ${code}`);
    this.name = 'CliExit';
    this.code = code;
  }
}
