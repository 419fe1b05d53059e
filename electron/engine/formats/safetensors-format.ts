import path from 'node:path';
import { StudioError } from '../../api/errors.js';
import { DTYPE_BITS } from '../../api/types.js';
import { planShards, SINGLE_SHARD_NAME } from '../export/shard-plan.js';
import { pathExists } from '../export/export-target.js';
import type { CheckpointFormat, LaidOutFile, OpenedWeights, WeightsFile, WeightsLocation, WeightsTensor, WrittenProblem } from './checkpoint-format.js';
import { readSafetensorsHeader, type SafetensorsHeader } from './safetensors.js';
import { INDEX_FILE_NAME, readSafetensorsIndex, type SafetensorsIndex } from './safetensors-index.js';
import { layoutSafetensors } from './safetensors-writer.js';

const SAFETENSORS_EXTENSION = '.safetensors';
const INDEX_SUFFIX = '.safetensors.index.json';

/**
 * safetensors, as transformers loads it: `model.safetensors`, or an index with its shards, or one
 * other `.safetensors` file; config.json beside the weights carries the model facts.
 */
export const safetensorsFormat: CheckpointFormat = {
  id: 'safetensors',
  extensions: [SAFETENSORS_EXTENSION, INDEX_SUFFIX],

  detectInFolder(folderName, folder, names) {
    const own = names.filter((name) => name.endsWith(SAFETENSORS_EXTENSION) || name.endsWith(INDEX_SUFFIX));
    if (own.length === 0) return null;
    if (own.includes(SINGLE_SHARD_NAME)) {
      // transformers looks for model.safetensors before the index; do the same.
      const warnings = own.includes(INDEX_FILE_NAME)
        ? [`The folder holds both ${SINGLE_SHARD_NAME} and ${INDEX_FILE_NAME}; opened ${SINGLE_SHARD_NAME}, as transformers does.`]
        : [];
      return { entry: SINGLE_SHARD_NAME, warnings };
    }
    if (own.includes(INDEX_FILE_NAME)) return { entry: INDEX_FILE_NAME, warnings: [] };
    const indexes = own.filter((name) => name.endsWith(INDEX_SUFFIX));
    const files = own.filter((name) => name.endsWith(SAFETENSORS_EXTENSION));
    if (indexes.length === 1) return { entry: indexes[0] as string, warnings: [] };
    if (indexes.length === 0 && files.length === 1) return { entry: files[0] as string, warnings: [] };
    throw new StudioError(
      'NotACheckpoint',
      `${folderName}: not a checkpoint folder: it holds ${files.length} .safetensors files but no ${INDEX_FILE_NAME} that says how they fit together; open one file or the index`,
      { path: folder },
    );
  },

  detectFile(fileName) {
    return fileName.endsWith(SAFETENSORS_EXTENSION) || fileName.endsWith(INDEX_SUFFIX);
  },

  async open(location) {
    return openSafetensors(location);
  },

  exporter: {
    layout(tensors, options) {
      const shards = planShards(tensors, options.shardSize);
      const files: LaidOutFile[] = shards.map((shard) => {
        const layout = layoutSafetensors(shard.tensors.map((tensor) => ({ name: tensor.name, dtype: tensor.dtype, shape: tensor.shape })));
        const dataStart = layout.header.byteLength;
        return {
          file: shard.file,
          header: layout.header,
          size: dataStart + layout.dataBytes,
          tensors: shard.tensors,
          offsets: new Map(layout.tensors.map((entry) => [entry.name, dataStart + entry.begin])),
        };
      });
      const companions = shards.length > 1 ? [{ name: INDEX_FILE_NAME, text: `${JSON.stringify(shardIndex(files), null, 2)}\n` }] : [];
      return { files, companions };
    },
    entryFile(files) {
      return files.length > 1 ? INDEX_FILE_NAME : SINGLE_SHARD_NAME;
    },
  },

  checkWritten(opened) {
    return checkWrittenSafetensors(opened);
  },
};

/** `{"metadata": {"total_size": N}, "weight_map": {…}}` with the tensor names sorted, as transformers writes it. */
export function shardIndex(files: readonly Pick<LaidOutFile, 'file' | 'tensors'>[]): { metadata: { total_size: number }; weight_map: Record<string, string> } {
  const placement: Array<[string, string]> = [];
  let totalSize = 0;
  for (const shard of files) {
    for (const tensor of shard.tensors) {
      placement.push([tensor.name, shard.file]);
      totalSize += tensor.bytes;
    }
  }
  placement.sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
  return { metadata: { total_size: totalSize }, weight_map: Object.fromEntries(placement) };
}

