import type { CheckpointFormatId, Dtype } from '../../api/types.js';
import type { ModelConfigFacts } from '../checkpoint/model-config.js';
import type { OutputTensor } from '../export/output-tensors.js';
import type { ProblemCode } from '../../api/errors.js';

/** One tensor as a format's reader found it: where its bytes lie, absolutely. */
export interface WeightsTensor {
  name: string;
  dtype: Dtype;
  /** As the file's header gives it (safetensors: slowest-varying first; GGUF: fastest-varying first). */
  shape: number[];
  /** Absolute path of the file that holds the bytes. */
  file: string;
  /** Absolute offset of the first data byte in `file`. */
  offset: number;
  bytes: number;
}

/** One file of a checkpoint's weights (a shard, a split), with what its header says about it. */
export interface WeightsFile {
  /** Absolute path. */
  file: string;
  /** File size in bytes. */
  bytes: number;
  /** Where the tensor data starts. */
  dataStart: number;
  tensorCount: number;
  mtimeMs?: number;
  /** The header's own metadata (safetensors `__metadata__`, GGUF key/values), as read. */
  metadata: Record<string, unknown> | null;
}

/** What a format's `open` returns: the weights, and the model facts the weights themselves carry. */
export interface OpenedWeights {
  format: CheckpointFormatId;
  /** In file-name order (the first shard or split first). */
  files: WeightsFile[];
  /** In file order, then offset order within a file. */
  tensors: WeightsTensor[];
  /**
   * Model facts embedded in the weights (GGUF metadata); null when they come from config.json
   * beside the weights (safetensors).
   */
  embedded: EmbeddedModel | null;
  /** A sharded safetensors checkpoint's index: its path and its `metadata` object. */
  index?: { file: string; metadata: Record<string, unknown> };
  warnings: string[];
}

/** Facts a self-describing format carries in its header instead of a config.json. */
export interface EmbeddedModel {
  facts: ModelConfigFacts;
  /** A JSON view of the header's metadata, for the summary's `config` (large token arrays summarised). */
  config: Record<string, unknown>;
}

/** Where a checkpoint's weights start: the folder and the entry file a format recognised. */
export interface WeightsLocation {
  folder: string;
  /** File name inside `folder`: the weights file, the first split, or the index. */
  entry: string;
  /** True when the user opened this file itself (not its folder). */
  openedAsFile: boolean;
}

/** One output file of an export, laid out: its header bytes and where each tensor's bytes go. */
export interface LaidOutFile {
  /** Name inside the export folder. */
  file: string;
  header: Uint8Array;
  /** Total file length (header, data and padding). */
  size: number;
  /** The tensors the file holds, in natural order. */
  tensors: OutputTensor[];
  /** Absolute target offset of each tensor's first byte. */
  offsets: Map<string, number>;
}

export interface ExportLayoutOptions {
  shardSize: number;
  /** Header metadata the exporter writes (GGUF: a Map of key → GgufValue, in file order). */
  metadata?: unknown;
  /** Base name of the output file(s) where the format names them after the export (GGUF). */
  name?: string;
}

/** A small file that accompanies the weights (the safetensors index). */
export interface CompanionFile {
  name: string;
  text: string;
}

/** How a format writes an export: files laid out up front, so the copy can stream into them. */
export interface FormatExporter {
  layout(tensors: readonly OutputTensor[], options: ExportLayoutOptions): { files: LaidOutFile[]; companions: CompanionFile[] };
  /** The entry file verify opens the export by (the single file, the first split or the index). */
  entryFile(files: readonly LaidOutFile[], companions: readonly CompanionFile[]): string;
}

/** A problem `checkWritten` found in an export, beyond what `open` refuses. */
export interface WrittenProblem {
  code: ProblemCode;
  message: string;
  tensor?: string;
  file?: string;
}

/**
 * One checkpoint format (Netron's shape: one module per format, one registry). `detect` finds its
 * entry among a folder's files or recognises a file given directly; `open` reads headers only,
 * never tensor data, and refuses anything the reference reader would refuse with a named error.
 */
export interface CheckpointFormat {
  id: CheckpointFormatId;
  /** File-name suffixes that belong to this format (for file pickers and folder listings). */
  extensions: readonly string[];
  /**
   * The entry file among a folder's weight-file names, chosen as the format's loader would, with
   * warnings about what was passed over; null when the folder holds none of this format's files.
   * Throws NotACheckpoint when the files are this format's but ambiguous.
   */
  detectInFolder(folderName: string, folder: string, names: readonly string[]): { entry: string; warnings: string[] } | null;
  /** True when a file opened directly is this format's entry file. */
  detectFile(fileName: string): boolean;
  open(location: WeightsLocation): Promise<OpenedWeights>;
  exporter: FormatExporter;
  /** Checks of an export's files that `open` does not make (what loaders need beyond validity). */
  checkWritten(opened: OpenedWeights): Promise<WrittenProblem[]>;
}
