import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import packageJson from '../../package.json' with { type: 'json' };
import { StudioError, isStudioError } from '../api/errors.js';
import type { StudioHost } from '../api/studio-api.js';
import type {
  AppInfo,
  StudioEventName,
  StudioEvents,
  CheckpointSummary,
  DirectoryEntry,
  DirectoryListing,
  ExportProgress,
  ExportReport,
  SimilarityProgress,
  LayerPlan,
  PlanProblem,
  ResolvedPlan,
  SimilarityMatrix,
  StatsReport,
} from '../api/types.js';
import { openCheckpoint } from './checkpoint/open-checkpoint.js';
import { INDEX_FILE_NAME } from './formats/safetensors-index.js';
import { exportPlan } from './export/export-plan.js';
import { verifyExport } from './export/verify-export.js';
import { tokenizerSourceProblem } from './export/side-file-donors.js';
import { planModels, resolvePlan } from '../common/plan/layer-plan.js';
import { planCheckpoints } from '../common/plan/plan-sources.js';
import { buildPlanFromRecipe } from '../common/plan/plan-recipes.js';
import { emitMergekitYaml, parseMergekitYamlOpening } from './plan/mergekit-yaml.js';
import { readPlanFile } from './plan/plan-file.js';
import { JobRunner, newJobId } from './jobs/job-runner.js';
import { SharedWork } from './jobs/shared-work.js';
import { createEvaluationService } from './evaluate/evaluation-service.js';
import { computeCheckpointStats } from './stats/checkpoint-stats.js';
import { layerSimilarity } from './stats/layer-similarity.js';

export interface StudioEngineOptions {
  host: AppInfo['host'];
  demoPath: string;
  /** Folders the serve mode may open (the serve front door enforces them); no export may replace one. */
  roots?: string[];
  version?: string;
}

type Listener<E extends StudioEventName> = (payload: StudioEvents[E]) => void;

/**
 * The one implementation of StudioApi. It keeps the open checkpoints, and runs exports,
 * statistics and similarity as jobs of one runner; the IPC binder, the HTTP binder and the CLI all
 * call this object.
 */
