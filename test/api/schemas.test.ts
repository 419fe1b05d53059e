import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { isStudioError, StudioError } from '../../electron/api/errors.js';
import * as z from 'zod';
import { MAX_CHAT_TEMPLATE_LENGTH } from '../../electron/api/limits.js';
import { isStudioMethod, MAX_SLICES, MAX_YAML_BYTES, PATH_FIELDS, parsePayload, pathOrRootList, pathString, payloadSchemas, utf8ByteLength } from '../../electron/api/schemas.js';
import { STUDIO_METHODS, type StudioMethod } from '../../electron/api/studio-api.js';
import { validPayloads } from '../serve/sample-payloads.js';

function refusal(method: StudioMethod, payload: unknown): StudioError {
  try {
    parsePayload(method, payload);
  } catch (error) {
    if (isStudioError(error)) return error;
    throw error;
  }
  throw new Error(`${method} accepted ${JSON.stringify(payload)}`);
}

const model = '/models/tiny';
const plan = { slices: [{ model, start: 0, end: 2 }] };

/** Invalid payloads per method, each with the field the error must name. */
const invalidPayloads: { [M in StudioMethod]: [payload: unknown, field: string][] } = {
  appInfo: [[{ extra: 1 }, '(payload)'], ['x', '(payload)']],
  openCheckpoint: [
    [{}, 'path'],
    [{ path: '' }, 'path'],
    [{ path: 7 }, 'path'],
    [{ path: 'x'.repeat(5000) }, 'path'],
    [{ path: '/a', extra: true }, 'extra'],
    [JSON.parse('{"path":"/a","__proto__":{"polluted":true}}'), '__proto__'],
    [null, '(payload)'],
  ],
  listCheckpoints: [[[], '(payload)']],
  closeCheckpoint: [[{ path: model }, 'id']],
  computeStats: [
    [{ checkpointId: model, sampled: 'yes' }, 'sampled'],
    [{ checkpointId: model, fast: true }, 'fast'],
  ],
  layerSimilarity: [
    [{ kind: 'q' }, 'checkpointA'],
    [{ checkpointA: model, kind: 'attention' }, 'kind'],
    [{ checkpointA: model }, 'kind'],
    [{ checkpointA: model, checkpointB: '', kind: 'q' }, 'checkpointB'],
    [{ checkpointA: model, kind: 'q', sampled: 1 }, 'sampled'],
    [{ checkpointA: model, kind: 'q', rows: 4 }, 'rows'],
  ],
  buildPlan: [
    [{ recipe: { kind: 'dus', model, drop: -1 } }, 'recipe.drop'],
    [{ recipe: { kind: 'dus', model, drop: 1.5 } }, 'recipe.drop'],
    [{ recipe: { kind: 'teleport', model } }, 'recipe.kind'],
    [{ recipe: { kind: 'splice', model, a: 3 } }, 'recipe.b'],
    [{ recipe: { kind: 'llama-pro', model, every: 0 } }, 'recipe.every'],
    [{ recipe: { kind: 'stack', model, times: 2, drop: 1 } }, 'recipe.drop'],
    [{ recipe: { kind: 'interleave', models: [], window: 16, overlap: 8 } }, 'recipe.models'],
  ],
  resolvePlan: [
    [{ plan: { slices: [{ model, start: -1, end: 2 }] } }, 'plan.slices[0].start'],
    [{ plan: { slices: [{ model, start: 0, end: 2, scale: [{ filter: 'o_proj' }] }] } }, 'plan.slices[0].scale[0].value'],
    [{ plan: { slices: [{ model, start: 0, end: 2, scale: [{ value: Number.POSITIVE_INFINITY }] }] } }, 'plan.slices[0].scale[0].value'],
    [{ plan: { ...plan, mtp: 'keep' } }, 'plan.mtp'],
    [{ plan: { ...plan, dtype: 'bfloat16; rm -rf /' } }, 'plan.dtype'],
    [{ plan: { ...plan, chatTemplate: '' } }, 'plan.chatTemplate'],
    [{ plan: { ...plan, chatTemplate: '{'.repeat(MAX_CHAT_TEMPLATE_LENGTH + 1) } }, 'plan.chatTemplate'],
    [{ plan: { ...plan, chatTemplate: ['chatml'] } }, 'plan.chatTemplate'],
    [{ plan: { slices: Array.from({ length: MAX_SLICES + 1 }, () => ({ model, start: 0, end: 1 })) } }, 'plan.slices'],
    [{ plan: { slices: [{ model, start: 0, end: 2, __proto__x: 1 }] } }, 'plan.slices[0].__proto__x'],
  ],
  planFromYaml: [
    [{ text: 'é'.repeat(MAX_YAML_BYTES / 2 + 1) }, 'text'],
    [{ text: 'a: 1', baseDir: '' }, 'baseDir'],
  ],
  loadPlanFile: [
    [{}, 'path'],
    [{ path: '/plans/a.yml', text: 'x' }, 'text'],
  ],
  planToYaml: [[{ plan: { slices: 'all' } }, 'plan.slices']],
  evaluatePlan: [
    [{ plan, maxTokens: 0 }, 'maxTokens'],
    [{ plan, device: 'tpu' }, 'device'],
    [{ plan, textPath: '' }, 'textPath'],
    [{ plan, jobId: 'no spaces allowed' }, 'jobId'],
  ],
  sweepSplices: [
    [{ model, range: { kind: 'drop', from: -1, to: 2 } }, 'range.from'],
    [{ model, range: { kind: 'spiral' } }, 'range.kind'],
    [{ range: { kind: 'drop', from: 1, to: 2 } }, 'model'],
  ],
  exportPlan: [
    [{ exportId: '../etc', plan, target: { dir: '/out' } }, 'exportId'],
    [{ exportId: '', plan, target: { dir: '/out' } }, 'exportId'],
    [{ exportId: 'e'.repeat(65), plan, target: { dir: '/out' } }, 'exportId'],
    [{ exportId: 'e1', plan, target: { dir: '/out', shardSize: 0 } }, 'target.shardSize'],
    [{ exportId: 'e1', plan, target: { dir: '/out', shardSize: 1.5 } }, 'target.shardSize'],
    [{ exportId: 'e1', plan, target: { dir: '/out', shardSize: 2 ** 53 } }, 'target.shardSize'],
    [{ exportId: 'e1', plan, target: { dir: '/out', replace: 'yes' } }, 'target.replace'],
    [{ exportId: 'e1', plan }, 'target'],
  ],
  cancelJob: [[{ jobId: 'a b' }, 'jobId']],
  verifyExport: [[{ dir: ['/out'] }, 'dir']],
  browse: [[{}, 'dir']],
};

