/**
 * The window's layout and details at real scale (issue 10, "Layout and details"), in Chromium against
 * serve mode: panels that give way so the stack canvas stays usable down to 1024×700, landmarks and
 * skip links, heatmaps with a numeric colour scale and a highlighted cell, norm tooltips that name the
 * model, "Compute" where statistics are missing, and light and dark screenshots of a 48-layer SOLAR
 * plan and a 137-layer Goliath plan. Models are written by the project's own writer (tiny hidden size).
 */
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goliathPlan, planYaml } from '../bench/goliath-plan.js';
import { e2eSkipRequested } from './browser.js';
import { applyYaml, collisions, openStudioPage, SCREENSHOT_DIR, startStudio, STEP_MS, textBoxes, type StudioUnderTest } from './stack-page.js';

/** expect.poll's default (1 s) is short for a page on a busy shared machine. */
const POLL = { timeout: STEP_MS };

type Model = 'mistral' | 'goliathX' | 'goliathE' | 'big';
let studio: StudioUnderTest<Model>;
let models: Record<Model, string>;

function solarYaml(model: string): string {
  return planYaml({
    slices: [
      { model, start: 0, end: 24 },
      { model, start: 8, end: 32 },
    ],
  });
}

/** Elements whose content is wider than their box (cut off or ellipsised) among `selector`'s matches. */
async function clipped(page: Page, selector: string): Promise<string[]> {
  return page.locator(selector).evaluateAll((nodes) =>
    nodes
      .filter((node) => node.getClientRects().length > 0 && node.scrollWidth > node.clientWidth + 1)
      .map((node) => `${node.getAttribute('data-testid') ?? node.tagName}: ${node.textContent?.trim().slice(0, 60)}`),
  );
}

if (e2eSkipRequested()) console.warn('DUS_SKIP_E2E=1: the Chromium end-to-end tests are skipped.');

