/**
 * Which of the addon's three copy paths to use, chosen by measuring them on the export's own work.
 *
 * copy_file_range, a pwrite from a populated mapping and pread/pwrite through a buffer each win on
 * some machine: on one 2-core machine the mapped write beat the kernel's copy at mismatched page
 * offsets by a third; on another of the same kind the kernel's copy was 2.5× faster than the mapped
 * write. So no constant rule is right everywhere. Instead, the first few pieces of work between two
 * file systems go through each path in turn, timed by the addon (only the copying, not the open);
 * every probe copies real bytes of the export, so nothing is copied twice. Then the fastest path
 * carries everything until RECALIBRATE_AFTER_BYTES more have been copied, when the paths are timed
 * again (page-cache pressure and the other load on the machine change over a long export).
 *
 * This module holds the policy only, with no I/O, so it can be tested with made-up timings;
 * electron/engine/native.ts applies it to the addon's copies.
 */

/** The addon's copy paths, in the order a refusal falls through them (native/src/copy-ranges.cc). */
export const COPY_METHODS = ['copy_file_range', 'mapped-write', 'read-write'] as const;
export type CopyMethod = (typeof COPY_METHODS)[number];

export function isCopyMethod(value: unknown): value is CopyMethod {
  return (COPY_METHODS as readonly unknown[]).includes(value);
}

/**
 * Bytes in one timed probe. Large enough that timing is precise (2 MiB at 4 GB/s is 0.5 ms, timed
 * inside the addon), small enough that probes through the slower paths cost little: at most
 * 3 paths × 3 probes × 2 MiB = 18 MiB, of which 12 MiB go the slower ways.
 */
export const PROBE_BYTES = 2 * 1024 * 1024;
/** Timed probes per path before choosing. */
export const PROBES_PER_METHOD = 3;
/**
 * A path whose best of two probes is this many times slower than the fastest path's best gets no
 * third: on one machine here a mapped write ran at 1/100 of the kernel's copy, and probing it again
 * would cost more than the choice saves. Two probes, not one, because one probe of the truly
 * fastest path may be slowed by another process and must not get it thrown out.
 */
export const HOPELESS_SLOWDOWN = 3;
/** A probe shorter than this (the tail of a small batch) is copied but not timed: too short to tell. */
export const MIN_TIMED_BYTES = 1024 * 1024;
/** After the choice has carried this many bytes, the paths are timed again. */
export const RECALIBRATE_AFTER_BYTES = 4 * 1024 ** 3;

/** One timed copy: `bytes` went through `method` in `nanoseconds`. */
export interface CopySample {
  method: CopyMethod;
  bytes: number;
  nanoseconds: number;
}

/**
 * The path with the highest rate among its best samples, or null without samples. The best sample
 * of each path, not the mean: on a shared machine interference (another process's I/O, dirty-page
 * throttling, preemption) only ever makes a copy slower, so the fastest run of a path is the
 * closest to what the path itself costs. Ties go to the earlier path in COPY_METHODS.
 */
export function fastestMethod(samples: readonly CopySample[]): CopyMethod | null {
  let fastest: CopyMethod | null = null;
  let fastestRate = -1;
  for (const method of COPY_METHODS) {
    for (const sample of samples) {
      if (sample.method !== method) continue;
      const rate = sample.bytes / Math.max(sample.nanoseconds, 1);
      if (rate > fastestRate) {
        fastestRate = rate;
        fastest = method;
      }
    }
  }
  return fastest;
}

/** What one call into the addon reported: how many bytes went through which path, and how long it took. */
export interface CopyOutcome {
  bytes: number;
  bytesByMethod: Readonly<Record<CopyMethod, number>>;
  nanoseconds: number;
}

/**
 * The calibration of one pair of file systems (and one kind of range: see native.ts). Ask
 * `nextMethod()` before each piece of work, sized by `pieceBytes()`, and report what the addon did
 * with `record()`.
 */
