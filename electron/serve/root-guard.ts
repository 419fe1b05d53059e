/**
 * Serve mode lets a browser tab name paths; this wrapper confines every path of every payload to a
 * few root folders. A path counts as inside when its real path (symlinks and `..` resolved by
 * fs.realpath, for a path that does not exist yet: its nearest existing ancestor's) lies inside the
 * real path of a root. The engine then receives the path normalised exactly as checked, so a
 * `link/..` that the kernel would resolve differently from the text cannot slip through.
 *
 * Links inside a root are followed only where they lead inside a root: every link in a checkpoint's
 * folder is checked before the engine opens it, and every shard it will read after. Exports may not
 * replace a root or a folder holding one. What is left: a local user who swaps a checked folder for
 * a symlink between the check and the engine's open (time-of-check to time-of-use; the exporter
 * re-checks its own target's real path before committing), and hard links, which no path check can
 * tell apart. Serve mode guards against web pages, not local users.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { StudioError, isStudioError } from '../api/errors.js';
import { PATH_FIELDS, type PathFieldKind } from '../api/schemas.js';
import { STUDIO_METHODS, type StudioHost, type StudioMethod } from '../api/studio-api.js';
import type { AppInfo, CheckpointSummary, DirectoryEntry, DirectoryListing, LayerPlan, PlanRecipe, YamlImport } from '../api/types.js';
import { PLAN_FILE_NAME } from '../engine/export/export-files.js';

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

type PathField = readonly [field: string, kind: PathFieldKind];

/** The value at `outer.inner` of a payload, or undefined. */
function fieldValue(payload: unknown, field: string): unknown {
  let value: unknown = payload;
  for (const key of field.split('.')) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return value;
}

/** A copy of `payload` with `field` set to `value` (the objects on the way are copied, never mutated). */
function withField(payload: unknown, field: string, value: unknown): unknown {
  const [key, ...rest] = field.split('.') as [string, ...string[]];
  const record = payload as Record<string, unknown>;
  return { ...record, [key]: rest.length === 0 ? value : withField(record[key], rest.join('.'), value) };
}

