import path from 'node:path';
import { StudioError } from '../../api/errors.js';
import { MAX_YAML_BYTES } from '../../api/limits.js';
import type { PlanFile } from '../../api/types.js';
import { readTextFileWithin } from '../formats/bounded-read.js';
import { parseMergekitYamlOpening } from './mergekit-yaml.js';

/** Names a mergekit plan file may have; anything else is not read as one. */
const PLAN_FILE_EXTENSIONS = ['.yml', '.yaml'];

/**
 * Reads a mergekit YAML plan from disk (bounded: at most MAX_YAML_BYTES, regular files only), its
 * model paths resolved against the file's folder. Only `.yml`/`.yaml` files are read, and the text
 * is returned only when it holds a plan: loadPlanFile must not become a way to read other files.
 */
async function noLayerCount(): Promise<undefined> {
  return undefined;
}

/** `layerCountOf` gives the layer count of a model a `models:` plan names (opening it), when it can. */
export async function readPlanFile(filePath: string, layerCountOf: (model: string) => Promise<number | undefined> = noLayerCount): Promise<PlanFile> {
  const name = path.basename(filePath);
  if (!PLAN_FILE_EXTENSIONS.some((extension) => name.toLowerCase().endsWith(extension))) {
    throw new StudioError('InvalidYaml', `${name}: not a mergekit YAML plan (expected a .yml or .yaml file)`, { path: filePath });
  }
  const text = await readTextFileWithin(filePath, { what: 'YAML plan', maxBytes: MAX_YAML_BYTES, invalidCode: 'InvalidYaml' });
  const imported = await parseMergekitYamlOpening(text, { baseDir: path.dirname(filePath), fileName: name }, layerCountOf);
  return { path: filePath, text: imported.plan === null ? '' : text, ...imported };
}