async function openSafetensors(location: WeightsLocation): Promise<OpenedWeights> {
  const entryPath = path.join(location.folder, location.entry);
  let shardNames: string[];
  let headers: SafetensorsHeader[];
  let index: SafetensorsIndex | null = null;
  if (!location.entry.endsWith(INDEX_SUFFIX)) {
    shardNames = [location.entry];
    headers = [await readSafetensorsHeader(entryPath)];
  } else {
    index = await readSafetensorsIndex(entryPath);
    const loaded = index;
    // All headers at once: a 191-shard model costs one round of parallel reads, not 191 in a row.
    const all = await Promise.all(loaded.shards.map((shard) => readSafetensorsHeader(path.join(location.folder, shard))));
    checkIndexAgainstShards(loaded, all);
    // Shards in file-name order (model-00001 first), not in the index's order of first mention.
    const order = loaded.shards.map((_, position) => position).sort((left, right) => compareNames(loaded.shards[left] as string, loaded.shards[right] as string));
    shardNames = order.map((position) => loaded.shards[position] as string);
    headers = order.map((position) => all[position] as SafetensorsHeader);
  }
  const files: WeightsFile[] = [];
  const tensors: WeightsTensor[] = [];
  headers.forEach((header, position) => {
    const file = path.join(location.folder, shardNames[position] as string);
    const entry: WeightsFile = { file, bytes: header.fileSize, dataStart: header.dataStart, tensorCount: header.tensors.length, metadata: header.metadata };
    if (header.mtimeMs !== undefined) entry.mtimeMs = header.mtimeMs;
    files.push(entry);
    for (const tensor of header.tensors) {
      tensors.push({ name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, file, offset: header.dataStart + tensor.begin, bytes: tensor.end - tensor.begin });
    }
  });
  const opened: OpenedWeights = { format: 'safetensors', files, tensors, embedded: null, warnings: [] };
  if (index !== null) opened.index = { file: index.path, metadata: index.metadata };
  return opened;
}

/**
 * Every tensor of the shards is listed in the index under the shard that holds it, and every
 * listed tensor is in its shard: one pass over the tensors with a map, then one over the index.
 */
function checkIndexAgainstShards(index: SafetensorsIndex, headers: readonly SafetensorsHeader[]): void {
  const indexFile = path.basename(index.path);
  const foundIn = new Map<string, string>();
  index.shards.forEach((shard, shardIndex) => {
    const header = headers[shardIndex] as SafetensorsHeader;
    for (const tensor of header.tensors) {
      const detail = { tensor: tensor.name, shard, index: index.path };
      const previous = foundIn.get(tensor.name);
      if (previous !== undefined) {
        throw new StudioError('DuplicateTensor', `${indexFile}: tensor "${tensor.name}" is in two shards, ${previous} and ${shard}`, {
          path: header.path,
          detail,
        });
      }
      foundIn.set(tensor.name, shard);
      const listed = index.weightMap[tensor.name];
      if (listed === undefined) {
        throw new StudioError('InvalidIndex', `${indexFile}: tensor "${tensor.name}" of shard ${shard} is not listed in the index`, {
          path: index.path,
          detail,
        });
      }
      if (listed !== shard) {
        throw new StudioError(
          'DuplicateTensor',
          `${indexFile}: tensor "${tensor.name}" is listed in shard ${listed} but found in shard ${shard}`,
          { path: header.path, detail },
        );
      }
    }
  });
  for (const tensor of Object.keys(index.weightMap)) {
    if (!foundIn.has(tensor)) {
      const shard = index.weightMap[tensor] as string;
      throw new StudioError('TensorNotInShard', `${indexFile}: tensor "${tensor}" is listed in shard ${shard}, which does not hold it`, {
        path: path.join(index.folder, shard),
        detail: { tensor, shard, index: index.path },
      });
    }
  }
}

function compareNames(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

/**
 * What transformers needs beyond a valid file: `format: "pt"` in every shard, the data buffer and
 * every tensor aligned to its element size, and an index whose total_size is the data it indexes.
 */
async function checkWrittenSafetensors(opened: OpenedWeights): Promise<WrittenProblem[]> {
  const problems: WrittenProblem[] = [];
  if (opened.index !== undefined && (await pathExists(path.join(path.dirname(opened.index.file), SINGLE_SHARD_NAME)))) {
    problems.push({
      code: 'StrayWeights',
      message: `the export holds both ${SINGLE_SHARD_NAME} and ${INDEX_FILE_NAME}; transformers would load ${SINGLE_SHARD_NAME} only`,
      file: SINGLE_SHARD_NAME,
    });
  }
  for (const file of opened.files) {
    const shard = path.basename(file.file);
    if (file.metadata?.format !== 'pt') {
      problems.push({
        code: 'NotPtFormat',
        message: `${shard}: __metadata__.format is ${JSON.stringify(file.metadata?.format ?? null)}, expected "pt" (transformers refuses other formats)`,
        file: shard,
      });
    }
    if (file.dataStart % 8 !== 0) {
      problems.push({ code: 'Misaligned', message: `${shard}: the data starts at byte ${file.dataStart}, not a multiple of 8 (the header is not padded)`, file: shard });
    }
  }
  const dataStarts = new Map(opened.files.map((file) => [file.file, file.dataStart]));
  let dataBytes = 0;
  for (const tensor of opened.tensors) {
    dataBytes += tensor.bytes;
    const block = elementBytesOf(tensor.dtype);
    const begin = tensor.offset - (dataStarts.get(tensor.file) ?? 0);
    if (begin % block !== 0) {
      const shard = path.basename(tensor.file);
      problems.push({
        code: 'Misaligned',
        message: `${tensor.name} in ${shard} starts at data offset ${begin}, not a multiple of its ${block}-byte ${tensor.dtype} elements`,
        tensor: tensor.name,
        file: shard,
      });
    }
  }
  if (opened.index !== undefined && opened.index.metadata.total_size !== dataBytes) {
    problems.push({
      code: 'IndexTotalSize',
      message: `${INDEX_FILE_NAME}: metadata.total_size is ${JSON.stringify(opened.index.metadata.total_size ?? null)}, but the shards hold ${dataBytes} bytes of tensor data`,
      file: INDEX_FILE_NAME,
    });
  }
  return problems;
}

/** Whole bytes per element for alignment (sub-byte dtypes align to 1). */
function elementBytesOf(dtype: string): number {
  const bits = (DTYPE_BITS as Record<string, number>)[dtype] ?? 8;
  return Math.max(1, Math.floor(bits / 8));
}
