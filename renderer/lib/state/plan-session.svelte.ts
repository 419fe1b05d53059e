import type { StudioHost } from '../../../electron/api/studio-api.js';
import type { CheckpointSummary, LayerPlan, OutputLayer, PlanProblem, PlanRecipe, PlanSlice, ResolvedPlan, ScaleRule, YamlImport } from '../../../electron/api/types.js';
import { StudioError } from '../../../electron/api/errors.js';
import { describeError } from '../studio-client.js';
import { YamlPositions } from '../yaml-positions.js';
import { expandPlan, findSeams, planSize, type PlanSize, type SourceLookup } from '../../../electron/common/plan/layer-plan.js';
import { llamaProEvery, withLlamaPro, withoutLlamaPro } from '../../../electron/common/plan/llama-pro.js';
import { buildPlanFromRecipe, recognizeRecipe, sameSlices, spliceBoundaries } from '../../../electron/common/plan/plan-recipes.js';

export type RecipeKind = PlanRecipe['kind'] | 'custom';
export type SpliceHandle = 'A' | 'B';

interface Snapshot {
  plan: LayerPlan;
  recipe: RecipeKind;
  boundary: number;
  fromYaml: boolean;
}

export interface PlanSessionOptions {
  /** The open checkpoint with this id, if any (layer counts, sizes). Reactive reads are fine. */
  checkpointOf: (id: string) => CheckpointSummary | undefined;
  /** Quiet time after an edit before the plan goes to the engine (coalesces drags and typing). */
  debounceMs?: number;
  historyLimit?: number;
}

/** Where a splice handle sits: the source column and the layer boundary (A: end of copy A, B: start of copy B). */
export interface SplicePoint {
  model: string;
  layer: number;
  min: number;
  max: number;
}

export interface SpliceState {
  /** Index i of the boundary between slice i and slice i + 1. */
  boundary: number;
  a: SplicePoint;
  b: SplicePoint;
}

/**
 * The plan being edited. Edits are local and immediate (the canvas redraws from `layers` at once);
 * the engine's `resolvePlan` runs behind them, at most one request in flight, latest plan wins.
 * Every edit is one undo step; a drag is one step too (startGesture / endGesture).
 */
export class PlanSession {
  plan = $state.raw<LayerPlan>({ slices: [] });
  recipe = $state<RecipeKind>('custom');
  /** Preferred boundary for the splice handles (the first usable one when this one is not). */
  boundary = $state(0);

  /** The engine's answer for `resolvedFor` (which may be an older plan while a newer one resolves). */
  resolved = $state.raw<ResolvedPlan | null>(null);
  resolvedFor = $state.raw<LayerPlan | null>(null);
  resolveError = $state<string | null>(null);
  /** True while a resolve is scheduled or in flight. */
  pending = $state(false);
  /** The plan as mergekit YAML (from the engine's `planToYaml`). */
  yamlText = $state('');
  /** Problems from the last YAML that was applied (with `line`). */
  yamlProblems = $state.raw<PlanProblem[]>([]);
  /** True when the plan is YAML the user applied: its problems then lead back to their YAML lines. */
  fromYaml = $state(false);
  lastError = $state<string | null>(null);
  /** True while a drag is open: views that are slow to redraw (charts) wait for its end. */
  dragging = $state(false);

  #past = $state.raw<Snapshot[]>([]);
  #future = $state.raw<Snapshot[]>([]);

