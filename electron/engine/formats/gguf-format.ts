import path from 'node:path';
import { StudioError } from '../../api/errors.js';
import type { ModelConfigFacts } from '../checkpoint/model-config.js';
import type { CheckpointFormat, EmbeddedModel, LaidOutFile, OpenedWeights, WeightsFile, WeightsLocation, WeightsTensor, WrittenProblem } from './checkpoint-format.js';
import { GGUF_TOKEN_LIST_KEY, ggufArrayLength, ggufScalar, ggufStringListSha256, readGgufHeader, type GgufHeader, type GgufValue } from './gguf.js';
import { layoutGguf } from './gguf-writer.js';

const GGUF_EXTENSION = '.gguf';

/** llama.cpp's split naming: `NAME-00001-of-00003.gguf` (llama_split_path: `%s-%05d-of-%05d.gguf`). */
const SPLIT_NAME = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/;

/** Arrays longer than this are summarised in the summary's metadata view (token lists, merges). */
const MAX_SHOWN_ARRAY = 1024;

export function splitFileName(prefix: string, index: number, count: number): string {
  const pad = (value: number): string => String(value).padStart(5, '0');
  return `${prefix}-${pad(index + 1)}-of-${pad(count)}${GGUF_EXTENSION}`;
}

/** The single-file name a split file's set was exported as (`NAME-00002-of-00003.gguf` → `NAME.gguf`), or null for other names. */
export function splitSetFileName(fileName: string): string | null {
  const match = SPLIT_NAME.exec(fileName);
  return match === null ? null : `${match[1] as string}${GGUF_EXTENSION}`;
}

/**
 * GGUF, as llama.cpp loads it: one `.gguf` file, or the first of a split set whose `split.*` keys
 * name the others. The model facts come from the header's metadata, not from a config.json.
 */
export const ggufFormat: CheckpointFormat = {
  id: 'gguf',
  extensions: [GGUF_EXTENSION],

  detectInFolder(folderName, folder, names) {
    const own = names.filter((name) => name.endsWith(GGUF_EXTENSION));
    if (own.length === 0) return null;
    if (own.length === 1) return { entry: own[0] as string, warnings: [] };
    const firsts = own.filter((name) => SPLIT_NAME.exec(name)?.[2] === '00001');
    const singles = own.filter((name) => !SPLIT_NAME.test(name));
    if (firsts.length === 1 && singles.length === 0) return { entry: firsts[0] as string, warnings: [] };
    throw new StudioError('NotACheckpoint', `${folderName}: not a checkpoint folder: it holds ${own.length} .gguf files that are not one split set; open one file`, {
      path: folder,
    });
  },

  detectFile(fileName) {
    return fileName.endsWith(GGUF_EXTENSION);
  },

  open(location) {
    return openGguf(location);
  },

  exporter: {
    layout(tensors, options) {
      const metadata = options.metadata as ReadonlyMap<string, GgufValue> | undefined;
      if (metadata === undefined) throw new StudioError('Internal', 'a GGUF export needs its metadata; please report this');
      const prefix = String(options.name ?? 'model');
      // Splits as llama.cpp's gguf-split makes them: whole tensors, in order, at most shardSize data bytes each.
      const groups: Array<typeof tensors> = [];
      let current: Array<(typeof tensors)[number]> = [];
      let currentBytes = 0;
      for (const tensor of tensors) {
        if (current.length > 0 && currentBytes + tensor.bytes > options.shardSize) {
          groups.push(current);
          current = [];
          currentBytes = 0;
        }
        current.push(tensor);
        currentBytes += tensor.bytes;
      }
      groups.push(current);
      const files: LaidOutFile[] = groups.map((group, index) => {
        const fileMetadata = new Map(metadata);
        if (groups.length > 1) {
          fileMetadata.set('split.no', { type: 'UINT16', value: index });
          fileMetadata.set('split.count', { type: 'UINT16', value: groups.length });
          fileMetadata.set('split.tensors.count', { type: 'INT32', value: tensors.length });
        }
        const layout = layoutGguf(
          index === 0 ? fileMetadata : splitOnlyMetadata(fileMetadata),
          group.map((tensor) => ({ name: tensor.name, type: tensor.dtype as never, shape: tensor.shape })),
        );
        const dataStart = layout.header.byteLength;
        return {
          file: groups.length === 1 ? `${prefix}${GGUF_EXTENSION}` : splitFileName(prefix, index, groups.length),
          header: layout.header,
          size: dataStart + layout.dataBytes,
          tensors: [...group],
          offsets: new Map(layout.tensors.map((placed) => [placed.name, dataStart + placed.offset])),
        };
      });
      return { files, companions: [] };
    },
    entryFile(files) {
      return (files[0] as LaidOutFile).file;
    },
  },

  async checkWritten(opened) {
    const problems: WrittenProblem[] = [];
    for (const file of opened.files) {
      if (file.dataStart % 32 !== 0) problems.push({ code: 'Misaligned', message: `${path.basename(file.file)}: the data starts at byte ${file.dataStart}`, file: path.basename(file.file) });
    }
    return problems;
  },
};

