/**
 * Issue 9's mergekit rules through the app: the built CLI in serve mode, the built renderer in
 * Debian's Chromium, mergekit YAML typed into the YAML pane with the keyboard and applied with
 * Ctrl+Enter, exports started from the Export pane, and the written files read back with the
 * engine's own readers. The engine and CLI tests pin each rule against mergekit's code (README,
 * "mergekit compatibility"); these show that the app's YAML pane reaches the same rules.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckpointSummary } from '../../electron/api/types.js';
import { openCheckpoint } from '../../electron/engine/checkpoint/open-checkpoint.js';
import { verifyExport } from '../../electron/engine/export/verify-export.js';
import { buildMambaFixture } from '../fixtures/checkpoint-builder.js';
import { pathExists, tensorByName, tensorBytes } from '../engine/export/export-fixtures.js';
import { e2eSkipRequested, VIEWPORT } from './browser.js';
import { layersIn, openStudioPage, SCREENSHOT_DIR, settledSummary as summaryOf, startStudio, STEP_MS, typeYaml, type StudioUnderTest } from './stack-page.js';

/** Every fixture has 4 layers of hidden size 32 and a vocabulary of 128 (the builder's defaults). */
const LAYERS = 4;
const VOCAB = 128;
/** An export and its verify of these tiny models take well under a second; this bound catches a hang. */
const EXPORT_MS = 60_000;

let tempDir: string;
let exportsDir: string;
/** The Llama fixture every plan stacks (F32, so scaled values compare exactly). */
let llama: string;
/** Same shapes, architecture MistralForCausalLM. */
let mistral: string;
/** A base_model of the same architecture and sizes, with its own config values and side files. */
let donor: string;
/** A model folder whose tokenizer has 130 tokens. */
let wideTokenizer: string;
/** Two sequence classifiers (LlamaForSequenceClassification): score.weight in place of lm_head. */
let classifierA: string;
let classifierB: string;
/** A mamba-like model: backbone.layers.N, which no decoder-layer family names. */
let mamba: string;
let studio: StudioUnderTest<'llama' | 'mistral' | 'donor' | 'wideTokenizer' | 'classifierA' | 'classifierB'>;
let context: BrowserContext;
let page: Page;

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `mergekit-${name}.png`) });
}

const settledSummary = (): Promise<string> => summaryOf(page);

/** Types the YAML, applies it and waits until the engine has answered for a plan of `layers` output layers. */
async function applyTyped(yaml: string, layers: number): Promise<void> {
  await typeYaml(page, yaml);
  await expect.poll(async () => page.getByTestId('yaml-problem').allTextContents(), { timeout: STEP_MS }).toEqual([]);
  await expect.poll(async () => layersIn(await settledSummary()), { timeout: STEP_MS }).toBe(layers);
}

interface ProblemShown {
  code: string | null;
  severity: 'error' | 'warning' | 'info';
  message: string;
}

/** The Problems tab's list: code, severity (as drawn) and message of each entry. */
async function problemsShown(): Promise<ProblemShown[]> {
  await page.getByTestId('tab-problems').click();
  await settledSummary();
  return page.getByTestId('problem-item').evaluateAll((nodes) =>
    nodes.map((node) => ({
      code: node.getAttribute('data-code'),
      severity: (['error', 'warning', 'info'] as const).find((severity) => node.classList.contains(severity)) ?? 'info',
      message: node.querySelector('.message')?.textContent ?? '',
    })),
  );
}

/** Types a new target folder into the Export pane. */
async function typeExportTarget(name: string): Promise<string> {
  await page.getByTestId('tab-export').click();
  const target = path.join(exportsDir, name);
  const field = page.getByTestId('export-target');
  await field.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.type(target);
  expect(await field.inputValue()).toBe(target);
  return target;
}

