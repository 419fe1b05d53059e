import { open, readdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { isStudioError, type ProblemCode } from '../../api/errors.js';
import { type CheckpointSummary, type LayerPlan, type ResolvedPlan, type VerifyProblem, type VerifyReport } from '../../api/types.js';
import { openCheckpoint } from '../checkpoint/open-checkpoint.js';
import { CONFIG_FILE_NAME, readModelConfig } from '../checkpoint/model-config.js';
import type { OpenedWeights, WeightsTensor } from '../formats/checkpoint-format.js';
import { CHECKPOINT_FORMAT_LIST, checkpointExtensions } from '../formats/format-registry.js';
import { compareRanges } from '../native.js';
import { resolvePlan } from '../../common/plan/layer-plan.js';
import { planCheckpoints } from '../../common/plan/plan-sources.js';
import { readPlanFile } from '../plan/plan-file.js';
import { parseMergekitYamlOpening } from '../plan/mergekit-yaml.js';
import { metadataView } from '../formats/gguf-format.js';
import { exportConfigFor, isConfigObject } from './config-remap.js';
import { PLAN_FILE_NAME } from './export-files.js';
import { findInterruptedFileCommits, findSetAsideExports, isFileTarget, pathExists } from './export-target.js';
import { GGUF_PLAN_KEY, ggufExportMetadata } from './gguf-export-metadata.js';
import { planOutputTensors, type OutputTensor } from './output-tensors.js';
import { isPlainCopy, transformedChunks } from './tensor-transform.js';

export { PLAN_FILE_NAME } from './export-files.js';

/** Bytes per compareRanges call: progress and cancellation are checked between calls. */
const COMPARE_BATCH_BYTES = 64 * 1024 * 1024;

/** Config differences listed before the rest are summarised as a count. */
const MAX_CONFIG_DIFFERENCES = 20;

export interface VerifyExportOptions {
  /** Sources already open (keyed by the model paths the plan names); others are opened here. */
  sources?: ReadonlyMap<string, CheckpointSummary>;
  /**
   * What the export did with MTP layers. mergekit YAML cannot say it, so without this option the
   * export itself decides: moved MTP layers when it holds them, dropped otherwise (config.json,
   * whose `num_nextn_predict_layers` follows the choice, is then checked against it).
   */
  mtp?: 'move' | 'drop';
  signal?: AbortSignal;
  /** Bytes compared so far. */
  onProgress?: (checkedBytes: number) => void;
}

/** A tensor as found in the export. */
interface FoundTensor {
  /** Shard file name relative to the export folder. */
  file: string;
  tensor: WeightsTensor;
  /** Absolute offset of the first data byte. */
  offset: number;
}

interface ExportWeights {
  tensors: Map<string, FoundTensor>;
  /** Sum of the tensors' data bytes over every shard. */
  dataBytes: number;
  /** The entry file the format opened. */
  entry: string;
  /** The entry file's header metadata as the format's reader shows it (GGUF keys; null for safetensors' own). */
  metadata: Record<string, unknown> | null;
}

class VerifyRun {
  readonly problems: VerifyProblem[] = [];
  checkedTensors = 0;
  checkedBytes = 0;

  constructor(
    readonly dir: string,
    readonly options: VerifyExportOptions,
  ) {}

  problem(code: ProblemCode, message: string, where: { tensor?: string; file?: string } = {}): void {
    const problem: VerifyProblem = { code, message };
    if (where.tensor !== undefined) problem.tensor = where.tensor;
    if (where.file !== undefined) problem.file = where.file;
    this.problems.push(problem);
  }

  get cancelled(): boolean {
    return this.options.signal?.aborted === true;
  }

  report(): VerifyReport {
    return { dir: this.dir, ok: this.problems.length === 0, checkedTensors: this.checkedTensors, checkedBytes: this.checkedBytes, problems: this.problems };
  }

  addChecked(bytes: number): void {
    this.checkedBytes += bytes;
    this.options.onProgress?.(this.checkedBytes);
  }
}

/**
 * Re-opens an export and checks it against its plan (read back from mergekit_config.yml) and its
 * sources: every planned tensor present exactly once with the planned dtype and shape, no others,
 * bytes equal to the source's (or to the source's scaled/converted bytes), every shard in format
 * `pt` with aligned tensors, the index's total_size and weight_map equal to the actual placement,
 * and config.json equal to the remapped config. Each problem names the tensor and file and says
 * what was expected and what was found. Never throws for a broken export: it reports.
 */
export async function verifyExport(dir: string, options: VerifyExportOptions = {}): Promise<VerifyReport> {
  const target = path.resolve(dir);
  // A GGUF export is one file that carries its plan in its metadata (GGUF_PLAN_KEY).
  const file = isFileTarget(target) ? path.basename(target) : null;
  const run = new VerifyRun(file === null ? target : path.dirname(target), options);
  if (file === null && (await reportSetAside(run))) return run.report();
  let weights: ExportWeights | null = null;
  if (file !== null) {
    // A set half moved into place is reported as such, before the mismatches it would cause.
    for (const message of await findInterruptedFileCommits(target)) run.problem('InterruptedCommit', message, { file });
    weights = await readExportWeights(run, [file]);
    if (weights === null) return run.report();
  }
  const plan = weights === null ? await readPlan(run) : await readEmbeddedPlan(run, weights);
  if (plan === null) return run.report();
  const sources = await openSources(run, plan);
  if (sources === null) return run.report();
  weights ??= await readExportWeights(run);
  // Weights the format's reader refuses have no tensors to compare: the refusal is the finding.
  if (weights === null) return run.report();

  // --allow-crimes is a flag of the run, not a line of mergekit_config.yml: an export made with it
  // is checked against its plan like any other, mixed architectures and all.
  const checked: LayerPlan = { ...plan, allowCrimes: true };
  let resolved = resolvePlan(options.mtp === undefined ? checked : { ...checked, mtp: options.mtp }, sources);
  if (!resolved.ok) {
    for (const problem of resolved.problems.filter((item) => item.severity === 'error')) {
      run.problem('InvalidPlan', `${PLAN_FILE_NAME}: ${problem.message}`, { file: PLAN_FILE_NAME });
    }
    return run.report();
  }
  let expected: OutputTensor[];
  try {
    expected = planOutputTensors(resolved, sources);
    const mtpNames = expected.filter((tensor) => tensor.layer !== null && tensor.layer >= resolved.numLayers).map((tensor) => tensor.name);
    if (options.mtp === undefined && mtpNames.length > 0 && !mtpNames.some((name) => weights.tensors.has(name))) {
      resolved = resolvePlan({ ...checked, mtp: 'drop' }, sources);
      expected = planOutputTensors(resolved, sources);
    }
  } catch (error) {
    if (!isStudioError(error)) throw error;
    run.problem(error.code, `${PLAN_FILE_NAME}: ${error.message}`, { file: PLAN_FILE_NAME });
    return run.report();
  }

  const comparable = checkTensorList(run, expected, weights);
  await compareTensorBytes(run, comparable, weights);
  if (file === null) await checkConfig(run, exportConfigFor(resolved, sources)?.config ?? null);
  else await checkGgufMetadata(run, file, resolved, sources, weights);
  return run.report();
}

/** The plan a GGUF export carries under GGUF_PLAN_KEY. */
async function readEmbeddedPlan(run: VerifyRun, weights: ExportWeights): Promise<LayerPlan | null> {
  const text = weights.metadata?.[GGUF_PLAN_KEY];
  const where = { file: weights.entry };
  if (typeof text !== 'string') {
    run.problem('MissingPlan', `${weights.entry} carries no ${GGUF_PLAN_KEY}: without the plan the export cannot be checked`, where);
    return null;
  }
  const imported = await parseMergekitYamlOpening(text, { baseDir: run.dir, fileName: `${weights.entry}:${GGUF_PLAN_KEY}` }, async () => undefined);
  for (const problem of imported.problems.filter((item) => item.severity === 'error')) {
    run.problem('InvalidPlan', `${GGUF_PLAN_KEY}${problem.line === undefined ? '' : ` line ${problem.line}`}: ${problem.message}`, where);
  }
  return imported.plan;
}

/**
 * Every metadata key of a GGUF export against the metadata the exporter derives from the plan
 * (block count, remapped per-layer arrays, names, the first source's tokenizer and the rest).
 */
async function checkGgufMetadata(run: VerifyRun, file: string, resolved: ResolvedPlan, sources: ReadonlyMap<string, CheckpointSummary>, weights: ExportWeights): Promise<void> {
  // The split keys are the layout's (the reader already checked them against the set it opened).
  const found = Object.fromEntries(Object.entries(weights.metadata ?? {}).filter(([key]) => !key.startsWith('split.')));
  const name = typeof found['general.name'] === 'string' ? found['general.name'] : path.basename(file, '.gguf');
  const planYaml = typeof found[GGUF_PLAN_KEY] === 'string' ? found[GGUF_PLAN_KEY] : '';
  let expected: Record<string, unknown>;
  try {
    expected = metadataView(await ggufExportMetadata({ resolved, sources, name, planYaml }));
  } catch (error) {
    if (!isStudioError(error)) throw error;
    run.problem(error.code, `${file}: ${error.message}`, { file });
    return;
  }
  const differences = jsonDifferences(expected, found);
  for (const difference of differences.slice(0, MAX_CONFIG_DIFFERENCES)) run.problem('ConfigMismatch', `${file} metadata: ${difference}`, { file });
  if (differences.length > MAX_CONFIG_DIFFERENCES) {
    run.problem('ConfigMismatch', `${file} metadata: ${differences.length - MAX_CONFIG_DIFFERENCES} more differences`, { file });
  }
}

/**
 * A missing export folder whose old version a killed `replace` set aside: say exactly where it is
 * (verify only reads; the next export to the same place puts it back).
 */
async function reportSetAside(run: VerifyRun): Promise<boolean> {
  if (await pathExists(run.dir)) return false;
  const setAside = await findSetAsideExports(run.dir);
  if (setAside.length === 0) return false;
  for (const folder of setAside) {
    run.problem('SetAside', `${run.dir} is missing: an export that was replacing it was interrupted, and the previous export is kept at ${folder}; move it back with: mv '${folder}' '${run.dir}'`, {
      file: folder,
    });
  }
  return true;
}

async function readPlan(run: VerifyRun): Promise<LayerPlan | null> {
  let imported;
  try {
    imported = await readPlanFile(path.join(run.dir, PLAN_FILE_NAME));
  } catch (error) {
    if (!isStudioError(error)) throw error;
    const reason = error.code === 'NotFound' ? 'is missing' : `cannot be read (${error.message})`;
    run.problem('MissingPlan', `${PLAN_FILE_NAME} ${reason}: without the plan the export cannot be checked`, { file: PLAN_FILE_NAME });
    return null;
  }
  for (const problem of imported.problems.filter((item) => item.severity === 'error')) {
    run.problem('InvalidPlan', `${PLAN_FILE_NAME}${problem.line === undefined ? '' : ` line ${problem.line}`}: ${problem.message}`, { file: PLAN_FILE_NAME });
  }
  return imported.plan;
}

async function openSources(run: VerifyRun, plan: LayerPlan): Promise<Map<string, CheckpointSummary> | null> {
  const sources = new Map<string, CheckpointSummary>();
  for (const model of planCheckpoints(plan)) {
    const known = run.options.sources?.get(model);
    if (known !== undefined) {
      sources.set(model, known);
      continue;
    }
    try {
      sources.set(model, await openCheckpoint(model));
    } catch (error) {
      if (!isStudioError(error)) throw error;
      run.problem('SourceUnavailable', `the source ${model} cannot be opened: ${error.message}`, { file: model });
    }
  }
  return sources.size === planCheckpoints(plan).length ? sources : null;
}

/**
 * The export's weights, read through its format's own `open` (the reader that refuses what loaders
 * refuse), then the format's checks of what loaders need beyond a valid file.
 */
async function readExportWeights(run: VerifyRun, only?: readonly string[]): Promise<ExportWeights | null> {
  const tensors = new Map<string, FoundTensor>();
  let names: string[];
  try {
    names = only === undefined ? (await readdir(run.dir)).sort() : [...only];
  } catch (error) {
    run.problem('MissingWeights', `the export folder cannot be listed (${(error as Error).message})`);
    return null;
  }
  let opened: OpenedWeights | null = null;
  let entry = '';
  try {
    for (const format of CHECKPOINT_FORMAT_LIST) {
      const found = format.detectInFolder(path.basename(run.dir), run.dir, names);
      if (found === null) continue;
      entry = found.entry;
      opened = await format.open({ folder: run.dir, entry: found.entry, openedAsFile: only !== undefined });
      for (const problem of await format.checkWritten(opened)) run.problem(problem.code, problem.message, problem);
      break;
    }
  } catch (error) {
    if (!isStudioError(error)) throw error;
    const file = error.path === undefined ? undefined : path.relative(run.dir, error.path);
    run.problem(error.code, error.message, file === undefined ? {} : { file });
    return null;
  }
  if (opened === null) {
    run.problem('MissingWeights', `the export holds no weights file (${checkpointExtensions().join(', ')})`);
    return null;
  }
  let dataBytes = 0;
  for (const tensor of opened.tensors) {
    const file = path.relative(run.dir, tensor.file);
    const previous = tensors.get(tensor.name);
    if (previous !== undefined) {
      run.problem('DuplicateTensor', `${tensor.name} is in both ${previous.file} and ${file}`, { tensor: tensor.name, file });
      continue;
    }
    tensors.set(tensor.name, { file, tensor, offset: tensor.offset });
    dataBytes += tensor.bytes;
  }
  return { tensors, dataBytes, entry, metadata: opened.files[0]?.metadata ?? null };
}

/** Presence, dtype and shape of every planned tensor, and no unplanned ones; returns the tensors whose bytes can be compared. */
function checkTensorList(run: VerifyRun, expected: readonly OutputTensor[], weights: ExportWeights): OutputTensor[] {
  const comparable: OutputTensor[] = [];
  const expectedNames = new Set<string>();
  for (const tensor of expected) {
    expectedNames.add(tensor.name);
    const found = weights.tensors.get(tensor.name);
    if (found === undefined) {
      run.problem('MissingTensor', `${tensor.name} (layer ${tensor.layer ?? '—'}, from ${tensor.source.name}) is missing from the export`, { tensor: tensor.name });
      continue;
    }
    const { tensor: entry, file } = found;
    let matches = true;
    if (entry.dtype !== tensor.dtype) {
      run.problem('DtypeMismatch', `${tensor.name} in ${file} is ${entry.dtype}, expected ${tensor.dtype}`, { tensor: tensor.name, file });
      matches = false;
    }
    if (entry.shape.length !== tensor.shape.length || entry.shape.some((dim, axis) => dim !== tensor.shape[axis])) {
      run.problem('ShapeMismatch', `${tensor.name} in ${file} has shape [${entry.shape.join(', ')}], expected [${tensor.shape.join(', ')}]`, { tensor: tensor.name, file });
      matches = false;
    }
    if (matches) comparable.push(tensor);
  }
  for (const [name, found] of weights.tensors) {
    if (!expectedNames.has(name)) run.problem('UnexpectedTensor', `${name} in ${found.file} is not part of the plan`, { tensor: name, file: found.file });
  }
  return comparable;
}

function describeTransform(tensor: OutputTensor): string {
  const parts: string[] = [];
  if (tensor.convertTo !== undefined) parts.push(`converted ${tensor.source.dtype}→${tensor.convertTo}`);
  if (tensor.scale !== 1) parts.push(`scaled ×${tensor.scale}`);
  return parts.join(', ');
}

function bytesDiffer(run: VerifyRun, tensor: OutputTensor, file: string, detail: string): void {
  const transform = describeTransform(tensor);
  run.problem(
    'TensorBytesDiffer',
    `${tensor.name} in ${file} differs from ${transform === '' ? '' : `the ${transform} bytes of `}${tensor.source.name} in ${tensor.source.file}${detail}`,
    { tensor: tensor.name, file },
  );
}

/** Plain tensors through compareRanges, batched per (shard, source file); transformed ones chunk by chunk. */
async function compareTensorBytes(run: VerifyRun, tensors: readonly OutputTensor[], weights: ExportWeights): Promise<void> {
  const plainGroups = new Map<string, OutputTensor[]>();
  const transformed: OutputTensor[] = [];
  for (const tensor of tensors) {
    if (!isPlainCopy(tensor)) {
      transformed.push(tensor);
      continue;
    }
    const found = weights.tensors.get(tensor.name) as FoundTensor;
    const key = `${found.file}\u0000${tensor.source.file}`;
    const group = plainGroups.get(key);
    if (group === undefined) plainGroups.set(key, [tensor]);
    else group.push(tensor);
  }

  for (const group of plainGroups.values()) {
    const exportFile = (weights.tensors.get((group[0] as OutputTensor).name) as FoundTensor).file;
    const sourceFile = (group[0] as OutputTensor).source.file;
    let batch: OutputTensor[] = [];
    let batchBytes = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const ranges = batch.map((tensor) => ({ aOffset: (weights.tensors.get(tensor.name) as FoundTensor).offset, bOffset: tensor.source.offset, length: tensor.bytes }));
      try {
        const differing = await compareRanges(path.join(run.dir, exportFile), sourceFile, ranges);
        for (const index of differing) bytesDiffer(run, batch[index] as OutputTensor, exportFile, '');
      } catch (error) {
        if (!isStudioError(error)) throw error;
        run.problem(error.code, `comparing ${exportFile} with ${sourceFile}: ${error.message}`, { file: exportFile });
      }
      run.checkedTensors += batch.length;
      run.addChecked(batchBytes);
      batch = [];
      batchBytes = 0;
    };
    for (const tensor of group) {
      if (run.cancelled) break;
      if (batch.length > 0 && batchBytes + tensor.bytes > COMPARE_BATCH_BYTES) await flush();
      batch.push(tensor);
      batchBytes += tensor.bytes;
    }
    if (!run.cancelled) await flush();
  }

  const handles = new Map<string, FileHandle>();
  const handleFor = async (file: string): Promise<FileHandle> => {
    let handle = handles.get(file);
    if (handle === undefined) {
      handle = await open(file, 'r');
      handles.set(file, handle);
    }
    return handle;
  };
  try {
    for (const tensor of transformed) {
      if (run.cancelled) break;
      const found = weights.tensors.get(tensor.name) as FoundTensor;
      try {
        await compareTransformed(run, tensor, found, await handleFor(tensor.source.file), await handleFor(path.join(run.dir, found.file)));
      } catch (error) {
        if (!isStudioError(error)) throw error;
        run.problem(error.code, `${tensor.name}: ${error.message}`, { tensor: tensor.name, file: found.file });
      }
    }
  } finally {
    await Promise.all([...handles.values()].map((handle) => handle.close()));
  }
  if (run.cancelled) run.problem('Cancelled', 'verification was cancelled before every tensor was checked; run verify again');
}

