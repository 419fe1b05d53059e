/**
 * The one runner of long work: exports, statistics, similarity (and, to come, evaluation). Each
 * job has an id chosen by its caller, so the caller can cancel it (`cancelJob`) and match its
 * events: typed `jobProgress` events while it runs, then exactly one `jobEnd`. Cancelling aborts
 * the job's signal, which the work passes into native calls (worker threads poll it between
 * chunks) and uses to kill the child processes it started through the runner.
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { StudioError, isStudioError } from '../../api/errors.js';
import type { JobEnd, JobKind, JobProgress, JobProgressByKind } from '../../api/types.js';

/** Where the runner sends its events (the engine's emitter). */
export interface JobEvents {
  progress(event: JobProgress): void;
  end(event: JobEnd): void;
}

export interface JobContext<K extends JobKind> {
  readonly jobId: string;
  /** Aborted when the job is cancelled: pass it into every native call and long loop. */
  readonly signal: AbortSignal;
  /** Streams one `jobProgress` event (none after the job has ended). */
  progress(progress: JobProgressByKind[K]): void;
  /**
   * Starts a child process that belongs to the job: on cancel it gets SIGTERM, then SIGKILL if it
   * has not exited after the runner's grace period; one still running when the job ends is killed too.
   */
  spawn(command: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
}

export interface JobRunnerOptions {
  /** Milliseconds between SIGTERM and SIGKILL for a job's child processes (default 2000). */
  killGraceMs?: number;
}

interface RunningJob {
  kind: JobKind;
  controller: AbortController;
  children: Set<ChildProcess>;
}

/**
 * node:child_process, loaded on the first spawn: a bundle hoists static imports of built-ins to its
 * start, and this one (with node:net) would load in every CLI process, an export's included.
 */
function childProcessModule(): typeof import('node:child_process') {
  return createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
}

/** A fresh job id for a call that did not choose one (it matches the API's job-id pattern). */
export function newJobId(): string {
  return randomUUID();
}

export class JobRunner {
  readonly #events: JobEvents;
  readonly #killGraceMs: number;
  readonly #jobs = new Map<string, RunningJob>();

  constructor(events: JobEvents, options: JobRunnerOptions = {}) {
    this.#events = events;
    this.#killGraceMs = options.killGraceMs ?? 2000;
  }

  /** Ids of the jobs running now, in the order they started. */
  get running(): string[] {
    return [...this.#jobs.keys()];
  }

  /**
   * Runs `work` as job `jobId` of `kind` and answers what it answers. A job id that is already
   * running is refused (InvalidRequest) before any work starts. Once cancelled, the job fails with
   * Cancelled whatever error the interrupted work reports (a killed child's exit, say); work that
   * finished before it noticed the cancel still answers its result.
   */
  async run<K extends JobKind, R>(jobId: string, kind: K, work: (context: JobContext<K>) => Promise<R>): Promise<R> {
    if (this.#jobs.has(jobId)) throw new StudioError('InvalidRequest', `a job with id ${jobId} is already running`, { detail: { jobId } });
    const job: RunningJob = { kind, controller: new AbortController(), children: new Set() };
    this.#jobs.set(jobId, job);
    let ended = false;
    const context: JobContext<K> = {
      jobId,
      signal: job.controller.signal,
      progress: (progress) => {
        if (!ended) this.#safely(() => this.#events.progress({ jobId, kind, progress } as JobProgress));
      },
      spawn: (command, args, options = {}) => this.#spawn(job, command, args, options),
    };
    try {
      const result = await work(context);
      ended = true;
      this.#safely(() => this.#events.end({ jobId, kind, outcome: 'done' }));
      return result;
    } catch (caught) {
      ended = true;
      const error = job.controller.signal.aborted ? cancelledError(kind, caught) : caught;
      const cancelled = isStudioError(error) && error.code === 'Cancelled';
      const end: JobEnd = { jobId, kind, outcome: cancelled ? 'cancelled' : 'failed' };
      if (!cancelled) {
        end.error = isStudioError(error)
          ? { code: error.code, message: error.message }
          : { code: 'Internal', message: error instanceof Error ? error.message : String(error) };
      }
      this.#safely(() => this.#events.end(end));
      throw error;
    } finally {
      for (const child of job.children) this.#kill(child);
      this.#jobs.delete(jobId);
    }
  }

  /** Cancels job `jobId`; false when no such job is running (finished already, or never started). */
  cancel(jobId: string): boolean {
    const job = this.#jobs.get(jobId);
    if (!job) return false;
    job.controller.abort();
    for (const child of job.children) this.#kill(child);
    return true;
  }

  /** Cancels every running job (the process is shutting down). */
  cancelAll(): void {
    for (const jobId of this.running) this.cancel(jobId);
  }

  #spawn(job: RunningJob, command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
    if (job.controller.signal.aborted) throw new StudioError('Cancelled', `the ${job.kind} job was cancelled before ${command} started`);
    const child = childProcessModule().spawn(command, args, options);
    job.children.add(child);
    child.once('exit', () => job.children.delete(child));
    // A child that cannot start reports 'error' (and no 'exit'): it is no longer the job's to kill.
    child.once('error', () => job.children.delete(child));
    return child;
  }

  #kill(child: ChildProcess): void {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, this.#killGraceMs);
    timer.unref();
    child.once('exit', () => clearTimeout(timer));
  }

  /** A failing listener (a closed stream, a destroyed window) must not break a job. */
  #safely(send: () => void): void {
    try {
      send();
    } catch {
      // Deliberately ignored: see above.
    }
  }
}

const CANCELLED_MESSAGES: Record<JobKind, string> = {
  export: 'the export was cancelled',
  stats: 'statistics were cancelled',
  similarity: 'the similarity matrix was cancelled',
  evaluation: 'the evaluation was cancelled',
  sweep: 'the splice sweep was cancelled',
};

function cancelledError(kind: JobKind, cause: unknown): StudioError {
  return new StudioError('Cancelled', CANCELLED_MESSAGES[kind], { cause });
}
