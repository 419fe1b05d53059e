/**
 * A GGUF session end to end: the built CLI in serve mode opens stories260K as F16 GGUF (F16 matrices,
 * F32 norms: two GGML types in one file), the UI shows the types, makes a DUS, moves a splice handle
 * with the real mouse and exports to a NAME.gguf file named in the in-app browser's save mode, then
 * as a llama.cpp split set. The files on disk pass the engine's verify and load in llama.cpp with
 * the block count the UI showed.
 */
import { copyFile, mkdir, mkdtemp, readdir, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLlamaRuntime, type LlamaRuntime } from '../../electron/engine/evaluate/llama-runtime.js';
import { verifyExport } from '../../electron/engine/export/verify-export.js';
import { readGgufHeader } from '../../electron/engine/formats/gguf.js';
import { e2eSkipRequested, launchChromium, VIEWPORT } from './browser.js';
import { ensureBuilt, startServeProcess, type ServeProcess } from './serve-process.js';
import { dragHandle as dragHandleOf, layersIn, settledSummary as summaryOf, STEP_MS } from './stack-page.js';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const GGUF_SOURCE = path.resolve(REPO_ROOT, '../shared/models/gguf/stories260K-f16.gguf');
const SCREENSHOT_DIR = path.join(REPO_ROOT, 'test-artifacts', 'e2e');
/** stories260K's 5 blocks; the default DUS drops round(5 / 4) = 1 from each copy: A = 4, B = 1. */
const SOURCE_LAYERS = 5;
/** Handle B is dragged from 1 to 2: copies [0, 4) + [2, 5), 7 blocks. */
const DRAGGED_B = 2;
/** Export, verify and llama.cpp on a busy machine: bounds that catch a hang, not a slow run. */
const SLOW_MS = 120_000;

let tempDir: string;
let modelFile: string;
let server: ServeProcess;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let runtime: LlamaRuntime | undefined;

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `gguf-${name}.png`) });
}

const settledSummary = (): Promise<string> => summaryOf(page);
const dragHandle = (handle: Locator, toBoundary: number): Promise<void> => dragHandleOf(page, handle, modelFile, toBoundary);

/** Names the output file in the in-app browser's save mode: the exports folder, then a typed name. */
async function chooseOutputFile(name: string): Promise<string> {
  await page.getByTestId('export-choose').click();
  await page.getByTestId('file-browser').waitFor();
  await expect.poll(() => page.getByTestId('file-browser').locator('h2').textContent()).toBe('Export to a GGUF file');
  await page.getByLabel('Folder path').fill(path.join(tempDir, 'exports'));
  await page.getByRole('button', { name: 'Go' }).click();
  await expect.poll(() => page.getByLabel('Folder path').inputValue(), { timeout: STEP_MS }).toBe(path.join(tempDir, 'exports'));
  await page.getByTestId('file-browser-file-name').fill(name.replace(/\.gguf$/, ''));
  const target = path.join(tempDir, 'exports', name);
  await expect.poll(() => page.getByTestId('file-browser-save').textContent()).toBe(`Export to ${target}`);
  await screenshot('save-dialog');
  await page.getByTestId('file-browser-save').click();
  expect(await page.getByTestId('export-target').inputValue()).toBe(target);
  return target;
}

/** Loads a GGUF (or the first split of a set) in llama.cpp and evaluates one token: it must run, not only parse. */
async function loadsInLlamaCpp(file: string): Promise<void> {
  runtime ??= await createLlamaRuntime({ gpu: false });
  const model = await runtime.loadModel(file);
  try {
    const llamaContext = await model.createContext({ contextSize: 64, sequences: 1, threads: 1 });
    try {
      const bos = model.tokens.bos;
      if (bos === null) throw new Error(`${file} has no BOS token`);
      const [result] = await llamaContext.getSequence().controlledEvaluate([[bos, { generateNext: { probabilities: true } }]]);
      expect(result?.next?.probabilities?.size ?? 0).toBeGreaterThan(100);
    } finally {
      await llamaContext.dispose();
    }
  } finally {
    await model.dispose();
  }
}

