/**
 * DUS Studio end to end: the built CLI in serve mode, the built renderer in Debian's Chromium, and the
 * engine's own verify on the folder the UI exported. One browser and one server for the whole file;
 * the journey's steps run in order and build on each other, as a user's session does.
 */
import { mkdir, mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { verifyExport } from '../../electron/engine/export/verify-export.js';
import { buildFixtureCheckpoint } from '../fixtures/checkpoint-builder.js';
import { e2eSkipRequested, launchChromium, VIEWPORT } from './browser.js';
import { ensureBuilt, startServeProcess, type ServeProcess } from './serve-process.js';
import { dragHandle as dragHandleOf, layersIn, settledSummary as summaryOf, STEP_MS } from './stack-page.js';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const DEMO_PATH = path.join(REPO_ROOT, 'build', 'demo', 'stories260K');
const SCREENSHOT_DIR = path.join(REPO_ROOT, 'test-artifacts', 'e2e');

/**
 * The splice points the handles are dragged to. The demo's default DUS plan (5 layers, drop 1) has
 * A = 4, B = 1; A = 5, B = 3 is no DUS plan at all (A ≠ n − B), so the recipe becomes free splice points.
 */
const DRAGGED_A = 5;
const DRAGGED_B = 3;
/** LLaMA-Pro's k, typed before switching it on (the demo's default k is 2). */
const LLAMA_PRO_EVERY = 3;

if (e2eSkipRequested()) console.warn('DUS_SKIP_E2E=1: the Chromium end-to-end tests are skipped.');

let tempDir: string;
let fixtureDir: string;
let exportDir: string;
let demoLayers: number;
let server: ServeProcess;
let browser: Browser;
let context: BrowserContext;
let page: Page;

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`) });
}

/** Output layers of a two-copy splice [0, a) + [b, n), plus one LLaMA-Pro copy per k of them. */
function expectedLayers(a: number, b: number, layers: number, every: number | null): number {
  const base = a + (layers - b);
  return every === null ? base : base + Math.floor(base / every);
}

const settledSummary = (): Promise<string> => summaryOf(page);
const dragHandle = (handle: Locator, toBoundary: number): Promise<void> => dragHandleOf(page, handle, DEMO_PATH, toBoundary);

/** Source layers each output layer copies, in order: the stack as the canvas draws it. */
async function outputStack(): Promise<string[]> {
  return page.getByTestId('output-layer').evaluateAll((nodes) =>
    nodes.map((node) => `${node.getAttribute('data-source-layer')}${node.getAttribute('data-scaled') === 'true' ? '*' : ''}`),
  );
}

/** A file-browser entry by its exact name. */
function browserEntry(name: string): Locator {
  return page.getByTestId('file-browser-entry').filter({ has: page.locator('.name', { hasText: new RegExp(`^${name}$`) }) });
}

describe.skipIf(e2eSkipRequested())('DUS Studio in Chromium against serve mode', () => {
  beforeAll(async () => {
    await ensureBuilt(REPO_ROOT);
    tempDir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'dus-')));
    fixtureDir = path.join(tempDir, 'models', 'mistral-fixture');
    exportDir = path.join(tempDir, 'exports', 'stories-pro');
    await buildFixtureCheckpoint({ dir: fixtureDir, layers: 6, seed: 7 });
    // An empty folder to pick in the in-app browser; an export may fill an existing empty folder.
    await mkdir(exportDir, { recursive: true });
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    demoLayers = (JSON.parse(await readFile(path.join(DEMO_PATH, 'config.json'), 'utf8')) as { num_hidden_layers: number }).num_hidden_layers;
    server = await startServeProcess({
      repoRoot: REPO_ROOT,
      args: ['--port', '0', '--open', DEMO_PATH, '--root', tempDir],
    });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: VIEWPORT, colorScheme: 'light' });
    page = await context.newPage();
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  });

  describe('the session token', () => {
    it('answers 401 to an API call without the token or with a wrong one', async () => {
      const call = (headers: Record<string, string>) =>
        fetch(`${server.origin}/api/call/appInfo`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: 'null' });
      expect((await call({})).status).toBe(401);
      expect((await call({ 'X-DUS-Token': `${server.token.slice(0, -1)}x` })).status).toBe(401);
      const allowed = await call({ 'X-DUS-Token': server.token });
      expect(allowed.status).toBe(200);
      expect(await allowed.json()).toMatchObject({ ok: true, value: { host: 'serve', demoPath: DEMO_PATH } });
    });

    it('shows an error instead of a model when the page is opened without the token', async () => {
      const stranger = await browser.newContext({ viewport: VIEWPORT });
      try {
        const tokenless = await stranger.newPage();
        await tokenless.goto(`${server.origin}/`);
        const notice = tokenless.getByTestId('notice');
        await notice.first().waitFor({ timeout: STEP_MS });
        expect(await notice.first().textContent()).toMatch(/session token/i);
        expect(await tokenless.getByTestId('checkpoint-card').count()).toBe(0);
        expect(await tokenless.getByTestId('output-layer').count()).toBe(0);
        expect((await tokenless.getByTestId('summary').textContent())?.trim()).toBe('No plan');
        await tokenless.screenshot({ path: path.join(SCREENSHOT_DIR, 'no-token.png') });
      } finally {
        await stranger.close();
      }
    });
  });

  describe('a DUS session', () => {
    it('opens stories260K at start and the fixture through the in-app file browser', async () => {
      await page.goto(server.url);
      // The token leaves the address bar once the page has read it.
      expect(new URL(page.url()).searchParams.has('token')).toBe(false);
      await page.getByTestId('output-layer').first().waitFor({ timeout: STEP_MS });
      const defaultDrop = Math.round(demoLayers / 4);
      expect(layersIn(await settledSummary())).toBe(expectedLayers(demoLayers - defaultDrop, defaultDrop, demoLayers, null));
      await expect.poll(() => page.getByText(/Statistics ready/).count(), { timeout: STEP_MS }).toBe(1);
      // The whole stack fits its panel: nothing scrolls sideways and the output column ends inside it.
      const fit = await page.getByTestId('stack-canvas').evaluate((svg) => {
        const box = svg.parentElement!;
        const output = [...svg.querySelectorAll('[data-testid="output-layer"] rect')].map((rect) => rect.getBoundingClientRect().right);
        return { overflow: box.scrollWidth - box.clientWidth, outputRight: Math.max(...output), boxRight: box.getBoundingClientRect().left + box.clientWidth };
      });
      expect(fit.overflow).toBe(0);
      expect(fit.outputRight).toBeLessThan(fit.boxRight);
      await screenshot('start-stack');

      await page.getByTestId('open-button').click();
      await page.getByTestId('file-browser').waitFor();
      await browserEntry('models').click();
      await browserEntry('mistral-fixture').waitFor();
      expect(await browserEntry('mistral-fixture').getAttribute('data-kind')).toBe('checkpoint');
      await screenshot('file-browser');
      await browserEntry('mistral-fixture').click();

      const cards = page.getByTestId('checkpoint-card');
      await expect.poll(() => cards.evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-id'))), { timeout: STEP_MS }).toEqual([
        DEMO_PATH,
        fixtureDir,
      ]);
      await expect.poll(() => page.getByText(/Statistics ready/).count(), { timeout: STEP_MS }).toBe(2);
      // The plan stays on the first model.
      expect(await page.getByTestId('source-layer').evaluateAll((nodes) => new Set(nodes.map((node) => node.getAttribute('data-model'))).size)).toBe(1);
    });

    it('moves the splice points by dragging the handles and redraws the stack for the new A:B', async () => {
      const handleA = page.getByTestId('splice-handle-a');
      const handleB = page.getByTestId('splice-handle-b');
      await dragHandle(handleA, DRAGGED_A);
      expect(await handleA.getAttribute('data-layer')).toBe(String(DRAGGED_A));
      await dragHandle(handleB, DRAGGED_B);
      expect(await handleB.getAttribute('data-layer')).toBe(String(DRAGGED_B));

      const expected = expectedLayers(DRAGGED_A, DRAGGED_B, demoLayers, null);
      expect(layersIn(await settledSummary())).toBe(expected);
      expect(await page.getByTestId('splice-a-input').inputValue()).toBe(String(DRAGGED_A));
      expect(await page.getByTestId('splice-b-input').inputValue()).toBe(String(DRAGGED_B));
      expect(await page.getByTestId('recipe-select').inputValue()).toBe('splice');
      const sourceLayers = [...Array.from({ length: DRAGGED_A }, (_, index) => index), ...Array.from({ length: demoLayers - DRAGGED_B }, (_, index) => DRAGGED_B + index)];
      expect(await outputStack()).toEqual(sourceLayers.map(String));
      expect(await page.getByTestId('seam-jump').textContent()).toMatch(/Δ \d+(\.\d+)? %/);
    });

    it('switches on LLaMA-Pro with a chosen k and adds one identity copy per k layers', async () => {
      const base = expectedLayers(DRAGGED_A, DRAGGED_B, demoLayers, null);
      await page.getByTestId('llama-pro-every').fill(String(LLAMA_PRO_EVERY));
      await page.getByTestId('llama-pro-every').press('Tab');
      await page.getByTestId('llama-pro-toggle').check();
      const expected = expectedLayers(DRAGGED_A, DRAGGED_B, demoLayers, LLAMA_PRO_EVERY);
      expect(layersIn(await settledSummary())).toBe(expected);
      const stack = await outputStack();
      expect(stack).toHaveLength(expected);
      // Each identity copy follows the k-th layer it copies.
      const copies = stack.flatMap((entry, index) => (entry.endsWith('*') ? [index] : []));
      expect(copies).toEqual(Array.from({ length: expected - base }, (_, index) => (index + 1) * (LLAMA_PRO_EVERY + 1) - 1));
      for (const index of copies) expect(stack[index]).toBe(`${stack[index - 1]}*`);
      await expect.poll(() => page.getByTestId('hatch').count()).toBe(copies.length);
    });

    it('exports into a folder picked in the in-app browser and the engine verifies it', async () => {
      await page.getByTestId('export-button').click();
      await page.getByTestId('tab-export').waitFor();
      await page.getByRole('button', { name: 'Choose…' }).click();
      await page.getByTestId('file-browser').waitFor();
      await browserEntry('exports').click();
      await browserEntry('stories-pro').click();
      await page.getByRole('button', { name: `Export into ${exportDir}` }).click();
      expect(await page.getByTestId('export-target').inputValue()).toBe(exportDir);

      const uiLayers = layersIn(await settledSummary());
      await page.getByTestId('export-start').click();
      const verifyStatus = page.getByTestId('verify-status');
      await verifyStatus.waitFor({ timeout: 30_000 });
      expect(await verifyStatus.textContent()).toMatch(/Verified: \d+ tensors/);
      expect(await page.getByTestId('export-path').textContent()).toBe(exportDir);
      expect(await page.getByTestId('export-result').textContent()).toContain(`Wrote ${uiLayers} layers`);
      await screenshot('export-result');

      const report = await verifyExport(exportDir);
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.checkedTensors).toBeGreaterThan(0);
      const config = JSON.parse(await readFile(path.join(exportDir, 'config.json'), 'utf8')) as { num_hidden_layers: number };
      expect(config.num_hidden_layers).toBe(uiLayers);

      const mergekit = parseYaml(await readFile(path.join(exportDir, 'mergekit_config.yml'), 'utf8')) as {
        merge_method: string;
        slices: { sources: { model: string; layer_range: [number, number]; parameters?: { scale?: { filter?: string; value: number }[] } }[] }[];
      };
      expect(mergekit.merge_method).toBe('passthrough');
      const sources = mergekit.slices.map((slice) => slice.sources[0]!);
      expect(new Set(sources.map((source) => source.model))).toEqual(new Set([DEMO_PATH]));
      const identity = sources.filter((source) => source.parameters?.scale !== undefined);
      expect(identity).toHaveLength(Math.floor(expectedLayers(DRAGGED_A, DRAGGED_B, demoLayers, null) / LLAMA_PRO_EVERY));
      for (const source of identity) {
        expect(source.layer_range[1] - source.layer_range[0]).toBe(1);
        expect(source.parameters?.scale).toEqual([
          { filter: 'o_proj', value: 0 },
          { filter: 'down_proj', value: 0 },
          { value: 1 },
        ]);
      }
      // Without the identity copies, the contiguous ranges join back into the two dragged copies.
      const copies: [number, number][] = [];
      for (const source of sources.filter((entry) => entry.parameters?.scale === undefined)) {
        const last = copies.at(-1);
        if (last && last[1] === source.layer_range[0]) last[1] = source.layer_range[1];
        else copies.push([...source.layer_range]);
      }
      expect(copies).toEqual([
        [0, DRAGGED_A],
        [DRAGGED_B, demoLayers],
      ]);
      expect(sources.reduce((sum, source) => sum + source.layer_range[1] - source.layer_range[0], 0)).toBe(uiLayers);
    });

    it('draws the weight norms and the heatmap of the new stack', async () => {
      await page.getByTestId('tab-norms').click();
      const charts = page.getByTestId('norm-chart');
      await charts.first().waitFor();
      expect(await charts.count()).toBeGreaterThanOrEqual(7);
      const ticks = await charts.first().getByTestId('x-tick').count();
      expect(ticks).toBe(layersIn(await settledSummary()));
      await screenshot('weight-norms');

      await page.getByTestId('tab-heatmap').click();
      const heatmap = page.getByTestId('norm-heatmap').first();
      await heatmap.waitFor();
      // Every row label, the longest ("post-attention norm") included, starts inside the picture.
      const labelOverhang = await heatmap.evaluate((svg) => {
        const left = svg.getBoundingClientRect().left;
        return Math.max(...[...svg.querySelectorAll('.row-label')].map((label) => left - label.getBoundingClientRect().left));
      });
      expect(labelOverhang).toBeLessThanOrEqual(0);
      await screenshot('heatmap');
    });

    it('shows a malformed YAML edit as an error at its line and leaves the stack as it was', async () => {
      await page.getByTestId('tab-yaml').click();
      const editor = page.getByTestId('yaml-editor');
      await editor.waitFor();
      expect(await editor.inputValue()).toContain('merge_method: passthrough');
      await screenshot('yaml');

      const before = await outputStack();
      const summaryBefore = await settledSummary();
      // Line 5 sits left of the sequence it belongs to: a YAML syntax error there, and only there.
      const broken = ['merge_method: passthrough', 'slices:', '  - sources:', `      - model: ${DEMO_PATH}`, '     layer_range: [0, 2]'].join('\n');
      await editor.fill(broken);
      await page.getByTestId('yaml-apply').click();
      const problem = page.getByTestId('yaml-problem');
      await problem.first().waitFor({ timeout: STEP_MS });
      expect(await problem.first().textContent()).toMatch(/^\s*Line 5\s*:\s*YAML syntax/);
      expect(await editor.getAttribute('aria-invalid')).toBe('true');
      expect(await page.locator('.gutter .number.error').evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-line')))).toEqual(['5']);
      expect(await outputStack()).toEqual(before);
      expect(await settledSummary()).toBe(summaryBefore);
      expect(await editor.inputValue()).toBe(broken);
      await screenshot('yaml-error');

      await page.getByTestId('tab-problems').click();
      const items = page.getByTestId('problem-item');
      await items.first().waitFor();
      expect(await items.evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-code')))).toContain('InvalidYaml');
      await screenshot('problems');
    });

    it('switches to the dark theme from the toolbar', async () => {
      await page.getByTestId('tab-norms').click();
      await page.getByTestId('theme-toggle').click();
      expect(await page.locator('html').getAttribute('data-theme')).toBe('dark');
      const background = await page.locator('body').evaluate((body) => body.ownerDocument.defaultView!.getComputedStyle(body).backgroundColor);
      const channels = (background.match(/\d+/g) ?? []).slice(0, 3).map(Number);
      expect(Math.max(...channels)).toBeLessThan(80);
      await screenshot('dark-theme');
    });
  });
});
