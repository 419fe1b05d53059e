import type { StudioHost } from '../../../electron/api/studio-api.js';
import type { SimilarityMatrix, SimilarityProgress, TensorKind } from '../../../electron/api/types.js';
import { describeError } from '../studio-client.js';
import { newJobId } from './job-id.js';

/** Which matrix: rows are layers of A, columns layers of B, for one tensor kind. */
export interface SimilarityKey {
  checkpointA: string;
  checkpointB: string;
  kind: TensorKind;
}

export interface SimilarityEntry {
  key: SimilarityKey;
  rows: number;
  cols: number;
  /** Rows in order; undefined until the row has arrived. */
  values: readonly ((number | null)[] | undefined)[];
  running: boolean;
  done: number;
  total: number;
  /** True while any figure shown is a sampled estimate. */
  sampled: boolean;
  seconds?: number;
  error?: string;
}

export function similarityKeyText(key: SimilarityKey): string {
  return JSON.stringify([key.checkpointA, key.checkpointB, key.kind]);
}

/**
 * Similarity matrices asked for in this window, kept by (A, B, kind) so going back to one is
 * instant. Rows stream in as `jobProgress` events (kind 'similarity') while the engine computes, each event
 * replacing the entry, so the heatmap fills row by row and the window never waits.
 */
export class SimilarityState {
  entries = $state.raw<Readonly<Record<string, SimilarityEntry>>>({});

  #host: StudioHost;
  /** The job computing each matrix (by key text), so it can be cancelled. */
  #jobs = new Map<string, string>();
  #unsubscribe: () => void;

  constructor(host: StudioHost) {
    this.#host = host;
    this.#unsubscribe = host.on('jobProgress', (event) => {
      if (event.kind === 'similarity') this.#receive(event.progress);
    });
  }

  entry(key: SimilarityKey): SimilarityEntry | undefined {
    return this.entries[similarityKeyText(key)];
  }

  /**
   * Computes a matrix unless it is computing or known (`sampled: false` recomputes a sampled one
   * exactly; the estimate stays in view meanwhile). `rows`/`cols` size the empty matrix shown until
   * rows arrive.
   */
  async compute(key: SimilarityKey, size: { rows: number; cols: number }, options: { sampled?: boolean } = {}): Promise<void> {
    const text = similarityKeyText(key);
    const current = this.entries[text];
    if (current?.running) return;
    if (current && current.error === undefined && !(options.sampled === false && current.sampled)) return;
    const keep = current && current.error === undefined ? current.values : [];
    this.#set(text, {
      key,
      rows: size.rows,
      cols: size.cols,
      values: Array.from({ length: size.rows }, (_, row) => keep[row]),
      running: true,
      done: 0,
      total: size.rows,
      sampled: current?.sampled ?? false,
    });
    const jobId = newJobId('similarity');
    this.#jobs.set(text, jobId);
    try {
      const request: { checkpointA: string; checkpointB: string; kind: TensorKind; sampled?: boolean; jobId: string } = { ...key, jobId };
      if (options.sampled !== undefined) request.sampled = options.sampled;
      const matrix: SimilarityMatrix = await this.#host.layerSimilarity(request);
      this.#set(text, {
        key,
        rows: matrix.rows,
        cols: matrix.cols,
        values: matrix.values,
        running: false,
        done: matrix.rows,
        total: matrix.rows,
        sampled: matrix.sampled,
        seconds: matrix.seconds,
      });
    } catch (error) {
      const entry = this.entries[text];
      this.#set(text, { ...(entry ?? { key, rows: 0, cols: 0, values: [], done: 0, total: 0, sampled: false }), running: false, error: describeError(error) });
    } finally {
      if (this.#jobs.get(text) === jobId) this.#jobs.delete(text);
    }
  }

  /** Stops computing a matrix; its entry then shows the cancel as its error, with Try again. */
  async cancel(key: SimilarityKey): Promise<void> {
    const jobId = this.#jobs.get(similarityKeyText(key));
    if (jobId === undefined) return;
    try {
      await this.#host.cancelJob({ jobId });
    } catch (error) {
      const text = similarityKeyText(key);
      const entry = this.entries[text];
      if (entry) this.#set(text, { ...entry, error: describeError(error) });
    }
  }

  /** Forgets every matrix that involves a checkpoint (it was closed). */
  forget(checkpointId: string): void {
    const kept = Object.entries(this.entries).filter(([, entry]) => entry.key.checkpointA !== checkpointId && entry.key.checkpointB !== checkpointId);
    this.entries = Object.fromEntries(kept);
  }

  dispose(): void {
    this.#unsubscribe();
  }

  #receive(progress: SimilarityProgress): void {
    const text = similarityKeyText(progress);
    const entry = this.entries[text];
    // Only rows of a run this window is waiting for; a finished entry already holds the final matrix.
    if (!entry?.running || progress.row < 0 || progress.row >= entry.rows) return;
    const values = [...entry.values];
    values[progress.row] = progress.values;
    this.#set(text, { ...entry, values, done: progress.done, total: progress.total, sampled: entry.sampled || progress.sampled });
  }

  #set(text: string, entry: SimilarityEntry): void {
    this.entries = { ...this.entries, [text]: entry };
  }
}
