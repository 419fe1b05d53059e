import { constants as fsConstants } from 'node:fs';
import { copyFile, mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { StudioError } from '../../api/errors.js';
import type { CheckpointSummary, ExportProgress, ExportReport, ExportTarget, LayerPlan, ResolvedPlan, VerifyReport } from '../../api/types.js';
import { CONFIG_FILE_NAME } from '../checkpoint/model-config.js';
import type { LaidOutFile } from '../formats/checkpoint-format.js';
import { exportFormatFor } from '../formats/format-registry.js';
import { writeAll } from '../formats/safetensors-writer.js';
import { copyRanges } from '../native.js';
import { resolvePlan } from '../../common/plan/layer-plan.js';
import { emitMergekitYaml } from '../plan/mergekit-yaml.js';
import { chatTemplateFiles } from './chat-template-files.js';
import { exportConfigFor } from './config-remap.js';
import {
  commitExportTarget,
  discardExportTarget,
  errorAtTarget,
  exportFileError,
  isFileTarget,
  prepareExportTarget,
  type ExportTargetPolicy,
  type PreparedTarget,
} from './export-target.js';
import { ggufExportMetadata } from './gguf-export-metadata.js';
import { buildModelCard } from './model-card.js';
import { planOutputTensors, type OutputTensor } from './output-tensors.js';
import { DEFAULT_SHARD_SIZE } from './shard-plan.js';
import { isPlainCopy, transformedChunks } from './tensor-transform.js';
import { MODEL_CARD_FILE_NAME, PLAN_FILE_NAME } from './export-files.js';
import { exportSideFiles } from './side-file-donors.js';
import { verifyExport } from './verify-export.js';

export { MODEL_CARD_FILE_NAME } from './export-files.js';

/** Bytes per copyRanges call: progress and cancellation are checked at least this often. */
export const COPY_BATCH_BYTES = 64 * 1024 * 1024;

/** Progress as the API's ExportProgress, without the id the engine adds. */
export type ExportPlanProgress = Omit<ExportProgress, 'exportId'>;

export interface ExportPlanRequest {
  plan: LayerPlan;
  target: ExportTarget;
  /** The plan's sources, opened (keyed by the ids the plan names). */
  sources: ReadonlyMap<string, CheckpointSummary>;
  signal?: AbortSignal;
  onProgress?: (progress: ExportPlanProgress) => void;
  /** Re-open the export and compare every tensor with its source at the end (default true). */
  verify?: boolean;
  /** Folders the target may not be, nor hold (the bundled demo, serve roots). */
  targetPolicy?: ExportTargetPolicy;
}

/**
 * One source file as the export saw it before the first copy. Size and mtime miss a file replaced
 * by a rename over it that kept both (`rsync -a` does exactly that): the inode catches that, and
 * ctime (which no one can set back) an in-place rewrite whose mtime was restored.
 */
interface SourceFileState {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  dev: number;
  ino: number;
}

function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new StudioError('Cancelled', 'the export was cancelled');
}

/** Errors of the plan as one InvalidPlan, listing each. */
function refuseUnresolvablePlan(resolved: ResolvedPlan): void {
  if (resolved.ok) return;
  const errors = resolved.problems.filter((problem) => problem.severity === 'error');
  throw new StudioError('InvalidPlan', `the plan cannot be exported: ${errors.map((problem) => problem.message).join('; ')}`, { detail: errors });
}

/**
 * Exports a plan to a Hugging Face folder: safetensors shards (copied by the kernel where it can,
 * never holding a tensor in memory), the index, config.json remapped for the new stack, the side
 * files of base_model (else the first source) and tokenizer_source (side-file-donors.ts), a model
 * card and the plan as mergekit YAML. Everything is written into a temporary folder beside the
 * target, verified there, and renamed into place at the end, so the target never holds a
 * half-written export; on failure or cancellation (also while verifying) nothing is left behind.
 * Sources are only read; a source that changes while the export runs fails it with SourceChanged
 * instead of mixing two versions.
 */
