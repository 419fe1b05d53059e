/**
 * What the end-to-end journeys read from and do to the stack page: the plan summary once the engine
 * has answered, and a splice handle dragged with real pointer moves.
 */
import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { expect } from 'vitest';
import { buildFixtureCheckpoint, type FixtureOptions } from '../fixtures/checkpoint-builder.js';
import { launchChromium } from './browser.js';
import { ensureBuilt, startServeProcess, type ServeProcess } from './serve-process.js';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const SCREENSHOT_DIR = path.join(REPO_ROOT, 'test-artifacts', 'e2e');
/** The window sizes the real-scale journeys are checked and photographed at. */
export const VIEWPORTS = [
  { width: 1280, height: 800 },
  { width: 1920, height: 1080 },
] as const;

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

/** A box with the text it holds, as the collision and clipping checks report it. */
export type TextBox = Box & { text: string };

/** Pairs of boxes that overlap by more than half a pixel each way. */
export function collisions(items: TextBox[]): string[] {
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

/** Client boxes of the shown elements matching `selector`, each with its text (an SVG <title> tooltip left out). */
export async function textBoxes(page: Page, selector: string): Promise<TextBox[]> {
  return page.locator(selector).evaluateAll((nodes) =>
    nodes
      .filter((node) => node.getAttribute('display') !== 'none')
      .map((node) => {
        const rect = node.getBoundingClientRect();
        const text = [...node.childNodes].filter((child) => child.nodeName !== 'title').map((child) => child.textContent ?? '').join('');
        return { text, left: rect.left, top: rect.top, right: rect.right, bottom: rect.bottom };
      })
      .filter((box) => box.right > box.left),
  );
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

/** A serve process with fixture models open and a Chromium to look at it with; `close` ends all three. */
export interface StudioUnderTest<Name extends string> {
  tempDir: string;
  /** Each model's folder (what the app names it by). */
  models: Record<Name, string>;
  server: ServeProcess;
  browser: Browser;
  close(): Promise<void>;
}

/** A fixture model: its folder name (default: its key) and whether serve opens it at start (default: yes). */
export type StudioFixture = Omit<FixtureOptions, 'dir'> & { folder?: string; open?: boolean };

/**
 * Writes each fixture model under a fresh temporary root (`prefix` names it; a model's folder is
 * relative to its models/ folder), starts serve with the models to open in the order given, and
 * launches Chromium. A start that fails half way stops what it started and removes the root.
 */
export async function startStudio<Name extends string>(prefix: string, fixtures: Record<Name, StudioFixture>): Promise<StudioUnderTest<Name>> {
  await ensureBuilt(REPO_ROOT);
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const tempDir = await realpath(await mkdtemp(path.join(os.tmpdir(), prefix)));
  let server: ServeProcess | undefined;
  let browser: Browser | undefined;
  const close = async (): Promise<void> => {
    await browser?.close();
    await server?.stop();
    await rm(tempDir, { recursive: true, force: true });
  };
  try {
    const names = Object.keys(fixtures) as Name[];
    const models = Object.fromEntries(names.map((name) => [name, path.join(tempDir, 'models', fixtures[name].folder ?? name)])) as Record<Name, string>;
    await Promise.all(
      names.map((name) => {
        const { folder: _folder, open: _open, ...options } = fixtures[name];
        return buildFixtureCheckpoint({ ...options, dir: models[name] });
      }),
    );
    const open = names.filter((name) => fixtures[name].open !== false).flatMap((name) => ['--open', models[name]]);
    server = await startServeProcess({ repoRoot: REPO_ROOT, args: ['--port', '0', ...open, '--root', tempDir] });
    browser = await launchChromium();
    return { tempDir, models, server, browser, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** A light-themed page of the app at `viewport`, loaded until output layer `readyLayer` is drawn. */
export async function openStudioPage(
  studio: { server: ServeProcess; browser: Browser },
  viewport: { width: number; height: number },
  readyLayer: number,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await studio.browser.newContext({ viewport, colorScheme: 'light' });
  const page = await context.newPage();
  await page.goto(studio.server.url);
  await page.locator(`[data-testid="output-layer"][data-index="${readyLayer}"]`).waitFor({ timeout: 30_000 });
  return { context, page };
}

/**
 * Types a plan into the YAML tab with the keyboard, as a user does (select all, type over it) and
 * applies it with Ctrl+Enter. Waits for nothing: the plan may be refused, or resolve to anything.
 */
export async function typeYaml(page: Page, yaml: string): Promise<void> {
  await page.getByTestId('tab-yaml').click();
  const editor = page.getByTestId('yaml-editor');
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type(yaml);
  expect(await editor.inputValue()).toBe(yaml);
  await page.keyboard.press('ControlOrMeta+Enter');
}
