/**
 * Runtime schemas of every API method's payload. The HTTP binder and the IPC binder run untrusted
 * input through `parsePayload` before it reaches the engine; the TypeScript types in types.ts are
 * the contract, and a type-level check below ties each schema's output to it.
 *
 * Everything is strict (unknown keys are refused) and bounded (string lengths, array lengths), so a
 * payload can neither smuggle fields into the engine nor make it allocate without limit.
 */
import * as z from 'zod';
import { StudioError } from './errors.js';
import { STUDIO_METHODS, type StudioMethod, type StudioPayload } from './studio-api.js';
import { MAX_CHAT_TEMPLATE_LENGTH, MAX_GRADIENT_POINTS, MAX_INTERLEAVE_MODELS, MAX_LAYER_COUNT, MAX_PATH_LENGTH, MAX_SCALE_RULES, MAX_SLICES, MAX_YAML_BYTES } from './limits.js';
import { TENSOR_KINDS, type ExportRequest, type ExportTarget, type LayerPlan, type PlanRecipe, type PlanSlice, type ScaleRule } from './types.js';

export { MAX_GRADIENT_POINTS, MAX_INTERLEAVE_MODELS, MAX_LAYER_COUNT, MAX_PATH_LENGTH, MAX_SCALE_RULES, MAX_SLICES, MAX_YAML_BYTES } from './limits.js';

/** UTF-8 length of a string without Node's Buffer (this folder runs in the renderer too). */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && index + 1 < text.length) {
      const next = text.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        // A surrogate pair is one code point of four bytes.
        bytes += 4;
        index++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Every path in a payload uses this schema, so a test can find each one and check that PATH_FIELDS declares it. */
export const pathString = z.string().min(1).max(MAX_PATH_LENGTH);
/** browse's folder: a path, or '' for the serve mode's list of roots (browse alone allows it). */
export const pathOrRootList = z.string().max(MAX_PATH_LENGTH);
const layerIndex = z.int().min(0).max(MAX_LAYER_COUNT);
const positiveCount = z.int().min(1).max(MAX_LAYER_COUNT);

export const scaleRuleSchema = z.strictObject({
  filter: z.string().max(256).optional(),
  value: z.union([z.number(), z.array(z.number()).min(1).max(MAX_GRADIENT_POINTS)]),
});

export const planSliceSchema = z.strictObject({
  model: pathString,
  start: layerIndex,
  end: layerIndex,
  scale: z.array(scaleRuleSchema).max(MAX_SCALE_RULES).optional(),
});

export const layerPlanSchema = z.strictObject({
  slices: z.array(planSliceSchema).max(MAX_SLICES),
  dtype: z
    .string()
    // Only bounded here: the engine says which names it supports, in its own words.
    .regex(/^[\w.-]{1,32}$/, 'a dtype name such as bfloat16, float16 or float32')
    .optional(),
  baseModel: pathString.optional(),
  tokenizerSource: pathString.optional(),
  chatTemplate: z.string().min(1).max(MAX_CHAT_TEMPLATE_LENGTH).optional(),
  mtp: z.enum(['move', 'drop']).optional(),
  allowCrimes: z.boolean().optional(),
});

export const planRecipeSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('dus'), model: pathString, drop: layerIndex }),
  z.strictObject({ kind: z.literal('splice'), model: pathString, a: layerIndex, b: layerIndex }),
  z.strictObject({ kind: z.literal('llama-pro'), model: pathString, every: positiveCount }),
  z.strictObject({ kind: z.literal('stack'), model: pathString, times: positiveCount }),
  z.strictObject({
    kind: z.literal('interleave'),
    models: z.array(pathString).min(1).max(MAX_INTERLEAVE_MODELS),
    window: positiveCount,
    overlap: layerIndex,
  }),
]);

export const exportTargetSchema = z.strictObject({
  dir: pathString,
  // z.int() is a safe integer in zod 4: bytes beyond 2^53 would lose precision.
  shardSize: z.int().positive().optional(),
  replace: z.boolean().optional(),
  verify: z.boolean().optional(),
});

/** A job id (an export's `exportId` included): chosen by the caller, so it can cancel the job. */
export const jobIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, '1 to 64 letters, digits, "-" or "_"');

