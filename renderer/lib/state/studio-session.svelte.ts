import { getContext, setContext, untrack } from 'svelte';
import type { StudioHost } from '../../../electron/api/studio-api.js';
import type { AppInfo, CheckpointSummary, MenuCommand, OutputLayer, PlanRecipe } from '../../../electron/api/types.js';
import { describeError, type DesktopActions } from '../studio-client.js';
import { formatBytes } from '../format/human-units.js';
import { defaultDrop } from '../../../electron/common/plan/plan-recipes.js';
import { seamJump, sourceNormProfile, typicalStep, type SourceNormProfile } from '../stats/layer-norms.js';
import { CheckpointsState } from './checkpoints.svelte.js';
import { EvaluationState } from './evaluation.svelte.js';
import { ExportSession, withFileExtension, type ExportTargetKind } from './export-session.svelte.js';
import { NoticesState } from './notices.svelte.js';
import { PlanSession } from './plan-session.svelte.js';
import { SimilarityState } from './similarity.svelte.js';
import { ViewState } from './view-state.svelte.js';

/** Recipe names as notices say them ("Replaced your 5-slice plan with SOLAR DUS."). */
export const RECIPE_TITLES: Readonly<Record<PlanRecipe['kind'], string>> = {
  dus: 'SOLAR DUS',
  splice: 'two copies with free splice points',
  'llama-pro': 'LLaMA-Pro',
  stack: 'stacked copies',
  interleave: 'interleaved windows',
};

/** Checkpoints at or under this size get full statistics on open; larger ones wait for the button. */
export const AUTO_STATS_BYTES = 64 * 1024 * 1024;
/** Above this size "Compute statistics" first takes a sampled estimate. */
export const SAMPLED_STATS_BYTES = 2 * 1000 ** 3;

export interface StudioSessionOptions {
  hostKind?: 'electron' | 'browser';
  /** Native dialogs and the file manager (desktop only). */
  desktop?: DesktopActions | null;
  planDebounceMs?: number;
  /** Milliseconds clock for export speed (tests pass a fake one). */
  clock?: () => number;
}

