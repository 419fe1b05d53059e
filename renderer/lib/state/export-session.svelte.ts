import type { StudioHost } from '../../../electron/api/studio-api.js';
import type { ExportPhase, ExportProgress, ExportReport, LayerPlan } from '../../../electron/api/types.js';
import { StudioError } from '../../../electron/api/errors.js';
import { describeError } from '../studio-client.js';
import { BYTE_SIZE_EXAMPLES, parseByteSize } from '../../../electron/common/byte-size.js';
import { newJobId } from './job-id.js';

export interface ExportSessionOptions {
  /** Milliseconds clock (tests pass a fake one). */
  now?: () => number;
  /** Window over which the speed is measured, in milliseconds. */
  speedWindowMs?: number;
  /** What the plan's sources export to: a folder, or one GGUF file (a split set above the shard size). */
  targetKind?: () => ExportTargetKind;
}

/** A folder of shards and side files (safetensors), or one self-describing file `NAME.gguf` (GGUF). */
export type ExportTargetKind = 'folder' | 'file';

/** The extension a file target must have: the engine tells a GGUF export by it. */
export const FILE_TARGET_EXTENSION = '.gguf';

/** A file name typed in a save dialog, with the extension added when it has none (Linux dialogs add none). */
export function withFileExtension(name: string): string {
  const trimmed = name.trim();
  return trimmed.toLowerCase().endsWith(FILE_TARGET_EXTENSION) ? trimmed : `${trimmed}${FILE_TARGET_EXTENSION}`;
}

interface Sample {
  at: number;
  bytes: number;
}


/**
 * One export at a time: the form (target folder or GGUF file, shard size, replace), the progress as it streams
 * in (bytes, speed over the last seconds, time left), cancel, and the final report with its verify result.
 */
export class ExportSession {
  #dir = $state('');
  shardSize = $state('5GB');
  #replace = $state(false);

  /** The target folder. A new one clears the last export's outcome ("Cancelled", "already exists"), which was about the old one. */
  get dir(): string {
    return this.#dir;
  }