export class CopyPathCalibration {
  private readonly available = new Set<CopyMethod>(COPY_METHODS);
  /** The available paths still in the running this round. */
  private contenders = new Set<CopyMethod>(COPY_METHODS);
  private samples: CopySample[] = [];
  private chosen: CopyMethod | null = null;
  private bytesSinceChoice = 0;

  /** The path chosen by the last calibration; null while the paths are being timed. */
  get choice(): CopyMethod | null {
    return this.chosen;
  }

  /** The paths these files allow, as far as the copies so far have shown. */
  get availableMethods(): CopyMethod[] {
    return COPY_METHODS.filter((method) => this.available.has(method));
  }

  /** The path for the next piece: the chosen one, or while timing, the available path with the fewest probes. */
  nextMethod(): CopyMethod {
    if (this.chosen !== null) return this.chosen;
    let next: CopyMethod = 'read-write';
    let fewest = Number.POSITIVE_INFINITY;
    for (const method of this.contenderMethods()) {
      const count = this.samples.filter((sample) => sample.method === method).length;
      if (count < fewest) {
        fewest = count;
        next = method;
      }
    }
    return next;
  }

  /** How many bytes the next call should copy at most: one probe while timing, else everything left. */
  pieceBytes(): number {
    return this.chosen === null ? PROBE_BYTES : Number.POSITIVE_INFINITY;
  }

  /**
   * Takes in what the addon did with a piece sent as `requested`. A path that handed bytes on to the
   * next one (EXDEV, ENOSYS, an unmappable file) is not available between these files and is not
   * tried again; a piece that went wholly through its path and is long enough becomes a sample.
   */
  record(requested: CopyMethod, outcome: CopyOutcome): void {
    if (outcome.bytes === 0) return;
    const carried = outcome.bytesByMethod[requested] ?? 0;
    if (carried < outcome.bytes) {
      this.available.delete(requested);
      this.contenders.delete(requested);
      this.samples = this.samples.filter((sample) => sample.method !== requested);
      if (this.chosen === requested) this.restart();
      else this.decideIfTimed();
      return;
    }
    if (this.chosen !== null) {
      this.bytesSinceChoice += outcome.bytes;
      if (this.bytesSinceChoice >= RECALIBRATE_AFTER_BYTES) this.restart();
      return;
    }
    if (outcome.bytes >= MIN_TIMED_BYTES) this.samples.push({ method: requested, bytes: outcome.bytes, nanoseconds: outcome.nanoseconds });
    this.decideIfTimed();
  }

  private contenderMethods(): CopyMethod[] {
    return COPY_METHODS.filter((method) => this.contenders.has(method) && this.available.has(method));
  }

  private samplesOf(method: CopyMethod): CopySample[] {
    return this.samples.filter((sample) => sample.method === method);
  }

  private decideIfTimed(): void {
    let methods = this.contenderMethods();
    if (methods.every((method) => this.samplesOf(method).length >= 2)) {
      const best = (method: CopyMethod): number => Math.max(...this.samplesOf(method).map((sample) => sample.bytes / Math.max(sample.nanoseconds, 1)));
      const fastest = Math.max(...methods.map(best));
      for (const method of methods) if (best(method) * HOPELESS_SLOWDOWN < fastest) this.contenders.delete(method);
      methods = this.contenderMethods();
    }
    const timed = methods.every((method) => this.samplesOf(method).length >= PROBES_PER_METHOD);
    // With one path left there is nothing to time: the buffer always works.
    if (timed || methods.length <= 1) {
      this.chosen = methods.length <= 1 ? (methods[0] ?? 'read-write') : fastestMethod(this.samples.filter((sample) => methods.includes(sample.method)));
      this.bytesSinceChoice = 0;
    }
  }

  private restart(): void {
    this.chosen = null;
    this.contenders = new Set(this.available);
    this.samples = [];
    this.bytesSinceChoice = 0;
    this.decideIfTimed();
  }
}
