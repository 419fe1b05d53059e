/**
 * Plain-data types of the DUS Studio API. Everything here crosses IPC, HTTP and the CLI's --json
 * output, so it holds no classes, functions or Maps. The renderer imports these as types only.
 */

/** Bits per element of every safetensors dtype (DESIGN.md §3). */
export const DTYPE_BITS = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
} as const;

import type { Dtype } from './dtypes.js';
export type { Dtype, GgmlTypeName, SafetensorsDtype } from './dtypes.js';

/** The checkpoint formats the engine reads and writes (one module each under engine/formats/). */
export const CHECKPOINT_FORMATS = ['safetensors', 'gguf'] as const;
export type CheckpointFormatId = (typeof CHECKPOINT_FORMATS)[number];

/** Dtypes whose statistics the engine computes (native addon and TypeScript reference). */
export const STATS_DTYPES = ['F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2'] as const;
export type StatsDtype = (typeof STATS_DTYPES)[number];

/** Every tensor kind, as a list for schemas and pickers (the union below is read from it). */
export const TENSOR_KINDS = [
  'q',
  'k',
  'v',
  'o',
  'qkv',
  'gate',
  'up',
  'gate_up',
  'down',
  'input_norm',
  'post_attention_norm',
  'norm',
  'router',
  'expert',
  'embed',
  'final_norm',
  'head',
  'other',
] as const;

/**
 * What a tensor is, for charts: attention and MLP projections, norms, and the non-layer tensors.
 * Unrecognised names are 'other'.
 */
export type TensorKind = (typeof TENSOR_KINDS)[number];

export interface TensorInfo {
  /** Full name as on disk (`model.layers.3.self_attn.q_proj.weight`). */
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Element count (product of the shape; 1 for a scalar). */
  elements: number;
  /** Absolute path of the file that holds the data. */
  file: string;
  /** Absolute byte offset of the first data byte in `file` (8 + header length + data_offsets[0]). */
  offset: number;
  /** Data length in bytes (data_offsets[1] − data_offsets[0]). */
  bytes: number;
  /** Text decoder layer index, or null for tensors outside the text layer stack. */
  layer: number | null;
  /** Name inside its layer (`self_attn.q_proj.weight`); the full name when `layer` is null. */
  localName: string;
  kind: TensorKind;
}

export interface LayerInfo {
  index: number;
  parameters: number;
  bytes: number;
  /** Local names of the layer's tensors, sorted. */
  tensorNames: string[];
  /** True for a DeepSeek-style multi-token-prediction layer at index ≥ num_hidden_layers. */
  isMtp: boolean;
}

export interface ShardInfo {
  file: string;
  /** File size in bytes. */
  bytes: number;
  /** Where the tensor data starts (safetensors: 8 + header length; GGUF: after the aligned header). */
  dataStart: number;
  tensorCount: number;
  /**
   * Modification time (ms since the epoch) when the checkpoint was opened, when the reader records
   * it; the exporter refuses to copy from a shard whose size or mtime changed since (SourceChanged).
   */
  mtimeMs?: number;
}

export interface CheckpointSummary {
  /** Stable identifier: the real path of what was opened (folder or file). */
  id: string;
  /** Display name (folder name, or file name for a single file). */
  name: string;
  /** Folder holding config.json and the shards. */
  folder: string;
  format: CheckpointFormatId;
  /** `architectures[0]` of config.json, or null without a config. */
  architecture: string | null;
  /** `model_type` of config.json (of `text_config` for multimodal models). */
  modelType: string | null;
  /** Layer-naming family id (see the engine's family table): 'llama', 'gpt2', 'gptj', 'neox', … */
  family: string;
  /** Prefix of text decoder layers, including the trailing dot before the index: `model.layers.` */
  layerPrefix: string | null;
  /** Dotted path of the layer-count key in config.json: `num_hidden_layers`, `text_config.num_hidden_layers`. */
  layerCountKey: string | null;
  /** Text decoder layers found in the tensors (MTP layers not counted). */
  numLayers: number;
  /** The layer count config.json states, if any. */
  configNumLayers: number | null;
  hiddenSize: number | null;
  intermediateSize: number | null;
  vocabSize: number | null;
  numAttentionHeads: number | null;
  numKeyValueHeads: number | null;
  parameters: number;
  /** Sum of tensor data bytes. */
  totalBytes: number;
  /** Size of the checkpoint's files on disk (shards, headers included). */
  diskBytes: number;
  /** Parameters per dtype. */
  dtypes: Partial<Record<Dtype, number>>;
  tiedEmbeddings: boolean;
  layers: LayerInfo[];
  /** Indexes of multi-token-prediction layers (≥ numLayers). */
  mtpLayers: number[];
  tensors: TensorInfo[];
  shards: ShardInfo[];
  /** config.json as read, or null when the checkpoint has none. */
  config: Record<string, unknown> | null;
  /** Non-weight files copied on export: tokenizer files, chat template, generation config (names relative to `folder`). */
  sideFiles: string[];
  warnings: string[];
}