export function createStudioEngine(options: StudioEngineOptions): StudioHost {
  const checkpoints = new Map<string, CheckpointSummary>();
  /** Similarity matrices being computed, by request: asking again for one joins it instead of reading everything twice. */
  const similarities = new SharedWork<SimilarityProgress, SimilarityMatrix>();
  const listeners = new Map<StudioEventName, Set<Listener<StudioEventName>>>();
  const jobs = new JobRunner({
    progress: (event) => emit('jobProgress', event),
    end: (event) => emit('jobEnd', event),
  });

  function emit<E extends StudioEventName>(event: E, payload: StudioEvents[E]): void {
    for (const listener of listeners.get(event) ?? []) {
      try {
        (listener as Listener<E>)(payload);
      } catch {
        // A failing listener (a closed HTTP stream, a destroyed window) must not break the engine.
      }
    }
  }

  async function open(checkpointPath: string): Promise<CheckpointSummary> {
    const summary = await openCheckpoint(path.resolve(checkpointPath));
    checkpoints.set(summary.id, summary);
    return summary;
  }

  /** Layer count of a model the `models:` YAML form names; undefined when it cannot be opened (the parser says so). */
  async function layerCountOf(model: string): Promise<number | undefined> {
    try {
      return (checkpoints.get(model) ?? (await open(model))).numLayers;
    } catch (error) {
      if (!isStudioError(error)) throw error;
      return undefined;
    }
  }

  /** Opens every source a plan names; a source that cannot be opened becomes a problem, not a throw. */
  async function sourcesOf(plan: LayerPlan): Promise<{ sources: Map<string, CheckpointSummary>; problems: PlanProblem[] }> {
    const sources = new Map<string, CheckpointSummary>();
    const problems: PlanProblem[] = [];
    for (const model of planCheckpoints(plan)) {
      const known = checkpoints.get(model);
      if (known) {
        sources.set(model, known);
        continue;
      }
      try {
        const summary = await open(model);
        // Plans may name a source by a path that is not its real path (a symlink, a relative YAML path).
        sources.set(model, summary);
      } catch (error) {
        if (!isStudioError(error)) throw error;
        if (model === plan.baseModel && !planModels(plan).includes(model)) {
          problems.push({ severity: 'error', code: error.code, message: `base_model ${model}: ${error.message}`, model, planKey: 'base_model' });
        } else {
          problems.push({ severity: 'error', code: error.code, message: `${model}: ${error.message}`, model });
        }
      }
    }
    return { sources, problems };
  }

  async function resolveWithSources(plan: LayerPlan): Promise<{ resolved: ResolvedPlan; sources: Map<string, CheckpointSummary> }> {
    const { sources, problems } = await sourcesOf(plan);
    const resolved = resolvePlan(plan, sources);
    if (problems.length > 0) {
      resolved.problems = [...problems, ...resolved.problems.filter((problem) => problem.code !== 'SourceNotOpen')];
      resolved.ok = false;
    }
    // The export's refusal of a tokenizer_source that does not fit the embeddings, shown while the plan is edited.
    const tokenizer = await tokenizerSourceProblem(plan, resolved, sources);
    if (tokenizer !== null) {
      resolved.problems = [...resolved.problems, tokenizer];
      resolved.ok = false;
    }
    return { resolved, sources };
  }

  function checkpointById(id: string): CheckpointSummary {
    const summary = checkpoints.get(id) ?? checkpoints.get(path.resolve(id));
    if (!summary) throw new StudioError('NotFound', 'this checkpoint is not open', { path: id });
    return summary;
  }

  // The bundled evaluation text sits beside the demo model (build/demo, or the app's resources/demo).
  const evaluation = createEvaluationService({ textFolder: path.join(path.dirname(options.demoPath), 'evaluation') });

  const api: StudioHost = {
    async appInfo() {
      return {
        version: options.version ?? packageJson.version,
        host: options.host,
        demoPath: options.demoPath,
        roots: options.roots ?? [],
      };
    },

    async openCheckpoint({ path: checkpointPath }) {
      return open(checkpointPath);
    },

    async listCheckpoints() {
      return [...checkpoints.values()];
    },

    async closeCheckpoint({ id }) {
      checkpoints.delete(checkpointById(id).id);
    },

    async computeStats({ checkpointId, sampled, jobId }): Promise<StatsReport> {
      const summary = checkpointById(checkpointId);
      return jobs.run(jobId ?? newJobId(), 'stats', (job) =>
        computeCheckpointStats(summary, { sampled: sampled ?? false, signal: job.signal, onLayer: job.progress }),
      );
    },

    async layerSimilarity({ checkpointA, checkpointB, kind, sampled, jobId }): Promise<SimilarityMatrix> {
      const a = checkpointById(checkpointA);
      const b = checkpointB === undefined ? a : checkpointById(checkpointB);
      const key = JSON.stringify([a.id, b.id, kind, sampled ?? null]);
      const matrix = await jobs.run(jobId ?? newJobId(), 'similarity', (job) =>
        similarities.join(key, job.signal, job.progress, (signal, onRow) =>
          layerSimilarity(a, b, kind, { ...(sampled === undefined ? {} : { sampled }), signal, onRow }),
        ),
      );
      return structuredClone(matrix);
    },

    async buildPlan({ recipe }) {
      const models = recipe.kind === 'interleave' ? recipe.models : [recipe.model];
      const sources = new Map<string, CheckpointSummary>();
      for (const model of models) {
        sources.set(model, checkpoints.get(model) ?? (await open(model)));
      }
      return buildPlanFromRecipe(recipe, sources);
    },

    async resolvePlan({ plan }) {
      return (await resolveWithSources(plan)).resolved;
    },

    async planFromYaml({ text, baseDir }) {
      return parseMergekitYamlOpening(text, baseDir === undefined ? {} : { baseDir }, layerCountOf);
    },

    async loadPlanFile({ path: filePath }) {
      return readPlanFile(path.resolve(filePath), layerCountOf);
    },

    async planToYaml({ plan }) {
      return { text: emitMergekitYaml(plan, { sources: checkpoints }) };
    },

    async exportPlan({ exportId, plan, target }): Promise<ExportReport> {
      return jobs.run(exportId, 'export', async (job) => {
        const progress = (update: Omit<ExportProgress, 'exportId'>): void => job.progress({ exportId, ...update });
        progress({ phase: 'preparing', doneBytes: 0, totalBytes: 0 });
        const { resolved, sources } = await resolveWithSources(plan);
        if (!resolved.ok) {
          const errors = resolved.problems.filter((problem) => problem.severity === 'error');
          throw new StudioError('InvalidPlan', errors.map((problem) => problem.message).join('; '), { detail: errors });
        }
        const report = await exportPlan({
          plan,
          target,
          sources,
          signal: job.signal,
          verify: target.verify ?? true,
          // The bundled demo and the serve roots are never written over (issue 13).
          targetPolicy: { protectedFolders: [options.demoPath, ...(options.roots ?? [])] },
          onProgress: progress,
        });
        return { exportId, ...report };
      });
    },

    async cancelJob({ jobId }) {
      jobs.cancel(jobId);
    },

    async evaluatePlan({ jobId, plan, textPath, maxTokens, prompt, compareSource, device, workDir }) {
      return jobs.run(jobId ?? newJobId(), 'evaluation', async (job) => {
        const { resolved, sources } = await resolveWithSources(plan);
        if (!resolved.ok) {
          const errors = resolved.problems.filter((problem) => problem.severity === 'error');
          throw new StudioError('InvalidPlan', errors.map((problem) => problem.message).join('; '), { detail: errors });
        }
        return evaluation.evaluatePlan(resolved, sources, {
          signal: job.signal,
          onProgress: job.progress,
          ...(device === undefined ? {} : { device }),
          ...(textPath === undefined ? {} : { textPath: path.resolve(textPath) }),
          ...(maxTokens === undefined ? {} : { maxTokens }),
          ...(prompt === undefined ? {} : { prompt }),
          ...(compareSource === undefined ? {} : { compareSource }),
          ...(workDir === undefined ? {} : { workDir: path.resolve(workDir) }),
        });
      });
    },

    async sweepSplices({ jobId, model, range, textPath, maxTokens, device, workDir }) {
      const summary = checkpoints.get(model) ?? (await open(model));
      return jobs.run(jobId ?? newJobId(), 'sweep', (job) =>
        evaluation.sweep(summary, range, {
          signal: job.signal,
          onRow: (row, done, total) => job.progress({ row, done, total }),
          ...(device === undefined ? {} : { device }),
          ...(textPath === undefined ? {} : { textPath: path.resolve(textPath) }),
          ...(maxTokens === undefined ? {} : { maxTokens }),
          ...(workDir === undefined ? {} : { workDir: path.resolve(workDir) }),
        }),
      );
    },

    async verifyExport({ dir }) {
      return verifyExport(path.resolve(dir));
    },

    async browse({ dir }): Promise<DirectoryListing> {
      return listDirectory(dir);
    },

    on(event, listener) {
      let set = listeners.get(event);
      if (!set) {
        set = new Set();
        listeners.set(event, set);
      }
      set.add(listener as Listener<StudioEventName>);
      return () => set.delete(listener as Listener<StudioEventName>);
    },
  };
  return api;
}

