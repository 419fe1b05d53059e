import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileSystemError } from '../formats/file-errors.js';

/**
 * A tokenizer's own files, its chat template included. They travel together: from tokenizer_source
 * when a plan names one, else with the other side files (export/side-file-donors.ts).
 */
const TOKENIZER_FILE_NAMES: ReadonlySet<string> = new Set([
  'tokenizer.json',
  'tokenizer.model',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'vocab.txt',
  'merges.txt',
  'spiece.model',
  'chat_template.jinja',
  'chat_template.json',
]);

/** Non-weight files a model needs beside its weights: tokenizer, chat template, generation and processor configs. */
export const SIDE_FILE_NAMES: ReadonlySet<string> = new Set([
  ...TOKENIZER_FILE_NAMES,
  'generation_config.json',
  'preprocessor_config.json',
  'processor_config.json',
  // mergekit's _copy_tokenizer copies it too (merge.py).
  'video_preprocessor_config.json',
  // A tagalong file of mergekit's whisper architecture (_data/architectures/whisper.json), copied from the donor.
  'normalizer.json',
]);

/** True for a tokenizer file (`*.tiktoken` included). */
export function isTokenizerFileName(name: string): boolean {
  return TOKENIZER_FILE_NAMES.has(name) || isTiktokenName(name);
}

function isTiktokenName(name: string): boolean {
  return name.endsWith('.tiktoken') && name.length > '.tiktoken'.length;
}

/** True for a file name that is copied on export beside the weights (`*.tiktoken` included). */
export function isSideFileName(name: string): boolean {
  return SIDE_FILE_NAMES.has(name) || isTiktokenName(name);
}

/**
 * Side files present in `folder` (names relative to it, sorted). Symbolic links count when they
 * lead to a file, as in the Hugging Face cache, where every file of a snapshot is a link to a blob.
 */
export async function listSideFiles(folder: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    throw fileSystemError(error, folder, 'model folder');
  }
  const candidates = entries.filter((entry) => isSideFileName(entry.name) && (entry.isFile() || entry.isSymbolicLink()));
  const checked = await Promise.all(
    candidates.map(async (entry) => {
      if (entry.isFile()) return entry.name;
      try {
        return (await stat(path.join(folder, entry.name))).isFile() ? entry.name : null;
      } catch {
        return null; // A dangling link is not a side file.
      }
    }),
  );
  return checked.filter((name): name is string => name !== null).sort();
}