export interface TensorStats {
  name: string;
  /** Elements the figures were computed over (fewer than the tensor's when sampled). */
  elements: number;
  /** L2 norm over all elements, accumulated in f64. */
  l2: number;
  /** sqrt(mean(x²)). */
  rms: number;
  mean: number;
  maxAbs: number;
  nanCount: number;
  infCount: number;
  /** True when computed over a sample of the tensor, not all of it. */
  sampled: boolean;
}

export interface StatsReport {
  checkpointId: string;
  tensors: TensorStats[];
  /** Tensors skipped because their dtype has no statistics (integer, F4, a GGML type the addon does not dequantise, …). */
  skipped: string[];
  /** One line per GGML type the addon refused: "statistics not available for IQ1_S". */
  notAvailable?: string[];
  sampled: boolean;
  seconds: number;
}

/** Streamed while statistics are computed: one event per finished layer (or group of non-layer tensors). */
export interface StatsProgress {
  checkpointId: string;
  done: number;
  total: number;
  layer: number | null;
  tensors: TensorStats[];
  sampled: boolean;
}

/**
 * Layer × layer cosine similarity of one tensor kind between two checkpoints (or one checkpoint and
 * itself). A layer's tensors of the kind (a weight and its bias, say) count as one long vector:
 * cos = Σab / (√Σa² · √Σb²), with each sum accumulated in f64.
 */
export interface SimilarityMatrix {
  /** Checkpoint ids: rows are layers of A, columns layers of B (the same id when B = A). */
  checkpointA: string;
  checkpointB: string;
  kind: TensorKind;
  /** A's text layers. */
  rows: number;
  /** B's text layers. */
  cols: number;
  /**
   * values[i][j]: cosine similarity in [−1, 1] of layer i of A and layer j of B; null where either
   * layer lacks the kind, holds it in another shape, in a dtype without float values, or all zeros.
   */
  values: (number | null)[][];
  /** True when the figures are estimates from a sample of each tensor's elements. */
  sampled: boolean;
  seconds: number;
}

/** Streamed while a similarity matrix is computed: one event per finished row (layer of A). */
export interface SimilarityProgress {
  checkpointA: string;
  checkpointB: string;
  kind: TensorKind;
  /** Rows finished so far, and of how many. */
  done: number;
  total: number;
  /** The row that finished, and its values (as in SimilarityMatrix.values[row]). */
  row: number;
  values: (number | null)[];
  sampled: boolean;
}

/**
 * mergekit's `scale` parameter entry: the first rule whose filter is a substring of the source
 * tensor's name applies; a rule without filter (or with `*`) matches all. A list value is a
 * gradient, interpolated over the slice's layers as mergekit's `evaluate_setting` does; in an
 * output layer's rules every value is already a number.
 */
export interface ScaleRule {
  filter?: string;
  value: number | number[];
}

/** A half-open range [start, end) of one source's text layers, as mergekit's `layer_range`. */
export interface PlanSlice {
  /** Checkpoint id (absolute path) of the source. */
  model: string;
  start: number;
  end: number;
  scale?: ScaleRule[];
}

export interface LayerPlan {
  slices: PlanSlice[];
  /** Output dtype as mergekit names it (`bfloat16`, `float16`, `float32`); absent = keep source dtypes. */
  dtype?: string;
  baseModel?: string;
  tokenizerSource?: string;
  /**
   * mergekit's `chat_template`, as written: `auto` (the input models' most common template), a
   * built-in name (chatml, llama3, …) or a Jinja template. A folder export writes it as
   * chat_template.jinja, a GGUF export as tokenizer.chat_template.
   */
  chatTemplate?: string;
  /** What to do with DeepSeek-style MTP layers: move to the new last index (default) or drop. */
  mtp?: 'move' | 'drop';
  /** mergekit's `--allow-crimes`: stack layers of models whose architectures differ (a warning instead of an error). */
  allowCrimes?: boolean;
}

export type PlanRecipe =
  /** SOLAR DUS: two copies, drop the last `drop` layers of the first and the first `drop` of the second. */
  | { kind: 'dus'; model: string; drop: number }
  /** DUS with explicit splice points: copy one keeps [0, a), copy two keeps [b, n). */
  | { kind: 'splice'; model: string; a: number; b: number }
  /** LLaMA-Pro: after every `every`-th layer insert an identity copy (o_proj and down_proj scaled to 0). */
  | { kind: 'llama-pro'; model: string; every: number }
  /** G_stack: the whole stack `times` times. */
  | { kind: 'stack'; model: string; times: number }
  /** Alternate fixed-size windows between several models, as Goliath-120B (window, overlap). */
  | { kind: 'interleave'; models: string[]; window: number; overlap: number };

