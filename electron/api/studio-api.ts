import type {
  AppInfo,
  EvaluatePlanRequest,
  PlanEvaluationReport,
  SweepReport,
  SweepRequest,
  CheckpointSummary,
  DirectoryListing,
  ExportReport,
  ExportRequest,
  LayerPlan,
  PlanFile,
  PlanRecipe,
  ResolvedPlan,
  SimilarityMatrix,
  StatsReport,
  StudioEventName,
  StudioEvents,
  TensorKind,
  VerifyReport,
  YamlImport,
} from './types.js';

/**
 * The one API of DUS Studio. The engine implements it once; the Electron IPC binder, the serve-mode
 * HTTP binder and the CLI call it. Every method takes at most one plain-data payload and returns
 * plain data, and fails with a StudioError.
 */
export interface StudioApi {
  /** Version, host kind, the bundled demo model's path and the allowed roots. */
  appInfo(): Promise<AppInfo>;
  /** Opens a model folder, a .safetensors file or an index file: headers, index and config only, never tensor data. */
  openCheckpoint(request: { path: string }): Promise<CheckpointSummary>;
  /** Checkpoints opened so far, in the order they were opened. */
  listCheckpoints(): Promise<CheckpointSummary[]>;
  /** Forgets an open checkpoint. */
  closeCheckpoint(request: { id: string }): Promise<void>;
  /**
   * Per-tensor statistics, run as job `jobId` (chosen by the caller so it can cancel; default a
   * fresh one): streams `jobProgress` (kind 'stats') per layer. `sampled` gives a quick estimate.
   */
  computeStats(request: { checkpointId: string; sampled?: boolean; jobId?: string }): Promise<StatsReport>;
  /**
   * Cosine similarity of one tensor kind between every layer of `checkpointA` and every layer of
   * `checkpointB` (default: A itself); both must be open and hold the kind in the same shape.
   * Runs as job `jobId` (default a fresh one), streaming `jobProgress` (kind 'similarity') per row.
   * `sampled` defaults to true above 1 GB of tensors.
   */
  layerSimilarity(request: {
    checkpointA: string;
    checkpointB?: string;
    kind: TensorKind;
    sampled?: boolean;
    jobId?: string;
  }): Promise<SimilarityMatrix>;
  /** Builds a plan from a recipe (SOLAR DUS, splice points, LLaMA-Pro, stacking, interleave). */
  buildPlan(request: { recipe: PlanRecipe }): Promise<LayerPlan>;
  /** Resolves a plan into its output stack, sizes, seams and validation problems. Opens sources it needs. */
  resolvePlan(request: { plan: LayerPlan }): Promise<ResolvedPlan>;
  /** Reads mergekit passthrough YAML; model paths are relative to `baseDir` when given. */
  planFromYaml(request: { text: string; baseDir?: string }): Promise<YamlImport>;
  /** Reads a mergekit passthrough YAML file (at most 1 MB); model paths are relative to its folder. */
  loadPlanFile(request: { path: string }): Promise<PlanFile>;
  /** Writes a plan as mergekit passthrough YAML. */
  planToYaml(request: { plan: LayerPlan }): Promise<{ text: string }>;
  /** Exports a plan to a Hugging Face folder as job `exportId`; streams `jobProgress` (kind 'export'); verifies at the end. */
  exportPlan(request: ExportRequest): Promise<ExportReport>;
  /**
   * Cancels a running job (export, statistics, similarity): its call then fails with Cancelled,
   * and a cancelled export leaves nothing at its target. An unknown or finished job is ignored.
   */
  cancelJob(request: { jobId: string }): Promise<void>;
  /** Re-opens an export and checks every tensor against its planned source. */
  verifyExport(request: { dir: string }): Promise<VerifyReport>;
  /**
   * Evaluates a plan before export: writes its output as a temporary GGUF (removed afterwards), loads
   * it in llama.cpp and reports perplexity over the evaluation text, the per-token NLL curve and a
   * greedy continuation, with the first source's figures beside them. A job: streams `jobProgress`
   * (kind `evaluation`), cancellable with `cancelJob`.
   */
  evaluatePlan(request: EvaluatePlanRequest): Promise<PlanEvaluationReport>;
  /**
   * Evaluates the SOLAR plan of one model at every splice point of `range` with one loaded llama.cpp,
   * streaming each row (`jobProgress` kind `sweep`); rows come back best first.
   */
  sweepSplices(request: SweepRequest): Promise<SweepReport>;
  /** Lists a folder for the in-app file browser (restricted to the roots in serve mode). */
  browse(request: { dir: string }): Promise<DirectoryListing>;
}

export type StudioMethod = keyof StudioApi;

/** Every method name, in one list that the binders loop over. */
export const STUDIO_METHODS = [
  'appInfo',
  'openCheckpoint',
  'listCheckpoints',
  'closeCheckpoint',
  'computeStats',
  'layerSimilarity',
  'buildPlan',
  'resolvePlan',
  'planFromYaml',
  'loadPlanFile',
  'planToYaml',
  'exportPlan',
  'cancelJob',
  'verifyExport',
  'evaluatePlan',
  'sweepSplices',
  'browse',
] as const satisfies readonly StudioMethod[];

// Type-level check: the list names every method of the interface, no more and no less.
type MissingMethods = Exclude<StudioMethod, (typeof STUDIO_METHODS)[number]>;
const everyMethodListed: MissingMethods extends never ? true : MissingMethods = true;
void everyMethodListed;

/** The methods that run as jobs, and the payload field that holds each one's job id. */
export const JOB_ID_FIELDS = {
  exportPlan: 'exportId',
  computeStats: 'jobId',
  layerSimilarity: 'jobId',
} as const satisfies Partial<Record<StudioMethod, string>>;

export type JobMethod = keyof typeof JOB_ID_FIELDS;

/** Every event name, in one list that the binders and the renderer's client loop over. */
export const STUDIO_EVENT_NAMES = ['jobProgress', 'jobEnd', 'menu'] as const satisfies readonly StudioEventName[];

/** The events the engine emits; `menu` comes from the desktop app's main process only. */
export const ENGINE_EVENT_NAMES = ['jobProgress', 'jobEnd'] as const satisfies readonly StudioEventName[];

// Type-level check: the list names every event of StudioEvents, no more and no less.
type UnlistedEvents = Exclude<StudioEventName, (typeof STUDIO_EVENT_NAMES)[number]>;
const everyEventListed: [UnlistedEvents] extends [never] ? true : UnlistedEvents = true;
void everyEventListed;
// …and the engine's list is all of them but the menu.
type UnlistedEngineEvents = Exclude<StudioEventName, (typeof ENGINE_EVENT_NAMES)[number] | 'menu'>;
const everyEngineEventListed: [UnlistedEngineEvents] extends [never] ? true : UnlistedEngineEvents = true;
void everyEngineEventListed;

export type StudioPayload<M extends StudioMethod> = Parameters<StudioApi[M]>[0];
export type StudioResult<M extends StudioMethod> = Awaited<ReturnType<StudioApi[M]>>;

export type StudioEventListener = <E extends StudioEventName>(event: E, payload: StudioEvents[E]) => void;

/** The API plus its event stream, as the renderer's client and the binders see it. */
export interface StudioHost extends StudioApi {
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends StudioEventName>(event: E, listener: (payload: StudioEvents[E]) => void): () => void;
}

/** The result envelope on IPC and HTTP: errors travel as data, the client throws them again. */
export type StudioEnvelope<T> = { ok: true; value: T } | { ok: false; error: import('./errors.js').StudioErrorData };