/** Everything one window edits, created by the root component and handed down by context. */
export class StudioSession {
  readonly host: StudioHost;
  readonly hostKind: 'electron' | 'browser';
  readonly desktop: DesktopActions | null;
  readonly checkpoints: CheckpointsState;
  readonly plan: PlanSession;
  readonly exporter: ExportSession;
  /** Layer × layer similarity matrices (the Similarity tab). */
  readonly similarity: SimilarityState;
  /** Plan evaluation and splice sweeps in llama.cpp (the Evaluate tab). */
  readonly evaluation: EvaluationState;
  readonly view = new ViewState();
  readonly notices = new NoticesState();
  appInfo = $state.raw<AppInfo | null>(null);
  starting = $state(false);
  #unsubscribeMenu: () => void;
  #stopFollowingPlan: () => void;
  /** The output stack the current selection was made on. */
  #selectionLayers: readonly OutputLayer[] = [];
  /** Norm profiles of the open checkpoints that have statistics, rebuilt as statistics stream in. */
  profiles = $derived(this.#profiles());
  /** Relative norm jump across the splice handles' seam (source layer A − 1 → B); null before statistics. */
  seamJump = $derived(this.#seamJump());
  /** A splice source that has no statistics, so the seam jump cannot be measured yet (the canvas and the inspector offer Compute there). */
  seamStatsMissing = $derived(this.#seamStatsMissing());
  /** The same measure between neighbouring layers of copy A's source, for scale. */
  typicalStep = $derived(this.#typicalStep());
  // A string, so dragging a handle (a new splice object per frame) does not recompute typicalStep.
  #spliceModel = $derived(this.#currentSpliceModel());

  constructor(host: StudioHost, options: StudioSessionOptions = {}) {
    this.host = host;
    this.hostKind = options.hostKind ?? 'browser';
    this.desktop = options.desktop ?? null;
    this.#unsubscribeMenu = host.on('menu', (command) => void this.#onMenu(command));
    this.checkpoints = new CheckpointsState(host);
    this.plan = new PlanSession(host, {
      checkpointOf: (id) => this.checkpoints.byId(id),
      ...(options.planDebounceMs === undefined ? {} : { debounceMs: options.planDebounceMs }),
    });
    this.exporter = new ExportSession(host, {
      ...(options.clock ? { now: options.clock } : {}),
      targetKind: () => this.#exportTargetKind(),
    });
    this.similarity = new SimilarityState(host);
    this.evaluation = new EvaluationState(host);
    // A selection names an output layer by index; when the plan changes, that index may copy another
    // source layer. Follow the layer it copied, or let go of it, instead of silently showing another.
    this.#stopFollowingPlan = $effect.root(() => {
      $effect(() => {
        const layers = this.plan.layers;
        const sliceCount = this.plan.plan.slices.length;
        untrack(() => this.#followPlan(layers, sliceCount));
      });
    });
  }

  #followPlan(layers: readonly OutputLayer[], sliceCount: number): void {
    const previous = this.#selectionLayers;
    this.#selectionLayers = layers;
    const view = this.view;
    if (view.selectedSlice !== null && view.selectedSlice >= sliceCount) view.selectSlice(null);
    if (view.hovered?.column === 'output') view.hover(null);
    const selected = view.selected;
    if (selected?.column !== 'output' || previous === layers) return;
    const was = previous[selected.index];
    const now = was && layers.find((layer) => layer.model === was.model && layer.sourceLayer === was.sourceLayer && layer.repeat === was.repeat);
    view.selectLayer(now ? { column: 'output', index: now.index } : null);
  }

  /**
   * First run: the app's info, then what the host already has open (`serve --open PATH`), or else
   * the bundled demo (stories260K), with a default DUS plan and statistics.
   */
  async start(): Promise<void> {
    this.starting = true;
    try {
      this.appInfo = await this.host.appInfo();
      const alreadyOpen = await this.host.listCheckpoints();
      const paths = alreadyOpen.length > 0 ? alreadyOpen.map((summary) => summary.id) : [this.appInfo.demoPath];
      for (const path of paths) await this.openPath(path);
    } catch (error) {
      this.notices.push(describeError(error));
    } finally {
      this.starting = false;
    }
  }

  /** Opens a checkpoint; the first one gets a DUS plan at once, small ones get statistics at once. */
  async openPath(path: string): Promise<CheckpointSummary | null> {
    const summary = await this.checkpoints.open(path);
    if (!summary) {
      this.notices.push(this.checkpoints.lastError ?? `Could not open ${path}.`);
      return null;
    }
    if (this.plan.plan.slices.length === 0) {
      await this.plan.applyRecipe({ kind: 'dus', model: summary.id, drop: defaultDrop(summary.numLayers) });
    }
    if (summary.totalBytes <= AUTO_STATS_BYTES) void this.computeStats(summary.id);
    return summary;
  }

  /** Sampled first for big checkpoints (seconds instead of minutes), exact otherwise. */
  async computeStats(checkpointId: string, options: { exact?: boolean } = {}): Promise<void> {
    const summary = this.checkpoints.byId(checkpointId);
    if (!summary) return;
    const sampled = !options.exact && summary.totalBytes > SAMPLED_STATS_BYTES;
    await this.checkpoints.computeStats(checkpointId, { sampled });
    const error = this.checkpoints.statsStatus[checkpointId]?.error;
    if (error) this.notices.push(`Statistics for ${summary.name}: ${error}`);
  }

  async closeCheckpoint(id: string): Promise<void> {
    await this.checkpoints.close(id);
    this.similarity.forget(id);
    this.evaluation.forget(id);
  }

  /**
   * Builds a recipe's plan. A hand-built (custom) plan it replaces is not lost silently: a notice
   * says so and offers Undo, which brings that plan back even after later edits.
   */
  async applyRecipe(recipe: PlanRecipe): Promise<void> {
    const before = this.plan.plan;
    const handBuilt = this.plan.recipe === 'custom' && before.slices.length > 0;
    await this.plan.applyRecipe(recipe);
    const made = this.plan.plan;
    if (!handBuilt || made === before) return;
    const count = before.slices.length;
    const message = `Replaced your ${count}-slice plan with ${RECIPE_TITLES[recipe.kind]}.`;
    this.notices.push(message, 'info', {
      label: 'Undo',
      run: () => {
        if (this.plan.plan === made) this.plan.undo();
        else this.plan.replace(before, 'custom');
      },
    });
  }

  /** Exports the current plan once the engine has confirmed it has no errors. */
  async exportPlan(): Promise<void> {
    await this.plan.whenSettled();
    if (!this.plan.canExport) {
      this.notices.push('The plan has errors; see Problems.');
      return;
    }
    await this.exporter.start(this.plan.plan);
  }

  /** Open…: the native dialog in the desktop app, the in-app browser otherwise. */
  async requestOpen(): Promise<void> {
    if (!this.desktop) {
      this.view.openFileBrowser('open');
      return;
    }
    try {
      for (const path of await this.desktop.openDialog()) await this.openChosen(path);
    } catch (error) {
      this.notices.push(describeError(error));
    }
  }

  /** Opens a path a user chose: a checkpoint, or a mergekit YAML plan (shown in the YAML tab). */
  async openChosen(path: string): Promise<void> {
    if (/\.ya?ml$/i.test(path)) {
      const taken = await this.plan.loadYamlFile(path);
      if (!taken) this.notices.push(`${path}: the plan was not loaded; see the YAML tab.`);
      this.view.showTab('yaml');
      return;
    }
    const summary = await this.openPath(path);
    if (summary) this.#announceOpened(summary);
  }

  /**
   * Says what an open did: its card is highlighted and scrolled into view, and a notice names the
   * model; when the plan does not use it yet, the notice offers to build SOLAR DUS on it.
   */
  #announceOpened(summary: CheckpointSummary): void {
    this.view.justOpened = summary.id;
    const opened = `Opened ${summary.name}: ${summary.numLayers} layers, ${formatBytes(summary.totalBytes)}.`;
    if (this.plan.plan.slices.some((slice) => slice.model === summary.id)) {
      this.notices.push(`${opened} The plan is built on it.`, 'info');
      return;
    }
    this.notices.push(`${opened} It is listed under Checkpoints; the plan is unchanged.`, 'info', {
      label: `Build SOLAR DUS on ${summary.name}`,
      run: () => void this.applyRecipe({ kind: 'dus', model: summary.id, drop: defaultDrop(summary.numLayers) }),
    });
  }

  /**
   * Choose… for the export target: a folder, or for GGUF sources a file NAME.gguf; the native
   * chooser (folder) or save dialog (file) in the desktop app, the in-app browser otherwise.
   */
  async chooseExportTarget(): Promise<void> {
    if (!this.desktop) {
      this.view.openFileBrowser('export-target');
      return;
    }
    try {
      if (this.exporter.targetKind === 'file') {
        const file = await this.desktop.chooseFile();
        if (file !== null) this.exporter.dir = withFileExtension(file);
        return;
      }
      const folder = await this.desktop.chooseFolder();
      if (folder !== null) this.exporter.dir = folder;
    } catch (error) {
      this.notices.push(describeError(error));
    }
  }

  /** GGUF sources export to one file; anything else (and a plan with no sources yet) to a folder. */
  #exportTargetKind(): ExportTargetKind {
    const first = this.plan.plan.slices[0];
    const summary = first === undefined ? undefined : this.checkpoints.byId(first.model);
    return summary?.format === 'gguf' ? 'file' : 'folder';
  }

