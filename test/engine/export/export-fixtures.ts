/** Shared helpers of the export tests: temporary folders, opened fixtures, tensor bytes. */
import { mkdtemp, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CheckpointSummary, LayerPlan, PlanSlice, TensorInfo } from '../../../electron/api/types.js';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { readGgufHeader, type GgufValue } from '../../../electron/engine/formats/gguf.js';
import { ggufFileBytes } from '../../../electron/engine/formats/gguf-writer.js';
import type { StudioHost } from '../../../electron/api/studio-api.js';
import { createStudioEngine, locateDemoModel } from '../../../electron/engine/studio-engine.js';
import { buildFixtureCheckpoint, type FixtureOptions } from '../../fixtures/checkpoint-builder.js';

/** The real trained model the project ships as its demo (build/demo). */
export const STORIES_260K = path.resolve(import.meta.dirname, '../../../build/demo/stories260K');

/** Temporary folders made by a test file; `removeAll` in afterEach/afterAll. */
export class TempFolders {
  private readonly made: string[] = [];

  async make(): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
    this.made.push(dir);
    return dir;
  }

  async removeAll(): Promise<void> {
    await Promise.all(this.made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

/** Builds a fixture checkpoint in a new temporary folder and opens it. */
export async function openFixture(folders: TempFolders, options: Omit<FixtureOptions, 'dir'>): Promise<CheckpointSummary> {
  const dir = path.join(await folders.make(), 'model');
  await buildFixtureCheckpoint({ ...options, dir });
  return openCheckpoint(dir);
}

export function sourceMap(...summaries: CheckpointSummary[]): Map<string, CheckpointSummary> {
  return new Map(summaries.map((summary) => [summary.id, summary]));
}

export function slice(model: CheckpointSummary, start: number, end: number, extra: Partial<PlanSlice> = {}): PlanSlice {
  return { model: model.id, start, end, ...extra };
}

/** SOLAR DUS: copy A keeps [0, n − drop), copy B keeps [drop, n). */
export function dusPlan(model: CheckpointSummary, drop: number, extra: Partial<LayerPlan> = {}): LayerPlan {
  return { slices: [slice(model, 0, model.numLayers - drop), slice(model, drop, model.numLayers)], ...extra };
}

export async function tensorBytes(tensor: Pick<TensorInfo, 'file' | 'offset' | 'bytes'>): Promise<Buffer> {
  const handle = await open(tensor.file, 'r');
  try {
    const buffer = Buffer.alloc(tensor.bytes);
    let done = 0;
    while (done < tensor.bytes) {
      const { bytesRead } = await handle.read(buffer, done, tensor.bytes - done, tensor.offset + done);
      if (bytesRead === 0) throw new Error(`${tensor.file} ends early`);
      done += bytesRead;
    }
    return buffer;
  } finally {
    await handle.close();
  }
}

export function tensorByName(summary: CheckpointSummary, name: string): TensorInfo {
  const tensor = summary.tensors.find((candidate) => candidate.name === name);
  if (tensor === undefined) throw new Error(`${summary.name} has no tensor ${name}`);
  return tensor;
}

/** Every output layer's origin, in output order. */
export function layerOrigins(summary: CheckpointSummary, ...ranges: Array<[number, number]>): Array<{ summary: CheckpointSummary; layer: number }> {
  return ranges.flatMap(([start, end]) => Array.from({ length: end - start }, (_, index) => ({ summary, layer: start + index })));
}

/**
 * Checks every tensor of the export against its source, bytes and all: output layer j against its
 * origin's layer (same local name), the final norm and head against `last`, other non-layer
 * tensors against `first`. Returns how many tensors were compared.
 */
export async function expectLayersCopied(
  exported: CheckpointSummary,
  origins: ReadonlyArray<{ summary: CheckpointSummary; layer: number }>,
  first: CheckpointSummary,
  last: CheckpointSummary = first,
): Promise<number> {
  let compared = 0;
  for (const tensor of exported.tensors) {
    let source: TensorInfo;
    if (tensor.layer === null) {
      const from = tensor.kind === 'head' || tensor.kind === 'final_norm' ? last : first;
      source = tensorByName(from, tensor.name);
    } else {
      const origin = origins[tensor.layer];
      if (origin === undefined) throw new Error(`unexpected layer ${tensor.layer} in the export`);
      source = tensorByName(origin.summary, `${origin.summary.layerPrefix}${origin.layer}.${tensor.localName}`);
    }
    if (tensor.dtype !== source.dtype || tensor.shape.join() !== source.shape.join()) {
      throw new Error(`${tensor.name}: ${tensor.dtype} [${tensor.shape.join(', ')}] vs ${source.dtype} [${source.shape.join(', ')}]`);
    }
    if (!(await tensorBytes(tensor)).equals(await tensorBytes(source))) throw new Error(`${tensor.name} differs from ${source.name} of ${source.file}`);
    compared += 1;
  }
  return compared;
}

/** Whether anything is at `file` (a refused export must leave nothing at its target). */
export async function pathExists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Names in a folder, sorted (hidden ones included). */
export async function folderNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

/**
 * A GGUF rewritten by the project's writer with its metadata changed (same tensors, same bytes):
 * `extra` keys set, and keys for which `dropKey` is true left out.
 */
export async function ggufWithMetadata(
  folders: TempFolders,
  sourceFile: string,
  extra: Array<[string, GgufValue]>,
  dropKey: (key: string) => boolean = () => false,
): Promise<string> {
  const header = await readGgufHeader(sourceFile);
  const bytes = await readFile(sourceFile);
  const metadata = new Map([...header.metadata].filter(([key]) => !dropKey(key)));
  for (const [key, value] of extra) metadata.set(key, value);
  const tensors = header.tensors.map((tensor) => ({
    name: tensor.name,
    type: tensor.type,
    shape: tensor.shape,
    data: bytes.subarray(header.dataStart + tensor.offset, header.dataStart + tensor.offset + tensor.bytes),
  }));
  const file = path.join(await folders.make(), `${path.basename(sourceFile, '.gguf')}-rewritten.gguf`);
  await writeFile(file, ggufFileBytes(metadata, tensors));
  return file;
}

/** The real engine as the CLI runs it (the bundled demo found as at run time), and a fresh work folder of `folders`. */
export async function startRealEngine(folders: TempFolders): Promise<{ studio: StudioHost; work: string }> {
  return { studio: createStudioEngine({ host: 'cli', demoPath: locateDemoModel() }), work: await folders.make() };
}
