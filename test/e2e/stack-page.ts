/**
 * What the end-to-end journeys read from and do to the stack page: the plan summary once the engine
 * has answered, and a splice handle dragged with real pointer moves.
 */
import type { Locator, Page } from 'playwright-core';
import { expect } from 'vitest';

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
