import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  formatCount,
  formatDtypeMix,
  formatDuration,
  formatSeamJump,
} from '../../../../renderer/lib/format/human-units.js';

describe('human units', () => {
  it('writes parameter counts the way model cards do', () => {
    expect(formatCount(260_032)).toBe('260 K');
    expect(formatCount(7_241_732_096)).toBe('7.2 B');
    expect(formatCount(10_731_524_096)).toBe('10.7 B');
    expect(formatCount(118_000_000_000)).toBe('118 B');
    expect(formatCount(137)).toBe('137');
  });

  it('writes byte sizes in decimal units', () => {
    expect(formatBytes(21_400_000_000)).toBe('21.4 GB');
    expect(formatBytes(1_040_128)).toBe('1.0 MB');
    expect(formatBytes(512)).toBe('512 B');
  });

  it('writes durations, dtype mixes and seam jumps', () => {
    expect(formatDuration(45)).toBe('45 s');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(3900)).toBe('1 h 5 min');
    expect(formatDtypeMix({ BF16: 999_000, F32: 1000 })).toBe('BF16 99.9 % · F32 0.1 %');
    expect(formatDtypeMix({ F32: 260_032 })).toBe('F32 100 %');
    expect(formatSeamJump(null)).toBe('—');
    expect(formatSeamJump(0.1234)).toBe('12.3 %');
  });
});
