import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { StudioError } from '../../api/errors.js';
import { MAX_LAYER_COUNT } from '../../api/limits.js';
import type { CheckpointSummary, Dtype, LayerInfo, ShardInfo, TensorInfo } from '../../api/types.js';
import { fileSystemError } from '../formats/file-errors.js';
import { nullWhenMissing } from '../formats/bounded-read.js';
import type { CheckpointFormat, OpenedWeights, WeightsLocation } from '../formats/checkpoint-format.js';
import { CHECKPOINT_FORMAT_LIST, checkpointExtensions, formatOfFile } from '../formats/format-registry.js';
import { shapeElements } from '../formats/safetensors.js';
import { classifyTensorKind, detectLayerFamily, splitLayerName } from './layer-families.js';
import { CONFIG_FILE_NAME, getConfigPath, readConfigFacts, readModelConfig, type ModelConfigFacts } from './model-config.js';
import { listSideFiles } from './side-files.js';

/** What a path given to openCheckpoint turned out to be. */
interface CheckpointSource {
  id: string;
  name: string;
  folder: string;
  format: CheckpointFormat;
  location: WeightsLocation;
  warnings: string[];
}

/**
 * Opens a checkpoint and summarises it: a model folder or a weights file of any registered format
 * (safetensors: `model.safetensors`, an index with its shards, or exactly one other
 * `*.safetensors` file; GGUF: a `.gguf` file or the first of a split set). Reads headers, indexes
 * and config.json only, never tensor data.
 *
 * A single shard of a sharded model, opened by its file path, is opened alone: its layers keep
 * their indexes, the ones it does not hold show as holes, and the folder's config.json and side
 * files still apply (the warnings then say that the layer count differs from the config).
 */
export async function openCheckpoint(inputPath: string): Promise<CheckpointSummary> {
  const source = await resolveSource(inputPath);
  const weights = await source.format.open(source.location);
  if (weights.embedded !== null) {
    return summarise(source, weights.embedded.config, weights.embedded.facts, [], weights);
  }
  const configPath = path.join(source.folder, CONFIG_FILE_NAME);
  const [config, sideFiles] = await Promise.all([nullWhenMissing(readModelConfig(configPath)), listSideFiles(source.folder)]);
  const facts = config === null ? null : readConfigFacts(config, configPath);
  return summarise(source, config, facts, sideFiles, weights);
}

async function resolveSource(inputPath: string): Promise<CheckpointSource> {
  const resolved = path.resolve(inputPath);
  let stats;
  try {
    stats = await stat(resolved);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new StudioError('NotFound', `${path.basename(resolved) || resolved}: no such file or folder`, { path: resolved, cause: error });
    }
    throw fileSystemError(error, resolved, 'checkpoint');
  }

  if (stats.isDirectory()) {
    const folder = await realPath(resolved);
    const name = path.basename(folder) || folder;
    const names = await weightFileNames(folder);
    for (const format of CHECKPOINT_FORMAT_LIST) {
      const found = format.detectInFolder(name, folder, names);
      if (found === null) continue;
      return { id: folder, name, folder, format, location: { folder, entry: found.entry, openedAsFile: false }, warnings: found.warnings };
    }
    const expected = checkpointExtensions().filter((extension) => !extension.endsWith('.json')).join(' or ');
    throw new StudioError('NotACheckpoint', `${name}: not a checkpoint folder: it holds no ${expected} file`, { path: folder });
  }

  const fileName = path.basename(resolved);
  const format = stats.isFile() ? formatOfFile(fileName) : null;
  if (format === null) {
    throw new StudioError('NotACheckpoint', `${fileName}: not a checkpoint: expected a model folder, a ${checkpointExtensions().join(', ')} file`, {
      path: resolved,
    });
  }
  // The folder is the link's folder, not the target's: in the Hugging Face cache every file is a
  // link into a blob store, and the shards and config.json sit beside the link.
  const [id, folder] = await Promise.all([realPath(resolved), realPath(path.dirname(resolved))]);
  const location = { folder, entry: fileName, openedAsFile: true };
  if (fileName.endsWith('.json')) return { id, name: path.basename(folder) || folder, folder, format, location, warnings: [] };
  return { id, name: fileName, folder, format, location, warnings: [] };
}

