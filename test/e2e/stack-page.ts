/**
 * What the end-to-end journeys read from and do to the stack page: the plan summary once the engine
 * has answered, and a splice handle dragged with real pointer moves.
 */
import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { expect } from 'vitest';
import { launchChromium } from './browser.js';
import { ensureBuilt, startServeProcess, type ServeProcess } from './serve-process.js';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const SCREENSHOT_DIR = path.join(REPO_ROOT, 'test-artifacts', 'e2e');
/** The window sizes the real-scale journeys are checked and photographed at. */
export const VIEWPORTS = [
  { width: 1280, height: 800 },
  { width: 1920, height: 1080 },
] as const;

/** `dus-studio serve` over models written into a temporary folder (its only root), and a Chromium to look at it. */
export interface ServedStudio {
  tempDir: string;
  server: ServeProcess;
  browser: Browser;
}

/**
 * Builds the app if needed, lets `writeModels` write checkpoints under a fresh temporary folder and
 * name those serve opens at start (`--open`), then starts serve with that folder as its root and
 * launches Chromium. What has started is filled into `studio` as it starts, so that stopStudio(studio)
 * undoes it also after a start that failed half way.
 */
export async function serveStudio(studio: Partial<ServedStudio>, prefix: string, writeModels: (tempDir: string) => Promise<string[]>): Promise<ServedStudio> {
  await ensureBuilt(REPO_ROOT);
  studio.tempDir = await realpath(await mkdtemp(path.join(os.tmpdir(), prefix)));
  const open = await writeModels(studio.tempDir);
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  studio.server = await startServeProcess({ repoRoot: REPO_ROOT, args: ['--port', '0', ...open.flatMap((model) => ['--open', model]), '--root', studio.tempDir] });
  studio.browser = await launchChromium();
  return studio as ServedStudio;
}

export async function stopStudio(studio: Partial<ServedStudio> | undefined): Promise<void> {
  await studio?.browser?.close();
  await studio?.server?.stop();
  if (studio?.tempDir) await rm(studio.tempDir, { recursive: true, force: true });
}

/** A light-themed page of the app at `viewport`, loaded until output layer `readyLayer` is drawn. */
export async function openStudioPage(studio: ServedStudio, viewport: { width: number; height: number }, readyLayer: number): Promise<{ context: BrowserContext; page: Page }> {
  const context = await studio.browser.newContext({ viewport, colorScheme: 'light' });
  const page = await context.newPage();
  await page.goto(studio.server.url);
  await page.locator(`[data-testid="output-layer"][data-index="${readyLayer}"]`).waitFor({ timeout: 30_000 });
  return { context, page };
}

/** How long a UI step may take before a test gives up; real steps take well under a second. */
export const STEP_MS = 15_000;

/** The summary once the engine has answered for the current plan (it is marked stale until then). */
export async function settledSummary(page: Page): Promise<string> {
  const summary = page.getByTestId('summary');
  await expect.poll(async () => summary.getAttribute('class'), { timeout: STEP_MS }).not.toMatch(/\bstale\b/);
  return (await summary.textContent())?.trim() ?? '';
}

/** The output layer count a summary starts with. */
export function layersIn(summary: string): number {
  const match = /^(\d+) layers/.exec(summary);
  if (!match) throw new Error(`the summary does not start with a layer count: "${summary}"`);
  return Number(match[1]);
}

/** Drags a splice handle with real pointer moves to the y of a boundary of `model`'s source layers (each column has its own row scale). */
export async function dragHandle(page: Page, handle: Locator, model: string, toBoundary: number): Promise<void> {
  const box = await handle.boundingBox();
  if (!box) throw new Error('the splice handle has no geometry');
  const rows = page.locator(`[data-testid="source-layer"][data-model="${model}"]`);
  const count = await rows.count();
  const row = await rows.nth(Math.min(toBoundary, count - 1)).boundingBox();
  if (!row) throw new Error('the source column has no geometry');
  // Source rows are inset by half a pixel at the top and drawn a pixel short.
  const targetY = toBoundary < count ? row.y - 0.5 : row.y + row.height + 0.5;
  const x = box.x + box.width / 2;
  const y = box.y + box.height / 2;
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x, targetY, { steps: 8 });
  await page.mouse.up();
}

/** A rectangle on the page, as the geometry checks compare them. */
export interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** Types a plan into the YAML tab, applies it and waits until the output column has `layers` rows. */
export async function applyYaml(page: Page, yaml: string, layers: number): Promise<void> {
  await page.getByTestId('tab-yaml').click();
  const editor = page.getByTestId('yaml-editor');
  await editor.click();
  await editor.fill(yaml);
  await page.getByTestId('yaml-apply').click();
  await expect.poll(() => page.getByTestId('output-layer').count(), { timeout: STEP_MS }).toBe(layers);
}