describe('payload schemas', () => {
  it('has a schema for every API method', () => {
    expect(Object.keys(payloadSchemas).sort()).toEqual([...STUDIO_METHODS].sort());
  });

  for (const method of STUDIO_METHODS) {
    it(`accepts a valid ${method} payload and returns an equal copy`, () => {
      const payload = validPayloads()[method];
      const parsed = parsePayload(method, payload);
      expect(parsed).toEqual(payload);
      if (payload !== undefined) expect(parsed).not.toBe(payload);
    });

    for (const [payload, field] of invalidPayloads[method]) {
      it(`refuses ${method} payload ${JSON.stringify(payload)?.slice(0, 60)} naming ${field}`, () => {
        const error = refusal(method, payload);
        expect(error.code).toBe('InvalidRequest');
        expect(error.message).toContain(method);
        expect(error.message).toContain(field);
      });
    }
  }

  it('accepts null and undefined for methods without a payload', () => {
    expect(parsePayload('appInfo', null)).toBeUndefined();
    expect(parsePayload('listCheckpoints', undefined)).toBeUndefined();
  });

  it('accepts every recipe kind', () => {
    const recipes = [
      { kind: 'dus', model, drop: 8 },
      { kind: 'splice', model, a: 24, b: 8 },
      { kind: 'llama-pro', model, every: 4 },
      { kind: 'stack', model, times: 4 },
      { kind: 'interleave', models: [model, '/models/other'], window: 16, overlap: 8 },
    ];
    for (const recipe of recipes) expect(parsePayload('buildPlan', { recipe })).toEqual({ recipe });
  });

  it('accepts the largest allowed plan and YAML text', () => {
    const slices = Array.from({ length: MAX_SLICES }, (_, index) => ({ model, start: index % 4, end: (index % 4) + 1 }));
    expect(parsePayload('resolvePlan', { plan: { slices } }).plan.slices).toHaveLength(MAX_SLICES);
    expect(parsePayload('planFromYaml', { text: 'a'.repeat(MAX_YAML_BYTES) }).text).toHaveLength(MAX_YAML_BYTES);
  });

  it('lists every problem in the error detail', () => {
    const error = refusal('exportPlan', { exportId: '', plan: { slices: [] }, target: { dir: '', shardSize: -1 } });
    const issues = (error.detail as { issues: { field: string }[] }).issues.map((issue) => issue.field);
    expect(issues).toEqual(expect.arrayContaining(['exportId', 'target.dir', 'target.shardSize']));
    expect(error.message).toMatch(/and \d+ more/);
  });

  it('refuses a method name that is not part of the API', () => {
    expect(isStudioMethod('on')).toBe(false);
    expect(isStudioMethod('constructor')).toBe(false);
    expect(isStudioMethod('openCheckpoint')).toBe(true);
    expect(refusal('toString' as StudioMethod, null).message).toContain("Unknown API method 'toString'");
  });

  it('imports nothing from Node, so the renderer can load it', async () => {
    const source = await readFile(new URL('../../electron/api/schemas.ts', import.meta.url), 'utf8');
    const imports = [...source.matchAll(/from '([^']+)'/g)].map((match) => match[1]);
    expect(imports.filter((name) => name !== 'zod' && !name?.startsWith('./'))).toEqual([]);
  });

  it('counts UTF-8 bytes the way an encoder does', () => {
    for (const text of ['', 'abc', 'é', '€uro', '😀 ok', '\ud800x']) {
      expect(utf8ByteLength(text)).toBe(Buffer.byteLength(text, 'utf8'));
    }
  });
});

