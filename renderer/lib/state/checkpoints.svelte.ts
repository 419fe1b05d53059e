import type { StudioHost } from '../../../electron/api/studio-api.js';
import type { CheckpointSummary, StatsProgress, TensorStats } from '../../../electron/api/types.js';
import { describeError } from '../studio-client.js';
import { newJobId } from './job-id.js';

/**
 * One colour per source, in opening order: Tableau 10, which reads on light and dark backgrounds,
 * with its red and pink swapped for teal and lilac: red means an error or a seam on the canvas.
 */
export const SOURCE_COLOURS = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#499894',
  '#76b7b2',
  '#edc948',
  '#b07aa1',
  '#d4a6c8',
  '#9c755f',
  '#bab0ac',
] as const;

/** Colour for a plan model that is not open (its layers cannot be drawn from a summary). */
export const UNKNOWN_SOURCE_COLOUR = '#8a8f98';

export interface StatsStatus {
  running: boolean;
  done: number;
  total: number;
  sampled: boolean;
  /** Seconds the last finished run took. */
  seconds?: number;
  error?: string;
}

export type StatsByName = Readonly<Record<string, TensorStats>>;

/**
 * The open checkpoints and their statistics. Statistics arrive per layer (`jobProgress` of kind
 * 'stats'); each
 * event replaces the checkpoint's record, so charts derived from it update without deep reactivity.
 */
export class CheckpointsState {
  list = $state.raw<CheckpointSummary[]>([]);
  stats = $state.raw<Readonly<Record<string, StatsByName>>>({});
  statsStatus = $state.raw<Readonly<Record<string, StatsStatus>>>({});
  /** Paths being opened right now. */
  opening = $state.raw<string[]>([]);
  lastError = $state<string | null>(null);

  #host: StudioHost;
  #colours = new Map<string, string>();
  /** The statistics job running for each checkpoint, so it can be cancelled. */
  #statsJobs = new Map<string, string>();
  #unsubscribe: () => void;

  constructor(host: StudioHost) {
    this.#host = host;
    this.#unsubscribe = host.on('jobProgress', (event) => {
      if (event.kind === 'stats') this.#receive(event.progress);
    });
  }

  byId(id: string): CheckpointSummary | undefined {
    return this.list.find((checkpoint) => checkpoint.id === id);
  }

  /** Stable per checkpoint for the session, also after closing and reopening others. */
  colourOf(id: string): string {
    let colour = this.#colours.get(id);
    if (colour === undefined) {
      if (!this.byId(id)) return UNKNOWN_SOURCE_COLOUR;
      colour = SOURCE_COLOURS[this.#colours.size % SOURCE_COLOURS.length]!;
      this.#colours.set(id, colour);
    }
    return colour;
  }

  /** Opens a folder or file; returns the summary, or null after recording why it failed. */
  async open(path: string): Promise<CheckpointSummary | null> {
    this.opening = [...this.opening, path];
    try {
      const summary = await this.#host.openCheckpoint({ path });
      const others = this.list.filter((checkpoint) => checkpoint.id !== summary.id);
      this.list = [...others, summary];
      this.colourOf(summary.id);
      this.lastError = null;
      return summary;
    } catch (error) {
      this.lastError = describeError(error);
      return null;
    } finally {
      this.opening = this.opening.filter((item) => item !== path);
    }
  }

  async close(id: string): Promise<void> {
    try {
      await this.#host.closeCheckpoint({ id });
    } catch (error) {
      this.lastError = describeError(error);
    }
    this.list = this.list.filter((checkpoint) => checkpoint.id !== id);
    const { [id]: _dropped, ...rest } = this.stats;
    this.stats = rest;
  }

  /**
   * Computes statistics; progress streams in as events while the window stays responsive. The final
   * report replaces what streamed in (it is the authority, and carries tensors a layer event may not).
   */
  async computeStats(checkpointId: string, options: { sampled?: boolean } = {}): Promise<void> {
    const current = this.statsStatus[checkpointId];
    if (current?.running) return;
    const sampled = options.sampled ?? false;
    this.#setStatus(checkpointId, { running: true, done: 0, total: 0, sampled });
    const jobId = newJobId('stats');
    this.#statsJobs.set(checkpointId, jobId);
    try {
      const report = await this.#host.computeStats({ checkpointId, sampled, jobId });
      this.stats = { ...this.stats, [checkpointId]: Object.fromEntries(report.tensors.map((tensor) => [tensor.name, tensor])) };
      const total = this.statsStatus[checkpointId]?.total ?? 0;
      this.#setStatus(checkpointId, { running: false, done: total, total, sampled: report.sampled, seconds: report.seconds });
    } catch (error) {
      const status = this.statsStatus[checkpointId];
      this.#setStatus(checkpointId, {
        running: false,
        done: status?.done ?? 0,
        total: status?.total ?? 0,
        sampled,
        error: describeError(error),
      });
    } finally {
      if (this.#statsJobs.get(checkpointId) === jobId) this.#statsJobs.delete(checkpointId);
    }
  }

  /** Stops the statistics running for a checkpoint; its computeStats then ends with the cancel as its error. */
  async cancelStats(checkpointId: string): Promise<void> {
    const jobId = this.#statsJobs.get(checkpointId);
    if (jobId === undefined) return;
    try {
      await this.#host.cancelJob({ jobId });
    } catch (error) {
      this.lastError = describeError(error);
    }
  }

  dispose(): void {
    this.#unsubscribe();
  }

  #receive(progress: StatsProgress): void {
    const previous = this.stats[progress.checkpointId] ?? {};
    const next: Record<string, TensorStats> = { ...previous };
    for (const tensor of progress.tensors) next[tensor.name] = tensor;
    this.stats = { ...this.stats, [progress.checkpointId]: next };
    this.#setStatus(progress.checkpointId, {
      running: this.statsStatus[progress.checkpointId]?.running ?? true,
      done: progress.done,
      total: progress.total,
      sampled: progress.sampled,
    });
  }

  #setStatus(id: string, status: StatsStatus): void {
    this.statsStatus = { ...this.statsStatus, [id]: status };
  }
}
