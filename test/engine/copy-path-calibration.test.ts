import { describe, expect, it } from 'vitest';
import {
  COPY_METHODS,
  CopyPathCalibration,
  fastestMethod,
  HOPELESS_SLOWDOWN,
  MIN_TIMED_BYTES,
  PROBE_BYTES,
  PROBES_PER_METHOD,
  RECALIBRATE_AFTER_BYTES,
  type CopyMethod,
  type CopyOutcome,
} from '../../electron/engine/copy-path-calibration.js';

/** What the addon reports when `bytes` went wholly through `method` at `gigabytesPerSecond`. */
function through(method: CopyMethod, bytes: number, gigabytesPerSecond: number): CopyOutcome {
  const bytesByMethod = { 'copy_file_range': 0, 'mapped-write': 0, 'read-write': 0 };
  bytesByMethod[method] = bytes;
  return { bytes, bytesByMethod, nanoseconds: bytes / gigabytesPerSecond };
}

/** Runs the calibration's probes with each path at its given speed; returns the paths asked for, in order. */
function calibrate(calibration: CopyPathCalibration, speeds: Readonly<Record<CopyMethod, number>>): CopyMethod[] {
  const asked: CopyMethod[] = [];
  while (calibration.choice === null) {
    const method = calibration.nextMethod();
    asked.push(method);
    calibration.record(method, through(method, calibration.pieceBytes(), speeds[method]));
  }
  return asked;
}

describe('fastestMethod', () => {
  it('picks the path with the highest rate', () => {
    expect(
      fastestMethod([
        { method: 'copy_file_range', bytes: 4e6, nanoseconds: 1e6 },
        { method: 'mapped-write', bytes: 4e6, nanoseconds: 2e6 },
        { method: 'read-write', bytes: 4e6, nanoseconds: 1.5e6 },
      ]),
    ).toBe('copy_file_range');
    expect(
      fastestMethod([
        { method: 'copy_file_range', bytes: 4e6, nanoseconds: 3e6 },
        { method: 'mapped-write', bytes: 2e6, nanoseconds: 0.5e6 },
      ]),
    ).toBe('mapped-write');
  });

  it('judges each path by its best sample, so one disturbed run does not condemn it', () => {
    // The kernel's copy was slowed once (another process's I/O), but its undisturbed runs are the fastest.
    expect(
      fastestMethod([
        { method: 'copy_file_range', bytes: 4e6, nanoseconds: 40e6 },
        { method: 'copy_file_range', bytes: 4e6, nanoseconds: 1e6 },
        { method: 'mapped-write', bytes: 4e6, nanoseconds: 2e6 },
        { method: 'mapped-write', bytes: 4e6, nanoseconds: 2.1e6 },
      ]),
    ).toBe('copy_file_range');
  });

  it('gives a tie to the earlier path and nothing for no samples', () => {
    expect(
      fastestMethod([
        { method: 'read-write', bytes: 1e6, nanoseconds: 1e6 },
        { method: 'mapped-write', bytes: 1e6, nanoseconds: 1e6 },
      ]),
    ).toBe('mapped-write');
    expect(fastestMethod([])).toBeNull();
  });
});

describe('CopyPathCalibration', () => {
  it('times every path in turn on probe-sized pieces, then chooses the fastest for everything after', () => {
    for (const [fastest, speeds] of [
      ['copy_file_range', { 'copy_file_range': 4.2, 'mapped-write': 1.8, 'read-write': 2.0 }],
      ['mapped-write', { 'copy_file_range': 1.5, 'mapped-write': 2.3, 'read-write': 2.0 }],
      ['read-write', { 'copy_file_range': 1.5, 'mapped-write': 2.3, 'read-write': 3.1 }],
    ] as const) {
      const calibration = new CopyPathCalibration();
      expect(calibration.pieceBytes()).toBe(PROBE_BYTES);
      const asked = calibrate(calibration, speeds);
      expect(asked).toEqual(Array.from({ length: PROBES_PER_METHOD }, () => COPY_METHODS).flat());
      expect(calibration.choice).toBe(fastest);
      expect(calibration.nextMethod()).toBe(fastest);
      expect(calibration.pieceBytes()).toBe(Number.POSITIVE_INFINITY);
    }
  });

  it(`stops probing a path after two probes when it is ${HOPELESS_SLOWDOWN}× slower than the fastest, and never on one slow probe`, () => {
    // A mapped write at 1/100 of the kernel's copy, as measured on one machine here.
    const calibration = new CopyPathCalibration();
    const asked = calibrate(calibration, { 'copy_file_range': 2, 'mapped-write': 0.02, 'read-write': 0.1 });
    expect(asked).toEqual([...COPY_METHODS, ...COPY_METHODS]);
    expect(calibration.choice).toBe('copy_file_range');

    // The fastest path's first probe was slowed 20× by another process: it stays in the running.
    const disturbed = new CopyPathCalibration();
    const order: CopyMethod[] = [];
    while (disturbed.choice === null) {
      const method = disturbed.nextMethod();
      const slowed = method === 'copy_file_range' && !order.includes(method) ? 20 : 1;
      order.push(method);
      disturbed.record(method, through(method, PROBE_BYTES, { 'copy_file_range': 4.2, 'mapped-write': 1.8, 'read-write': 2.0 }[method] / slowed));
    }
    expect(disturbed.choice).toBe('copy_file_range');
  });

  it('copies short pieces without timing them', () => {
    const calibration = new CopyPathCalibration();
    for (let piece = 0; piece < 20; piece += 1) {
      calibration.record(calibration.nextMethod(), through('copy_file_range', MIN_TIMED_BYTES - 1, 9));
    }
    expect(calibration.choice).toBeNull();
    expect(calibration.nextMethod()).toBe('copy_file_range');
  });

  it('stops asking for a path the files refused (its bytes went on to the next path)', () => {
    const calibration = new CopyPathCalibration();
    // copy_file_range between two file systems: EXDEV, the mapped write carried the bytes.
    calibration.record('copy_file_range', through('mapped-write', PROBE_BYTES, 2));
    expect(calibration.availableMethods).toEqual(['mapped-write', 'read-write']);
    const asked = calibrate(calibration, { 'copy_file_range': 99, 'mapped-write': 2, 'read-write': 1 });
    expect(asked).not.toContain('copy_file_range');
    expect(calibration.choice).toBe('mapped-write');
    // A file system that cannot map either: only the buffer is left, chosen without timing.
    calibration.record('mapped-write', through('read-write', PROBE_BYTES, 1));
    expect(calibration.choice).toBe('read-write');
  });

  it('times the paths again after the choice has carried RECALIBRATE_AFTER_BYTES', () => {
    const calibration = new CopyPathCalibration();
    calibrate(calibration, { 'copy_file_range': 1, 'mapped-write': 3, 'read-write': 2 });
    expect(calibration.choice).toBe('mapped-write');
    calibration.record('mapped-write', through('mapped-write', RECALIBRATE_AFTER_BYTES - 1, 3));
    expect(calibration.choice).toBe('mapped-write');
    calibration.record('mapped-write', through('mapped-write', 1, 3));
    expect(calibration.choice).toBeNull();
    // The machine changed: now the kernel's copy is fastest.
    calibrate(calibration, { 'copy_file_range': 4, 'mapped-write': 3, 'read-write': 2 });
    expect(calibration.choice).toBe('copy_file_range');
  });
});
