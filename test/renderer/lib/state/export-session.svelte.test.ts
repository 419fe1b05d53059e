import { describe, expect, it } from 'vitest';
import { ExportSession, withFileExtension, type ExportTargetKind } from '../../../../renderer/lib/state/export-session.svelte.js';
import { createFakeStudio } from '../../fake-studio.js';

function session(kind: ExportTargetKind): ExportSession {
  return new ExportSession(createFakeStudio(), { targetKind: () => kind });
}

describe('ExportSession target', () => {
  it('asks GGUF sources for an output file NAME.gguf and refuses a folder', () => {
    const exporter = session('file');
    expect(exporter.formProblem).toBe('Choose an output file NAME.gguf.');
    exporter.dir = '/models/exports/solar';
    expect(exporter.formProblem).toBe('A GGUF export is one file: name it NAME.gguf.');
    exporter.dir = '/models/exports/solar.GGUF';
    expect(exporter.formProblem).toBeNull();
  });

  it('asks other sources for a folder and refuses a .gguf name', () => {
    const exporter = session('folder');
    expect(exporter.formProblem).toBe('Choose a target folder.');
    exporter.dir = '/models/exports/solar.gguf';
    expect(exporter.formProblem).toContain('Only GGUF sources export to a .gguf file');
    exporter.dir = '/models/exports/solar';
    expect(exporter.formProblem).toBeNull();
  });

  it('adds .gguf to a typed file name that lacks it, once', () => {
    expect(withFileExtension(' solar ')).toBe('solar.gguf');
    expect(withFileExtension('solar.gguf')).toBe('solar.gguf');
    expect(withFileExtension('solar.GGUF')).toBe('solar.GGUF');
  });
});
