import { LineCounter, parseDocument, stringify, isMap, isSeq, type Node as YamlNode } from 'yaml';
import { StudioError } from '../../electron/api/errors.js';
import { resolvePlan } from '../../electron/common/plan/layer-plan.js';
import { buildPlanFromRecipe } from '../../electron/common/plan/plan-recipes.js';
import { rankSweep, spliceCandidates } from '../../electron/common/evaluation/sweep-rules.js';
import type { StudioHost } from '../../electron/api/studio-api.js';
import type {
  AppInfo,
  CheckpointSummary,
  DirectoryEntry,
  DirectoryListing,
  Dtype,
  ExportProgress,
  ExportReport,
  ExportRequest,
  LayerInfo,
  LayerPlan,
  ModelEvaluation,
  OutputLayer,
  PlanProblem,
  PlanRecipe,
  PlanSlice,
  ResolvedPlan,
  Seam,
  SimilarityMatrix,
  StatsReport,
  SweepRow,
  StudioEventName,
  StudioEvents,
  TensorInfo,
  TensorKind,
  TensorStats,
} from '../../electron/api/types.js';

/**
 * A stand-in for the engine, for renderer tests and for looking at the built page: Llama-shaped
 * checkpoint summaries built in memory (the 5-layer stories260K and an 80-layer Llama-2-70B),
 * statistics with depth profiles like a trained model's, the engine's own plan rules, mergekit YAML both
 * ways, a controllable export and a folder tree to browse.
 */

export interface LlamaShape {
  folder: string;
  numLayers: number;
  hidden: number;
  intermediate: number;
  vocab: number;
  heads: number;
  kvHeads: number;
  dtype: 'F32' | 'BF16' | 'F16';
  tied: boolean;
}

export const STORIES_PATH = '/models/stories260K';
export const LLAMA_X_PATH = '/models/Xwin-LM-70B';
export const LLAMA_E_PATH = '/models/Euryale-70B';

export const STORIES_SHAPE: LlamaShape = {
  folder: STORIES_PATH,
  numLayers: 5,
  hidden: 64,
  intermediate: 172,
  vocab: 512,
  heads: 8,
  kvHeads: 4,
  dtype: 'F32',
  tied: true,
};

export function llama70bShape(folder: string): LlamaShape {
  return { folder, numLayers: 80, hidden: 8192, intermediate: 28672, vocab: 32000, heads: 64, kvHeads: 8, dtype: 'BF16', tied: false };
}

const DTYPE_BYTES: Record<'F32' | 'BF16' | 'F16', number> = { F32: 4, BF16: 2, F16: 2 };

/** The tensors of one Llama decoder layer, in Hugging Face names, with their kinds and shapes. */
function layerTensors(shape: LlamaShape): { local: string; kind: TensorKind; dims: number[] }[] {
  const headDim = shape.hidden / shape.heads;
  const kvDim = headDim * shape.kvHeads;
  return [
    { local: 'input_layernorm.weight', kind: 'input_norm', dims: [shape.hidden] },
    { local: 'post_attention_layernorm.weight', kind: 'post_attention_norm', dims: [shape.hidden] },
    { local: 'self_attn.q_proj.weight', kind: 'q', dims: [shape.hidden, shape.hidden] },
    { local: 'self_attn.k_proj.weight', kind: 'k', dims: [kvDim, shape.hidden] },
    { local: 'self_attn.v_proj.weight', kind: 'v', dims: [kvDim, shape.hidden] },
    { local: 'self_attn.o_proj.weight', kind: 'o', dims: [shape.hidden, shape.hidden] },
    { local: 'mlp.gate_proj.weight', kind: 'gate', dims: [shape.intermediate, shape.hidden] },
    { local: 'mlp.down_proj.weight', kind: 'down', dims: [shape.hidden, shape.intermediate] },
    { local: 'mlp.up_proj.weight', kind: 'up', dims: [shape.intermediate, shape.hidden] },
  ];
}