export async function exportPlan(request: ExportPlanRequest): Promise<Omit<ExportReport, 'exportId'>> {
  const started = performance.now();
  const { plan, sources, signal } = request;
  throwIfCancelled(signal);
  const report = (progress: ExportPlanProgress): void => request.onProgress?.(progress);
  report({ phase: 'preparing', doneBytes: 0, totalBytes: 0 });

  // The format first: a plan mixing formats fails on that, not on the layer names that differ between them.
  const format = exportFormatFor(sources);
  // GGUF is one self-describing file (`NAME.gguf`): its metadata replaces config.json, the side
  // files, the model card and the plan file, which a folder export writes beside the weights.
  const selfContained = format.id === 'gguf';
  if (selfContained !== isFileTarget(request.target.dir)) {
    throw new StudioError(
      'InvalidPlan',
      selfContained
        ? `a GGUF export is one file: name the output NAME.gguf, not ${request.target.dir}`
        : `a ${format.id} export is a folder; only GGUF sources export to a .gguf file`,
      { path: request.target.dir },
    );
  }
  if (selfContained && plan.dtype !== undefined) {
    // A cast would reach only the float tensors (norms to F16, which llama.cpp does not expect) and
    // leave the quantised ones as they are: neither is what `dtype` asks for.
    throw new StudioError('InvalidPlan', `a GGUF export copies every tensor in its own type, so dtype: ${plan.dtype} cannot be applied; remove it (llama-quantize converts a GGUF)`, {
      path: request.target.dir,
    });
  }
  const resolved = resolvePlan(plan, sources);
  refuseUnresolvablePlan(resolved);
  const tensors = planOutputTensors(resolved, sources);
  const sourceNames = new Map([...sources].map(([id, summary]) => [id, summary.name]));
  // Absolute model paths: verify reads the plan back from the export wherever it is moved.
  const planYaml = emitMergekitYaml(plan, { sourceNames });
  const exportName = path.basename(request.target.dir, '.gguf');
  const metadata = selfContained ? await ggufExportMetadata({ resolved, sources, name: exportName, planYaml }) : undefined;
  const { files: shards, companions } = format.exporter.layout(tensors, { shardSize: request.target.shardSize ?? DEFAULT_SHARD_SIZE, metadata, name: exportName });
  const totalBytes = tensors.reduce((sum, tensor) => sum + tensor.bytes, 0);
  const warnings = resolved.problems.filter((problem) => problem.severity === 'warning').map((problem) => problem.message);
  const exportConfig = selfContained ? null : exportConfigFor(resolved, sources);
  if (exportConfig === null && !selfContained) warnings.push(`the config donor (base_model, else the first source) has no ${CONFIG_FILE_NAME}; the export has none either`);
  else if (exportConfig !== null) warnings.push(...exportConfig.warnings);
  const sideFiles = selfContained ? [] : await exportSideFiles(plan, resolved, sources);
  // GGUF carries its chat template in the metadata (ggufExportMetadata).
  const chatTemplate = selfContained ? null : await chatTemplateFiles(plan, sideFiles, sources);
  if (chatTemplate !== null) warnings.push(...chatTemplate.warnings);
  const entryFile = format.exporter.entryFile(shards, companions);

  const prepared = await prepareExportTarget(request.target, sources, request.targetPolicy);
  warnings.push(...prepared.notes);
  const files: string[] = [];
  let seconds: number;
  let verify: VerifyReport | null = null;
  const shardsSyncing: Promise<void>[] = [];
  try {
    const sourceStates = await snapshotSources(tensors, sources);
    let doneBytes = 0;
    try {
      for (const shard of shards) {
        throwIfCancelled(signal);
        const { durable } = await writeShard(prepared, shard, sourceStates, signal, (bytes) => {
          doneBytes += bytes;
          report({ phase: 'copying', doneBytes, totalBytes, file: shard.file });
        });
        shardsSyncing.push(durable);
        files.push(shard.file);
      }
      throwIfCancelled(signal);
      report({ phase: 'finishing', doneBytes, totalBytes });
      // The small files are written while the last shard's fsync runs, and side by side: the
      // shard's fsync waits for the disk (most of a second for gigabytes) and each small file's own
      // fsync for a journal commit, which concurrent fsyncs share; one after another they added
      // ~0.1 s to every export.
      const small: Array<{ name: string; write: () => Promise<void> }> = companions.map((companion) => ({
        name: companion.name,
        write: () => writeDurably(path.join(prepared.tempDir, companion.name), companion.text),
      }));
      if (exportConfig !== null) {
        small.push({ name: CONFIG_FILE_NAME, write: () => writeDurably(path.join(prepared.tempDir, CONFIG_FILE_NAME), `${JSON.stringify(exportConfig.config, null, 2)}\n`) });
      }
      for (const { name, from } of sideFiles) {
        if (chatTemplate?.replaced.has(name) === true) continue;
        small.push({ name, write: () => copySideFile(from, path.join(prepared.tempDir, name)) });
      }
      for (const { name, text } of chatTemplate?.written ?? []) small.push({ name, write: () => writeDurably(path.join(prepared.tempDir, name), text) });
      if (!selfContained) {
        const card = buildModelCard({ title: path.basename(prepared.dir), resolved, sources, planYaml, warnings });
        small.push(
          { name: MODEL_CARD_FILE_NAME, write: () => writeDurably(path.join(prepared.tempDir, MODEL_CARD_FILE_NAME), card) },
          { name: PLAN_FILE_NAME, write: () => writeDurably(path.join(prepared.tempDir, PLAN_FILE_NAME), planYaml) },
        );
      }
      await allWritten(small.map((file) => file.write()));
      files.push(...small.map((file) => file.name));
    } finally {
      // Every shard's fsync and close finish before the folder is kept or removed.
      await Promise.allSettled(shardsSyncing);
    }
    await Promise.all(shardsSyncing);
    throwIfCancelled(signal);
    await checkSourcesUnchanged(sourceStates);
    seconds = (performance.now() - started) / 1000;

    // Verified before the rename: a cancel while verifying still leaves nothing behind, and the
    // target path only ever holds an export that was checked.
    if (request.verify === false) {
      warnings.push('the export was not verified');
    } else {
      report({ phase: 'verifying', doneBytes: 0, totalBytes });
      verify = await verifyExport(prepared.file === null ? prepared.tempDir : path.join(prepared.tempDir, entryFile), {
        sources,
        mtp: plan.mtp ?? 'move',
        signal,
        onProgress: (checked) => report({ phase: 'verifying', doneBytes: checked, totalBytes }),
      });
      throwIfCancelled(signal);
      // A source that changed during the copy or the comparison explains any difference found.
      await checkSourcesUnchanged(sourceStates);
      verify = { ...verify, dir: prepared.file === null ? prepared.dir : path.join(path.dirname(prepared.dir), entryFile) };
      // An export that failed its check never reaches the target: with `replace` it would
      // overwrite a good export with a bad one. The temporary folder goes with the error below.
      if (!verify.ok) throw verifyFailed(verify);
    }
    await commitExportTarget(prepared);
  } catch (error) {
    // Best effort: a folder that cannot be removed (the disk went read-only) keeps its temporary
    // name, which the next export to this place removes; the error the user sees is the first one.
    await discardExportTarget(prepared).catch(() => undefined);
    throw errorAtTarget(exportFileError(error, prepared.tempDir), prepared);
  }

  return {
    // A split set has no NAME.gguf: the export is found by its first split.
    dir: prepared.file === null ? prepared.dir : path.join(path.dirname(prepared.dir), entryFile),
    files,
    tensorCount: tensors.length,
    numLayers: resolved.numLayers,
    totalBytes,
    seconds,
    bytesPerSecond: seconds > 0 ? totalBytes / seconds : 0,
    warnings,
    verify,
  };
}