/**
 * Field paths (`outer.inner`) of a payload schema whose value is `pathString` or an object that
 * holds one somewhere (a plan, a recipe), found by walking the zod schema.
 */
function pathFieldsOf(schema: z.ZodType, prefix = ''): string[] {
  const unwrapped = schema instanceof z.ZodOptional ? (schema.unwrap() as z.ZodType) : schema;
  if (!(unwrapped instanceof z.ZodObject)) return [];
  const found: string[] = [];
  for (const [key, child] of Object.entries(unwrapped.shape as Record<string, z.ZodType>)) {
    const field = prefix === '' ? key : `${prefix}.${key}`;
    const inner = child instanceof z.ZodOptional ? (child.unwrap() as z.ZodType) : child;
    if (inner === pathString || inner === pathOrRootList || holdsPath(inner)) found.push(field);
    if (inner instanceof z.ZodObject) found.push(...pathFieldsOf(inner, field));
  }
  return found;
}

/** True when a schema holds a pathString anywhere inside (objects, arrays, unions). */
function holdsPath(schema: z.ZodType): boolean {
  if (schema === pathString) return true;
  if (schema instanceof z.ZodOptional) return holdsPath(schema.unwrap() as z.ZodType);
  if (schema instanceof z.ZodArray) return holdsPath(schema.element as z.ZodType);
  if (schema instanceof z.ZodObject) return Object.values(schema.shape as Record<string, z.ZodType>).some(holdsPath);
  if (schema instanceof z.ZodUnion) return (schema.options as z.ZodType[]).some(holdsPath);
  return false;
}

describe('PATH_FIELDS', () => {
  it('declares every path in every payload schema, so the root guard checks each one (issue 14)', () => {
    for (const method of STUDIO_METHODS) {
      const declared = Object.keys(PATH_FIELDS[method]);
      const found = pathFieldsOf(payloadSchemas[method] as z.ZodType);
      // A declared field covers the paths inside it (the guard walks a plan or recipe itself); an
      // object that only holds declared fields (target holds target.dir) needs no entry of its own.
      const covered = (field: string): boolean =>
        declared.some((name) => name === field || field.startsWith(`${name}.`) || name.startsWith(`${field}.`));
      expect(found.filter((field) => !covered(field)), method).toEqual([]);
      for (const name of declared) expect(found, `${method}.${name} is a path field`).toContain(name);
    }
  });
});