  set dir(value: string) {
    if (value !== this.#dir) this.#forgetOutcome();
    this.#dir = value;
  }

  /** Replace an existing export at the target; toggling it also answers an "already exists" error. */
  get replace(): boolean {
    return this.#replace;
  }

  set replace(value: boolean) {
    if (value !== this.#replace) this.#forgetOutcome();
    this.#replace = value;
  }

  exportId = $state<string | null>(null);
  phase = $state<ExportPhase | 'idle'>('idle');
  doneBytes = $state(0);
  totalBytes = $state(0);
  file = $state<string | null>(null);
  /** Bytes per second over the last few seconds; 0 until two samples exist. */
  bytesPerSecond = $state(0);
  report = $state.raw<ExportReport | null>(null);
  error = $state<string | null>(null);
  errorCode = $state<string | null>(null);

  shardSizeBytes = $derived(parseByteSize(this.shardSize));
  running = $derived(this.exportId !== null && !['idle', 'done', 'failed', 'cancelled'].includes(this.phase));
  /** Seconds left at the current speed, or null when unknown. */
  secondsLeft = $derived(
    this.bytesPerSecond > 0 && this.totalBytes > 0 ? Math.max(0, (this.totalBytes - this.doneBytes) / this.bytesPerSecond) : null,
  );
  fraction = $derived(this.totalBytes > 0 ? Math.min(1, this.doneBytes / this.totalBytes) : 0);
  /** Folder for safetensors sources, file for GGUF sources (then `dir` holds the file's path). */
  targetKind = $derived(this.#targetKind());

  #host: StudioHost;
  #now: () => number;
  #windowMs: number;
  #samples: Sample[] = [];
  #unsubscribe: () => void;
  #targetKindOf: () => ExportTargetKind;

  constructor(host: StudioHost, options: ExportSessionOptions = {}) {
    this.#host = host;
    this.#now = options.now ?? (() => performance.now());
    this.#windowMs = options.speedWindowMs ?? 3000;
    this.#targetKindOf = options.targetKind ?? (() => 'folder');
    this.#unsubscribe = host.on('jobProgress', (event) => {
      if (event.kind === 'export') this.#receive(event.progress);
    });
  }

  /** Why the form cannot start, in words, or null when it can. */
  get formProblem(): string | null {
    const target = this.dir.trim();
    if (this.targetKind === 'file') {
      if (target === '') return `Choose an output file NAME${FILE_TARGET_EXTENSION}.`;
      if (!target.toLowerCase().endsWith(FILE_TARGET_EXTENSION)) return `A GGUF export is one file: name it NAME${FILE_TARGET_EXTENSION}.`;
    } else if (target === '') {
      return 'Choose a target folder.';
    } else if (target.toLowerCase().endsWith(FILE_TARGET_EXTENSION)) {
      return `Only GGUF sources export to a ${FILE_TARGET_EXTENSION} file; these export to a folder.`;
    }
    if (this.shardSizeBytes === null) return `Shard size: a size such as ${BYTE_SIZE_EXAMPLES}.`;
    return null;
  }

  /** Runs the export to the end (done, failed or cancelled); progress arrives meanwhile as events. */
  async start(plan: LayerPlan): Promise<void> {
    if (this.running || this.formProblem !== null) return;
    const exportId = newJobId('export');
    this.#resetOutcome(exportId, 'preparing');
    try {
      const report = await this.#host.exportPlan({
        exportId,
        plan,
        target: { dir: this.dir.trim(), shardSize: this.shardSizeBytes!, replace: this.replace },
      });
      if (this.exportId !== exportId) return;
      this.report = report;
      this.doneBytes = report.totalBytes;
      this.totalBytes = report.totalBytes;
      this.bytesPerSecond = report.bytesPerSecond;
      // An export that fails verification is never committed: the engine throws VerifyFailed (below).
      this.phase = 'done';
    } catch (error) {
      if (this.exportId !== exportId) return;
      const cancelled = error instanceof StudioError && error.code === 'Cancelled';
      this.phase = cancelled ? 'cancelled' : 'failed';
      this.error = cancelled ? null : describeError(error);
      this.errorCode = error instanceof StudioError ? error.code : null;
    }
  }

  /** Asks the engine to stop; the export call then ends with Cancelled and nothing stays at the target. */
  async cancel(): Promise<void> {
    if (!this.running || this.exportId === null) return;
    try {
      await this.#host.cancelJob({ jobId: this.exportId });
    } catch (error) {
      this.error = describeError(error);
    }
  }

  dispose(): void {
    this.#unsubscribe();
  }

  /** Back to the empty form, unless an export is still running (its outcome is still to come). */
  #forgetOutcome(): void {
    if (this.running || this.phase === 'idle') return;
    this.#resetOutcome(null, 'idle');
  }

  #resetOutcome(exportId: string | null, phase: ExportPhase | 'idle'): void {
    this.exportId = exportId;
    this.phase = phase;
    this.doneBytes = 0;
    this.totalBytes = 0;
    this.file = null;
    this.bytesPerSecond = 0;
    this.report = null;
    this.error = null;
    this.errorCode = null;
    this.#samples = [];
  }

  #targetKind(): ExportTargetKind {
    return this.#targetKindOf();
  }

  #receive(progress: ExportProgress): void {
    if (progress.exportId !== this.exportId) return;
    // The final report decides done/failed; a late event must not undo it.
    if (this.phase === 'done' || this.phase === 'failed' || this.phase === 'cancelled') return;
    this.phase = progress.phase;
    this.doneBytes = progress.doneBytes;
    this.totalBytes = progress.totalBytes;
    this.file = progress.file ?? null;
    const at = this.#now();
    this.#samples.push({ at, bytes: progress.doneBytes });
    while (this.#samples.length > 2 && at - this.#samples[0]!.at > this.#windowMs) this.#samples.shift();
    const first = this.#samples[0]!;
    const elapsed = (at - first.at) / 1000;
    this.bytesPerSecond = elapsed > 0 ? Math.max(0, (progress.doneBytes - first.bytes) / elapsed) : 0;
  }
}
