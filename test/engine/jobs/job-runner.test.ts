import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { StudioError, isStudioError } from '../../../electron/api/errors.js';
import type { JobEnd, JobProgress, StatsProgress } from '../../../electron/api/types.js';
import { JobRunner } from '../../../electron/engine/jobs/job-runner.js';
import { SharedWork } from '../../../electron/engine/jobs/shared-work.js';

function recordingRunner(options: { killGraceMs?: number } = {}) {
  const progress: JobProgress[] = [];
  const ends: JobEnd[] = [];
  const runner = new JobRunner({ progress: (event) => progress.push(event), end: (event) => ends.push(event) }, options);
  return { runner, progress, ends };
}

function statsProgress(done: number): StatsProgress {
  return { checkpointId: '/m', done, total: 2, layer: done - 1, tensors: [], sampled: false };
}

/** Rejects once `signal` has aborted: the work of a job that only ends when cancelled. */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(new Error('stopped'));
    signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true });
  });
}

async function failure(work: Promise<unknown>): Promise<StudioError> {
  const error = await work.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isStudioError(error)) throw new Error(`expected a StudioError, got ${String(error)}`);
  return error;
}

describe('JobRunner', () => {
  it('streams typed progress, then one final event, then answers the result', async () => {
    const { runner, progress, ends } = recordingRunner();
    const result = await runner.run('job-1', 'stats', async (job) => {
      job.progress(statsProgress(1));
      job.progress(statsProgress(2));
      expect(runner.running).toEqual(['job-1']);
      return 42;
    });
    expect(result).toBe(42);
    expect(progress).toEqual([
      { jobId: 'job-1', kind: 'stats', progress: statsProgress(1) },
      { jobId: 'job-1', kind: 'stats', progress: statsProgress(2) },
    ]);
    expect(ends).toEqual([{ jobId: 'job-1', kind: 'stats', outcome: 'done' }]);
    expect(runner.running).toEqual([]);
  });

  it('refuses a job id that is already running, and accepts it again once that job ended', async () => {
    const { runner, ends } = recordingRunner();
    let finish!: () => void;
    const first = runner.run('same', 'export', () => new Promise<void>((resolve) => (finish = resolve)));
    const again = await failure(runner.run('same', 'stats', async () => 1));
    expect(again.code).toBe('InvalidRequest');
    expect(again.message).toContain('same');
    finish();
    await first;
    await expect(runner.run('same', 'stats', async () => 2)).resolves.toBe(2);
    expect(ends.map((end) => end.outcome)).toEqual(['done', 'done']);
  });

  it('cancels through the signal: the call fails with Cancelled whatever the work reports, and the end says cancelled', async () => {
    const { runner, ends } = recordingRunner();
    const running = runner.run('to-stop', 'similarity', (job) => untilAborted(job.signal));
    expect(runner.cancel('to-stop')).toBe(true);
    const error = await failure(running);
    expect(error.code).toBe('Cancelled');
    expect(error.message).toBe('the similarity matrix was cancelled');
    expect(ends).toEqual([{ jobId: 'to-stop', kind: 'similarity', outcome: 'cancelled' }]);
    expect(runner.cancel('to-stop')).toBe(false);
    expect(runner.cancel('never-started')).toBe(false);
  });

  it('reports a failure with its code in the final event and rethrows it', async () => {
    const { runner, ends } = recordingRunner();
    const error = await failure(
      runner.run('broken', 'stats', async () => {
        throw new StudioError('SourceChanged', '/m/model.safetensors ended early', { path: '/m/model.safetensors' });
      }),
    );
    expect(error.code).toBe('SourceChanged');
    expect(ends).toEqual([{ jobId: 'broken', kind: 'stats', outcome: 'failed', error: { code: 'SourceChanged', message: '/m/model.safetensors ended early' } }]);
  });

  it('sends no progress after the final event, and survives a listener that throws', async () => {
    const ends: JobEnd[] = [];
    const runner = new JobRunner({
      progress: () => {
        throw new Error('the window is gone');
      },
      end: (event) => ends.push(event),
    });
    let late: ((progress: StatsProgress) => void) | undefined;
    await runner.run('quiet', 'stats', async (job) => {
      job.progress(statsProgress(1));
      late = job.progress;
    });
    expect(() => late?.(statsProgress(2))).not.toThrow();
    expect(ends).toHaveLength(1);
  });

  it('kills a child process of the job on cancel', async () => {
    const { runner } = recordingRunner();
    let exited: Promise<unknown[]> | undefined;
    const running = runner.run('child', 'stats', (job) => {
      const child = job.spawn('sleep', ['60'], { stdio: 'ignore' });
      exited = once(child, 'exit');
      return untilAborted(job.signal);
    });
    runner.cancel('child');
    expect((await failure(running)).code).toBe('Cancelled');
    expect(await exited).toEqual([null, 'SIGTERM']);
  });

  it('kills a child that ignores SIGTERM with SIGKILL after the grace period', async () => {
    const { runner } = recordingRunner({ killGraceMs: 100 });
    let exited: Promise<unknown[]> | undefined;
    const running = runner.run('stubborn', 'stats', async (job) => {
      // The shell ignores TERM and says so once the trap is set, so the cancel cannot come too early.
      const child = job.spawn('sh', ['-c', 'trap "" TERM; echo ready; while :; do sleep 1; done'], { stdio: ['ignore', 'pipe', 'ignore'] });
      exited = once(child, 'exit');
      await once(child.stdout!, 'data');
      runner.cancel('stubborn');
      return untilAborted(job.signal);
    });
    expect((await failure(running)).code).toBe('Cancelled');
    expect(await exited).toEqual([null, 'SIGKILL']);
  });

  it('kills a child still running when its job ends, and refuses to start one after a cancel', async () => {
    const { runner } = recordingRunner();
    let exited: Promise<unknown[]> | undefined;
    await runner.run('leftover', 'stats', async (job) => {
      exited = once(job.spawn('sleep', ['60'], { stdio: 'ignore' }), 'exit');
    });
    expect(await exited).toEqual([null, 'SIGTERM']);
    const late = runner.run('late', 'stats', async (job) => {
      runner.cancel('late');
      job.spawn('sleep', ['60']);
    });
    expect((await failure(late)).code).toBe('Cancelled');
  });
});