/** Later splits carry only the split keys and the alignment, as gguf-split writes them. */
function splitOnlyMetadata(metadata: ReadonlyMap<string, GgufValue>): Map<string, GgufValue> {
  const kept = new Map<string, GgufValue>();
  for (const [key, value] of metadata) if (key.startsWith('split.') || key === 'general.alignment') kept.set(key, value);
  return kept;
}

async function openGguf(location: WeightsLocation): Promise<OpenedWeights> {
  const firstPath = path.join(location.folder, location.entry);
  const first = await readGgufHeader(firstPath);
  const headers = [first, ...(await readLaterSplits(first, location))];
  const embedded = embeddedModel(first);
  const files: WeightsFile[] = [];
  const tensors: WeightsTensor[] = [];
  const seen = new Map<string, string>();
  for (const header of headers) {
    const entry: WeightsFile = {
      file: header.path,
      bytes: header.fileSize,
      dataStart: header.dataStart,
      tensorCount: header.tensors.length,
      metadata: header === first ? embedded.config : null,
    };
    if (header.mtimeMs !== undefined) entry.mtimeMs = header.mtimeMs;
    files.push(entry);
    for (const tensor of header.tensors) {
      const previous = seen.get(tensor.name);
      if (previous !== undefined) {
        throw new StudioError('DuplicateTensor', `${path.basename(header.path)}: tensor "${tensor.name}" is also in ${previous}`, { path: header.path, detail: { tensor: tensor.name } });
      }
      seen.set(tensor.name, path.basename(header.path));
      tensors.push({ name: tensor.name, dtype: tensor.type, shape: tensor.shape, file: header.path, offset: header.dataStart + tensor.offset, bytes: tensor.bytes });
    }
  }
  const expectedTensors = ggufScalar(first.metadata, 'split.tensors.count');
  if (headers.length > 1 && expectedTensors !== tensors.length) {
    throw new StudioError('GgufInvalidSplit', `${location.entry}: split.tensors.count is ${String(expectedTensors)}, but the ${headers.length} splits hold ${tensors.length} tensors`, {
      path: firstPath,
    });
  }
  return { format: 'gguf', files, tensors, embedded, warnings: [] };
}

/** The other files of a split set, checked against the first's split.* keys. */
async function readLaterSplits(first: GgufHeader, location: WeightsLocation): Promise<GgufHeader[]> {
  const count = ggufScalar(first.metadata, 'split.count');
  const number = ggufScalar(first.metadata, 'split.no');
  const invalid = (message: string, filePath = first.path): StudioError => new StudioError('GgufInvalidSplit', `${path.basename(filePath)}: ${message}`, { path: filePath });
  if (count === undefined || count === 1 || count === 0) return [];
  if (number !== 0) throw invalid(`this is split ${String(number)} of a set of ${String(count)}; open the first split (split.no = 0)`);
  const match = SPLIT_NAME.exec(location.entry);
  if (match === null) throw invalid(`the file has split.count = ${String(count)}, but its name is not NAME-00001-of-${String(count).padStart(5, '0')}.gguf`);
  const prefix = match[1] as string;
  if (Number(match[3]) !== count) throw invalid(`the name says ${Number(match[3])} splits, split.count says ${String(count)}`);
  const later = await Promise.all(
    Array.from({ length: (count as number) - 1 }, (_, position) => readGgufHeader(path.join(location.folder, splitFileName(prefix, position + 1, count as number)))),
  );
  later.forEach((header, position) => {
    if (ggufScalar(header.metadata, 'split.no') !== position + 1 || ggufScalar(header.metadata, 'split.count') !== count) {
      throw invalid(`split.no/split.count are ${String(ggufScalar(header.metadata, 'split.no'))}/${String(ggufScalar(header.metadata, 'split.count'))}, expected ${position + 1}/${String(count)}`, header.path);
    }
  });
  return later;
}

