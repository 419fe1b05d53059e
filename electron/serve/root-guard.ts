/**
 * Serve mode lets a browser tab name paths; this wrapper confines every path of every payload to a
 * few root folders. A path counts as inside when its real path (symlinks and `..` resolved by
 * fs.realpath, for a path that does not exist yet: its nearest existing ancestor's) lies inside the
 * real path of a root. The engine then receives the path normalised exactly as checked, so a
 * `link/..` that the kernel would resolve differently from the text cannot slip through.
 *
 * What is left: a local user who swaps a checked folder for a symlink between the check and the
 * engine's open (time-of-check to time-of-use). Serve mode guards against web pages, not local users.
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { StudioError } from '../api/errors.js';
import type { StudioHost } from '../api/studio-api.js';
import type { DirectoryEntry, DirectoryListing, LayerPlan, PlanRecipe } from '../api/types.js';

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith(`..${path.sep}`) && relative !== '..' && !path.isAbsolute(relative));
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Real path of `absolute`, or of its nearest existing ancestor with the missing tail appended. */
export async function realPathOrAncestor(absolute: string): Promise<string> {
  const tail: string[] = [];
  let candidate = absolute;
  for (;;) {
    try {
      const real = await realpath(candidate);
      return tail.length === 0 ? real : path.join(real, ...tail.reverse());
    } catch (error) {
      if (!isMissing(error)) throw error;
      const parent = path.dirname(candidate);
      if (parent === candidate) throw error;
      tail.push(path.basename(candidate));
      candidate = parent;
    }
  }
}

/** Real paths of the roots that exist, without duplicates, in the given order. */
export async function realRoots(roots: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const root of roots) {
    try {
      const real = await realpath(path.resolve(root));
      if (!found.includes(real)) found.push(real);
    } catch {
      // A root that does not exist (a demo model that was not bundled) confines nothing.
    }
  }
  return found;
}

/** Wraps `api` so that every path it is given must lie inside `roots`; see the module comment. */
export function restrictToRoots(api: StudioHost, roots: string[]): StudioHost {
  const configuredRoots = [...roots];

  async function isAllowed(candidate: string, allowed: readonly string[]): Promise<boolean> {
    let real: string;
    try {
      real = await realPathOrAncestor(path.resolve(candidate));
    } catch {
      return false;
    }
    return allowed.some((root) => isInside(real, root));
  }

  /** Returns the path to hand to the engine (absolute, normalised), or throws OutsideRoots. */
  async function inside(candidate: string, what: string): Promise<string> {
    const allowed = await realRoots(configuredRoots);
    if (candidate === '' || !(await isAllowed(candidate, allowed))) {
      const list = allowed.length > 0 ? allowed.join(', ') : 'none';
      throw new StudioError('OutsideRoots', `The ${what} is outside the folders this server may open (${list}).`, { path: candidate });
    }
    return path.resolve(candidate);
  }

  async function guardPlan(plan: LayerPlan): Promise<LayerPlan> {
    const slices = [];
    for (const slice of plan.slices) slices.push({ ...slice, model: await inside(slice.model, 'plan source') });
    const guarded: LayerPlan = { ...plan, slices };
    if (plan.baseModel !== undefined) guarded.baseModel = await inside(plan.baseModel, 'base model');
    if (plan.tokenizerSource !== undefined) guarded.tokenizerSource = await inside(plan.tokenizerSource, 'tokenizer source');
    return guarded;
  }

  async function guardRecipe(recipe: PlanRecipe): Promise<PlanRecipe> {
    if (recipe.kind === 'interleave') {
      const models = [];
      for (const model of recipe.models) models.push(await inside(model, 'model'));
      return { ...recipe, models };
    }
    return { ...recipe, model: await inside(recipe.model, 'model') };
  }

  async function rootEntry(root: string): Promise<DirectoryEntry> {
    const name = path.basename(root) || root;
    let kind: DirectoryEntry['kind'] = 'directory';
    const parent = path.dirname(root);
    if (parent !== root) {
      try {
        // The engine knows whether a root is itself a checkpoint folder; ask it about the root's parent.
        const listing = await api.browse({ dir: parent });
        kind = listing.entries.find((entry) => entry.name === name)?.kind ?? kind;
      } catch {
        // An unreadable parent leaves the root a plain folder.
      }
    }
    return { name, path: root, kind };
  }

  async function browse(request: { dir: string }): Promise<DirectoryListing> {
    const allowed = await realRoots(configuredRoots);
    if (request.dir === '') {
      const entries = [];
      for (const root of allowed) entries.push(await rootEntry(root));
      return { dir: '', parent: null, entries };
    }
    const dir = await inside(request.dir, 'folder');
    const listing = await api.browse({ dir });
    const entries = [];
    for (const entry of listing.entries) {
      // A symlink inside a root may point out of it: list only what could also be opened.
      if (await isAllowed(entry.path, allowed)) entries.push(entry);
    }
    // '' is the list of roots: going up from a root leads there, never above it.
    const parent = listing.parent !== null && (await isAllowed(listing.parent, allowed)) ? listing.parent : '';
    return { ...listing, parent, entries };
  }

  return {
    async appInfo() {
      return { ...(await api.appInfo()), roots: await realRoots(configuredRoots) };
    },
    async openCheckpoint(request) {
      return api.openCheckpoint({ ...request, path: await inside(request.path, 'checkpoint') });
    },
    listCheckpoints() {
      return api.listCheckpoints();
    },
    async closeCheckpoint(request) {
      return api.closeCheckpoint({ ...request, id: await inside(request.id, 'checkpoint') });
    },
    async computeStats(request) {
      return api.computeStats({ ...request, checkpointId: await inside(request.checkpointId, 'checkpoint') });
    },
    async layerSimilarity(request) {
      const checkpointA = await inside(request.checkpointA, 'checkpoint');
      if (request.checkpointB === undefined) return api.layerSimilarity({ ...request, checkpointA });
      return api.layerSimilarity({ ...request, checkpointA, checkpointB: await inside(request.checkpointB, 'checkpoint') });
    },
    async buildPlan(request) {
      return api.buildPlan({ ...request, recipe: await guardRecipe(request.recipe) });
    },
    async resolvePlan(request) {
      return api.resolvePlan({ ...request, plan: await guardPlan(request.plan) });
    },
    async planFromYaml(request) {
      const guarded = request.baseDir === undefined ? request : { ...request, baseDir: await inside(request.baseDir, 'YAML folder') };
      const imported = await api.planFromYaml(guarded);
      // YAML names models by paths of its own: check what they resolved to before the client sees them.
      return imported.plan === null ? imported : { ...imported, plan: await guardPlan(imported.plan) };
    },
    async loadPlanFile(request) {
      const imported = await api.loadPlanFile({ ...request, path: await inside(request.path, 'YAML file') });
      return imported.plan === null ? imported : { ...imported, plan: await guardPlan(imported.plan) };
    },
    async planToYaml(request) {
      return api.planToYaml({ ...request, plan: await guardPlan(request.plan) });
    },
    async exportPlan(request) {
      const plan = await guardPlan(request.plan);
      const dir = await inside(request.target.dir, 'export folder');
      return api.exportPlan({ ...request, plan, target: { ...request.target, dir } });
    },
    cancelJob(request) {
      return api.cancelJob(request);
    },
    async verifyExport(request) {
      return api.verifyExport({ ...request, dir: await inside(request.dir, 'export folder') });
    },
    browse,
    on(event, listener) {
      return api.on(event, listener);
    },
  };
}
