/**
 * A stand-in StudioHost for front-door tests: every method records its call and answers plain data
 * (a default per method, or what a test sets); events are emitted on demand. It holds no engine logic,
 * so the front doors can be tested before, and independently of, the engine.
 */
import type { StudioApi, StudioHost, StudioMethod, StudioPayload, StudioResult } from '../../electron/api/studio-api.js';
import { STUDIO_METHODS } from '../../electron/api/studio-api.js';
import type {
  CheckpointSummary,
  ExportReport,
  LayerPlan,
  ResolvedPlan,
  StudioEventName,
  StudioEvents,
  TensorInfo,
} from '../../electron/api/types.js';

export interface RecordedCall {
  method: StudioMethod;
  payload: unknown;
}

type Answer<M extends StudioMethod> = StudioResult<M> | ((payload: StudioPayload<M>) => StudioResult<M> | Promise<StudioResult<M>>);

function tensor(name: string, layer: number | null, shape: number[], localName: string, kind: TensorInfo['kind']): TensorInfo {
  const elements = shape.reduce((product, dim) => product * dim, 1);
  return {
    name,
    dtype: 'F32',
    shape,
    elements,
    file: '/models/tiny/model.safetensors',
    offset: 0,
    bytes: elements * 4,
    layer,
    localName,
    kind,
  };
}

/** A two-layer Llama-like checkpoint summary with a handful of tensors. */
export function sampleSummary(id = '/models/tiny'): CheckpointSummary {
  const tensors: TensorInfo[] = [
    tensor('model.embed_tokens.weight', null, [32, 8], 'model.embed_tokens.weight', 'embed'),
    tensor('model.layers.0.self_attn.q_proj.weight', 0, [8, 8], 'self_attn.q_proj.weight', 'q'),
    tensor('model.layers.0.mlp.down_proj.weight', 0, [8, 16], 'mlp.down_proj.weight', 'down'),
    tensor('model.layers.1.self_attn.q_proj.weight', 1, [8, 8], 'self_attn.q_proj.weight', 'q'),
    tensor('model.layers.1.mlp.down_proj.weight', 1, [8, 16], 'mlp.down_proj.weight', 'down'),
    tensor('model.norm.weight', null, [8], 'model.norm.weight', 'final_norm'),
  ];
  const parameters = tensors.reduce((sum, info) => sum + info.elements, 0);
  return {
    id,
    name: id.split('/').pop() ?? id,
    folder: id,
    format: 'safetensors',
    architecture: 'LlamaForCausalLM',
    modelType: 'llama',
    family: 'llama',
    layerPrefix: 'model.layers.',
    layerCountKey: 'num_hidden_layers',
    numLayers: 2,
    configNumLayers: 2,
    hiddenSize: 8,
    intermediateSize: 16,
    vocabSize: 32,
    numAttentionHeads: 2,
    numKeyValueHeads: 2,
    parameters,
    totalBytes: parameters * 4,
    diskBytes: parameters * 4 + 1024,
    dtypes: { F32: parameters },
    tiedEmbeddings: true,
    layers: [0, 1].map((index) => ({
      index,
      parameters: 8 * 8 + 8 * 16,
      bytes: (8 * 8 + 8 * 16) * 4,
      tensorNames: ['mlp.down_proj.weight', 'self_attn.q_proj.weight'],
      isMtp: false,
    })),
    mtpLayers: [],
    tensors,
    shards: [{ file: `${id}/model.safetensors`, bytes: parameters * 4 + 1024, dataStart: 1024, tensorCount: tensors.length }],
    config: { architectures: ['LlamaForCausalLM'], num_hidden_layers: 2 },
    sideFiles: ['tokenizer.json'],
    warnings: ['config.json has no torch_dtype'],
  };
}

export function samplePlan(model = '/models/tiny'): LayerPlan {
  return { slices: [{ model, start: 0, end: 2 }, { model, start: 0, end: 2 }] };
}

export function sampleResolved(plan: LayerPlan = samplePlan()): ResolvedPlan {
  const layers = plan.slices.flatMap((slice, sliceIndex) =>
    Array.from({ length: Math.max(0, slice.end - slice.start) }, (_, offset) => ({
      model: slice.model,
      sourceLayer: slice.start + offset,
      slice: sliceIndex,
      scale: slice.scale ?? [],
    })),
  );
  return {
    plan,
    layers: layers.map((layer, index) => ({ ...layer, index, repeat: layers.slice(0, index).filter((other) => other.sourceLayer === layer.sourceLayer && other.model === layer.model).length })),
    numLayers: layers.length,
    parameters: 1000,
    totalBytes: 4000,
    embeddingsFrom: plan.slices[0]?.model ?? null,
    headFrom: plan.slices.at(-1)?.model ?? null,
    seams: [{ afterOutputLayer: 1, from: { model: '/models/tiny', layer: 1 }, to: { model: '/models/tiny', layer: 0 } }],
    problems: [],
    ok: true,
  };
}