async function compareTransformed(run: VerifyRun, tensor: OutputTensor, found: FoundTensor, source: FileHandle, exported: FileHandle): Promise<void> {
  let buffer = new Uint8Array(0);
  for await (const chunk of transformedChunks(tensor, source)) {
    if (run.cancelled) return;
    if (buffer.byteLength < chunk.bytes.byteLength) buffer = new Uint8Array(chunk.bytes.byteLength);
    const view = buffer.subarray(0, chunk.bytes.byteLength);
    const { bytesRead } = await exported.read(view, 0, view.byteLength, found.offset + chunk.offset);
    const mismatch = bytesRead < view.byteLength ? bytesRead : firstDifference(view, chunk.bytes);
    run.addChecked(chunk.bytes.byteLength);
    if (mismatch !== -1) {
      bytesDiffer(run, tensor, found.file, ` (first difference at byte ${chunk.offset + mismatch} of the tensor)`);
      run.checkedTensors += 1;
      return;
    }
  }
  run.checkedTensors += 1;
}

function firstDifference(left: Uint8Array, right: Uint8Array): number {
  if (Buffer.from(left.buffer, left.byteOffset, left.byteLength).equals(Buffer.from(right.buffer, right.byteOffset, right.byteLength))) return -1;
  for (let index = 0; index < left.byteLength; index += 1) if (left[index] !== right[index]) return index;
  return left.byteLength;
}

