/**
 * Runs one API job from the command line (an export, statistics): a progress bar on a terminal,
 * drawn from the job's `jobProgress` events, and Ctrl-C (or SIGTERM) turned into `cancelJob`. The
 * job then cleans up (a cancelled export removes what it wrote) and only then does the CLI exit
 * (130). A second Ctrl-C, while that cleanup runs, ends the process at once.
 */
import { randomBytes } from 'node:crypto';
import { isStudioError } from '../api/errors.js';
import type { StudioHost } from '../api/studio-api.js';
import type { JobProgress } from '../api/types.js';
import { CliExit, type CliIo } from './cli-io.js';
import { oneLine } from './plan-output.js';
import { createProgressBar, type ProgressUpdate } from './progress-bar.js';

/** Exit status of a process stopped by Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;

export interface CliJob<R> {
  jobId: string;
  /** The job in words, for messages: `the export`, `statistics`. */
  what: string;
  /** 'bytes' shows sizes, speed and ETA; 'count' shows `done/total`. */
  unit: 'bytes' | 'count';
  /** The bar's figures for one of this job's progress events, or null to leave the bar as it is. */
  figures(event: JobProgress): ProgressUpdate | null;
  /** Said on Ctrl-C after "cancelling <what>", e.g. `; removing what was written`. */
  cancellingNote?: string;
  /** Said once the job has ended cancelled. */
  cancelledNote: string;
  /** Starts the job's API call with `jobId`. */
  start(): Promise<R>;
}

/** A job id for a CLI run (`cli-` and 12 hex digits). */
export function newCliJobId(): string {
  return `cli-${randomBytes(6).toString('hex')}`;
}

export async function runJobWithProgress<R>(api: StudioHost, io: CliIo, job: CliJob<R>): Promise<R> {
  const bar = io.isTTY ? createProgressBar({ write: (text) => io.stderr.write(text), now: io.now, columns: io.columns, unit: job.unit }) : null;
  const unsubscribe = api.on('jobProgress', (event) => {
    if (event.jobId !== job.jobId) return;
    const figures = job.figures(event);
    if (figures !== null) bar?.update(figures);
  });
  let cancelling: Promise<void> | null = null;
  const stopListening = io.onSigint?.(() => {
    stopListening?.();
    bar?.clear();
    io.stderr.write(`cancelling ${job.what}${job.cancellingNote ?? ''} (Ctrl-C again to quit at once)\n`);
    cancelling = api.cancelJob({ jobId: job.jobId }).catch((error: unknown) => {
      io.stderr.write(`warning: could not cancel: ${oneLine(error instanceof Error ? error.message : String(error))}\n`);
    });
  });
  try {
    return await job.start();
  } catch (error) {
    if (cancelling !== null) {
      await cancelling;
      bar?.clear();
      if (isStudioError(error) && error.code === 'Cancelled') io.stderr.write(`${job.cancelledNote}\n`);
      else io.stderr.write(`error: ${job.what} interrupted: ${oneLine(error instanceof Error ? error.message : String(error))}\n`);
      throw new CliExit(EXIT_INTERRUPTED);
    }
    throw error;
  } finally {
    stopListening?.();
    unsubscribe();
    bar?.clear();
  }
}