/** A full CheckpointSummary for a Llama folder, with byte offsets laid out as one file would hold them. */
export function llamaCheckpoint(shape: LlamaShape): CheckpointSummary {
  const file = `${shape.folder}/model.safetensors`;
  const elementBytes = DTYPE_BYTES[shape.dtype];
  const tensors: TensorInfo[] = [];
  let offset = 8 + 4096;
  function add(name: string, layer: number | null, localName: string, kind: TensorKind, dims: number[]): void {
    const elements = dims.reduce((product, dim) => product * dim, 1);
    const bytes = elements * elementBytes;
    tensors.push({ name, dtype: shape.dtype as Dtype, shape: dims, elements, file, offset, bytes, layer, localName, kind });
    offset += bytes;
  }
  add('model.embed_tokens.weight', null, 'model.embed_tokens.weight', 'embed', [shape.vocab, shape.hidden]);
  add('model.norm.weight', null, 'model.norm.weight', 'final_norm', [shape.hidden]);
  if (!shape.tied) add('lm_head.weight', null, 'lm_head.weight', 'head', [shape.vocab, shape.hidden]);
  const layers: LayerInfo[] = [];
  for (let layer = 0; layer < shape.numLayers; layer++) {
    const before = tensors.length;
    for (const tensor of layerTensors(shape)) add(`model.layers.${layer}.${tensor.local}`, layer, tensor.local, tensor.kind, tensor.dims);
    const own = tensors.slice(before);
    layers.push({
      index: layer,
      parameters: own.reduce((sum, tensor) => sum + tensor.elements, 0),
      bytes: own.reduce((sum, tensor) => sum + tensor.bytes, 0),
      tensorNames: own.map((tensor) => tensor.localName).sort(),
      isMtp: false,
    });
  }
  const parameters = tensors.reduce((sum, tensor) => sum + tensor.elements, 0);
  const totalBytes = tensors.reduce((sum, tensor) => sum + tensor.bytes, 0);
  const name = shape.folder.split('/').at(-1)!;
  return {
    id: shape.folder,
    name,
    folder: shape.folder,
    format: 'safetensors',
    architecture: 'LlamaForCausalLM',
    modelType: 'llama',
    family: 'llama',
    layerPrefix: 'model.layers.',
    layerCountKey: 'num_hidden_layers',
    numLayers: shape.numLayers,
    configNumLayers: shape.numLayers,
    hiddenSize: shape.hidden,
    intermediateSize: shape.intermediate,
    vocabSize: shape.vocab,
    numAttentionHeads: shape.heads,
    numKeyValueHeads: shape.kvHeads,
    parameters,
    totalBytes,
    diskBytes: offset,
    dtypes: { [shape.dtype]: parameters },
    tiedEmbeddings: shape.tied,
    layers,
    mtpLayers: [],
    tensors,
    shards: [{ file, bytes: offset, dataStart: 8 + 4096, tensorCount: tensors.length }],
    config: { architectures: ['LlamaForCausalLM'], model_type: 'llama', num_hidden_layers: shape.numLayers, hidden_size: shape.hidden },
    sideFiles: ['tokenizer.model', 'tokenizer_config.json'],
    warnings: [],
  };
}

function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

function hash(text: string): number {
  let value = 2166136261;
  for (let index = 0; index < text.length; index++) value = Math.imul(value ^ text.charCodeAt(index), 16777619);
  return value >>> 0;
}

/** RMS by kind at depth 0 and its growth to the last layer: trained Llamas' output projections and norms grow with depth. */
const PROFILE: Record<string, { base: number; growth: number }> = {
  input_norm: { base: 0.25, growth: 1.6 },
  post_attention_norm: { base: 0.2, growth: 2.2 },
  q: { base: 0.028, growth: -0.35 },
  k: { base: 0.034, growth: -0.3 },
  v: { base: 0.012, growth: 0.9 },
  o: { base: 0.01, growth: 1.3 },
  gate: { base: 0.021, growth: 0.25 },
  up: { base: 0.018, growth: 0.35 },
  down: { base: 0.017, growth: 0.7 },
  embed: { base: 0.02, growth: 0 },
  final_norm: { base: 1.8, growth: 0 },
  head: { base: 0.02, growth: 0 },
};

/** Statistics for every tensor, deterministic per checkpoint, with a smooth depth profile plus noise. */
export function syntheticStats(summary: CheckpointSummary): TensorStats[] {
  const random = seededRandom(hash(summary.id));
  return summary.tensors.map((tensor) => {
    const profile = PROFILE[tensor.kind] ?? { base: 0.02, growth: 0 };
    const depth = tensor.layer === null ? 0 : tensor.layer / Math.max(1, summary.numLayers - 1);
    const rms = profile.base * (1 + profile.growth * depth) * (1 + 0.06 * (random() - 0.5));
    return {
      name: tensor.name,
      elements: tensor.elements,
      l2: rms * Math.sqrt(tensor.elements),
      rms,
      mean: rms * 0.01 * (random() - 0.5),
      maxAbs: rms * (6 + 4 * random()),
      nanCount: 0,
      infCount: 0,
      sampled: false,
    };
  });
}