async function realPath(target: string): Promise<string> {
  try {
    return await realpath(target);
  } catch (error) {
    throw fileSystemError(error, target, 'checkpoint');
  }
}

/** Names of the files (or links to files) in a folder that some format reads. */
async function weightFileNames(folder: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    throw fileSystemError(error, folder, 'model folder');
  }
  const extensions = checkpointExtensions();
  const candidates = entries.filter(
    (entry) => extensions.some((extension) => entry.name.endsWith(extension)) && (entry.isFile() || entry.isSymbolicLink()),
  );
  const names = await Promise.all(
    candidates.map(async (entry) => {
      if (entry.isFile()) return entry.name;
      try {
        return (await stat(path.join(folder, entry.name))).isFile() ? entry.name : null;
      } catch {
        return null;
      }
    }),
  );
  return names.filter((name): name is string => name !== null).sort();
}

interface LayerAccumulator {
  parameters: number;
  bytes: number;
  tensorNames: string[];
}

function summarise(
  source: CheckpointSource,
  config: Record<string, unknown> | null,
  facts: ModelConfigFacts | null,
  sideFiles: string[],
  weights: OpenedWeights,
): CheckpointSummary {
  const warnings = [...source.warnings, ...weights.warnings];
  if (config === null) warnings.push(`No ${CONFIG_FILE_NAME} beside the weights: architecture and layer count are unknown.`);

  const allNames: string[] = [];
  for (const tensor of weights.tensors) allNames.push(tensor.name);
  const family = detectLayerFamily(allNames);
  if (family === null && allNames.length > 0) warnings.push('No text decoder layers were recognised in the tensor names.');

  const tensors: TensorInfo[] = [];
  const shards: ShardInfo[] = [];
  const layerMap = new Map<number, LayerAccumulator>();
  const dtypes: Partial<Record<Dtype, number>> = {};
  let parameters = 0;
  let totalBytes = 0;
  let diskBytes = 0;
  let hasHead = false;
  let hasEmbed = false;

  for (const weightsFile of weights.files) {
    const shard: ShardInfo = { file: weightsFile.file, bytes: weightsFile.bytes, dataStart: weightsFile.dataStart, tensorCount: weightsFile.tensorCount };
    if (weightsFile.mtimeMs !== undefined) shard.mtimeMs = weightsFile.mtimeMs;
    shards.push(shard);
    diskBytes += weightsFile.bytes;
  }
  for (const entry of weights.tensors) {
    const file = entry.file;
    const split = family === null ? null : splitLayerName(entry.name, family);
    const layer = split === null ? null : split.layer;
    // The summary lists every index up to the highest (holes included): a name that claims layer
    // 999,999,999 must not make it list a billion layers.
    if (layer !== null && layer >= MAX_LAYER_COUNT) {
      throw new StudioError(
        'NotACheckpoint',
        `${path.basename(file)}: tensor "${entry.name}" claims layer ${layer}; DUS Studio reads models of at most ${MAX_LAYER_COUNT.toLocaleString('en-US')} layers`,
        { path: file, detail: { tensor: entry.name } },
      );
    }
    const localName = split === null ? entry.name : split.localName;
    const kind = classifyTensorKind(entry.name, layer !== null);
    const elements = shapeElements(entry.shape);
    const bytes = entry.bytes;
    tensors.push({
      name: entry.name,
      dtype: entry.dtype,
      shape: entry.shape,
      elements,
      file,
      offset: entry.offset,
      bytes,
      layer,
      localName,
      kind,
    });
    parameters += elements;
    totalBytes += bytes;
    dtypes[entry.dtype] = (dtypes[entry.dtype] ?? 0) + elements;
    if (layer === null) {
      if (kind === 'head') hasHead = true;
      if (kind === 'embed') hasEmbed = true;
    } else {
      let accumulator = layerMap.get(layer);
      if (accumulator === undefined) {
        accumulator = { parameters: 0, bytes: 0, tensorNames: [] };
        layerMap.set(layer, accumulator);
      }
      accumulator.parameters += elements;
      accumulator.bytes += bytes;
      accumulator.tensorNames.push(localName);
    }
  }

  const configNumLayers = facts?.numLayers ?? null;
  const layerCountKey = facts?.layerCountKey ?? null;
  const foundIndexes = [...layerMap.keys()].sort((left, right) => left - right);
  const mtpBoundary = facts !== null && facts.hasMtp && configNumLayers !== null ? configNumLayers : null;
  const mtpLayers = mtpBoundary === null ? [] : foundIndexes.filter((index) => index >= mtpBoundary);
  const textIndexes = mtpBoundary === null ? foundIndexes : foundIndexes.filter((index) => index < mtpBoundary);
  const numLayers = textIndexes.length === 0 ? 0 : (textIndexes[textIndexes.length - 1] as number) + 1;

  const layerInfo = (index: number, isMtp: boolean): LayerInfo => {
    const accumulator = layerMap.get(index);
    return {
      index,
      parameters: accumulator?.parameters ?? 0,
      bytes: accumulator?.bytes ?? 0,
      tensorNames: accumulator === undefined ? [] : [...accumulator.tensorNames].sort(),
      isMtp,
    };
  };
  // One entry per index 0..numLayers−1 (holes included, empty), so layers[i].index === i; MTP layers after.
  const layers: LayerInfo[] = [];
  for (let index = 0; index < numLayers; index += 1) layers.push(layerInfo(index, false));
  for (const index of mtpLayers) layers.push(layerInfo(index, true));

  const holes = layers.filter((layer) => !layer.isMtp && !layerMap.has(layer.index)).map((layer) => layer.index);
  if (holes.length > 0) {
    const subject = holes.length === 1 ? `Layer index ${holes[0]} has` : `Layer indexes ${describeIndexes(holes)} have`;
    warnings.push(`${subject} no tensors (holes in the layer stack).`);
  }
  if (configNumLayers !== null && configNumLayers !== numLayers) {
    warnings.push(`${CONFIG_FILE_NAME} says ${layerCountKey} = ${configNumLayers}, but the tensors hold ${numLayers} text layers.`);
  }
  if (facts !== null && !facts.hasMtp && configNumLayers !== null && numLayers > configNumLayers) {
    const beyond = textIndexes.filter((index) => index >= configNumLayers);
    warnings.push(
      `${beyond.length === 1 ? `Layer ${beyond[0]} lies` : `Layers ${describeIndexes(beyond)} lie`} beyond ${layerCountKey} = ${configNumLayers}; ` +
        'without num_nextn_predict_layers in the config they count as text layers, not multi-token-prediction layers.',
    );
  }
  if (facts !== null && facts.numNextnPredictLayers > 0 && mtpLayers.length !== facts.numNextnPredictLayers) {
    warnings.push(
      `${CONFIG_FILE_NAME} announces ${facts.numNextnPredictLayers} multi-token-prediction layer(s) (num_nextn_predict_layers), ` +
        `but ${mtpLayers.length} are on disk.`,
    );
  }
  const layerTypes = config === null || layerCountKey === null ? undefined : getConfigPath(config, layerCountKey.replace(/[^.]+$/, 'layer_types'));
  if (Array.isArray(layerTypes) && configNumLayers !== null && layerTypes.length !== configNumLayers) {
    warnings.push(
      `${CONFIG_FILE_NAME} lists ${layerTypes.length} layer_types for ${layerCountKey} = ${configNumLayers}; transformers refuses a config whose lengths differ.`,
    );
  }
  warnings.push(...missingTensorWarnings(layers.filter((layer) => !layer.isMtp && layer.tensorNames.length > 0)));

  const tieConfig = facts?.tieWordEmbeddings ?? null;
  if (tieConfig === true && hasHead) {
    warnings.push(
      `${CONFIG_FILE_NAME} ties the word embeddings (tie_word_embeddings: true), yet a separate head tensor is on disk; ` +
        'transformers replaces it with the embeddings.',
    );
  }

  return {
    id: source.id,
    name: source.name,
    folder: source.folder,
    format: weights.format,
    architecture: facts?.architecture ?? null,
    modelType: facts?.modelType ?? null,
    family: family?.id ?? 'unknown',
    layerPrefix: family?.prefix ?? null,
    layerCountKey,
    numLayers,
    configNumLayers,
    hiddenSize: facts?.hiddenSize ?? null,
    intermediateSize: facts?.intermediateSize ?? null,
    vocabSize: facts?.vocabSize ?? null,
    numAttentionHeads: facts?.numAttentionHeads ?? null,
    numKeyValueHeads: facts?.numKeyValueHeads ?? null,
    parameters,
    totalBytes,
    diskBytes,
    dtypes,
    tiedEmbeddings: tieConfig === true || (!hasHead && hasEmbed),
    layers,
    mtpLayers,
    tensors,
    shards,
    config,
    sideFiles,
    warnings,
  };
}

