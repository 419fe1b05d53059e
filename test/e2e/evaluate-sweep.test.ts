/**
 * The Evaluate tab end to end (issue 12): the built CLI in serve mode with the demo (stories260K),
 * the built renderer in Debian's Chromium, and a real splice sweep in llama.cpp on the CPU. The sweep
 * of drop 1..2 is two plans plus the source; on a busy two-core machine that takes a minute or more,
 * so the bounds below only catch a hang.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eSkipRequested, launchChromium, VIEWPORT } from './browser.js';
import { ensureBuilt, startServeProcess, type ServeProcess } from './serve-process.js';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const DEMO_PATH = path.join(REPO_ROOT, 'build', 'demo', 'stories260K');
const SCREENSHOT_DIR = path.join(REPO_ROOT, 'test-artifacts', 'e2e');
const STEP_MS = 15_000;
/** A whole sweep in llama.cpp on a loaded CPU: generous, to catch a hang and nothing else. */
const SWEEP_MS = 9 * 60_000;

let server: ServeProcess;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let demoLayers: number;

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`) });
}

/** The toolbar's layer count once the engine has answered for the current plan. */
async function settledLayers(): Promise<number> {
  const summary = page.getByTestId('summary');
  await expect.poll(async () => summary.getAttribute('class'), { timeout: STEP_MS }).not.toMatch(/\bstale\b/);
  const match = /^(\d+) layers/.exec((await summary.textContent())?.trim() ?? '');
  if (!match) throw new Error('the summary does not start with a layer count');
  return Number(match[1]);
}

if (e2eSkipRequested()) console.warn('DUS_SKIP_E2E=1: the Chromium end-to-end tests are skipped.');

describe.skipIf(e2eSkipRequested())('evaluating splice points of the demo in llama.cpp', () => {
  beforeAll(async () => {
    await ensureBuilt(REPO_ROOT);
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    demoLayers = (JSON.parse(await readFile(path.join(DEMO_PATH, 'config.json'), 'utf8')) as { num_hidden_layers: number }).num_hidden_layers;
    server = await startServeProcess({ repoRoot: REPO_ROOT, args: ['--port', '0', '--open', DEMO_PATH] });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: VIEWPORT, colorScheme: 'light' });
    page = await context.newPage();
    await page.goto(server.url);
    await page.getByTestId('output-layer').first().waitFor({ timeout: STEP_MS });
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
  });

  it('sweeps drop 1..2, draws perplexity by splice point with the source as a line, and marks the current plan', async () => {
    // The demo opens with SOLAR DUS drop 1: [0, n − 1) + [1, n).
    expect(await settledLayers()).toBe(2 * (demoLayers - 1));
    await page.getByTestId('tab-evaluate').click();
    await page.getByTestId('sweep-drop-from').fill('1');
    await page.getByTestId('sweep-drop-to').fill('2');
    await page.getByTestId('sweep-run').click();
    await page.getByTestId('sweep-progress').waitFor({ timeout: STEP_MS });
    await screenshot('evaluate-sweep-running');
    // The source line arrives with the final report, after the last row (a horizontal line has no height, so Playwright never calls it visible).
    await page.getByTestId('sweep-source-line').waitFor({ state: 'attached', timeout: SWEEP_MS });
    await expect.poll(() => page.getByTestId('sweep-point').count()).toBe(2);
    expect(await page.getByTestId('sweep-row').count()).toBe(2);
    const points = await page.getByTestId('sweep-point').evaluateAll((nodes) =>
      nodes.map((node) => ({ a: Number(node.getAttribute('data-a')), b: Number(node.getAttribute('data-b')), perplexity: Number(node.getAttribute('data-perplexity')), current: node.classList.contains('current') })),
    );
    expect(points.map(({ a, b }) => [a, b])).toEqual([
      [demoLayers - 1, 1],
      [demoLayers - 2, 2],
    ]);
    for (const point of points) expect(point.perplexity).toBeGreaterThan(1);
    // The current plan (drop 1) is the marked point.
    expect(points.filter((point) => point.current).map((point) => point.b)).toEqual([1]);
    // The table lists the rows best first.
    const tableOrder = await page.getByTestId('sweep-row').evaluateAll((rows) => rows.map((row) => Number(row.getAttribute('data-b'))));
    const best = [...points].sort((left, right) => left.perplexity - right.perplexity).map((point) => point.b);
    expect(tableOrder).toEqual(best);
    await screenshot('evaluate-sweep-done');
  }, SWEEP_MS + 60_000);

  it('takes the plan of a clicked point', async () => {
    await page.locator('[data-testid="sweep-point"][data-b="2"]').click();
    expect(await settledLayers()).toBe(2 * (demoLayers - 2));
    await expect.poll(() => page.locator('[data-testid="sweep-point"][data-b="2"]').getAttribute('class'), { timeout: STEP_MS }).toMatch(/\bcurrent\b/);
    expect(await page.getByTestId('drop-input').inputValue()).toBe('2');
    await screenshot('evaluate-sweep-picked');
  });

  it('evaluates the taken plan beside the source, with the curve and both continuations', async () => {
    await page.getByTestId('evaluate-plan').click();
    await page.getByTestId('evaluation-result').waitFor({ timeout: SWEEP_MS });
    const plan = Number(await page.getByTestId('evaluation-plan-perplexity').getAttribute('data-value'));
    const source = Number(await page.getByTestId('evaluation-source-perplexity').getAttribute('data-value'));
    // The plan evaluated now is the sweep's drop 2, and llama.cpp gives it the same perplexity as in the sweep.
    const swept = Number(await page.locator('[data-testid="sweep-point"][data-b="2"]').getAttribute('data-perplexity'));
    expect(plan).toBeCloseTo(swept, 6);
    expect(Number(await page.getByTestId('evaluation-ratio').getAttribute('data-value'))).toBeCloseTo(plan / source, 9);
    expect(await page.getByTestId('nll-plan-line').getAttribute('d')).toMatch(/^M/);
    expect(await page.getByTestId('nll-source-line').getAttribute('d')).toMatch(/^M/);
    expect((await page.getByTestId('evaluation-continuation-source').textContent())?.length).toBeGreaterThan('Source continuesOnce upon a time'.length);
    await screenshot('evaluate-plan-done');
  }, SWEEP_MS + 60_000);
});