export const exportRequestSchema = z.strictObject({
  exportId: jobIdSchema,
  plan: layerPlanSchema,
  target: exportTargetSchema,
});

/** Methods without a payload accept nothing, `undefined` or `null` (JSON has no undefined). */
const noPayload = z.union([z.undefined(), z.null()]).transform(() => undefined);

const yamlText = z
  .string()
  .refine((text) => utf8ByteLength(text) <= MAX_YAML_BYTES, `at most ${MAX_YAML_BYTES.toLocaleString('en-US')} bytes of YAML`);

/** The payload schema of every method, keyed by method name. */
export const payloadSchemas = {
  appInfo: noPayload,
  openCheckpoint: z.strictObject({ path: pathString }),
  listCheckpoints: noPayload,
  closeCheckpoint: z.strictObject({ id: pathString }),
  computeStats: z.strictObject({ checkpointId: pathString, sampled: z.boolean().optional(), jobId: jobIdSchema.optional() }),
  layerSimilarity: z.strictObject({
    checkpointA: pathString,
    checkpointB: pathString.optional(),
    kind: z.enum(TENSOR_KINDS),
    sampled: z.boolean().optional(),
    jobId: jobIdSchema.optional(),
  }),
  buildPlan: z.strictObject({ recipe: planRecipeSchema }),
  resolvePlan: z.strictObject({ plan: layerPlanSchema }),
  planFromYaml: z.strictObject({ text: yamlText, baseDir: pathString.optional() }),
  loadPlanFile: z.strictObject({ path: pathString }),
  planToYaml: z.strictObject({ plan: layerPlanSchema }),
  exportPlan: exportRequestSchema,
  cancelJob: z.strictObject({ jobId: jobIdSchema }),
  verifyExport: z.strictObject({ dir: pathString }),
  evaluatePlan: z.strictObject({
    jobId: jobIdSchema.optional(),
    plan: layerPlanSchema,
    textPath: pathString.optional(),
    maxTokens: z.int().positive().optional(),
    prompt: z.string().max(4096).optional(),
    compareSource: z.boolean().optional(),
    device: z.enum(['auto', 'cpu']).optional(),
    workDir: pathString.optional(),
  }),
  sweepSplices: z.strictObject({
    jobId: jobIdSchema.optional(),
    model: pathString,
    range: z.discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('drop'), from: z.int().nonnegative(), to: z.int().nonnegative() }),
      z.strictObject({ kind: z.literal('grid'), aFrom: z.int().nonnegative(), aTo: z.int().nonnegative(), bFrom: z.int().nonnegative(), bTo: z.int().nonnegative() }),
    ]),
    textPath: pathString.optional(),
    maxTokens: z.int().positive().optional(),
    device: z.enum(['auto', 'cpu']).optional(),
    workDir: pathString.optional(),
  }),
  browse: z.strictObject({ dir: pathOrRootList }),
} satisfies { [M in StudioMethod]: z.ZodType<StudioPayload<M>> };

/**
 * What a path field of a payload names; the serve mode's root guard (electron/serve/root-guard.ts)
 * checks each kind its own way:
 * - `model`: a checkpoint folder or file to open, inside a root, and every link in its folder too;
 * - `open-checkpoint`: the id (real path) of an open checkpoint, inside a root;
 * - `plan`: a LayerPlan, whose slice models, base model and tokenizer source are `model`s;
 * - `recipe`: a PlanRecipe, whose model or models are `model`s;
 * - `folder`: a folder that is listed or that relative YAML paths resolve against, inside a root;
 * - `plan-file`: a YAML plan file, inside a root;
 * - `export-target`: where an export goes (a folder, or a NAME.gguf file): strictly inside a root, neither a root nor holding one;
 * - `export-folder`: an export to verify: a `model`, and the plan it holds is a `plan`;
 * - `text-file`: a text file that is read (an evaluation text), inside a root.
 */
export type PathFieldKind = 'model' | 'open-checkpoint' | 'plan' | 'recipe' | 'folder' | 'plan-file' | 'export-target' | 'export-folder' | 'text-file';