/**
 * A layer whose tensor names are a strict subset of another layer's is missing tensors. Layers of
 * different kinds (dense vs MoE, linear vs full attention) differ both ways and are not flagged.
 * Compared per distinct name set, of which real models have one to three.
 */
function missingTensorWarnings(layers: readonly LayerInfo[]): string[] {
  const groups = new Map<string, { names: string[]; layers: number[] }>();
  for (const layer of layers) {
    const key = layer.tensorNames.join('\n');
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { names: layer.tensorNames, layers: [layer.index] });
    else group.layers.push(layer.index);
  }
  const warnings: string[] = [];
  const distinct = [...groups.values()];
  // Widest first (stable, so equal widths keep layer order): the first strict superset found in
  // this order is the widest, and only wider groups are looked at, so a header with thousands of
  // differently named layers costs no pair of equal-width groups.
  const widestFirst = [...distinct].sort((left, right) => right.names.length - left.names.length);
  const nameSets = new Map<{ names: string[] }, Set<string>>();
  const setOf = (group: { names: string[] }): Set<string> => {
    let set = nameSets.get(group);
    if (set === undefined) {
      set = new Set(group.names);
      nameSets.set(group, set);
    }
    return set;
  };
  for (const group of distinct) {
    let widest: { names: string[]; layers: number[] } | null = null;
    for (const other of widestFirst) {
      if (other.names.length <= group.names.length) break;
      const otherSet = setOf(other);
      if (group.names.every((name) => otherSet.has(name))) {
        widest = other;
        break;
      }
    }
    if (widest === null) continue;
    const own = setOf(group);
    const missing = widest.names.filter((name) => !own.has(name));
    const shown = missing.slice(0, 3).join(', ') + (missing.length > 3 ? `, and ${missing.length - 3} more` : '');
    warnings.push(
      `Layer${group.layers.length > 1 ? 's' : ''} ${describeIndexes(group.layers)} lack${group.layers.length > 1 ? '' : 's'} ` +
        `${shown}, which layer ${widest.layers[0]} has.`,
    );
  }
  return warnings;
}

/** "3, 5, 8..12" for a sorted list of indexes. */
function describeIndexes(indexes: readonly number[]): string {
  const parts: string[] = [];
  let start = 0;
  while (start < indexes.length) {
    let end = start;
    while (end + 1 < indexes.length && (indexes[end + 1] as number) === (indexes[end] as number) + 1) end += 1;
    parts.push(end - start >= 2 ? `${indexes[start]}..${indexes[end]}` : indexes.slice(start, end + 1).join(', '));
    start = end + 1;
  }
  return parts.join(', ');
}
