import { StudioError } from '../../api/errors.js';
import type { CheckpointFormatId } from '../../api/types.js';
import type { CheckpointFormat } from './checkpoint-format.js';
import { ggufFormat } from './gguf-format.js';
import { safetensorsFormat } from './safetensors-format.js';

/** Every checkpoint format, in the order a folder is tried (the first whose files it holds wins). */
export const CHECKPOINT_FORMAT_LIST: readonly CheckpointFormat[] = [safetensorsFormat, ggufFormat];

export function formatById(id: CheckpointFormatId): CheckpointFormat {
  const format = CHECKPOINT_FORMAT_LIST.find((candidate) => candidate.id === id);
  if (format === undefined) throw new StudioError('Internal', `no reader for the ${id} format; please report this`);
  return format;
}

/** The format whose entry file this is, or null. */
export function formatOfFile(fileName: string): CheckpointFormat | null {
  return CHECKPOINT_FORMAT_LIST.find((format) => format.detectFile(fileName)) ?? null;
}

/** Every file-name suffix any format reads (for pickers and listings). */
export function checkpointExtensions(): string[] {
  return CHECKPOINT_FORMAT_LIST.flatMap((format) => format.extensions);
}

/**
 * The format an export of these sources writes: theirs. Every source must share it (a plan that
 * mixes safetensors and GGUF cannot be one file of either without converting, which export never does).
 */
export function exportFormatFor(sources: ReadonlyMap<string, { name: string; format: CheckpointFormatId }>): CheckpointFormat {
  const formats = new Set([...sources.values()].map((summary) => summary.format));
  if (formats.size > 1) {
    const names = [...sources.values()].map((summary) => `${summary.name} (${summary.format})`).join(', ');
    throw new StudioError('MixedFormats', `the plan mixes checkpoint formats: ${names}; every source must be of one format`);
  }
  return formatById([...formats][0] ?? 'safetensors');
}
