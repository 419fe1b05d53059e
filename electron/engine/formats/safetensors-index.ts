import fs from 'node:fs';
import path from 'node:path';
import { StudioError } from '../../api/errors.js';
import { readTextFileWithin } from './bounded-read.js';
import { fileSystemError } from './file-errors.js';

/** `model.safetensors.index.json`, read and checked (shard names safe, shards present). */
export interface SafetensorsIndex {
  path: string;
  folder: string;
  metadata: Record<string, unknown>;
  /** Tensor name → shard file name relative to `folder`. A prototype-free object. */
  weightMap: Record<string, string>;
  /** Unique shard names, in order of first appearance in `weight_map`. */
  shards: string[];
}

export const INDEX_FILE_NAME = 'model.safetensors.index.json';

/**
 * Largest index read. An index names no more tensors than its shards' headers, whose limit is the
 * same 100 MB; the indexes of the largest models on the Hub are a few MB.
 */
export const MAX_INDEX_BYTES = 100_000_000;

/** Shards checked at once: enough to overlap the stat calls, few enough that a hostile index of a million names costs no more than the first missing one. */
const SHARD_CHECK_CONCURRENCY = 64;

/** stat failures that mean no file can be at that name (rather than a file that cannot be read). */
const ABSENT_CODES: ReadonlySet<string | undefined> = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG']);

/** Callback stat: one per shard, and fs/promises costs several times more per call. */
function statFile(filePath: string): Promise<fs.Stats> {
  return new Promise((resolve, reject) => {
    fs.stat(filePath, (error, stats) => (error ? reject(error) : resolve(stats)));
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Why a shard name from an index may not be used as a path, or null when it is safe. Index files
 * come from strangers: a name must stay inside the folder (no `..`, no absolute path, no drive
 * letter, no backslash, no URL).
 */
export function unsafeShardNameReason(name: string): string | null {
  if (name.length === 0) return 'it is empty';
  if (name.includes('\0')) return 'it contains a NUL character';
  if (name.includes('..')) return 'it contains ".."';
  if (name.startsWith('/') || name.startsWith('\\')) return 'it is an absolute path';
  if (name.includes('\\')) return 'it contains a backslash';
  if (name.includes('://')) return 'it is a URL';
  if (/^[A-Za-z]:/.test(name)) return 'it starts with a drive letter';
  return null;
}

/**
 * Reads a sharded checkpoint's index. Validates the JSON shape (InvalidIndex), every shard name
 * (UnsafeShardPath) and that every listed shard exists as a file (MissingShard). The cross-check
 * against the shards' headers is the caller's (openCheckpoint), since it needs those headers.
 */
export async function readSafetensorsIndex(indexPath: string): Promise<SafetensorsIndex> {
  const resolved = path.resolve(indexPath);
  const file = path.basename(resolved);
  const folder = path.dirname(resolved);
  const text = await readTextFileWithin(resolved, { what: 'index file', maxBytes: MAX_INDEX_BYTES, invalidCode: 'InvalidIndex' });
  const invalid = (detail: string, cause?: unknown): StudioError =>
    new StudioError('InvalidIndex', `${file}: ${detail}`, { path: resolved, cause });

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw invalid(`the index is not valid JSON (${error instanceof Error ? error.message : String(error)})`, error);
  }
  if (!isPlainObject(parsed)) throw invalid('the index must be a JSON object');
  const rawMetadata = parsed.metadata;
  if (rawMetadata !== undefined && rawMetadata !== null && !isPlainObject(rawMetadata)) {
    throw invalid('"metadata" must be an object');
  }
  const rawWeightMap = parsed.weight_map;
  if (!isPlainObject(rawWeightMap)) throw invalid('"weight_map" must be an object of tensor name → shard file');

  const weightMap: Record<string, string> = Object.create(null) as Record<string, string>;
  const shards: string[] = [];
  // Shard → the first tensor listed in it, named when the shard is missing.
  const shardSet = new Map<string, string>();
  for (const tensor of Object.keys(rawWeightMap)) {
    const shard = rawWeightMap[tensor];
    if (typeof shard !== 'string') throw invalid(`tensor "${tensor}" maps to a non-string shard name`);
    if (!shardSet.has(shard)) {
      const reason = unsafeShardNameReason(shard);
      if (reason !== null) {
        throw new StudioError('UnsafeShardPath', `${file}: tensor "${tensor}" points to shard "${shard}", which is unsafe: ${reason}`, {
          path: resolved,
          detail: { tensor, shard },
        });
      }
      shardSet.set(shard, tensor);
      shards.push(shard);
    }
    weightMap[tensor] = shard;
  }

  const checkShard = async (shard: string): Promise<void> => {
    const shardPath = path.join(folder, shard);
    let isFile = false;
    try {
      isFile = (await statFile(shardPath)).isFile();
    } catch (error) {
      if (!ABSENT_CODES.has((error as NodeJS.ErrnoException).code)) throw fileSystemError(error, shardPath, 'shard');
    }
    if (!isFile) {
      const tensor = shardSet.get(shard);
      throw new StudioError('MissingShard', `${file}: shard "${shard}" (holding tensor "${tensor}") is missing from the folder`, {
        path: shardPath,
        detail: { tensor, shard, index: resolved },
      });
    }
  };
  // A few workers over the list: the first missing shard stops them all.
  let next = 0;
  let stopped = false;
  const worker = async (): Promise<void> => {
    while (!stopped && next < shards.length) {
      try {
        await checkShard(shards[next++] as string);
      } catch (error) {
        stopped = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(SHARD_CHECK_CONCURRENCY, shards.length) }, worker));

  return {
    path: resolved,
    folder,
    metadata: isPlainObject(rawMetadata) ? rawMetadata : {},
    weightMap,
    shards,
  };
}