/**
 * A deterministic cosine for layer i of A against layer j of B: 1 for a layer against itself,
 * falling off with the distance between layers (norm weights stay near 1, projections near 0), plus
 * a little noise per checkpoint pair and kind, symmetric when A is B.
 */
export function syntheticSimilarity(a: CheckpointSummary, b: CheckpointSummary, kind: TensorKind, i: number, j: number): number {
  if (a.id === b.id && i === j) return 1;
  const [low, high] = a.id === b.id && j < i ? [j, i] : [i, j];
  const noise = (hash(`${a.id}|${b.id}|${kind}|${low}|${high}`) / 4294967296 - 0.5) * 0.04;
  const near = Math.exp(-Math.abs(i - j) / 3);
  const isNorm = kind === 'input_norm' || kind === 'post_attention_norm';
  const value = isNorm ? 0.9 + 0.09 * near + noise / 4 : 0.35 * near - 0.05 + noise;
  return Math.max(-1, Math.min(1, value));
}

/** The fake's source perplexity on its evaluation text (stories260K's, as llama.cpp measures it). */
export const FAKE_SOURCE_PERPLEXITY = 2.09;
/** Tokens the fake scores per evaluation. */
export const FAKE_EVALUATION_TOKENS = 96;
const FAKE_PROMPT = 'Once upon a time';
const FAKE_STORY = ', there was a little girl named Lily. She loved to play outside in the park with her dog.';

/**
 * A deterministic stand-in for llama.cpp's verdict on an output stack: the source's perplexity, worse
 * by 8 % plus 4 % per layer skipped or repeated at every seam (an identity copy, a scaled LLaMA-Pro
 * layer, costs nothing), so splices rank like real ones do: the identity plan scores the source exactly.
 */
export function fakePerplexity(layers: readonly OutputLayer[]): number {
  let penalty = 0;
  let previous: OutputLayer | undefined;
  for (const layer of layers) {
    if (layer.scale.some((rule) => rule.value === 0)) continue;
    if (previous && (previous.model !== layer.model || previous.sourceLayer + 1 !== layer.sourceLayer)) {
      penalty += 0.08 + 0.04 * Math.abs(previous.sourceLayer + 1 - layer.sourceLayer);
    }
    previous = layer;
  }
  return FAKE_SOURCE_PERPLEXITY * (1 + penalty);
}

/** Per-token NLLs whose mean is exactly log(perplexity): a fixed noise pattern, centred. */
export function fakeEvaluation(layers: readonly OutputLayer[], prompt: string): ModelEvaluation {
  const perplexity = fakePerplexity(layers);
  const random = seededRandom(hash(layers.map((layer) => `${layer.model}:${layer.sourceLayer}`).join('|')));
  const noise = Array.from({ length: FAKE_EVALUATION_TOKENS }, () => 1.5 * (random() - 0.5));
  const mean = noise.reduce((sum, value) => sum + value, 0) / noise.length;
  const words = FAKE_STORY.split(' ');
  // Each seam garbles one more word of the story, so plans read differently from their source.
  const garbled = Math.min(words.length, Math.round((perplexity / FAKE_SOURCE_PERPLEXITY - 1) * 10));
  const continuation = words.map((word, index) => (index > 0 && index <= garbled ? word.split('').reverse().join('') : word)).join(' ');
  return {
    perplexity,
    tokens: FAKE_EVALUATION_TOKENS,
    negativeLogLikelihoods: noise.map((value) => Math.max(0, Math.log(perplexity) + value - mean)),
    continuation: prompt === '' ? '' : continuation,
    prompt,
    backend: 'cpu',
    layers: layers.length,
  };
}