describe.skipIf(e2eSkipRequested())('the window at real scale: layout and details', () => {
  let context: BrowserContext;
  let page: Page;
  const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOT_DIR, `layout-${name}.png`) });

  beforeAll(async () => {
    const goliath = { layers: 80, hidden: 8, intermediate: 16, vocab: 32, heads: 2, kvHeads: 1, architecture: 'LlamaForCausalLM', modelType: 'llama' } as const;
    studio = await startStudio('dus-layout-', {
      mistral: { folder: 'mistral-32', layers: 32, hidden: 16, intermediate: 32, vocab: 64, seed: 3 },
      goliathX: { folder: 'xwin-80', seed: 7, ...goliath },
      goliathE: { folder: 'euryale-80', seed: 8, ...goliath },
      // 5 × 16.8 MB of F32: over the 64 MiB under which statistics start on their own; opened later through the dialog.
      big: { folder: 'big-5', open: false, layers: 5, hidden: 512, intermediate: 2048, vocab: 64, heads: 8, kvHeads: 8, dtype: 'F32', seed: 9 },
    });
    models = studio.models;
    ({ context, page } = await openStudioPage(studio, { width: 1280, height: 800 }, 47));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await studio?.close();
  });

  const SIZES = [
    { width: 1920, height: 1080 },
    { width: 1280, height: 800 },
    { width: 1024, height: 700 },
    { width: 800, height: 600 },
  ] as const;

  /** A property or call on document.activeElement, evaluated in the page (source text: this file has no DOM types). */
  const activeElement = (expression: string) => page.evaluate(`document.activeElement?.${expression}`);
  /** Width of the canvas's scroll box (what the stack is laid out in). */
  const canvasWidth = () => page.getByTestId('stack-canvas').evaluate((svg) => svg.parentElement!.clientWidth);

  it('keeps the stack canvas wide and nothing clipped from 1920×1080 down to 1024×700 (and usable at 800×600)', async () => {
    for (const size of SIZES) {
      await page.setViewportSize(size);
      await page.getByTestId('tab-norms').click();
      await page.getByTestId('norm-chart').first().waitFor();
      // Let the ResizeObservers land.
      await page.waitForTimeout(250);
      const name = `${size.width}x${size.height}`;
      await shot(`solar-${name}`);
      expect(await canvasWidth(), name).toBeGreaterThanOrEqual(size.width >= 1024 ? 640 : 600);
      // The canvas never scrolls sideways, and its column titles neither overlap nor leave the picture.
      expect(await page.getByTestId('stack-canvas').evaluate((svg) => svg.parentElement!.scrollWidth - svg.parentElement!.clientWidth)).toBe(0);
      const titles = await textBoxes(page, '[data-testid="column-title"], [data-testid="output-title"]');
      expect(collisions(titles), name).toEqual([]);
      const svgBox = (await page.getByTestId('stack-canvas').boundingBox())!;
      for (const title of titles) {
        expect(title.left, title.text).toBeGreaterThanOrEqual(svgBox.x - 0.5);
        expect(title.right, title.text).toBeLessThanOrEqual(svgBox.x + svgBox.width + 0.5);
      }
      expect(await page.getByTestId('output-title').textContent()).toBe('Output · 48');
      // Labelled text is never cut: toolbar summary, tabs, chart captions.
      expect(await clipped(page, '[data-testid="summary"], [role="tab"], [data-testid="norm-chart"] figcaption, #plan-region p, #inspector-region p'), name).toEqual([]);
      // Every weight-norm chart, the second row included, lies inside the charts panel.
      const panel = (await page.locator('#views-region [role="tabpanel"]').boundingBox())!;
      const charts = await page.getByTestId('norm-chart').evaluateAll((nodes) => nodes.map((node) => node.getBoundingClientRect().bottom));
      if (size.height >= 800) for (const bottom of charts) expect(bottom, name).toBeLessThanOrEqual(panel.y + panel.height + 0.5);
      // Below 1180 px the inspector is a rail, below 960 px the checkpoints too; each comes back on a click.
      expect(await page.getByTestId('inspector-panel').count()).toBe(size.width >= 1180 ? 1 : 0);
      expect(await page.getByTestId('sidebar').count()).toBe(size.width >= 960 ? 1 : 0);
    }
    await page.setViewportSize({ width: 1024, height: 700 });
    await page.getByTestId('inspector-toggle').click();
    await page.getByTestId('inspector-panel').waitFor();
    await page.waitForTimeout(250);
    expect(await canvasWidth()).toBeGreaterThanOrEqual(380);
    await shot('inspector-opened-1024x700');
    await page.getByTestId('inspector-toggle').click();
    await expect.poll(() => page.getByTestId('inspector-panel').count(), POLL).toBe(0);
    // The charts panel's divider resizes it from the keyboard.
    const before = (await page.locator('#views-region').boundingBox())!.height;
    await page.getByTestId('bottom-divider').focus();
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    await expect.poll(async () => (await page.locator('#views-region').boundingBox())!.height, POLL).toBeGreaterThan(before + 30);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('reaches the stack canvas with Tab and Enter through a skip link; regions are landmarks', async () => {
    await page.reload();
    await page.locator('[data-testid="output-layer"][data-index="47"]').waitFor({ timeout: 30_000 });
    await page.keyboard.press('Tab');
    expect(await activeElement('textContent')).toBe('Skip to stack canvas');
    await shot('skip-link-1280x800');
    await page.keyboard.press('Enter');
    expect(await activeElement("getAttribute('role')")).toBe('listbox');
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => page.locator('.inspector .title').textContent(), POLL).toMatch(/Output layer\s*0/);
    // From a fresh page, Tab twice + Enter: the plan (checkpoints and slices).
    await page.reload();
    await page.locator('[data-testid="output-layer"][data-index="47"]').waitFor({ timeout: 30_000 });
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await activeElement('textContent')).toBe('Skip to plan');
    await page.keyboard.press('Enter');
    expect(await activeElement('id')).toBe('plan-region');
    expect(await page.getByRole('banner').count()).toBe(1);
    expect(await page.getByRole('main', { name: 'Layer stack' }).count()).toBe(1);
    expect(await page.getByRole('complementary', { name: 'Checkpoints and plan' }).count()).toBe(1);
    expect(await page.getByRole('complementary', { name: 'Inspector' }).count()).toBe(1);
    expect(await page.getByRole('region', { name: 'Charts, YAML, problems and export' }).count()).toBe(1);
    expect(await page.getByRole('navigation', { name: 'Skip links' }).count()).toBe(1);
  });

  it('names the source model, its layer and the value in the norm chart tooltip', async () => {
    await page.getByTestId('tab-norms').click();
    const chart = page.getByTestId('norm-chart').first().locator('svg');
    const box = (await chart.boundingBox())!;
    // Output 30 copies mistral-32's layer 14 (copy 2 starts at output 24 with layer 8).
    const plotLeft = box.x + 40;
    const plotRight = box.x + box.width - 8;
    await page.mouse.move(plotLeft + ((30 + 0.5) / 48) * (plotRight - plotLeft), box.y + box.height / 2);
    const tooltip = page.getByTestId('norm-tooltip');
    await expect.poll(() => tooltip.textContent(), POLL).toMatch(/output 30 ← mistral-32 layer 14: \d/);
    expect(await tooltip.textContent()).toMatch(/mistral-32 layer 30 \(L2, profile\)/);
    await shot('norm-tooltip-1280x800');
  });

  /** Column labels of the norm heatmap never overlap; hovering a cell outlines it and gives its value on the row's scale. */
  async function checkHeatmap(name: string, layers: number): Promise<void> {
    await page.getByTestId('tab-heatmap').click();
    await page.getByTestId('norm-heatmap').waitFor();
    expect(collisions(await textBoxes(page, '[data-testid="heatmap-column-label"]')), name).toEqual([]);
    expect(await page.getByTestId('heatmap-column-label').count()).toBeGreaterThanOrEqual(8);
    const legends = page.getByTestId('heatmap-legend');
    expect(await legends.count()).toBeGreaterThanOrEqual(7);
    const low = Number(await legends.first().getByTestId('heatmap-legend-low').textContent());
    const high = Number(await legends.first().getByTestId('heatmap-legend-high').textContent());
    expect(high).toBeGreaterThan(low);
    const cell = page.locator('[data-testid="norm-heatmap"] rect[role="presentation"]').nth(Math.floor(layers / 2));
    const box = (await cell.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await expect.poll(() => page.getByTestId('heatmap-hovered').getAttribute('data-index'), POLL).toBe(String(Math.floor(layers / 2)));
    const value = Number(await page.getByTestId('heatmap-value').textContent());
    expect(value).toBeGreaterThanOrEqual(low);
    expect(value).toBeLessThanOrEqual(high);
    expect(await page.getByTestId('heatmap-legend-marker').count()).toBe(1);
    await shot(`heatmap-${name}`);
  }

  /** The similarity matrix fills its pane, its tick labels never overlap, and the hovered cell is outlined. */
  async function checkSimilarity(name: string, layers: number): Promise<void> {
    await page.getByTestId('tab-similarity').click();
    const compute = page.getByTestId('similarity-compute');
    if (await compute.count()) await compute.click();
    const heatmap = page.getByTestId('similarity-heatmap');
    await heatmap.waitFor({ timeout: STEP_MS });
    await expect.poll(() => page.locator('[data-testid="similarity-cell"]:not(.pending)').count(), { timeout: 60_000 }).toBe(layers * layers);
    const plot = (await heatmap.boundingBox())!;
    const body = (await page.locator('.similarity-chart .body').boundingBox())!;
    // Uses the room it has: at least half the pane's width, or nearly all its height.
    expect(plot.width >= (body.width - 84) * 0.5 || plot.height >= body.height * 0.85, `${plot.width}×${plot.height} in ${body.width}×${body.height}`).toBe(true);
    expect(collisions(await textBoxes(page, '[data-testid="similarity-heatmap"] text.tick')), name).toEqual([]);
    const cell = page.locator(`[data-testid="similarity-cell"][data-i="${layers - 3}"][data-j="2"]`);
    const box = (await cell.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await expect.poll(() => page.getByTestId('similarity-hovered').getAttribute('data-i'), POLL).toBe(String(layers - 3));
    expect(await page.getByTestId('similarity-legend-marker').count()).toBe(1);
    await shot(`similarity-${name}`);
  }

  it('draws the 48-layer heatmaps with a numeric scale, a highlighted cell and labels that never collide', async () => {
    for (const size of [SIZES[1], SIZES[0]]) {
      await page.setViewportSize(size);
      await checkHeatmap(`solar-48-${size.width}x${size.height}`, 48);
      await checkSimilarity(`mistral-32-${size.width}x${size.height}`, 32);
    }
  });

  it('keeps the 137-layer Goliath heatmap and the 80-layer similarity matrix readable', async () => {
    await applyYaml(page, planYaml(goliathPlan(models.goliathX, models.goliathE)), 137);
    for (const size of [SIZES[1], SIZES[0]]) {
      await page.setViewportSize(size);
      await checkHeatmap(`goliath-137-${size.width}x${size.height}`, 137);
      await page.getByTestId('tab-similarity').click();
      await page.getByTestId('similarity-source-a').selectOption(models.goliathX);
      await page.getByTestId('similarity-source-b').selectOption(models.goliathX);
      await checkSimilarity(`xwin-80-${size.width}x${size.height}`, 80);
    }
    await page.setViewportSize(SIZES[1]);
  });

  it('shows light and dark screenshots of the main views at 48 and 137 layers', async () => {
    for (const scheme of ['dark', 'light'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const size of [SIZES[1], SIZES[0]]) {
        await page.setViewportSize(size);
        const name = `${scheme}-${size.width}x${size.height}`;
        await applyYaml(page, solarYaml(models.mistral), 48);
        await page.getByTestId('tab-norms').click();
        await page.locator('[data-testid="output-layer"][data-index="30"]').click();
        await page.mouse.move(2, 300);
        await shot(`theme-solar-48-${name}`);
        await page.getByTestId('tab-heatmap').click();
        await shot(`theme-heatmap-48-${name}`);
        await applyYaml(page, planYaml(goliathPlan(models.goliathX, models.goliathE)), 137);
        await page.getByTestId('tab-norms').click();
        await page.mouse.move(2, 300);
        await shot(`theme-goliath-137-${name}`);
        await page.getByTestId('tab-similarity').click();
        await shot(`theme-similarity-${name}`);
      }
    }
    await page.setViewportSize(SIZES[1]);
  });

  it('says why statistics are missing and computes them from the inspector and beside the seam Δ', async () => {
    // Over AUTO_STATS_BYTES, so its statistics wait for the button.
    await page.getByTestId('open-button').click();
    const dialog = page.getByTestId('file-browser');
    await dialog.locator('[aria-busy="false"] [data-testid="file-browser-entry"]').first().waitFor({ timeout: STEP_MS });
    const folder = dialog.getByLabel('Folder path');
    await folder.fill(models.big);
    // Enter on a model folder's path opens it.
    await folder.press('Enter');
    await page.locator(`[data-testid="checkpoint-card"][data-id=${JSON.stringify(models.big)}]`).waitFor({ timeout: STEP_MS });
    await applyYaml(
      page,
      planYaml({
        slices: [
          { model: models.big, start: 0, end: 4 },
          { model: models.big, start: 1, end: 5 },
        ],
      }),
      8,
    );
    await page.mouse.move(2, 300);
    await expect.poll(() => page.getByTestId('seam-stats-note').textContent(), POLL).toBe('no statistics');
    expect((await page.getByTestId('seam-jump').textContent())?.trim()).toMatch(/^Δ —/);
    // Beside the Δ and inside the picture, not cut at its edge.
    const svgBox = (await page.getByTestId('stack-canvas').boundingBox())!;
    for (const item of [...(await textBoxes(page, '[data-testid="seam-jump"], [data-testid="seam-stats-note"]')), ...(await textBoxes(page, '[data-testid="seam-compute"]'))]) {
      expect(item.left, item.text).toBeGreaterThanOrEqual(svgBox.x);
    }
    // The inspector's overview says why the seam jump is missing, with its own Compute.
    const overviewPrompt = page.locator('#inspector-region [data-testid="statistics-prompt"]');
    await expect.poll(() => overviewPrompt.textContent(), POLL).toMatch(/Seam jump: statistics of big-5 not computed yet/);
    // A layer's figures: the same sentence where the numbers would be.
    await page.locator('[data-testid="output-layer"][data-index="2"]').click();
    await page.mouse.move(2, 300);
    await shot('statistics-missing-layer-1280x800');
    await expect.poll(() => overviewPrompt.textContent(), POLL).toMatch(/L2, RMS and max of layer 2: statistics of big-5 not computed yet/);
    await page.getByTestId('tab-norms').click();
    expect(await page.locator('#views-region [data-testid="statistics-prompt"]').textContent()).toMatch(/not computed yet/);
    await shot('statistics-missing-1280x800');
    // Compute beside the seam Δ (keyboard: focus and Enter) runs the job; the numbers arrive everywhere.
    await page.getByTestId('seam-compute').focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByTestId('seam-jump').textContent(), { timeout: 60_000 }).toMatch(/Δ\s*[\d.]+\s*%/);
    await expect.poll(() => page.getByTestId('statistics-prompt').count(), POLL).toBe(0);
    const l2 = await page.locator('#inspector-region tbody td.number').first().textContent();
    expect(l2?.trim()).toMatch(/^\d/);
    await shot('statistics-computed-1280x800');
  });
});