function numberOf(metadata: ReadonlyMap<string, GgufValue>, key: string): number | null {
  const value = ggufScalar(metadata, key);
  return typeof value === 'number' ? value : null;
}

/**
 * sha256 of the token list (each token's bytes, each followed by a NUL): two GGUFs with equal
 * hashes share a vocabulary. A list read from a file is hashed from its bytes, without making its
 * strings (a 128k-token list costs milliseconds this way, hundreds of them as strings).
 */
export function tokenListHash(metadata: ReadonlyMap<string, GgufValue>): string | null {
  const tokens = metadata.get(GGUF_TOKEN_LIST_KEY);
  return tokens === undefined || tokens.type !== 'ARRAY' ? null : ggufStringListSha256(tokens);
}

function embeddedModel(header: GgufHeader): EmbeddedModel {
  const metadata = header.metadata;
  const architectureValue = ggufScalar(metadata, 'general.architecture');
  const architecture = typeof architectureValue === 'string' ? architectureValue : null;
  const key = (name: string): string => `${architecture ?? ''}.${name}`;
  const tokens = metadata.get(GGUF_TOKEN_LIST_KEY);
  const nextn = architecture === null ? null : numberOf(metadata, key('nextn_predict_layers'));
  const facts: ModelConfigFacts = {
    architecture,
    modelType: architecture,
    layerCountKey: architecture === null ? null : key('block_count'),
    numLayers: architecture === null ? null : numberOf(metadata, key('block_count')),
    hiddenSize: architecture === null ? null : numberOf(metadata, key('embedding_length')),
    intermediateSize: architecture === null ? null : numberOf(metadata, key('feed_forward_length')),
    vocabSize: tokens?.type === 'ARRAY' ? ggufArrayLength(tokens) : architecture === null ? null : numberOf(metadata, key('vocab_size')),
    numAttentionHeads: architecture === null ? null : numberOf(metadata, key('attention.head_count')),
    numKeyValueHeads: architecture === null ? null : numberOf(metadata, key('attention.head_count_kv')),
    // GGUF states no tie: a model without output.weight uses token_embd (the summary sees that).
    tieWordEmbeddings: null,
    numNextnPredictLayers: nextn ?? 0,
    hasMtp: (nextn ?? 0) > 0,
  };
  return { facts, config: metadataView(metadata) };
}

/**
 * The metadata as JSON (the summary's `config`): scalars as they are (64-bit integers beyond 2^53
 * as strings), arrays up to MAX_SHOWN_ARRAY items in full, longer ones as a summary with their
 * length (and the token list's hash, which compatibility checks compare).
 */
export function metadataView(metadata: ReadonlyMap<string, GgufValue>): Record<string, unknown> {
  const view: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const plain = (value: unknown): unknown => (typeof value === 'bigint' ? value.toString() : value);
  for (const [key, value] of metadata) {
    if (value.type !== 'ARRAY') view[key] = plain(value.value);
    else if (ggufArrayLength(value) <= MAX_SHOWN_ARRAY) view[key] = value.values.map(plain);
    else {
      const summary: Record<string, unknown> = { type: value.itemType, length: ggufArrayLength(value) };
      if (key === GGUF_TOKEN_LIST_KEY) summary.sha256 = tokenListHash(metadata);
      view[key] = summary;
    }
  }
  return view;
}