/** Field names of a payload, one level of nesting spelled `outer.inner` (arrays are not entered). */
type FieldPaths<T> = T extends object
  ? {
      [K in keyof T & string]-?: NonNullable<T[K]> extends readonly unknown[]
        ? K
        : NonNullable<T[K]> extends object
          ? K | `${K}.${keyof NonNullable<T[K]> & string}`
          : K;
    }[keyof T & string]
  : never;

/**
 * Every path field of every method's payload, declared once: the root guard checks exactly these.
 * The type ties each name to a real field of the payload; test/api/schemas.test.ts finds every
 * `pathString` in the schemas and fails when one is missing here.
 */
export const PATH_FIELDS = {
  appInfo: {},
  openCheckpoint: { path: 'model' },
  listCheckpoints: {},
  closeCheckpoint: { id: 'open-checkpoint' },
  computeStats: { checkpointId: 'open-checkpoint' },
  layerSimilarity: { checkpointA: 'open-checkpoint', checkpointB: 'open-checkpoint' },
  buildPlan: { recipe: 'recipe' },
  resolvePlan: { plan: 'plan' },
  planFromYaml: { baseDir: 'folder' },
  loadPlanFile: { path: 'plan-file' },
  planToYaml: { plan: 'plan' },
  exportPlan: { plan: 'plan', 'target.dir': 'export-target' },
  cancelJob: {},
  verifyExport: { dir: 'export-folder' },
  evaluatePlan: { plan: 'plan', textPath: 'text-file', workDir: 'folder' },
  sweepSplices: { model: 'model', textPath: 'text-file', workDir: 'folder' },
  browse: { dir: 'folder' },
} as const satisfies { [M in StudioMethod]: { readonly [F in FieldPaths<StudioPayload<M>>]?: PathFieldKind } };

// Type-level checks: each schema's output is exactly the contract's type, in both directions, so a
// field added to types.ts without a schema (or the reverse) fails the type-check.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type SchemaMismatches = {
  [M in StudioMethod]: Equal<z.output<(typeof payloadSchemas)[M]>, StudioPayload<M>> extends true ? never : M;
}[StudioMethod];
const everySchemaMatches: [SchemaMismatches] extends [never] ? true : SchemaMismatches = true;
void everySchemaMatches;
const namedTypesMatch: [
  Equal<z.output<typeof scaleRuleSchema>, ScaleRule>,
  Equal<z.output<typeof planSliceSchema>, PlanSlice>,
  Equal<z.output<typeof layerPlanSchema>, LayerPlan>,
  Equal<z.output<typeof planRecipeSchema>, PlanRecipe>,
  Equal<z.output<typeof exportTargetSchema>, ExportTarget>,
  Equal<z.output<typeof exportRequestSchema>, ExportRequest>,
] = [true, true, true, true, true, true];
void namedTypesMatch;

/** True for a string that names an API method (and nothing else on the API object, such as `on`). */
export function isStudioMethod(name: string): name is StudioMethod {
  return (STUDIO_METHODS as readonly string[]).includes(name);
}

function describePath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else text += text === '' ? String(key) : `.${String(key)}`;
  }
  return text;
}

/**
 * Checks an untrusted payload for `method` and returns it typed (a fresh object: the input is not
 * kept). Throws StudioError('InvalidRequest') whose message names the method and the first bad field;
 * `detail.issues` lists every problem as `{ field, message }`.
 */
export function parsePayload<M extends StudioMethod>(method: M, payload: unknown): StudioPayload<M> {
  if (!isStudioMethod(method)) {
    throw new StudioError('InvalidRequest', `Unknown API method '${String(method)}'.`);
  }
  const schema = payloadSchemas[method] as z.ZodType<StudioPayload<M>>;
  const result = schema.safeParse(payload);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    const base = describePath(issue.path);
    const field = keys.length > 0 ? keys.map((key) => (base === '' ? key : `${base}.${key}`)).join(', ') : base || '(payload)';
    return { field, message: issue.message };
  });
  const first = issues[0] ?? { field: '(payload)', message: 'invalid' };
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  throw new StudioError('InvalidRequest', `Invalid request to ${method}: ${first.field}: ${first.message}${more}`, {
    detail: { method, issues },
  });
}