  async #onMenu(command: MenuCommand): Promise<void> {
    if (command.action === 'export') {
      this.view.showTab('export');
      return;
    }
    if (command.path !== undefined) await this.openChosen(command.path);
    else await this.requestOpen();
  }

  #currentSpliceModel(): string | null {
    return this.plan.splice?.a.model ?? null;
  }

  #typicalStep(): number | null {
    const model = this.#spliceModel;
    return model === null ? null : typicalStep(this.profiles.get(model) ?? null, this.view.metric);
  }

  #seamJump(): number | null {
    const splice = this.plan.splice;
    if (!splice) return null;
    return seamJump(
      { profile: this.profiles.get(splice.a.model) ?? null, layer: splice.a.layer - 1 },
      { profile: this.profiles.get(splice.b.model) ?? null, layer: splice.b.layer },
      this.view.metric,
    );
  }

  #seamStatsMissing(): string | null {
    const splice = this.plan.splice;
    if (!splice) return null;
    return [splice.a.model, splice.b.model].find((model) => this.checkpoints.byId(model) !== undefined && !this.profiles.has(model)) ?? null;
  }

  #profiles(): Map<string, SourceNormProfile> {
    const profiles = new Map<string, SourceNormProfile>();
    for (const summary of this.checkpoints.list) {
      const profile = sourceNormProfile(summary, this.checkpoints.stats[summary.id]);
      if (profile) profiles.set(summary.id, profile);
    }
    return profiles;
  }

  dispose(): void {
    this.#unsubscribeMenu();
    this.#stopFollowingPlan();
    this.plan.dispose();
    this.checkpoints.dispose();
    this.exporter.dispose();
    this.similarity.dispose();
    this.evaluation.dispose();
  }
}

const STUDIO_SESSION = Symbol('dus-studio-session');

/** The context key, for tests that render one component with a session of their own. */
export const STUDIO_SESSION_KEY: symbol = STUDIO_SESSION;

export function provideStudioSession(session: StudioSession): StudioSession {
  return setContext(STUDIO_SESSION, session);
}

export function useStudioSession(): StudioSession {
  const session = getContext<StudioSession | undefined>(STUDIO_SESSION);
  if (!session) throw new Error('useStudioSession: no StudioSession in context (render inside App or pass one in tests).');
  return session;
}
