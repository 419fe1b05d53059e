import { describe, expect, it } from 'vitest';
import { exportSummaryText } from '../../electron/cli/plan-output.js';
import type { ExportReport } from '../../electron/api/types.js';
import { parseExportSummary } from './export-bench.js';

function report(totalBytes: number, seconds: number, verified: boolean): ExportReport {
  return {
    exportId: 'x',
    dir: '/tmp/out',
    files: ['model.safetensors', 'config.json'],
    tensorCount: 435,
    numLayers: 48,
    totalBytes,
    seconds,
    bytesPerSecond: totalBytes / seconds,
    warnings: [],
    verify: { dir: '/tmp/out', ok: verified, checkedTensors: verified ? 435 : 0, checkedBytes: verified ? totalBytes : 0, problems: [] },
  };
}

describe('parseExportSummary', () => {
  it('recovers the export time from the summary the CLI prints, to within 0.5 %', () => {
    for (const [bytes, seconds] of [
      [3_180_000_000, 4.437],
      [3_180_000_000, 73.2],
      [1_234_567, 0.0213],
    ] as const) {
      const parsed = parseExportSummary(exportSummaryText(report(bytes, seconds, true)));
      expect(parsed.tensorBytes).toBe(bytes);
      expect(Math.abs(parsed.exportSeconds - seconds) / seconds).toBeLessThan(0.005);
    }
  });

  it('reads the summary of a --skip-verify export only when asked to, and refuses a verified one there', () => {
    const skipped = exportSummaryText({ ...report(2_000_000, 0.5, true), verify: null });
    expect(parseExportSummary(skipped, 'skipped')).toEqual({ tensorBytes: 2_000_000, exportSeconds: 0.5 });
    expect(() => parseExportSummary(skipped)).toThrow(/did not verify/);
    expect(() => parseExportSummary(exportSummaryText(report(2_000_000, 0.5, true)), 'skipped')).toThrow(/was verified/);
  });

  it('refuses an export that did not verify, and output without a summary', () => {
    expect(() => parseExportSummary(exportSummaryText({ ...report(1e9, 2, false), verify: { dir: '/tmp/out', ok: false, checkedTensors: 1, checkedBytes: 2, problems: [{ code: 'TensorBytesDiffer', message: 'differs' }] } }))).toThrow(/did not verify/);
    expect(() => parseExportSummary('error: something\n')).toThrow(/no export summary/);
  });
});