/** Lists a folder for the in-app browser, marking model folders, safetensors files and YAML plans. */
export async function listDirectory(dir: string): Promise<DirectoryListing> {
  const folder = path.resolve(dir);
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new StudioError('NotFound', 'no such folder', { path: folder });
    if (code === 'ENOTDIR') throw new StudioError('InvalidRequest', 'not a folder', { path: folder });
    if (code === 'EACCES' || code === 'EPERM') throw new StudioError('PermissionDenied', 'permission denied', { path: folder });
    throw error;
  }
  const entries: DirectoryEntry[] = [];
  for (const name of names.sort((a, b) => a.localeCompare(b))) {
    if (name.startsWith('.')) continue;
    const entryPath = path.join(folder, name);
    let info;
    try {
      info = await stat(entryPath);
    } catch {
      continue; // dangling link or a file that vanished while listing
    }
    entries.push({ name, path: entryPath, kind: entryKind(entryPath, name, info.isDirectory()) });
  }
  const parent = path.dirname(folder);
  const kind = entryKind(folder, path.basename(folder), true) === 'checkpoint' ? 'checkpoint' : 'directory';
  return { dir: folder, kind, parent: parent === folder ? null : parent, entries };
}

function entryKind(entryPath: string, name: string, isDirectory: boolean): DirectoryEntry['kind'] {
  if (isDirectory) {
    const isModel = existsSync(path.join(entryPath, 'model.safetensors')) || existsSync(path.join(entryPath, INDEX_FILE_NAME));
    return isModel ? 'checkpoint' : 'directory';
  }
  if (name.endsWith('.safetensors')) return 'safetensors';
  if (name.endsWith('.gguf')) return 'gguf';
  if (name.endsWith('.yml') || name.endsWith('.yaml')) return 'yaml';
  return 'file';
}

/**
 * The bundled demo model (stories260K). Found from this module's folder upwards, so it works from
 * electron/engine in tests and from out/ after bundling; DUS_DEMO_PATH overrides it and a packaged
 * app finds it under its resources.
 */
export function locateDemoModel(): string {
  const override = process.env.DUS_DEMO_PATH;
  if (override) return path.resolve(override);
  const relative = path.join('build', 'demo', 'stories260K');
  let folder = import.meta.dirname;
  for (;;) {
    const candidate = path.join(folder, relative);
    if (existsSync(path.join(candidate, 'config.json'))) return candidate;
    const parent = path.dirname(folder);
    if (parent === folder) break;
    folder = parent;
  }
  const resources = (process as { resourcesPath?: string }).resourcesPath;
  if (resources) {
    const packaged = path.join(resources, 'demo', 'stories260K');
    if (existsSync(packaged)) return packaged;
  }
  throw new StudioError('NotFound', 'the bundled demo model (build/demo/stories260K) is missing', { path: relative });
}