/** The error for an export whose verification found problems; `detail` is the VerifyReport. */
function verifyFailed(verify: VerifyReport): StudioError {
  const count = verify.problems.length;
  const first = verify.problems[0]?.message ?? '';
  return new StudioError(
    'VerifyFailed',
    `the export to ${verify.dir} failed verification (${count} problem${count === 1 ? '' : 's'}; first: ${first}); nothing was written there`,
    { path: verify.dir, detail: verify },
  );
}

/** Every source file the tensors read, checked against what openCheckpoint saw: same size and (when it recorded one) mtime. */
async function snapshotSources(tensors: readonly OutputTensor[], sources: ReadonlyMap<string, CheckpointSummary>): Promise<Map<string, SourceFileState>> {
  const seenAtOpen = new Map<string, { bytes: number; mtimeMs?: number }>();
  for (const summary of sources.values()) for (const shard of summary.shards) seenAtOpen.set(shard.file, shard);
  const states = new Map<string, SourceFileState>();
  for (const file of new Set(tensors.map((tensor) => tensor.source.file))) {
    const now = await sourceFileState(file);
    const atOpen = seenAtOpen.get(file);
    if (atOpen !== undefined && (atOpen.bytes !== now.size || (atOpen.mtimeMs !== undefined && atOpen.mtimeMs !== now.mtimeMs))) {
      throw sourceChanged(file);
    }
    states.set(file, now);
  }
  return states;
}