/** Exports the current plan from the Export pane into `exports/NAME` and waits for the verified result. */
async function exportFromPane(name: string): Promise<{ dir: string; exported: CheckpointSummary }> {
  const dir = await typeExportTarget(name);
  const layers = layersIn(await settledSummary());
  await page.getByTestId('export-start').click();
  const verifyStatus = page.getByTestId('verify-status');
  await verifyStatus.waitFor({ timeout: EXPORT_MS });
  expect(await verifyStatus.textContent()).toMatch(/Verified: \d+ tensors/);
  expect(await page.getByTestId('export-path').textContent()).toBe(dir);
  expect(await page.getByTestId('export-result').textContent()).toContain(`Wrote ${layers} layers`);
  const report = await verifyExport(dir);
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
  return { dir, exported: await openCheckpoint(dir) };
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
}

async function float32Values(summary: CheckpointSummary, name: string): Promise<Float32Array> {
  const tensor = tensorByName(summary, name);
  expect(tensor.dtype).toBe('F32');
  const bytes = await tensorBytes(tensor);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/**
 * The scale each output tensor carries, measured: output / source element by element, which must
 * be one factor for the whole tensor (F32 × a factor rounds once, as torch's multiply does).
 */
async function measuredScale(exported: CheckpointSummary, outputName: string, source: CheckpointSummary, sourceName: string): Promise<number> {
  const output = await float32Values(exported, outputName);
  const input = await float32Values(source, sourceName);
  expect(output.length).toBe(input.length);
  const index = input.findIndex((value) => Math.abs(value) > 1e-3);
  const factor = output[index]! / input[index]!;
  const rounded = Math.round(factor * 1e4) / 1e4;
  const expected = Float32Array.from(input, (value) => value * rounded);
  expect(output, `${outputName} is ${sourceName} × ${rounded}`).toEqual(expected);
  return rounded;
}

/** A mergekit slice with one source, as the YAML pane is typed (two-space indents). */
function sliceYaml(model: string, range: [number, number], ...extra: string[]): string[] {
  return ['  - sources:', `      - model: ${model}`, `        layer_range: [${range[0]}, ${range[1]}]`, ...extra];
}

describe.skipIf(e2eSkipRequested())("issue 9's mergekit rules in the app's YAML pane (Chromium, serve mode)", () => {
  beforeAll(async () => {
    const llamaArchitecture = { architecture: 'LlamaForCausalLM', modelType: 'llama' } as const;
    const classifier = { layers: LAYERS, dtype: 'F32', scoreLabels: 2, architecture: 'LlamaForSequenceClassification', modelType: 'llama', open: false } as const;
    // Only the Llama fixture is open at start; the YAML names the others by path.
    studio = await startStudio('dus-', {
      llama: { folder: 'llama-f32', layers: LAYERS, dtype: 'F32', seed: 3, sideFiles: true, ...llamaArchitecture },
      mistral: { folder: 'mistral-f32', open: false, layers: LAYERS, dtype: 'F32', seed: 4 },
      donor: {
        folder: 'llama-donor',
        open: false,
        layers: LAYERS,
        dtype: 'F32',
        seed: 5,
        sideFiles: true,
        ...llamaArchitecture,
        extraConfig: { rope_theta: 500000, max_position_embeddings: 4096 },
      },
      wideTokenizer: { folder: 'tokenizer-130', open: false, layers: 1, vocab: VOCAB + 2, seed: 6, sideFiles: true, ...llamaArchitecture },
      classifierA: { folder: 'classifier-a', ...classifier, seed: 7 },
      classifierB: { folder: 'classifier-b', ...classifier, seed: 8 },
    });
    ({ tempDir } = studio);
    ({ llama, mistral, donor, wideTokenizer, classifierA, classifierB } = studio.models);
    mamba = path.join(tempDir, 'models', 'mamba-tiny');
    await buildMambaFixture(mamba);
    exportsDir = path.join(tempDir, 'exports');
    await mkdir(exportsDir, { recursive: true });
    ({ context, page } = await openStudioPage(studio, VIEWPORT, 0));
  }, EXPORT_MS);

  afterAll(async () => {
    await context?.close();
    await studio?.close();
  });

  it('matches scale filters against the source tensor name, interpolates a gradient, and looks parameters up on the source, the slice, then the top level', async () => {
    // Slice 2 copies source layers 1..3 to output layers 2..4: the filter model.layers.2 names
    // source layer 2, which lands at output 3 (plan.py plan_tensor: for_tensor(weight_in.name)).
    const yaml = [
      'slices:',
      ...sliceYaml(llama, [0, 2]),
      ...sliceYaml(
        llama,
        [1, 4],
        '        parameters:',
        '          scale:',
        '            - filter: model.layers.2.mlp.down_proj',
        '              value: 0.5',
        '            - filter: o_proj',
        '              value: [1.0, 0.0]',
      ),
      '    parameters:',
      '      scale:',
      '        - filter: down_proj',
      '          value: 3.0',
      '        - filter: up_proj',
      '          value: 0.25',
      'parameters:',
      '  scale:',
      '    - filter: up_proj',
      '      value: 2.0',
      'merge_method: passthrough',
      'dtype: float32',
    ].join('\n');
    await applyTyped(yaml, 5);
    expect(await page.getByTestId('output-layer').evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-source-layer')))).toEqual(['0', '1', '1', '2', '3']);
    await screenshot('scale-rules');
    const { exported } = await exportFromPane('scale-rules');
    await screenshot('scale-rules-exported');

    const source = await openCheckpoint(llama);
    const sourceLayers = [0, 1, 1, 2, 3];
    const scales = async (local: string): Promise<number[]> => {
      const found: number[] = [];
      for (const [output, sourceLayer] of sourceLayers.entries()) {
        found.push(await measuredScale(exported, `model.layers.${output}.${local}`, source, `model.layers.${sourceLayer}.${local}`));
      }
      return found;
    };
    // down_proj: slice 1 has no rule and the top level none for it; in slice 2 the source rule
    // takes source layer 2 only, and the slice's rule the rest (config.py ConfigReader.parameter).
    expect(await scales('mlp.down_proj.weight')).toEqual([1, 1, 3, 0.5, 3]);
    // o_proj: the gradient [1, 0] over slice 2's three layers, t = 0, ½, 1 (evaluate_setting).
    expect(await scales('self_attn.o_proj.weight')).toEqual([1, 1, 1, 0.5, 0]);
    // up_proj: the top-level rule in slice 1; in slice 2 the slice's own rule comes first.
    expect(await scales('mlp.up_proj.weight')).toEqual([2, 2, 0.25, 0.25, 0.25]);
    expect(await scales('self_attn.q_proj.weight')).toEqual([1, 1, 1, 1, 1]);
  });

  it("takes a head of unusual name (a classifier's score.weight) from the last slice's source, the embeddings from the first", async () => {
    const yaml = ['slices:', ...sliceYaml(classifierA, [0, 2]), ...sliceYaml(classifierB, [2, LAYERS]), 'merge_method: passthrough'].join('\n');
    await applyTyped(yaml, LAYERS);
    const { exported } = await exportFromPane('classifier');
    const [first, last] = [await openCheckpoint(classifierA), await openCheckpoint(classifierB)];
    const same = async (name: string, source: CheckpointSummary): Promise<boolean> =>
      (await tensorBytes(tensorByName(exported, name))).equals(await tensorBytes(tensorByName(source, name)));
    // mergekit's llama-sequence-classification.json lists score among the post-weights (plan.py plan_module).
    expect(await same('score.weight', last)).toBe(true);
    expect(await same('model.norm.weight', last)).toBe(true);
    expect(await same('model.embed_tokens.weight', first)).toBe(true);
    expect(exported.tensors.some((tensor) => tensor.name === 'lm_head.weight')).toBe(false);
  });

  it('reads the models: form with passthrough as one slice over all layers, and its scale reaches the embeddings, final norm and head', async () => {
    const yaml = ['models:', `  - model: ${llama}`, '    parameters:', '      scale: 0.5', 'merge_method: passthrough', 'dtype: float32'].join('\n');
    await applyTyped(yaml, LAYERS);
    const { exported } = await exportFromPane('models-form');
    const source = await openCheckpoint(llama);
    expect(exported.numLayers).toBe(LAYERS);
    // mergekit's plan_module gives the first slice's parameters to the tensors before the layers
    // and the last slice's to those after: scale 0.5 halves every tensor of a whole-model copy.
    for (const tensor of source.tensors) expect(await measuredScale(exported, tensor.name, source, tensor.name), tensor.name).toBe(0.5);
  });

  it('writes out_dtype: torch.bfloat16 as the output dtype', async () => {
    const yaml = ['slices:', ...sliceYaml(llama, [0, LAYERS]), 'merge_method: passthrough', 'out_dtype: torch.bfloat16'].join('\n');
    await applyTyped(yaml, LAYERS);
    const { dir, exported } = await exportFromPane('out-dtype');
    expect(new Set(exported.tensors.map((tensor) => tensor.dtype))).toEqual(new Set(['BF16']));
    expect((await readJson(path.join(dir, 'config.json'))).torch_dtype).toBe('bfloat16');
  });

  it('takes config.json and the side files from base_model, with the new layer count', async () => {
    const yaml = ['slices:', ...sliceYaml(llama, [0, 3]), ...sliceYaml(llama, [1, LAYERS]), 'merge_method: passthrough', `base_model: ${donor}`, 'dtype: float32'].join('\n');
    await applyTyped(yaml, 6);
    // Only the note that layers repeat (a SOLAR-style stack): nothing about base_model.
    expect((await problemsShown()).filter((problem) => problem.severity !== 'info')).toEqual([]);
    const { dir } = await exportFromPane('base-model');
    const config = await readJson(path.join(dir, 'config.json'));
    const donorConfig = await readJson(path.join(donor, 'config.json'));
    expect(config).toEqual({ ...donorConfig, num_hidden_layers: 6 });
    expect(config.rope_theta).toBe(500000);
    for (const name of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json']) {
      expect(await readFile(path.join(dir, name)), name).toEqual(await readFile(path.join(donor, name)));
    }
  });

  it('refuses a base_model that does not exist, naming it, and offers no export', async () => {
    const absent = path.join(tempDir, 'models', 'no-such-model');
    await typeYaml(page, ['slices:', ...sliceYaml(llama, [0, LAYERS]), 'merge_method: passthrough', `base_model: ${absent}`].join('\n'));
    await expect
      .poll(async () => (await problemsShown()).filter((problem) => problem.severity === 'error').map((problem) => problem.message), { timeout: STEP_MS })
      .toEqual([expect.stringContaining(`base_model ${absent}`)]);
    await screenshot('base-model-missing');
    await page.getByTestId('tab-export').click();
    expect(await page.getByTestId('export-start').isDisabled()).toBe(true);
  });

  it('reports a tokenizer_source whose vocabulary differs from the embeddings in the YAML tab and Problems, with both numbers, before any export', async () => {
    const yaml = ['slices:', ...sliceYaml(llama, [0, LAYERS]), 'merge_method: passthrough', `tokenizer_source: ${wideTokenizer}`].join('\n');
    await typeYaml(page, yaml);
    await expect.poll(async () => layersIn(await settledSummary()), { timeout: STEP_MS }).toBe(LAYERS);
    const tokens = `tokenizer_source ${wideTokenizer} has ${VOCAB + 2} tokens`;
    const rows = `model.embed_tokens.weight of llama-f32 has ${VOCAB} rows`;
    await expect.poll(async () => page.getByTestId('yaml-problem').allTextContents(), { timeout: STEP_MS }).toEqual([expect.stringContaining(tokens)]);
    expect(await page.getByTestId('yaml-problem').textContent()).toContain(rows);
    // At the line of the plan's YAML that names the tokenizer_source.
    const line = Number(await page.getByTestId('yaml-problem').getAttribute('data-line'));
    expect(await page.getByTestId('yaml-editor').inputValue().then((text) => text.split('\n')[line - 1])).toBe(`tokenizer_source: ${wideTokenizer}`);
    await screenshot('tokenizer-problem-yaml');
    const errors = (await problemsShown()).filter((problem) => problem.severity === 'error');
    expect(errors).toEqual([{ code: 'InvalidPlan', severity: 'error', message: expect.stringContaining(tokens) }]);
    expect(errors[0]?.message).toContain(rows);
    await screenshot('tokenizer-problem');
    await page.getByTestId('tab-export').click();
    expect(await page.getByTestId('export-start').isDisabled()).toBe(true);
  });

  it('writes chat_template: chatml as chat_template.jinja and takes it out of tokenizer_config.json', async () => {
    const yaml = ['slices:', ...sliceYaml(llama, [0, LAYERS]), 'merge_method: passthrough', 'chat_template: chatml'].join('\n');
    await applyTyped(yaml, LAYERS);
    const { dir } = await exportFromPane('chatml');
    const template = await readFile(path.join(dir, 'chat_template.jinja'), 'utf8');
    expect(template).toContain("'<|im_start|>' + message['role']");
    expect(template).toContain('<|im_end|>');
    expect(await readJson(path.join(dir, 'tokenizer_config.json'))).not.toHaveProperty('chat_template');
    expect(await pathExists(path.join(dir, 'chat_template.json'))).toBe(false);
  });

  it('refuses slices of two architectures until the user allows them in the Export pane (--allow-crimes)', async () => {
    const yaml = ['slices:', ...sliceYaml(llama, [0, 2]), ...sliceYaml(mistral, [2, LAYERS]), 'merge_method: passthrough', 'dtype: float32'].join('\n');
    await applyTyped(yaml, LAYERS);
    const refused = (await problemsShown()).find((problem) => problem.code === 'ArchitectureMismatch');
    expect(refused?.message).toContain('architecture MistralForCausalLM differs from LlamaForCausalLM of llama-f32');
    expect(refused?.message).toContain('--allow-crimes');
    expect(refused?.severity).toBe('error');
    await screenshot('crimes-refused');

    await typeExportTarget('crimes');
    expect(await page.getByTestId('export-start').isDisabled()).toBe(true);
    expect(await page.getByText('The plan has errors (see Problems).').count()).toBe(1);
    const allow = page.getByTestId('export-allow-crimes');
    expect(await allow.isChecked()).toBe(false);
    await allow.click();
    await expect.poll(() => page.getByTestId('export-start').isEnabled(), { timeout: STEP_MS }).toBe(true);
    await screenshot('crimes-allowed');
    const { dir } = await exportFromPane('crimes');
    expect(await page.getByTestId('export-result').locator('.warnings').textContent()).toContain('stacked anyway (--allow-crimes)');
    // config.json is the first source's (mergekit's donor); the flag is the run's, not the YAML's.
    expect((await readJson(path.join(dir, 'config.json'))).architectures).toEqual(['LlamaForCausalLM']);
    expect(await readFile(path.join(dir, 'mergekit_config.yml'), 'utf8')).not.toMatch(/crimes/);
    await screenshot('crimes-exported');
    const warning = (await problemsShown()).find((problem) => problem.code === 'ArchitectureMismatch');
    expect(warning?.severity).toBe('warning');
    expect(warning?.message).toContain('stacked anyway (--allow-crimes)');
  });

  it('says "no decoder layers recognised in …" for a model whose layers no family names', async () => {
    await typeYaml(page, ['slices:', ...sliceYaml(mamba, [0, 2]), 'merge_method: passthrough'].join('\n'));
    await expect
      .poll(async () => (await problemsShown()).find((problem) => problem.code === 'NoDecoderLayers')?.message ?? '', { timeout: STEP_MS })
      .toContain('no decoder layers recognised in mamba-tiny (MambaForCausalLM)');
    expect((await problemsShown()).map((problem) => problem.code)).not.toContain('RangeOutsideModel');
    expect(await page.getByTestId('stack-empty').textContent()).toBe('The plan gives no output layers: see Problems.');
    await screenshot('no-decoder-layers');
    await page.getByTestId('tab-export').click();
    expect(await page.getByTestId('export-start').isDisabled()).toBe(true);
  });
});