/**
 * Wraps `api` so that every path it is given must lie inside `roots`; see the module comment. Each
 * method's path fields come from PATH_FIELDS (electron/api/schemas.ts), so a method or field added
 * there is guarded here without a line of its own.
 */
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

  function outsideRoots(what: string, candidate: string, allowed: readonly string[]): StudioError {
    const list = allowed.length > 0 ? allowed.join(', ') : 'none';
    return new StudioError('OutsideRoots', `The ${what} is outside the folders this server may open (${list}).`, { path: candidate });
  }

  /** Returns the path to hand to the engine (absolute, normalised), or throws OutsideRoots. */
  async function inside(candidate: string, what: string): Promise<string> {
    const allowed = await realRoots(configuredRoots);
    if (candidate === '' || !(await isAllowed(candidate, allowed))) throw outsideRoots(what, candidate, allowed);
    return path.resolve(candidate);
  }

  /**
   * A checkpoint's folder is read by name (config.json, the index, shards, tokenizer files): every
   * link in it must lead inside a root too, or a model folder inside a root could hand out any file
   * on the machine. A Hugging Face cache's snapshot links into its blobs stay inside the same root.
   */
  async function checkLinksIn(folder: string, allowed: readonly string[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch {
      return; // Not a folder or unreadable: the engine says so in its own words.
    }
    for (const entry of entries) {
      if (!entry.isSymbolicLink()) continue;
      const linkPath = path.join(folder, entry.name);
      let real: string;
      try {
        real = await realpath(linkPath);
      } catch {
        continue; // A dangling link leads nowhere and is read by no one.
      }
      if (!allowed.some((root) => isInside(real, root))) throw outsideRoots(`file ${entry.name} (a link)`, linkPath, allowed);
    }
  }

  /** A checkpoint to open: inside a root, with no link in its folder that leads out. */
  async function model(candidate: string, what: string): Promise<string> {
    const checked = await inside(candidate, what);
    const allowed = await realRoots(configuredRoots);
    const real = await realPathOrAncestor(checked);
    let folder = real;
    try {
      if (!(await stat(real)).isDirectory()) folder = path.dirname(real);
    } catch {
      return checked; // Missing: the engine reports NotFound.
    }
    await checkLinksIn(folder, allowed);
    return checked;
  }

  /**
   * Where an export goes: inside a root but never a root itself nor a folder that holds one
   * (replacing it would delete what the server serves), so its parent, where the temporary and
   * set-aside folders are made, is inside a root too.
   */
  async function exportTarget(candidate: string): Promise<string> {
    const checked = await inside(candidate, 'export target');
    const real = await realPathOrAncestor(checked);
    for (const root of await realRoots(configuredRoots)) {
      if (isInside(root, real)) {
        throw new StudioError('ProtectedTarget', `The export target ${candidate} is or holds ${root}, a folder this server serves; choose a folder inside it.`, {
          path: candidate,
        });
      }
    }
    return checked;
  }

  async function guardPlan(plan: LayerPlan): Promise<LayerPlan> {
    const slices = [];
    for (const slice of plan.slices) slices.push({ ...slice, model: await model(slice.model, 'plan source') });
    const guarded: LayerPlan = { ...plan, slices };
    if (plan.baseModel !== undefined) guarded.baseModel = await model(plan.baseModel, 'base model');
    // `base` names the base model, checked above.
    if (plan.tokenizerSource !== undefined && plan.tokenizerSource !== 'base') guarded.tokenizerSource = await model(plan.tokenizerSource, 'tokenizer source');
    return guarded;
  }

  async function guardRecipe(recipe: PlanRecipe): Promise<PlanRecipe> {
    if (recipe.kind === 'interleave') {
      const models = [];
      for (const name of recipe.models) models.push(await model(name, 'model'));
      return { ...recipe, models };
    }
    return { ...recipe, model: await model(recipe.model, 'model') };
  }

  /**
   * An export to verify: verify opens every model its mergekit_config.yml names, so that plan is
   * guarded exactly as a plan sent by the client (read through the engine's bounded plan reader).
   */
  async function exportFolder(candidate: string): Promise<string> {
    const dir = await model(candidate, 'export folder');
    let imported;
    try {
      imported = await api.loadPlanFile({ path: path.join(dir, PLAN_FILE_NAME) });
    } catch (error) {
      if (isStudioError(error)) return dir; // No readable plan: verify reports it and opens nothing.
      throw error;
    }
    if (imported.plan !== null) await guardPlan(imported.plan);
    return dir;
  }

  async function guardField(kind: PathFieldKind, value: unknown): Promise<unknown> {
    switch (kind) {
      case 'model':
        return model(value as string, 'checkpoint');
      case 'open-checkpoint':
        return inside(value as string, 'checkpoint');
      case 'plan':
        return guardPlan(value as LayerPlan);
      case 'recipe':
        return guardRecipe(value as PlanRecipe);
      case 'folder':
        return inside(value as string, 'folder');
      case 'plan-file':
        return inside(value as string, 'YAML file');
      case 'text-file':
        return inside(value as string, 'text file');
      case 'export-target':
        return exportTarget(value as string);
      case 'export-folder':
        return exportFolder(value as string);
    }
  }

  async function guardPayload(method: StudioMethod, payload: unknown): Promise<unknown> {
    let guarded = payload;
    for (const [field, kind] of Object.entries(PATH_FIELDS[method]) as PathField[]) {
      const value = fieldValue(guarded, field);
      if (value !== undefined) guarded = withField(guarded, field, await guardField(kind, value));
    }
    return guarded;
  }

  /** Every shard an opened checkpoint will be read from lies inside a root (an index may name shards in subfolders). */
  async function guardSummary(summary: CheckpointSummary): Promise<CheckpointSummary> {
    const allowed = await realRoots(configuredRoots);
    for (const shard of summary.shards) {
      if (!(await isAllowed(shard.file, allowed))) {
        await api.closeCheckpoint({ id: summary.id }).catch(() => undefined);
        throw outsideRoots(`shard ${path.basename(shard.file)}`, shard.file, allowed);
      }
    }
    return summary;
  }

  /** What a method returns, checked where it names paths the client did not send. */
  async function guardResult(method: StudioMethod, result: unknown): Promise<unknown> {
    switch (method) {
      case 'appInfo':
        return { ...(result as AppInfo), roots: await realRoots(configuredRoots) };
      case 'openCheckpoint':
        return guardSummary(result as CheckpointSummary);
      case 'planFromYaml':
      case 'loadPlanFile': {
        // YAML names models by paths of its own: check what they resolved to before the client sees them.
        const imported = result as YamlImport;
        return imported.plan === null ? imported : { ...imported, plan: await guardPlan(imported.plan) };
      }
      default:
        return result;
    }
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
      return { dir: '', kind: 'directory', parent: null, entries };
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

  const on: StudioHost['on'] = (event, listener) => api.on(event, listener);
  const guarded: Record<string, unknown> = { browse, on };
  for (const method of STUDIO_METHODS) {
    if (method === 'browse') continue;
    guarded[method] = async (payload: unknown) => {
      const call = api[method] as (request: unknown) => Promise<unknown>;
      return guardResult(method, await call.call(api, await guardPayload(method, payload)));
    };
  }
  return guarded as unknown as StudioHost;
}
