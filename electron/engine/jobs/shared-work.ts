/**
 * Computations that several jobs may join: asking for the same similarity matrix twice (two
 * panes, a double click) runs it once instead of reading every tensor twice. Each joined job gets
 * the progress and the result; the computation itself is cancelled only when every job that
 * joined it has been cancelled, and a job that is cancelled leaves at once.
 */
import { StudioError } from '../../api/errors.js';

interface Shared<P, R> {
  promise: Promise<R>;
  controller: AbortController;
  listeners: Set<(progress: P) => void>;
  members: number;
}

export class SharedWork<P, R> {
  readonly #running = new Map<string, Shared<P, R>>();

  /** Keys of the computations running now. */
  get running(): string[] {
    return [...this.#running.keys()];
  }

  /**
   * Joins the computation `key`, starting it with `start` when none runs. `signal` is the joining
   * job's: once it aborts, this call rejects with Cancelled (and the computation stops when no job
   * is left in it). `onProgress` gets every progress the computation reports from now on.
   */
  async join(
    key: string,
    signal: AbortSignal,
    onProgress: (progress: P) => void,
    start: (signal: AbortSignal, progress: (progress: P) => void) => Promise<R>,
  ): Promise<R> {
    if (signal.aborted) throw new StudioError('Cancelled', 'cancelled before it started');
    let shared = this.#running.get(key);
    if (!shared) {
      const controller = new AbortController();
      const listeners = new Set<(progress: P) => void>();
      const promise = start(controller.signal, (progress) => {
        for (const listener of [...listeners]) listener(progress);
      });
      const entry: Shared<P, R> = { promise, controller, listeners, members: 0 };
      const forget = (): void => {
        if (this.#running.get(key) === entry) this.#running.delete(key);
      };
      promise.then(forget, forget);
      this.#running.set(key, entry);
      shared = entry;
    }
    const entry = shared;
    entry.members += 1;
    entry.listeners.add(onProgress);
    let onAbort = (): void => undefined;
    try {
      return await new Promise<R>((resolve, reject) => {
        onAbort = () => reject(new StudioError('Cancelled', 'cancelled'));
        signal.addEventListener('abort', onAbort, { once: true });
        entry.promise.then(resolve, reject);
      });
    } finally {
      signal.removeEventListener('abort', onAbort);
      entry.listeners.delete(onProgress);
      entry.members -= 1;
      if (entry.members === 0 && signal.aborted) {
        // The last job left: stop reading, and let the next request start afresh.
        if (this.#running.get(key) === entry) this.#running.delete(key);
        entry.controller.abort();
      }
    }
  }
}