describe('SharedWork', () => {
  it('runs one computation for jobs that join it, each getting every progress', async () => {
    const shared = new SharedWork<number, string>();
    let starts = 0;
    let report!: (progress: number) => void;
    let finish!: (value: string) => void;
    const start = (_signal: AbortSignal, progress: (value: number) => void) => {
      starts += 1;
      report = progress;
      return new Promise<string>((resolve) => (finish = resolve));
    };
    const seenA: number[] = [];
    const seenB: number[] = [];
    const a = shared.join('key', new AbortController().signal, (value) => seenA.push(value), start);
    const b = shared.join('key', new AbortController().signal, (value) => seenB.push(value), start);
    report(1);
    finish('matrix');
    await expect(Promise.all([a, b])).resolves.toEqual(['matrix', 'matrix']);
    expect(starts).toBe(1);
    expect(seenA).toEqual([1]);
    expect(seenB).toEqual([1]);
    expect(shared.running).toEqual([]);
  });

  it('lets a cancelled job leave at once, and stops the computation only when the last one leaves', async () => {
    const shared = new SharedWork<number, string>();
    let computation: AbortSignal | undefined;
    const start = (signal: AbortSignal) => {
      computation = signal;
      return untilAborted(signal);
    };
    const first = new AbortController();
    const second = new AbortController();
    const a = shared.join('key', first.signal, () => undefined, start);
    const b = shared.join('key', second.signal, () => undefined, start);
    first.abort();
    expect((await failure(a)).code).toBe('Cancelled');
    expect(computation?.aborted).toBe(false);
    second.abort();
    expect((await failure(b)).code).toBe('Cancelled');
    expect(computation?.aborted).toBe(true);
    // A new request starts afresh instead of joining the stopped computation.
    const again = shared.join('key', new AbortController().signal, () => undefined, async () => 'fresh');
    await expect(again).resolves.toBe('fresh');
  });
});