export function sampleExportReport(dir = '/out/model'): ExportReport {
  return {
    exportId: 'e1',
    dir,
    files: ['config.json', 'model.safetensors'],
    tensorCount: 10,
    numLayers: 4,
    totalBytes: 4_000_000,
    seconds: 2,
    bytesPerSecond: 2_000_000,
    warnings: [],
    verify: { dir, ok: true, checkedTensors: 10, checkedBytes: 4_000_000, problems: [] },
  };
}

function defaultAnswers(): { [M in StudioMethod]: Answer<M> } {
  return {
    appInfo: { version: '0.0.0-test', host: 'serve', demoPath: '/demo/stories260K', roots: [] },
    openCheckpoint: (payload) => sampleSummary(payload.path),
    listCheckpoints: [],
    closeCheckpoint: undefined,
    computeStats: (payload) => ({ checkpointId: payload.checkpointId, tensors: [], skipped: [], sampled: payload.sampled ?? false, seconds: 0.01 }),
    layerSimilarity: (payload) => ({
      checkpointA: payload.checkpointA,
      checkpointB: payload.checkpointB ?? payload.checkpointA,
      kind: payload.kind,
      rows: 2,
      cols: 2,
      values: [
        [1, 0.25],
        [0.25, 1],
      ],
      sampled: payload.sampled ?? false,
      seconds: 0.01,
    }),
    buildPlan: (payload) => samplePlan('model' in payload.recipe ? payload.recipe.model : payload.recipe.models[0]),
    resolvePlan: (payload) => sampleResolved(payload.plan),
    planFromYaml: { plan: samplePlan(), problems: [] },
    loadPlanFile: (payload) => ({ path: payload.path, text: 'merge_method: passthrough\n', plan: samplePlan(), problems: [] }),
    planToYaml: { text: 'merge_method: passthrough\n' },
    exportPlan: (payload) => ({ ...sampleExportReport(payload.target.dir), exportId: payload.exportId }),
    cancelJob: undefined,
    verifyExport: (payload) => ({ dir: payload.dir, ok: true, checkedTensors: 3, checkedBytes: 1200, problems: [] }),
    evaluatePlan: () => ({
      plan: { perplexity: 2.5, tokens: 3, negativeLogLikelihoods: [1, 1, 0.75], continuation: ' there was', prompt: 'Once upon a time', backend: 'cpu', layers: 8 },
      textName: 'tiny-stories.txt',
    }),
    sweepSplices: () => ({ rows: [{ a: 4, b: 1, layers: 8, perplexity: 2.7, tokens: 3 }], source: { perplexity: 2.1, tokens: 3, layers: 5 }, textName: 'tiny-stories.txt', seconds: 1 }),
    browse: (payload) => ({ dir: payload.dir, kind: 'directory', parent: null, entries: [] }),
  };
}

export interface FakeHost extends StudioHost {
  readonly calls: RecordedCall[];
  /** Sets what `method` answers (a value, or a function of the payload; a throw fails the call). */
  answer<M extends StudioMethod>(method: M, answer: Answer<M>): void;
  /** Makes `method` fail with `error`. */
  fail(method: StudioMethod, error: unknown): void;
  emit<E extends StudioEventName>(event: E, payload: StudioEvents[E]): void;
  listenerCount(event?: StudioEventName): number;
  callsOf<M extends StudioMethod>(method: M): StudioPayload<M>[];
}

export function createFakeHost(): FakeHost {
  const calls: RecordedCall[] = [];
  const answers = defaultAnswers() as { [M in StudioMethod]: Answer<M> };
  const failures = new Map<StudioMethod, unknown>();
  const listeners = new Map<StudioEventName, Set<(payload: never) => void>>();

  const host = {
    calls,
    answer(method: StudioMethod, answer: unknown) {
      failures.delete(method);
      (answers as Record<StudioMethod, unknown>)[method] = answer;
    },
    fail(method: StudioMethod, error: unknown) {
      failures.set(method, error);
    },
    emit<E extends StudioEventName>(event: E, payload: StudioEvents[E]) {
      for (const listener of [...(listeners.get(event) ?? [])]) (listener as (value: StudioEvents[E]) => void)(payload);
    },
    listenerCount(event?: StudioEventName) {
      if (event) return listeners.get(event)?.size ?? 0;
      let count = 0;
      for (const set of listeners.values()) count += set.size;
      return count;
    },
    callsOf(method: StudioMethod) {
      return calls.filter((call) => call.method === method).map((call) => call.payload);
    },
    on<E extends StudioEventName>(event: E, listener: (payload: StudioEvents[E]) => void) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(listener as (payload: never) => void);
      return () => {
        set.delete(listener as (payload: never) => void);
      };
    },
  } as Record<string, unknown>;

  for (const method of STUDIO_METHODS) {
    host[method] = async (payload?: unknown) => {
      calls.push({ method, payload });
      // Let the caller's bookkeeping run first, as a real asynchronous engine would.
      await Promise.resolve();
      if (failures.has(method)) throw failures.get(method);
      const answer = answers[method] as unknown;
      const value = typeof answer === 'function' ? await (answer as (input: unknown) => unknown)(payload) : answer;
      return structuredClone(value);
    };
  }
  return host as unknown as FakeHost & StudioApi;
}