async function sourceFileState(file: string): Promise<SourceFileState> {
  try {
    const info = await stat(file);
    return { size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, dev: info.dev, ino: info.ino };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw sourceChanged(file);
    throw error;
  }
}

function sourceChanged(file: string): StudioError {
  return new StudioError('SourceChanged', `${file} changed since the checkpoint was opened; open it again before exporting`, { path: file });
}

async function checkSourceUnchanged(file: string, states: ReadonlyMap<string, SourceFileState>): Promise<void> {
  const before = states.get(file);
  const now = await sourceFileState(file);
  const same =
    before !== undefined &&
    before.size === now.size &&
    before.mtimeMs === now.mtimeMs &&
    before.ctimeMs === now.ctimeMs &&
    before.dev === now.dev &&
    before.ino === now.ino;
  if (!same) throw sourceChanged(file);
}

/** Every source file still as the snapshot saw it, so every copied byte came from that version. */
async function checkSourcesUnchanged(states: ReadonlyMap<string, SourceFileState>): Promise<void> {
  for (const file of states.keys()) await checkSourceUnchanged(file, states);
}

interface CopyRange {
  sourceOffset: number;
  targetOffset: number;
  length: number;
}

/**
 * Copy ranges for plain tensors, merged where both source and target are contiguous (a layer
 * copied from a file written in the same order is one range), then cut into batches of at most
 * COPY_BATCH_BYTES so progress and cancellation are checked between calls.
 */