describe.skipIf(e2eSkipRequested())('a GGUF session in Chromium against serve mode', () => {
  beforeAll(async () => {
    await ensureBuilt(REPO_ROOT);
    tempDir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'dus-')));
    // A copy inside the served root: the shared test data lies outside it.
    modelFile = path.join(tempDir, 'models', 'stories260K-f16.gguf');
    await mkdir(path.dirname(modelFile), { recursive: true });
    await mkdir(path.join(tempDir, 'exports'), { recursive: true });
    await copyFile(GGUF_SOURCE, modelFile);
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    server = await startServeProcess({ repoRoot: REPO_ROOT, args: ['--port', '0', '--open', modelFile, '--root', tempDir] });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: VIEWPORT, colorScheme: 'light' });
    page = await context.newPage();
  }, SLOW_MS);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
    await runtime?.dispose();
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  });

  it('opens the GGUF and shows its GGML types on the card and per tensor in the inspector', async () => {
    await page.goto(server.url);
    await page.getByTestId('output-layer').first().waitFor({ timeout: STEP_MS });
    const card = page.getByTestId('checkpoint-card');
    expect(await card.getAttribute('data-id')).toBe(modelFile);
    const cardText = (await card.textContent()) ?? '';
    expect(cardText).toMatch(/F16 \d+(\.\d+)? %/);
    expect(cardText).toMatch(/F32 \d+(\.\d+)? %/);
    // The default DUS of 5 blocks: 4 + 4.
    expect(layersIn(await settledSummary())).toBe(8);

    await page.getByTestId('output-layer').first().hover();
    const rows = page.locator('.inspector tbody th');
    await rows.first().waitFor({ timeout: STEP_MS });
    const details = await rows.locator('.detail').allTextContents();
    expect(details.some((detail) => detail.includes('· F16 ·'))).toBe(true);
    expect(details.some((detail) => detail.includes('· F32 ·'))).toBe(true);
    await screenshot('open');
  });

  it('moves splice point B with the mouse and exports the new stack to NAME.gguf', async () => {
    const handleB = page.getByTestId('splice-handle-b');
    await dragHandle(handleB, DRAGGED_B);
    expect(await handleB.getAttribute('data-layer')).toBe(String(DRAGGED_B));
    const layers = layersIn(await settledSummary());
    expect(layers).toBe(4 + (SOURCE_LAYERS - DRAGGED_B));

    await page.getByTestId('export-button').click();
    await page.getByTestId('tab-export').waitFor();
    expect(await page.getByText('Output file', { exact: true }).count()).toBe(1);
    const target = await chooseOutputFile('stories-splice.gguf');
    await page.getByTestId('export-start').click();
    const verifyStatus = page.getByTestId('verify-status');
    await verifyStatus.waitFor({ timeout: SLOW_MS });
    expect(await verifyStatus.textContent()).toMatch(/Verified: \d+ tensors/);
    expect(await page.getByTestId('export-path').textContent()).toBe(target);
    expect(await page.getByTestId('export-result').textContent()).toContain(`Wrote ${layers} layers`);
    await screenshot('export-result');

    const report = await verifyExport(target);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect((await readGgufHeader(target)).metadata.get('llama.block_count')).toMatchObject({ value: layers });
    await loadsInLlamaCpp(target);
    // Nothing but the export beside it: no temporary folder left behind.
    expect(await readdir(path.join(tempDir, 'exports'))).toEqual(['stories-splice.gguf']);
  }, SLOW_MS * 2);

  it('exports a llama.cpp split set when the largest split is smaller than the model', async () => {
    await page.getByTestId('export-shard-size').fill('200KB');
    await chooseOutputFile('stories-split.gguf');
    await page.getByTestId('export-start').click();
    const verifyStatus = page.getByTestId('verify-status');
    await expect.poll(() => verifyStatus.textContent(), { timeout: SLOW_MS }).toMatch(/Verified: \d+ tensors/);
    const splits = (await readdir(path.join(tempDir, 'exports'))).filter((name) => name.startsWith('stories-split')).sort();
    expect(splits.length).toBeGreaterThan(1);
    expect(splits).toEqual(splits.map((_, index) => `stories-split-${String(index + 1).padStart(5, '0')}-of-${String(splits.length).padStart(5, '0')}.gguf`));
    const first = path.join(tempDir, 'exports', splits[0]!);
    expect(await page.getByTestId('export-path').textContent()).toBe(first);
    await screenshot('split-result');

    const report = await verifyExport(first);
    expect(report.problems).toEqual([]);
    const layers = layersIn(await settledSummary());
    expect((await readGgufHeader(first)).metadata.get('llama.block_count')).toMatchObject({ value: layers });
    await loadsInLlamaCpp(first);
  }, SLOW_MS * 2);
});