export interface OutputLayer {
  index: number;
  model: string;
  sourceLayer: number;
  /** Index of the slice in the plan that produced this layer. */
  slice: number;
  scale: ScaleRule[];
  /** How many earlier output layers copy the same (model, sourceLayer): 0 on first use. */
  repeat: number;
}

import type { ProblemCode } from './errors.js';

/**
 * error: the plan cannot be exported as it is; warning: it can, but probably not as meant; info: an
 * expected effect of the plan's design (the repeated layers of a DUS or LLaMA-Pro recipe), shown as a note.
 */
export type ProblemSeverity = 'error' | 'warning' | 'info';

export interface PlanProblem {
  severity: ProblemSeverity;
  /** Short machine code, one of ProblemCode (errors.ts): 'RangeOutsideModel', 'EmptySlice', 'HiddenSizeMismatch', … */
  code: ProblemCode;
  message: string;
  slice?: number;
  layer?: number;
  model?: string;
  /** 1-based YAML line, for problems found while reading YAML. */
  line?: number;
  /** The top-level plan key a problem of no slice is about, so an editor can point at its line. */
  planKey?: 'base_model' | 'tokenizer_source';
}

/** Where consecutive output layers are not consecutive layers of one source. */
export interface Seam {
  /** The output layer before the seam. */
  afterOutputLayer: number;
  from: { model: string; layer: number };
  to: { model: string; layer: number };
}

export interface ResolvedPlan {
  plan: LayerPlan;
  layers: OutputLayer[];
  numLayers: number;
  parameters: number;
  totalBytes: number;
  embeddingsFrom: string | null;
  headFrom: string | null;
  seams: Seam[];
  problems: PlanProblem[];
  /** True when no problem is an error. */
  ok: boolean;
}

export interface YamlImport {
  plan: LayerPlan | null;
  problems: PlanProblem[];
}

/** A mergekit YAML file read from disk; its model paths are resolved against the file's folder. */
export interface PlanFile extends YamlImport {
  path: string;
  text: string;
}

export interface ExportTarget {
  dir: string;
  /** Largest shard in bytes; default 5 GB (5,000,000,000). */
  shardSize?: number;
  /** Replace an existing non-empty target. */
  replace?: boolean;
  /** Re-read the export against its sources before it is renamed into place (default true). */
  verify?: boolean;
}

export interface ExportRequest {
  /** The export's job id, chosen by the caller, so it can cancel (`cancelJob`) and match progress events. */
  exportId: string;
  plan: LayerPlan;
  target: ExportTarget;
}

export type ExportPhase = 'preparing' | 'copying' | 'finishing' | 'verifying' | 'done' | 'failed' | 'cancelled';

export interface ExportProgress {
  exportId: string;
  phase: ExportPhase;
  doneBytes: number;
  totalBytes: number;
  /** Shard being written. */
  file?: string;
}

export interface VerifyProblem {
  code: ProblemCode;
  message: string;
  tensor?: string;
  file?: string;
}

export interface VerifyReport {
  dir: string;
  ok: boolean;
  checkedTensors: number;
  checkedBytes: number;
  problems: VerifyProblem[];
}

export interface ExportReport {
  exportId: string;
  dir: string;
  /** Files written, relative to `dir`. */
  files: string[];
  tensorCount: number;
  numLayers: number;
  totalBytes: number;
  seconds: number;
  bytesPerSecond: number;
  warnings: string[];
  /** The verify result, or null when the export was asked to skip verification. */
  verify: VerifyReport | null;
}

export interface DirectoryEntry {
  name: string;
  path: string;
  kind: 'directory' | 'checkpoint' | 'safetensors' | 'gguf' | 'yaml' | 'file';
}

export interface DirectoryListing {
  dir: string;
  /** What the listed folder itself is: a model folder ('checkpoint'), which Open takes as a model, or a plain 'directory'. */
  kind: 'directory' | 'checkpoint';
  parent: string | null;
  entries: DirectoryEntry[];
}

export interface AppInfo {
  version: string;
  /** Where the API is served from. */
  host: 'electron' | 'serve' | 'cli';
  demoPath: string;
  /** Folders the API may open in serve mode; empty when unrestricted (desktop). */
  roots: string[];
}

/**
 * Kinds of long work the engine runs as jobs (electron/engine/jobs/job-runner.ts), each with the
 * progress payload it streams. Every job can be cancelled with `cancelJob` and ends with one
 * `jobEnd` event.
 */