export function copyBatches(ranges: readonly CopyRange[], batchBytes: number = COPY_BATCH_BYTES): CopyRange[][] {
  const merged: CopyRange[] = [];
  for (const range of [...ranges].sort((left, right) => left.sourceOffset - right.sourceOffset)) {
    if (range.length === 0) continue;
    const last = merged.at(-1);
    if (last !== undefined && last.sourceOffset + last.length === range.sourceOffset && last.targetOffset + last.length === range.targetOffset) {
      last.length += range.length;
    } else {
      merged.push({ ...range });
    }
  }
  const batches: CopyRange[][] = [];
  let batch: CopyRange[] = [];
  let batchSize = 0;
  for (const range of merged) {
    let done = 0;
    while (done < range.length) {
      const length = Math.min(range.length - done, batchBytes - batchSize);
      batch.push({ sourceOffset: range.sourceOffset + done, targetOffset: range.targetOffset + done, length });
      done += length;
      batchSize += length;
      if (batchSize === batchBytes) {
        batches.push(batch);
        batch = [];
        batchSize = 0;
      }
    }
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/**
 * One shard: the header, the file sized to its final length, then the plain tensors through
 * copyRanges batched per source file, then the transformed tensors chunk by chunk. Resolves once
 * the bytes are written; `durable` settles when the shard is fsynced and closed, so the disk's
 * write-back of one shard overlaps the copy of the next.
 */
async function writeShard(
  prepared: PreparedTarget,
  shard: LaidOutFile,
  sourceStates: ReadonlyMap<string, SourceFileState>,
  signal: AbortSignal | undefined,
  onBytes: (bytes: number) => void,
): Promise<{ durable: Promise<void> }> {
  const shardPath = path.join(prepared.tempDir, shard.file);
  const targetOffsets = shard.offsets;
  const handle = await writingTo(shardPath, open(shardPath, 'wx'));
  try {
    await writingTo(shardPath, writeAll(handle, shard.header));
    // Sized up front: alignment padding between tensors reads as the zeros the formats require.
    await writingTo(shardPath, handle.truncate(shard.size));

    const plainBySource = new Map<string, CopyRange[]>();
    const transformed: OutputTensor[] = [];
    for (const tensor of shard.tensors) {
      if (!isPlainCopy(tensor)) {
        transformed.push(tensor);
        continue;
      }
      const ranges = plainBySource.get(tensor.source.file) ?? [];
      ranges.push({ sourceOffset: tensor.source.offset, targetOffset: targetOffsets.get(tensor.name) as number, length: tensor.bytes });
      plainBySource.set(tensor.source.file, ranges);
    }

    for (const [sourceFile, ranges] of plainBySource) {
      throwIfCancelled(signal);
      await checkSourceUnchanged(sourceFile, sourceStates);
      await copyInFlight(copyBatches(ranges), signal, async (batch) => {
        const { bytes } = await copyRanges(sourceFile, shardPath, batch);
        onBytes(bytes);
      });
      // copyRanges opens the source by path on every call: a file replaced between two calls is
      // caught here, at the latest before the shard is finished.
      await checkSourceUnchanged(sourceFile, sourceStates);
    }

    const sourceHandles = new Map<string, FileHandle>();
    try {
      for (const tensor of transformed) {
        throwIfCancelled(signal);
        let source = sourceHandles.get(tensor.source.file);
        if (source === undefined) {
          await checkSourceUnchanged(tensor.source.file, sourceStates);
          source = await open(tensor.source.file, 'r');
          sourceHandles.set(tensor.source.file, source);
        }
        const start = targetOffsets.get(tensor.name) as number;
        let written = 0;
        for await (const chunk of transformedChunks(tensor, source)) {
          throwIfCancelled(signal);
          await writingTo(shardPath, writeAllAt(handle, chunk.bytes, start + chunk.offset));
          written += chunk.bytes.byteLength;
          onBytes(chunk.bytes.byteLength);
        }
        if (written !== tensor.bytes) {
          throw new StudioError('Internal', `${tensor.name}: wrote ${written} bytes where ${tensor.bytes} were planned; please report this`, { path: shardPath });
        }
      }
    } finally {
      await Promise.all([...sourceHandles.values()].map((source) => source.close()));
    }
  } catch (error) {
    await handle.close();
    throw error;
  }
  const durable = (async () => {
    try {
      await writingTo(shardPath, handle.sync());
    } finally {
      await handle.close();
    }
  })();
  // Awaited by the caller; this branch only keeps a failure from counting as unhandled meanwhile.
  durable.catch(() => undefined);
  return { durable };
}

/**
 * Copy calls kept running at once after the first. Between two calls the event loop must run (the
 * result, progress, the next call), and the addon starts the disk's write-back of each call's bytes
 * (sync_file_range) before it returns: one call at a time, the copying waited for both, 0.6 s of a
 * 3.7 s copy in one trace here under load. With a second call queued, one copies while the other
 * starts its write-back or returns. More would only queue behind the target's inode lock, and each
 * call of a mapped write holds up to 64 MiB of the source mapped.
 */
export const COPIES_IN_FLIGHT = 2;

/**
 * Runs `copy` over the batches, the first alone (it times the copy paths: see
 * copy-path-calibration.ts, whose probes must not share the machine with another copy of ours),
 * then up to COPIES_IN_FLIGHT at once. A cancel stops new batches; the ones running finish. On a
 * failure every running batch is waited for before the first error is thrown, so the folder is
 * never removed under a copy.
 */
export async function copyInFlight<T>(batches: readonly T[], signal: AbortSignal | undefined, copy: (batch: T) => Promise<void>): Promise<void> {
  const running = new Set<Promise<void>>();
  const failures: unknown[] = [];
  try {
    for (const [index, batch] of batches.entries()) {
      throwIfCancelled(signal);
      const call = copy(batch).catch((error: unknown) => {
        failures.push(error);
      });
      running.add(call);
      void call.finally(() => running.delete(call));
      if (index === 0 || running.size >= COPIES_IN_FLIGHT) await Promise.race(running);
      if (failures.length > 0) break;
    }
  } finally {
    await Promise.all(running);
  }
  if (failures.length > 0) throw failures[0];
}

/** Node's FileHandle errors carry no path: an export error names the file that was being written. */
async function writingTo<T>(filePath: string, operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    throw exportFileError(error, filePath);
  }
}

async function writeAllAt(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.byteLength) {
    const { bytesWritten } = await handle.write(data, done, data.byteLength - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Waits for every write, then throws the first failure: the export's folder is removed on failure,
 * so no write may still be running then (Promise.all would reject while the others go on).
 */
async function allWritten(writes: readonly Promise<void>[]): Promise<void> {
  const failure = (await Promise.allSettled(writes)).find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
}

/** Writes a small text file and flushes it to disk before the export is renamed into place. */
async function writeDurably(filePath: string, text: string): Promise<void> {
  const handle = await writingTo(filePath, open(filePath, 'wx'));
  try {
    await writingTo(filePath, writeAll(handle, Buffer.from(text, 'utf8')));
    await writingTo(filePath, handle.sync());
  } finally {
    await handle.close();
  }
}

/** Copies a side file (following links, as in the Hugging Face cache) and flushes it. */
async function copySideFile(source: string, target: string): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  await copyFile(source, target, fsConstants.COPYFILE_EXCL);
  const handle = await writingTo(target, open(target, 'r+'));
  try {
    await writingTo(target, handle.sync());
  } finally {
    await handle.close();
  }
}