/** A gate for `evaluationGate`: each step waits until the test opens it with `next()`. */
export function stepGate(): { wait: () => Promise<void>; next: () => Promise<void> } {
  const waiting: (() => void)[] = [];
  return {
    wait: () => new Promise<void>((resolve) => waiting.push(resolve)),
    async next(): Promise<void> {
      while (waiting.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      waiting.shift()!();
    },
  };
}

export interface RecordedCall {
  method: string;
  payload: unknown;
}

export interface FakeStudioOptions {
  /** Paths openCheckpoint accepts; the defaults are stories260K and two 80-layer Llamas. */
  checkpoints?: CheckpointSummary[];
  /** Delay between statistics progress events, in ms (0 = next macrotask). */
  statsStepMs?: number;
  /** Delay between similarity progress events (rows), in ms. */
  similarityStepMs?: number;
  /** Awaited before each similarity row: a test holds the stream at a row of its choosing, instead of racing a delay. */
  similarityRowGate?: (row: number) => Promise<void>;
  host?: AppInfo['host'];
  /** YAML plan files loadPlanFile can read, by path. */
  planFiles?: Record<string, string>;
  /**
   * Awaited before each evaluation step (`writing`, `scoring`, or `sweep` before each splice point):
   * a test holds an evaluation or a sweep where it wants, instead of racing a delay.
   */
  evaluationGate?: (step: 'writing' | 'scoring' | 'sweep', index: number) => Promise<void>;
}

interface PendingExport {
  request: ExportRequest;
  resolve: (report: ExportReport) => void;
  reject: (error: unknown) => void;
}

export interface FakeStudio extends StudioHost {
  calls: RecordedCall[];
  /** Calls of one method, in order. */
  callsOf(method: string): RecordedCall[];
  emit<E extends StudioEventName>(event: E, payload: StudioEvents[E]): void;
  /** While held, resolvePlan answers only when released (tests of coalescing). */
  holdResolves(): () => void;
  /** The export in progress, if any. */
  pendingExport(): ExportRequest | null;
  /** Sends an export progress event for the running export. */
  progressExport(progress: Omit<ExportProgress, 'exportId'>): void;
  /** Ends the running export with a report (verify ok unless told otherwise). */
  finishExport(options?: { verifyOk?: boolean }): ExportReport;
  listenerCount(): number;
}

export function defaultCheckpoints(): CheckpointSummary[] {
  return [llamaCheckpoint(STORIES_SHAPE), llamaCheckpoint(llama70bShape(LLAMA_X_PATH)), llamaCheckpoint(llama70bShape(LLAMA_E_PATH))];
}

/** The default checkpoints by id, as the shared plan rules look sources up. */
export function defaultSources(): Map<string, CheckpointSummary> {
  return new Map(defaultCheckpoints().map((summary) => [summary.id, summary]));
}

/** Goliath-120B's slices (DESIGN.md §2): X[0,16) E[8,24) X[17,32) … X[65,80) → 137 layers. */
export function goliathPlan(x = LLAMA_X_PATH, e = LLAMA_E_PATH): LayerPlan {
  const ranges: [string, number, number][] = [
    [x, 0, 16],
    [e, 8, 24],
    [x, 17, 32],
    [e, 25, 40],
    [x, 33, 48],
    [e, 41, 56],
    [x, 49, 64],
    [e, 57, 72],
    [x, 65, 80],
  ];
  return { slices: ranges.map(([model, start, end]) => ({ model, start, end })) };
}

export function createFakeStudio(options: FakeStudioOptions = {}): FakeStudio {
  const known = new Map((options.checkpoints ?? defaultCheckpoints()).map((summary) => [summary.id, summary]));
  const open = new Map<string, CheckpointSummary>();
  const listeners = new Map<StudioEventName, Set<(payload: never) => void>>();
  const calls: RecordedCall[] = [];
  let held: Promise<void> | null = null;
  let pending: PendingExport | null = null;
  /** Statistics and similarity jobs running now, and those asked to stop (checked between steps). */
  const runningJobs = new Set<string>();
  const cancelledJobs = new Set<string>();
  let jobCount = 0;
  function endIfCancelled(jobId: string, message: string): void {
    if (!cancelledJobs.delete(jobId)) return;
    runningJobs.delete(jobId);
    throw new StudioError('Cancelled', message);
  }
  const planFiles = new Map(Object.entries(options.planFiles ?? {}));

  function record(method: string, payload: unknown): void {
    calls.push({ method, payload: structuredClone(payload) });
  }

  function emit<E extends StudioEventName>(event: E, payload: StudioEvents[E]): void {
    for (const listener of [...(listeners.get(event) ?? [])]) (listener as (payload: StudioEvents[E]) => void)(structuredClone(payload));
  }

  function summaryFor(path: string): CheckpointSummary {
    const summary = known.get(path.replace(/\/+$/, ''));
    if (!summary) throw new StudioError('NotFound', 'No model folder or .safetensors file here.', { path });
    return summary;
  }

  /**
   * The engine's own plan rules (electron/common/plan), over the known checkpoints: like the engine,
   * a plan that names a known checkpoint opens it.
   */
  function resolve(plan: LayerPlan): ResolvedPlan {
    for (const slice of plan.slices) {
      const summary = known.get(slice.model);
      if (summary !== undefined && !open.has(slice.model)) open.set(slice.model, summary);
    }
    return resolvePlan(plan, known);
  }

  function buildPlan(recipe: PlanRecipe): LayerPlan {
    const models = recipe.kind === 'interleave' ? recipe.models : [recipe.model];
    for (const model of models) summaryFor(model);
    return buildPlanFromRecipe(recipe, known);
  }

  function toYaml(plan: LayerPlan): string {
    const document: Record<string, unknown> = {
      slices: plan.slices.map((slice) => ({
        sources: [
          {
            model: slice.model,
            layer_range: [slice.start, slice.end],
            ...(slice.scale ? { parameters: { scale: slice.scale.map((rule) => (rule.filter === undefined ? { value: rule.value } : { filter: rule.filter, value: rule.value })) } } : {}),
          },
        ],
      })),
      merge_method: 'passthrough',
      dtype: plan.dtype ?? 'float32',
    };
    return stringify(document, { flow: false }).replace(/layer_range:\n\s+- (\d+)\n\s+- (\d+)/g, 'layer_range: [$1, $2]');
  }

  function fromYaml(text: string): { plan: LayerPlan | null; problems: PlanProblem[] } {
    const lineCounter = new LineCounter();
    const document = parseDocument(text, { lineCounter, prettyErrors: false });
    const lineOf = (node: YamlNode | null | undefined): number | undefined => (node?.range ? lineCounter.linePos(node.range[0]).line : undefined);
    if (document.errors.length > 0) {
      const error = document.errors[0]!;
      const line = lineCounter.linePos(error.pos[0]).line;
      return { plan: null, problems: [{ severity: 'error', code: 'InvalidYaml', message: error.message.split('\n')[0]!, ...(line === undefined ? {} : { line }) }] };
    }
    const problems: PlanProblem[] = [];
    const root = document.contents;
    if (!isMap(root)) return { plan: null, problems: [{ severity: 'error', code: 'InvalidYaml', message: 'Expected a mapping with `slices`.', line: 1 }] };
    const values = root.toJSON() as Record<string, unknown>;
    const method = values['merge_method'];
    if (method !== undefined && method !== 'passthrough') {
      problems.push({ severity: 'error', code: 'UnsupportedMergeOption', message: `merge_method ${String(method)} is not passthrough.`, line: lineOf(root.get('merge_method', true) as YamlNode) ?? 1 });
    }
    const slicesNode = root.get('slices', true);
    if (!isSeq(slicesNode)) return { plan: null, problems: [...problems, { severity: 'error', code: 'InvalidYaml', message: '`slices` must be a list.', line: lineOf(slicesNode as YamlNode) ?? 1 }] };
    const slices: PlanSlice[] = [];
    slicesNode.items.forEach((item, index) => {
      const source = isMap(item) ? (item.get('sources', true) as YamlNode | undefined) : undefined;
      const first = isSeq(source) ? source.items[0] : undefined;
      if (!isMap(first)) {
        problems.push({ severity: 'error', code: 'InvalidYaml', message: `Slice ${index + 1} needs one source.`, slice: index, line: lineOf(item as YamlNode) ?? 1 });
        return;
      }
      const model = first.get('model');
      const rangeNode = first.get('layer_range', true);
      const range = isSeq(rangeNode) ? rangeNode.toJSON() : null;
      if (typeof model !== 'string' || !Array.isArray(range) || range.length !== 2 || !range.every((value) => Number.isInteger(value))) {
        problems.push({
          severity: 'error',
          code: 'InvalidYaml',
          message: `Slice ${index + 1}: layer_range must be two whole numbers [start, end).`,
          slice: index,
          line: lineOf((rangeNode as YamlNode) ?? (first as YamlNode)) ?? 1,
        });
        return;
      }
      const scale = (first.toJSON() as { parameters?: { scale?: { filter?: string; value: number }[] } }).parameters?.scale;
      slices.push({ model, start: range[0] as number, end: range[1] as number, ...(scale ? { scale } : {}) });
    });
    const dtype = values['dtype'];
    return {
      plan: problems.some((problem) => problem.severity === 'error') ? null : { slices, ...(typeof dtype === 'string' ? { dtype } : {}) },
      problems,
    };
  }

  const tree: Record<string, DirectoryEntry[]> = {
    '/models': [
      { name: 'Euryale-70B', path: LLAMA_E_PATH, kind: 'checkpoint' },
      { name: 'stories260K', path: STORIES_PATH, kind: 'checkpoint' },
      { name: 'Xwin-LM-70B', path: LLAMA_X_PATH, kind: 'checkpoint' },
      { name: 'exports', path: '/models/exports', kind: 'directory' },
      { name: 'goliath.yaml', path: '/models/goliath.yaml', kind: 'yaml' },
      { name: 'README.md', path: '/models/README.md', kind: 'file' },
    ],
    '/models/exports': [],
    [STORIES_PATH]: [
      { name: 'config.json', path: `${STORIES_PATH}/config.json`, kind: 'file' },
      { name: 'model.safetensors', path: `${STORIES_PATH}/model.safetensors`, kind: 'safetensors' },
    ],
  };
  const modelFolders = new Set(tree['/models']!.filter((entry) => entry.kind === 'checkpoint').map((entry) => entry.path));

  const host: FakeStudio = {
    calls,
    callsOf: (method) => calls.filter((call) => call.method === method),
    emit,
    holdResolves() {
      let release!: () => void;
      held = new Promise((resolve) => (release = resolve));
      return () => {
        held = null;
        release();
      };
    },
    pendingExport: () => pending?.request ?? null,
    progressExport(progress) {
      if (!pending) throw new Error('no export is running');
      emit('jobProgress', { jobId: pending.request.exportId, kind: 'export', progress: { exportId: pending.request.exportId, ...progress } });
    },
    finishExport({ verifyOk = true } = {}) {
      if (!pending) throw new Error('no export is running');
      const resolved = resolve(pending.request.plan);
      const report: ExportReport = {
        exportId: pending.request.exportId,
        dir: pending.request.target.dir,
        files: ['config.json', 'model.safetensors', 'tokenizer.model', 'tokenizer_config.json'],
        tensorCount: resolved.layers.length * 9 + 2,
        numLayers: resolved.numLayers,
        totalBytes: resolved.totalBytes,
        seconds: 2.5,
        bytesPerSecond: resolved.totalBytes / 2.5,
        warnings: [],
        verify: {
          dir: pending.request.target.dir,
          ok: verifyOk,
          checkedTensors: resolved.layers.length * 9 + 2,
          checkedBytes: resolved.totalBytes,
          problems: verifyOk ? [] : [{ code: 'TensorBytesDiffer', message: 'model.layers.3.mlp.down_proj.weight differs from its source.', tensor: 'model.layers.3.mlp.down_proj.weight' }],
        },
      };
      const finished = pending;
      pending = null;
      // As the engine does: an export that fails verification is not committed but thrown.
      if (report.verify !== null && !report.verify.ok) {
        finished.reject(new StudioError('VerifyFailed', `the export to ${report.dir} failed verification (1 problem); nothing was written there`, { path: report.dir, detail: report.verify }));
      } else finished.resolve(report);
      return report;
    },
    listenerCount: () => [...listeners.values()].reduce((sum, set) => sum + set.size, 0),

    async appInfo() {
      record('appInfo', null);
      return { version: '0.1.0', host: options.host ?? 'serve', demoPath: STORIES_PATH, roots: ['/models'] };
    },
    async openCheckpoint({ path }) {
      record('openCheckpoint', { path });
      const summary = summaryFor(path);
      open.set(summary.id, summary);
      return structuredClone(summary);
    },
    async listCheckpoints() {
      record('listCheckpoints', null);
      return [...open.values()];
    },
    async closeCheckpoint({ id }) {
      record('closeCheckpoint', { id });
      open.delete(id);
    },
    async computeStats({ checkpointId, sampled, jobId = `fake-stats-${++jobCount}` }) {
      record('computeStats', { checkpointId, sampled });
      runningJobs.add(jobId);
      const summary = open.get(checkpointId);
      if (!summary) throw new StudioError('NotFound', 'Open the checkpoint first.', { path: checkpointId });
      const stats = syntheticStats(summary).map((tensor) => ({ ...tensor, sampled: sampled ?? false }));
      const started = performance.now();
      const groups: (number | null)[] = [...summary.layers.map((layer) => layer.index), null];
      for (const [done, layer] of groups.entries()) {
        await new Promise((resolve) => setTimeout(resolve, options.statsStepMs ?? 0));
        endIfCancelled(jobId, 'statistics were cancelled');
        const names = new Set(summary.tensors.filter((tensor) => tensor.layer === layer).map((tensor) => tensor.name));
        const progress = { checkpointId, done: done + 1, total: groups.length, layer, tensors: stats.filter((tensor) => names.has(tensor.name)), sampled: sampled ?? false };
        emit('jobProgress', { jobId, kind: 'stats', progress });
      }
      runningJobs.delete(jobId);
      const report: StatsReport = { checkpointId, tensors: stats, skipped: [], sampled: sampled ?? false, seconds: (performance.now() - started) / 1000 };
      return report;
    },
    async layerSimilarity({ checkpointA, checkpointB, kind, sampled, jobId = `fake-similarity-${++jobCount}` }) {
      record('layerSimilarity', { checkpointA, checkpointB, kind, sampled });
      const a = open.get(checkpointA);
      const b = open.get(checkpointB ?? checkpointA);
      if (!a || !b) throw new StudioError('NotFound', 'this checkpoint is not open', { path: a ? checkpointB : checkpointA });
      const hasKind = (summary: CheckpointSummary) => summary.tensors.some((tensor) => tensor.layer !== null && tensor.kind === kind);
      if (!hasKind(a) || !hasKind(b)) throw new StudioError('InvalidRequest', `${(hasKind(a) ? b : a).name} has no ${kind} tensors in its layers, so there is nothing to compare`);
      if (a.hiddenSize !== b.hiddenSize || a.intermediateSize !== b.intermediateSize) {
        throw new StudioError('InvalidRequest', `${a.name} and ${b.name} hold their ${kind} tensors in different shapes, so their layers cannot be compared`, { path: b.id });
      }
      const started = performance.now();
      const isSampled = sampled ?? Math.max(a.totalBytes, b.totalBytes) > 1e9;
      const values: (number | null)[][] = [];
      runningJobs.add(jobId);
      for (let i = 0; i < a.numLayers; i++) {
        await new Promise((resolve) => setTimeout(resolve, options.similarityStepMs ?? 0));
        await options.similarityRowGate?.(i);
        endIfCancelled(jobId, 'the similarity matrix was cancelled');
        values.push(Array.from({ length: b.numLayers }, (_, j) => syntheticSimilarity(a, b, kind, i, j)));
        const progress = { checkpointA: a.id, checkpointB: b.id, kind, done: i + 1, total: a.numLayers, row: i, values: values[i]!, sampled: isSampled };
        emit('jobProgress', { jobId, kind: 'similarity', progress });
      }
      runningJobs.delete(jobId);
      const matrix: SimilarityMatrix = { checkpointA: a.id, checkpointB: b.id, kind, rows: a.numLayers, cols: b.numLayers, values, sampled: isSampled, seconds: (performance.now() - started) / 1000 };
      return matrix;
    },
    async buildPlan({ recipe }) {
      record('buildPlan', { recipe });
      return buildPlan(recipe);
    },
    async resolvePlan({ plan }) {
      record('resolvePlan', { plan });
      if (held) await held;
      return resolve(structuredClone(plan));
    },
    async planFromYaml({ text }) {
      record('planFromYaml', { text });
      return fromYaml(text);
    },
    async loadPlanFile({ path }) {
      record('loadPlanFile', { path });
      const text = planFiles.get(path);
      if (text === undefined) throw new StudioError('NotFound', `${path}: the YAML file does not exist`, { path });
      return { path, text, ...fromYaml(text) };
    },
    async planToYaml({ plan }) {
      record('planToYaml', { plan });
      return { text: toYaml(plan) };
    },
    exportPlan(request) {
      record('exportPlan', request);
      if (pending) return Promise.reject(new StudioError('ExportFailed', 'Another export is running.'));
      const resolved = resolve(request.plan);
      if (!resolved.ok) return Promise.reject(new StudioError('InvalidPlan', 'The plan has errors.'));
      return new Promise<ExportReport>((resolveExport, reject) => {
        pending = { request, resolve: resolveExport, reject };
      });
    },
    async cancelJob({ jobId }) {
      record('cancelJob', { jobId });
      if (runningJobs.has(jobId)) cancelledJobs.add(jobId);
      if (!pending || pending.request.exportId !== jobId) return;
      const cancelled = pending;
      pending = null;
      emit('jobEnd', { jobId, kind: 'export', outcome: 'cancelled' });
      cancelled.reject(new StudioError('Cancelled', 'The export was cancelled.'));
    },
    async evaluatePlan({ jobId = `fake-evaluation-${++jobCount}`, ...request }) {
      record('evaluatePlan', request);
      const resolved = resolve(request.plan);
      if (!resolved.ok) throw new StudioError('InvalidPlan', 'the plan has errors');
      const first = open.get(resolved.layers[0]?.model ?? '');
      // Like the engine: Llama safetensors convert only with a SentencePiece tokenizer.model, which the fake gives stories260K alone.
      if (first && first.id !== STORIES_PATH) {
        throw new StudioError('EvaluationNeedsGguf', 'evaluation needs a GGUF of this model: it has no SentencePiece tokenizer.model to convert', { path: first.folder });
      }
      runningJobs.add(jobId);
      const bytes = resolved.totalBytes;
      for (const [step, phase] of (['writing', 'scoring'] as const).entries()) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        await options.evaluationGate?.(phase, step);
        endIfCancelled(jobId, 'evaluation cancelled');
        const total = phase === 'writing' ? bytes : FAKE_EVALUATION_TOKENS;
        emit('jobProgress', { jobId, kind: 'evaluation', progress: { phase, done: Math.round(total / 2), total } });
        emit('jobProgress', { jobId, kind: 'evaluation', progress: { phase, done: total, total } });
      }
      runningJobs.delete(jobId);
      const prompt = request.prompt ?? FAKE_PROMPT;
      const plan = fakeEvaluation(resolved.layers, prompt);
      if (request.compareSource === false || !first) return { plan, textName: 'tiny-stories.txt' };
      const identity = resolvePlan({ slices: [{ model: first.id, start: 0, end: first.numLayers }] }, known);
      return { plan, source: fakeEvaluation(identity.layers, prompt), textName: 'tiny-stories.txt' };
    },
    async sweepSplices({ jobId = `fake-sweep-${++jobCount}`, ...request }) {
      record('sweepSplices', request);
      const summary = open.get(request.model) ?? summaryFor(request.model);
      if (summary.id !== STORIES_PATH) {
        throw new StudioError('EvaluationNeedsGguf', 'evaluation needs a GGUF of this model: it has no SentencePiece tokenizer.model to convert', { path: summary.folder });
      }
      const candidates = spliceCandidates(summary.numLayers, request.range);
      const sources = new Map([[summary.id, summary]]);
      const source = fakeEvaluation(resolvePlan({ slices: [{ model: summary.id, start: 0, end: summary.numLayers }] }, sources).layers, '');
      const rows: SweepRow[] = [];
      runningJobs.add(jobId);
      for (const [index, candidate] of candidates.entries()) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        await options.evaluationGate?.('sweep', index);
        endIfCancelled(jobId, 'the sweep was cancelled');
        const plan = buildPlanFromRecipe({ kind: 'splice', model: summary.id, a: candidate.a, b: candidate.b }, sources);
        const evaluation = fakeEvaluation(resolvePlan(plan, sources).layers, '');
        const row: SweepRow = { ...candidate, layers: evaluation.layers, perplexity: evaluation.perplexity, tokens: evaluation.tokens };
        rows.push(row);
        emit('jobProgress', { jobId, kind: 'sweep', progress: { row, done: index + 1, total: candidates.length } });
      }
      runningJobs.delete(jobId);
      return { rows: rankSweep(rows), source: { perplexity: source.perplexity, tokens: source.tokens, layers: summary.numLayers }, textName: 'tiny-stories.txt', seconds: 0.5 };
    },
    async verifyExport({ dir }) {
      record('verifyExport', { dir });
      return { dir, ok: true, checkedTensors: 0, checkedBytes: 0, problems: [] };
    },
    async browse({ dir }) {
      record('browse', { dir });
      const clean = dir.replace(/\/+$/, '') || '/';
      const entries = tree[clean];
      if (!entries) throw new StudioError('OutsideRoots', 'This folder is outside the folders the server may open.', { path: dir });
      const listing: DirectoryListing = { dir: clean, kind: modelFolders.has(clean) ? 'checkpoint' : 'directory', parent: clean === '/models' ? null : '/models', entries };
      return structuredClone(listing);
    },
    on(event, listener) {
      const set = listeners.get(event) ?? new Set();
      listeners.set(event, set);
      set.add(listener as (payload: never) => void);
      return () => set.delete(listener as (payload: never) => void);
    },
  };
  return host;
}