export interface JobProgressByKind {
  export: ExportProgress;
  stats: StatsProgress;
  similarity: SimilarityProgress;
  evaluation: EvaluationProgress;
  sweep: SweepProgress;
}

/** Progress of a plan evaluation: writing the temporary GGUF (bytes), then scoring (tokens). */
export interface EvaluationProgress {
  phase: 'writing' | 'scoring';
  done: number;
  total: number;
}

/** One splice point of a sweep has been evaluated (`done` of `total`). */
export interface SweepProgress {
  row: SweepRow;
  done: number;
  total: number;
}

/** Which llama.cpp backend an evaluation may use: the GPU when there is one (auto), or the CPU. */
export type EvaluationDevice = 'auto' | 'cpu';

export interface EvaluatePlanRequest {
  jobId?: string;
  plan: LayerPlan;
  /** A UTF-8 text file to score; default: the bundled evaluation text. */
  textPath?: string;
  /** Score at most this many tokens of the text. */
  maxTokens?: number;
  /** The prompt to continue greedily (default "Once upon a time"); empty: no continuation. */
  prompt?: string;
  /** Also evaluate the plan's first source alone (default true). */
  compareSource?: boolean;
  device?: EvaluationDevice;
  /** Folder for the temporary GGUF (removed afterwards); default: the system's temporary folder. */
  workDir?: string;
}

export interface SweepRequest {
  jobId?: string;
  /** An open checkpoint (its id) or a model path. */
  model: string;
  range: SweepRange;
  textPath?: string;
  maxTokens?: number;
  device?: EvaluationDevice;
  /** Folder for the temporary GGUFs (removed afterwards); default: the system's temporary folder. */
  workDir?: string;
}

export type JobKind = keyof JobProgressByKind;

/** One `jobProgress` event: the job, its kind, and that kind's progress payload. */
export type JobProgress = { [K in JobKind]: { jobId: string; kind: K; progress: JobProgressByKind[K] } }[JobKind];

/** How a job ended. */
export type JobOutcome = 'done' | 'failed' | 'cancelled';

/** The last event of every job, after its last `jobProgress` and before its call answers. */
export interface JobEnd {
  jobId: string;
  kind: JobKind;
  outcome: JobOutcome;
  /** Why it failed (outcome 'failed'). */
  error?: { code: string; message: string };
}

/** Events the engine emits, by name, with their plain payloads. */
export interface StudioEvents {
  jobProgress: JobProgress;
  jobEnd: JobEnd;
  /**
   * Desktop only, sent by the main process's menu (never by the engine): `export` opens the export
   * tab; `open` without `path` runs the renderer's own Open… flow, with `path` opens that path
   * (Open Recent, Open Folder…).
   */
  menu: MenuCommand;
}

/** A command from the desktop app's menu to the renderer. */
export interface MenuCommand {
  action: 'export' | 'open';
  /** For `open`: the checkpoint to open; absent = ask the user. */
  path?: string;
}

export type StudioEventName = keyof StudioEvents;

/** One model (or plan output) scored in llama.cpp: perplexity = exp(mean NLL), natural log. */
export interface ModelEvaluation {
  perplexity: number;
  /** Tokens scored (each predicted from the ones before it in its window). */
  tokens: number;
  /** NLL of each scored token, in text order. */
  negativeLogLikelihoods: number[];
  /** Greedy continuation of `prompt` (empty when no prompt was given). */
  continuation: string;
  prompt: string;
  /** The llama.cpp backend it ran on: cpu, cuda, vulkan or metal. */
  backend: string;
  /** Layers of the evaluated model. */
  layers: number;
}

/** A plan evaluated before export, with its first source beside it. */
export interface PlanEvaluationReport {
  plan: ModelEvaluation;
  /** The first source alone (absent when not asked for). */
  source?: ModelEvaluation;
  /** The evaluation text's file name. */
  textName: string;
}

/** Splice points of a SOLAR sweep: copy one keeps [0, a), copy two keeps [b, n). */
export type SweepRange =
  /** SOLAR's drop m for every m in [from, to]: a = n − m, b = m. */
  | { kind: 'drop'; from: number; to: number }
  /** Every (a, b) with a in [aFrom, aTo] and b in [bFrom, bTo]. */
  | { kind: 'grid'; aFrom: number; aTo: number; bFrom: number; bTo: number };

export interface SweepRow {
  a: number;
  b: number;
  /** Output layers: a + (n − b). */
  layers: number;
  perplexity: number;
  tokens: number;
}

export interface SweepReport {
  /** Best first: lowest perplexity, then fewer layers. */
  rows: SweepRow[];
  source: { perplexity: number; tokens: number; layers: number };
  textName: string;
  seconds: number;
}