  /** The open checkpoints as the shared plan rules look them up. */
  #sources: SourceLookup = {
    get: (id) => this.#options.checkpointOf(id),
    has: (id) => this.#options.checkpointOf(id) !== undefined,
  };
  /**
   * The output stack, computed here by the engine's own rules so the canvas redraws on every drag
   * frame; the engine's answer stands in while it names sources this window has not opened.
   */
  layers = $derived(this.#outputLayers());
  seams = $derived(findSeams(this.layers));
  /** k when the plan is a regular LLaMA-Pro expansion (an identity copy after every k-th layer), else null. */
  llamaProEvery = $derived(regularLlamaProEvery(this.plan));
  /** The plan without its LLaMA-Pro copies: what DUS controls and splice handles edit. */
  base = $derived(this.llamaProEvery === null ? this.plan : withoutLlamaPro(this.plan));
  boundaries = $derived(spliceBoundaries(this.base));
  splice = $derived(this.#spliceState());
  /**
   * The parameters of `recipe` that build the plan on screen (an interleave's models, window and
   * overlap), read off the plan itself, so the recipe panel shows them however the plan got here:
   * YAML, undo, a recipe. Null for a custom plan. LLaMA-Pro copies on top of another recipe are
   * set aside, as `base` does.
   */
  recipeParameters = $derived(this.#recipeParameters());
  /** DUS's m when the plan is a symmetric two-copy splice of one model. */
  drop = $derived(this.#currentDrop());
  isCurrent = $derived(this.resolvedFor === this.plan);
  problems = $derived(this.#allProblems());
  /** The line of `yamlText` each of the engine's problems is about (slice 2's range → its layer_range line). */
  problemLines = $derived(this.#problemLines());
  hasErrors = $derived(this.problems.some((problem) => problem.severity === 'error'));
  canUndo = $derived(this.#past.length > 0);
  canRedo = $derived(this.#future.length > 0);
  size = $derived(this.#size());
  /** Export needs the engine's verdict on this very plan, and no error in it. */
  canExport = $derived(this.plan.slices.length > 0 && this.isCurrent && !this.hasErrors && this.resolved !== null);

  #host: StudioHost;
  #options: PlanSessionOptions;
  #debounceMs: number;
  #historyLimit: number;
  #gesture: { changed: boolean; future: Snapshot[] } | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #busy = false;
  #requested: LayerPlan | null = null;
  #waiters: (() => void)[] = [];

  constructor(host: StudioHost, options: PlanSessionOptions) {
    this.#host = host;
    this.#options = options;
    this.#debounceMs = options.debounceMs ?? 40;
    this.#historyLimit = options.historyLimit ?? 200;
  }

  /** Builds a recipe's plan with the shared recipe rules and makes it the plan; a refusal becomes `lastError`. */
  async applyRecipe(recipe: PlanRecipe): Promise<void> {
    const plan = this.#buildRecipe(recipe);
    if (plan === null) return;
    this.boundary = 0;
    this.#commit({ ...this.#keptOptions(), ...plan }, recipe.kind);
  }

  /** Replaces the plan (opened YAML, a plan from elsewhere); without a recipe, the one that builds it, if any. */
  replace(plan: LayerPlan, recipe: RecipeKind = this.#recognize(plan)): void {
    this.#commit(plan, recipe);
  }

  /** SOLAR DUS with m dropped from each copy, on the plan's (first) model; keeps LLaMA-Pro copies if on. */
  setDrop(drop: number): void {
    const model = this.plan.slices[0]?.model;
    if (model === undefined) return;
    const dus = this.#buildRecipe({ kind: 'dus', model, drop });
    if (dus === null) return;
    let plan: LayerPlan = { ...this.#keptOptions(), ...dus };
    if (this.llamaProEvery !== null) plan = withLlamaPro(plan, this.llamaProEvery);
    this.boundary = 0;
    this.#commit(plan, 'dus');
  }

  /** Moves splice point A (end of the slice before the boundary) or B (start of the slice after it). */
  moveSplice(handle: SpliceHandle, layer: number): void {
    const splice = this.splice;
    if (!splice) return;
    const point = handle === 'A' ? splice.a : splice.b;
    const target = Math.min(point.max, Math.max(point.min, Math.round(layer)));
    if (target === point.layer) return;
    const slices = [...this.base.slices];
    const index = handle === 'A' ? splice.boundary : splice.boundary + 1;
    const slice = slices[index]!;
    slices[index] = handle === 'A' ? { ...slice, end: target } : { ...slice, start: target };
    const base = { ...this.base, slices };
    const recipe = this.#recipeAfterSplice(base);
    this.#commit(this.llamaProEvery === null ? base : withLlamaPro(base, this.llamaProEvery), recipe);
  }

  /** Chooses which boundary the splice handles hold. */
  selectBoundary(boundary: number): void {
    if (this.boundaries.includes(boundary)) this.boundary = boundary;
  }

  addSlice(slice?: PlanSlice): void {
    const model = slice?.model ?? this.plan.slices.at(-1)?.model;
    if (model === undefined) return;
    const added = slice ?? { model, start: 0, end: this.#layerCount(model) ?? 1 };
    this.#commit({ ...this.plan, slices: [...this.plan.slices, added] }, 'custom');
  }

  removeSlice(index: number): void {
    if (!this.plan.slices[index]) return;
    this.#commit({ ...this.plan, slices: this.plan.slices.filter((_, position) => position !== index) }, 'custom');
  }

  duplicateSlice(index: number): void {
    const slice = this.plan.slices[index];
    if (!slice) return;
    const copy: PlanSlice = { ...slice, ...(slice.scale ? { scale: slice.scale.map((rule) => ({ ...rule })) } : {}) };
    const slices = [...this.plan.slices];
    slices.splice(index + 1, 0, copy);
    this.#commit({ ...this.plan, slices }, 'custom');
  }

  moveSlice(from: number, to: number): void {
    const slices = [...this.plan.slices];
    if (!slices[from] || to < 0 || to >= slices.length || from === to) return;
    const [moved] = slices.splice(from, 1);
    slices.splice(to, 0, moved!);
    this.#commit({ ...this.plan, slices }, 'custom');
  }

  setSliceRange(index: number, start: number, end: number): void {
    const slice = this.plan.slices[index];
    if (!slice || !Number.isFinite(start) || !Number.isFinite(end)) return;
    const next = { ...slice, start: Math.max(0, Math.round(start)), end: Math.max(0, Math.round(end)) };
    if (next.start === slice.start && next.end === slice.end) return;
    this.#replaceSlice(index, next);
  }

  /**
   * Moves a slice to another model. A range the new model cannot hold (0–32 on a 12-layer model)
   * keeps its length where it can and slides down to end at the model's last layer, so the slice's
   * count, the toolbar and the YAML agree at once instead of showing an error.
   */
  setSliceModel(index: number, model: string): void {
    const slice = this.plan.slices[index];
    if (!slice || slice.model === model) return;
    const layers = this.#layerCount(model);
    if (layers === undefined || layers < 1 || slice.end <= layers) {
      this.#replaceSlice(index, { ...slice, model });
      return;
    }
    const length = Math.max(1, Math.min(slice.end - slice.start, layers));
    const start = Math.max(0, Math.min(slice.start, layers - length));
    this.#replaceSlice(index, { ...slice, model, start, end: start + length });
  }

  /** Sets a slice's scale rules; an empty list or null removes them. */
  setSliceScale(index: number, rules: ScaleRule[] | null): void {
    const slice = this.plan.slices[index];
    if (!slice) return;
    const { scale: _previous, ...rest } = slice;
    this.#replaceSlice(index, rules && rules.length > 0 ? { ...rest, scale: rules.map((rule) => ({ ...rule })) } : rest);
  }

  /** LLaMA-Pro on (an identity copy after every k-th output layer) or off (null). */
  toggleLlamaPro(every: number | null): void {
    if (this.plan.slices.length === 0) return;
    if (every === null) {
      if (this.llamaProEvery === null) return;
      this.#commit(withoutLlamaPro(this.plan), this.recipe === 'llama-pro' ? 'custom' : this.recipe);
      return;
    }
    if (!Number.isFinite(every) || every < 1) return;
    this.#commit(withLlamaPro(this.plan, every), this.recipe);
  }

  /**
   * Reads mergekit YAML through the engine. A plan without errors replaces the current one; its
   * problems (with YAML line numbers) stay listed either way. Returns whether the plan was taken.
   */
  async setYaml(text: string): Promise<boolean> {
    return this.#takeYaml(() => this.#host.planFromYaml({ text }));
  }

  /** Reads a mergekit YAML file from disk (model paths relative to its folder) and takes its plan. */
  async loadYamlFile(path: string): Promise<boolean> {
    return this.#takeYaml(() => this.#host.loadPlanFile({ path }));
  }

  async #takeYaml(read: () => Promise<YamlImport>): Promise<boolean> {
    try {
      const result = await read();
      const errors = result.problems.some((problem) => problem.severity === 'error');
      if (result.plan && !errors) {
        this.boundary = 0;
        this.#commit(result.plan, this.#recognize(result.plan), true);
        this.yamlProblems = result.problems;
        return true;
      }
      this.yamlProblems = result.problems.length > 0 ? result.problems : [{ severity: 'error', code: 'InvalidYaml', message: 'The YAML holds no plan.' }];
      return false;
    } catch (error) {
      const line = error instanceof StudioError ? lineOf(error.detail) : undefined;
      this.yamlProblems = [
        {
          severity: 'error',
          code: error instanceof StudioError ? error.code : 'InvalidYaml',
          message: describeError(error),
          ...(line === undefined ? {} : { line }),
        },
      ];
      return false;
    }
  }

  /** Drops the problems of YAML that was not applied (the user reset the editor). */
  clearYamlProblems(): void {
    this.yamlProblems = [];
  }

  /** Opens a drag: the changes until endGesture form one undo step. */
  startGesture(): void {
    if (this.#gesture) return;
    this.#gesture = { changed: false, future: this.#future };
    this.dragging = true;
    this.#pushPast();
  }

  endGesture(): void {
    const gesture = this.#gesture;
    if (!gesture) return;
    this.#gesture = null;
    this.dragging = false;
    if (!gesture.changed) {
      this.#past = this.#past.slice(0, -1);
      this.#future = gesture.future;
    }
  }

  undo(): void {
    this.endGesture();
    const previous = this.#past.at(-1);
    if (!previous) return;
    this.#past = this.#past.slice(0, -1);
    this.#future = [this.#snapshot(), ...this.#future];
    this.#restore(previous);
  }

  redo(): void {
    this.endGesture();
    const next = this.#future[0];
    if (!next) return;
    this.#future = this.#future.slice(1);
    this.#past = [...this.#past, this.#snapshot()];
    this.#restore(next);
  }

  /** Resolves when the engine has answered for the current plan (used by export and by tests). */
  whenSettled(): Promise<void> {
    if (!this.#busy && this.#timer === null && this.#requested === this.plan) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  dispose(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #buildRecipe(recipe: PlanRecipe): LayerPlan | null {
    try {
      const plan = buildPlanFromRecipe(recipe, this.#sources);
      this.lastError = null;
      return plan;
    } catch (error) {
      this.lastError = describeError(error);
      return null;
    }
  }

  /** The recipe whose rules build exactly this plan (YAML identical to SOLAR DUS is SOLAR DUS), else custom. */
  #recognize(plan: LayerPlan): RecipeKind {
    return recognizeRecipe(plan, this.#sources)?.kind ?? 'custom';
  }

  #recipeParameters(): PlanRecipe | null {
    const kind = this.recipe;
    if (kind === 'custom') return null;
    return recognizeRecipe(kind === 'llama-pro' ? this.plan : this.base, this.#sources, kind);
  }

  #outputLayers(): OutputLayer[] {
    const resolved = this.resolvedFor === this.plan ? this.resolved : null;
    const allOpen = this.plan.slices.every((slice) => this.#sources.has(slice.model));
    return resolved !== null && !allOpen ? resolved.layers : expandPlan(this.plan, this.#sources);
  }

  #layerCount(model: string): number | undefined {
    return this.#options.checkpointOf(model)?.numLayers;
  }

  /** Plan-wide options (dtype, tokenizer source, MTP) survive rebuilding the slices. */
  #keptOptions(): Omit<LayerPlan, 'slices'> {
    const { slices: _slices, ...options } = this.plan;
    return options;
  }

  #replaceSlice(index: number, slice: PlanSlice): void {
    const slices = [...this.plan.slices];
    slices[index] = slice;
    this.#commit({ ...this.plan, slices }, 'custom');
  }

  #recipeAfterSplice(plan: LayerPlan): RecipeKind {
    if (this.recipe !== 'dus' && this.recipe !== 'splice') return 'custom';
    const [first, second] = plan.slices;
    const layers = first ? this.#layerCount(first.model) : undefined;
    if (plan.slices.length === 2 && first && second && layers !== undefined && first.end === layers - second.start) return 'dus';
    return 'splice';
  }

  #spliceState(): SpliceState | null {
    const boundary = this.boundaries.includes(this.boundary) ? this.boundary : this.boundaries[0];
    if (boundary === undefined) return null;
    const before = this.base.slices[boundary]!;
    const after = this.base.slices[boundary + 1]!;
    const beforeLayers = this.#layerCount(before.model) ?? Math.max(before.end, 1);
    const afterLayers = this.#layerCount(after.model) ?? Math.max(after.end, 1);
    return {
      boundary,
      a: { model: before.model, layer: before.end, min: Math.min(before.start + 1, beforeLayers), max: beforeLayers },
      b: { model: after.model, layer: after.start, min: 0, max: Math.max(0, Math.min(after.end, afterLayers) - 1) },
    };
  }

  #currentDrop(): number | null {
    const base = this.base;
    const [first, second] = base.slices;
    if (base.slices.length !== 2 || !first || !second || first.model !== second.model) return null;
    const layers = this.#layerCount(first.model);
    if (layers === undefined || first.start !== 0 || second.end !== layers) return null;
    return first.end === layers - second.start ? second.start : null;
  }

  #allProblems(): PlanProblem[] {
    const problems = [...this.yamlProblems, ...(this.resolved?.problems ?? [])];
    if (this.resolveError !== null) problems.push({ severity: 'error', code: 'ResolveFailed', message: this.resolveError });
    return problems;
  }

  /** The engine wrote `yamlText` for the plan it resolved, so its problems' slices are found in that text. */
  #problemLines(): ReadonlyMap<PlanProblem, number> {
    const lines = new Map<PlanProblem, number>();
    const problems = this.resolved?.problems ?? [];
    if (problems.length === 0 || this.yamlText === '') return lines;
    const positions = new YamlPositions(this.yamlText);
    for (const problem of problems) {
      const line = positions.lineOfProblem(problem);
      if (line !== undefined) lines.set(problem, line);
    }
    return lines;
  }

  #size(): PlanSize {
    if (this.isCurrent && this.resolved) {
      return { numLayers: this.resolved.numLayers, parameters: this.resolved.parameters, totalBytes: this.resolved.totalBytes };
    }
    return planSize(this.plan, this.layers, this.#sources);
  }

  #snapshot(): Snapshot {
    return { plan: this.plan, recipe: this.recipe, boundary: this.boundary, fromYaml: this.fromYaml };
  }

  #pushPast(): void {
    this.#past = [...this.#past, this.#snapshot()].slice(-this.#historyLimit);
    this.#future = [];
  }

  #commit(plan: LayerPlan, recipe: RecipeKind, fromYaml = false): void {
    if (this.#gesture) this.#gesture.changed = true;
    else this.#pushPast();
    this.plan = plan;
    this.recipe = recipe;
    this.fromYaml = fromYaml;
    this.yamlProblems = [];
    this.#scheduleResolve();
  }

  #restore(snapshot: Snapshot): void {
    this.plan = snapshot.plan;
    this.recipe = snapshot.recipe;
    this.boundary = snapshot.boundary;
    this.fromYaml = snapshot.fromYaml;
    this.yamlProblems = [];
    this.#scheduleResolve();
  }

  #scheduleResolve(): void {
    this.pending = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#pump();
    }, this.#debounceMs);
  }

  /** One request at a time; when it returns and the plan has moved on, the latest plan goes next. */
  async #pump(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      while (this.#timer === null && this.#requested !== this.plan) {
        const plan = this.plan;
        this.#requested = plan;
        await this.#resolve(plan);
      }
    } finally {
      this.#busy = false;
      if (this.#timer === null) {
        this.pending = false;
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const resolve of waiters) resolve();
      }
    }
  }

  async #resolve(plan: LayerPlan): Promise<void> {
    if (plan.slices.length === 0) {
      this.resolved = null;
      this.resolvedFor = plan;
      this.resolveError = null;
      this.yamlText = '';
      return;
    }
    try {
      const [resolved, yaml] = await Promise.all([this.#host.resolvePlan({ plan }), this.#host.planToYaml({ plan })]);
      this.resolved = resolved;
      this.resolveError = null;
      this.yamlText = yaml.text;
    } catch (error) {
      this.resolved = null;
      this.resolveError = describeError(error);
    }
    this.resolvedFor = plan;
  }
}

/** k of a plan whose identity copies sit exactly where withLlamaPro(k) puts them; null otherwise. */
function regularLlamaProEvery(plan: LayerPlan): number | null {
  const every = llamaProEvery(plan);
  if (every === null || every < 1) return null;
  const rebuilt = withLlamaPro(withoutLlamaPro(plan), every);
  return sameSlices(rebuilt.slices, plan.slices) ? every : null;
}

function lineOf(detail: unknown): number | undefined {
  if (typeof detail === 'object' && detail !== null && 'line' in detail && typeof detail.line === 'number') return detail.line;
  return undefined;
}