function shortJson(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}

/** Differences between two JSON values as "path: found X, expected Y" lines. */
export function jsonDifferences(expected: unknown, found: unknown, at = ''): string[] {
  if (isConfigObject(expected) && isConfigObject(found)) {
    const differences: string[] = [];
    const keys = [...new Set([...Object.keys(expected), ...Object.keys(found)])].sort();
    for (const key of keys) {
      const child = at === '' ? key : `${at}.${key}`;
      if (!Object.hasOwn(found, key)) differences.push(`${child} is missing (expected ${shortJson(expected[key])})`);
      else if (!Object.hasOwn(expected, key)) differences.push(`${child} is not expected (found ${shortJson(found[key])})`);
      else differences.push(...jsonDifferences(expected[key], found[key], child));
    }
    return differences;
  }
  if (JSON.stringify(expected) === JSON.stringify(found)) return [];
  if (Array.isArray(expected) && Array.isArray(found) && expected.length !== found.length) {
    return [`${at} has ${found.length} entries, expected ${expected.length}`];
  }
  return [`${at} is ${shortJson(found)}, expected ${shortJson(expected)}`];
}

async function checkConfig(run: VerifyRun, expected: Record<string, unknown> | null): Promise<void> {
  if (expected === null) return;
  let found: unknown;
  try {
    found = await readModelConfig(path.join(run.dir, CONFIG_FILE_NAME));
  } catch (error) {
    if (!isStudioError(error)) throw error;
    const reason = error.code === 'NotFound' ? 'is missing' : `cannot be read (${error.message})`;
    run.problem('ConfigMismatch', `${CONFIG_FILE_NAME} ${reason}`, { file: CONFIG_FILE_NAME });
    return;
  }
  const differences = jsonDifferences(expected, found);
  for (const difference of differences.slice(0, MAX_CONFIG_DIFFERENCES)) {
    run.problem('ConfigMismatch', `${CONFIG_FILE_NAME}: ${difference}`, { file: CONFIG_FILE_NAME });
  }
  if (differences.length > MAX_CONFIG_DIFFERENCES) {
    run.problem('ConfigMismatch', `${CONFIG_FILE_NAME}: ${differences.length - MAX_CONFIG_DIFFERENCES} more differences`, { file: CONFIG_FILE_NAME });
  }
}
