import type { StudioHost } from '../../../electron/api/studio-api.js';
import type { EvaluationProgress, LayerPlan, PlanEvaluationReport, SweepRange, SweepReport, SweepRow } from '../../../electron/api/types.js';
import { rankSweep } from '../../../electron/common/evaluation/sweep-rules.js';
import { describeError } from '../studio-client.js';
import { newJobId } from './job-id.js';

/** One "Evaluate plan" run: progress while it runs, then the report or the error. */
export interface PlanEvaluationRun {
  /** The plan as it was sent (the user may edit on while it runs). */
  plan: LayerPlan;
  running: boolean;
  progress: EvaluationProgress | null;
  report?: PlanEvaluationReport;
  error?: string;
}

/** One splice sweep over a model: rows in the order they finished, the source's figures at the end. */
export interface SpliceSweepRun {
  model: string;
  range: SweepRange;
  running: boolean;
  rows: readonly SweepRow[];
  done: number;
  total: number;
  /** From the final report (the source is scored first, but only reported at the end). */
  source?: SweepReport['source'];
  textName?: string;
  seconds?: number;
  error?: string;
}

/**
 * Evaluation in llama.cpp (the Evaluate tab): one plan evaluation and one splice sweep at a time,
 * each a job this window names (so Cancel can stop it and its `jobProgress` events are matched to
 * it). Sweep rows stream in as each splice point finishes.
 */
export class EvaluationState {
  evaluation = $state.raw<PlanEvaluationRun | null>(null);
  sweep = $state.raw<SpliceSweepRun | null>(null);
  /** The sweep's rows best first (lowest perplexity, then fewer layers), as the engine ranks them. */
  rankedRows = $derived(this.sweep ? rankSweep(this.sweep.rows) : []);

  #host: StudioHost;
  #evaluationJob: string | null = null;
  #sweepJob: string | null = null;
  #unsubscribe: () => void;

  constructor(host: StudioHost) {
    this.#host = host;
    this.#unsubscribe = host.on('jobProgress', (event) => {
      if (event.kind === 'evaluation' && event.jobId === this.#evaluationJob && this.evaluation?.running) {
        this.evaluation = { ...this.evaluation, progress: event.progress };
      } else if (event.kind === 'sweep' && event.jobId === this.#sweepJob && this.sweep?.running) {
        const row = event.progress.row;
        // A row is one splice point; keep one per point should an event ever repeat.
        const rows = [...this.sweep.rows.filter((known) => known.a !== row.a || known.b !== row.b), row];
        this.sweep = { ...this.sweep, rows, done: event.progress.done, total: event.progress.total };
      }
    });
  }

  /** Evaluates a plan (and its first source beside it); a second call while one runs is ignored. */
  async evaluate(plan: LayerPlan): Promise<void> {
    if (this.evaluation?.running) return;
    const jobId = newJobId('evaluation');
    this.#evaluationJob = jobId;
    this.evaluation = { plan, running: true, progress: null };
    try {
      const report = await this.#host.evaluatePlan({ jobId, plan });
      if (this.#evaluationJob === jobId) this.evaluation = { plan, running: false, progress: null, report };
    } catch (error) {
      if (this.#evaluationJob === jobId) this.evaluation = { plan, running: false, progress: null, error: describeError(error) };
    } finally {
      if (this.#evaluationJob === jobId) this.#evaluationJob = null;
    }
  }

  async cancelEvaluation(): Promise<void> {
    await this.#cancel(this.#evaluationJob, (error) => {
      if (this.evaluation) this.evaluation = { ...this.evaluation, error };
    });
  }

  /** Sweeps the SOLAR plan of one model over a range of splice points; rows stream into `sweep`. */
  async runSweep(model: string, range: SweepRange): Promise<void> {
    if (this.sweep?.running) return;
    const jobId = newJobId('sweep');
    this.#sweepJob = jobId;
    this.sweep = { model, range, running: true, rows: [], done: 0, total: 0 };
    try {
      const report = await this.#host.sweepSplices({ jobId, model, range });
      if (this.#sweepJob !== jobId) return;
      this.sweep = {
        model,
        range,
        running: false,
        rows: report.rows,
        done: report.rows.length,
        total: report.rows.length,
        source: report.source,
        textName: report.textName,
        seconds: report.seconds,
      };
    } catch (error) {
      // Rows that finished before a cancel or a failure stay in view.
      if (this.#sweepJob === jobId && this.sweep) this.sweep = { ...this.sweep, running: false, error: describeError(error) };
    } finally {
      if (this.#sweepJob === jobId) this.#sweepJob = null;
    }
  }

  async cancelSweep(): Promise<void> {
    await this.#cancel(this.#sweepJob, (error) => {
      if (this.sweep) this.sweep = { ...this.sweep, error };
    });
  }

  /** Forgets a sweep of a model that was closed (its splice points mean nothing without it). */
  forget(checkpointId: string): void {
    if (this.sweep?.model === checkpointId && !this.sweep.running) this.sweep = null;
  }

  dispose(): void {
    this.#unsubscribe();
  }

  async #cancel(jobId: string | null, onError: (message: string) => void): Promise<void> {
    if (jobId === null) return;
    try {
      await this.#host.cancelJob({ jobId });
    } catch (error) {
      onError(describeError(error));
    }
  }
}
