/**
 * The stack canvas at the sizes people work with (issue 10), in Chromium against serve mode, at
 * 1280×800 and 1920×1080: a 32-layer Mistral-shaped model (SOLAR DUS → 48), three 12-layer sources
 * of which one does not fit the others, and a 137-layer Goliath plan from two 80-layer parents.
 * Every model is written by the project's own writer with a small hidden size, so the files are tiny.
 * After the canvas, the things that must never mislead: a recipe's repeats are a note, the norm
 * charts draw only the plan's sources, a selection follows its layer, an old export outcome goes.
 */
import path from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goliathPlan, planYaml } from '../bench/goliath-plan.js';
import { e2eSkipRequested } from './browser.js';
import { applyYaml, openStudioPage, SCREENSHOT_DIR, startStudio, STEP_MS, VIEWPORTS, type Box, type StudioUnderTest } from './stack-page.js';

/** Every row has a label element; rows too thin for a number hide it. */
const SHOWN_OUTPUT_LABEL = '[data-testid="output-label"]:not([display="none"])';
const SHOWN_SOURCE_LABEL = '[data-testid="source-label"]:not([display="none"])';
type Model = 'mistral' | 'llamaA' | 'llamaB' | 'odd' | 'goliathX' | 'goliathE';
let studio: StudioUnderTest<Model>;
let tempDir: string;
let models: Record<Model, string>;

function overlapArea(a: Box, b: Box): number {
  return Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) * Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
}

/** Client boxes of every element matching `selector` inside the canvas. */
async function boxes(page: Page, selector: string): Promise<(Box & { id: string })[]> {
  return page.getByTestId('stack-canvas').evaluate((svg, query) => {
    return [...svg.querySelectorAll(query)].map((node) => {
      const rect = node.getBoundingClientRect();
      const id = node.getAttribute('data-model') ?? node.getAttribute('data-index') ?? node.textContent ?? '';
      return { id, left: rect.left, top: rect.top, right: rect.right, bottom: rect.bottom };
    });
  }, selector);
}

/** The y on screen of a layer boundary of a source column: the top edge of that row (bottom of the last). */
async function boundaryY(page: Page, model: string, boundary: number, layerCount: number): Promise<number> {
  const row = page.locator(`[data-testid="source-layer"][data-model="${model}"][data-index="${Math.min(boundary, layerCount - 1)}"]`);
  const box = await row.boundingBox();
  if (!box) throw new Error(`source row ${model}:${boundary} is not on screen`);
  // The rect is inset by half a pixel at the top and a pixel in height.
  return boundary < layerCount ? box.y - 0.5 : box.y + box.height + 0.5;
}

function yamlOf(slices: [string, number, number][]): string {
  return planYaml({ slices: slices.map(([model, start, end]) => ({ model, start, end })) });
}

if (e2eSkipRequested()) console.warn('DUS_SKIP_E2E=1: the Chromium end-to-end tests are skipped.');

describe.skipIf(e2eSkipRequested())('the stack canvas at real scale', () => {
  beforeAll(async () => {
    const llama = { architecture: 'LlamaForCausalLM', modelType: 'llama' } as const;
    const goliath = { layers: 80, hidden: 8, intermediate: 16, vocab: 32, heads: 2, kvHeads: 1, ...llama } as const;
    studio = await startStudio('dus-scale-', {
      mistral: { folder: 'mistral-32', layers: 32, hidden: 16, intermediate: 32, vocab: 64, seed: 3 },
      llamaA: { folder: 'llama-a', layers: 12, hidden: 16, intermediate: 32, vocab: 64, seed: 4, ...llama },
      llamaB: { folder: 'llama-b', layers: 12, hidden: 16, intermediate: 32, vocab: 64, seed: 5, ...llama },
      // Same family, another hidden size: its layers cannot sit between the other two's.
      odd: { folder: 'odd-hidden', layers: 12, hidden: 24, intermediate: 48, vocab: 64, seed: 6, ...llama },
      goliathX: { folder: 'xwin-80', seed: 7, ...goliath },
      goliathE: { folder: 'euryale-80', seed: 8, ...goliath },
    });
    ({ tempDir, models } = studio);
  }, 120_000);

  afterAll(async () => {
    await studio?.close();
  });

  for (const viewport of VIEWPORTS) {
    const size = `${viewport.width}x${viewport.height}`;
    describe(`at ${size}`, () => {
      let context: BrowserContext;
      let page: Page;
      const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOT_DIR, `scale-${name}-${size}.png`) });

      beforeAll(async () => {
        ({ context, page } = await openStudioPage(studio, viewport, 47));
      }, 60_000);

      afterAll(async () => {
        await context?.close();
      });

      it('numbers every layer of both columns of a 32 → 48 SOLAR plan, on scales of their own', async () => {
        await shot('solar-48');
        await expect.poll(() => page.locator(SHOWN_OUTPUT_LABEL).count()).toBe(48);
        expect(await page.locator(SHOWN_SOURCE_LABEL).count()).toBe(32);
        const outputRows = await boxes(page, '[data-testid="output-layer"] rect:first-child');
        const sourceRows = await boxes(page, '[data-testid="source-layer"]');
        // The 32-layer source is drawn at its own scale: its rows are taller than the output's.
        expect(sourceRows[0]!.bottom - sourceRows[0]!.top).toBeGreaterThan(outputRows[0]!.bottom - outputRows[0]!.top + 2);
        // Every number lies inside its row (it does not spill onto its neighbours).
        const labels = await boxes(page, SHOWN_OUTPUT_LABEL);
        for (const [index, label] of labels.entries()) {
          const row = outputRows[index]!;
          expect(label.top).toBeGreaterThanOrEqual(row.top - 1.5);
          expect(label.bottom).toBeLessThanOrEqual(row.bottom + 1.5);
        }
        // Nothing scrolls sideways.
        const overflow = await page.getByTestId('stack-canvas').evaluate((svg) => svg.parentElement!.scrollWidth - svg.parentElement!.clientWidth);
        expect(overflow).toBe(0);
        await shot('solar-48');
      });

      it('shows the two DUS copies, the overlap and the seam apart', async () => {
        const copies = await page.getByTestId('output-layer').evaluateAll((nodes) => nodes.map((node) => Number(node.getAttribute('data-copy'))));
        expect(copies).toEqual([...Array<number>(24).fill(1), ...Array<number>(24).fill(2)]);
        const fills = await page.getByTestId('output-layer').evaluateAll((nodes) => nodes.map((node) => node.querySelector('rect')!.getAttribute('fill')));
        expect(fills[0]).not.toBe(fills[24]);
        expect(await page.getByTestId('copy-bracket').evaluateAll((nodes) => nodes.map((node) => node.textContent?.trim()))).toEqual([
          expect.stringMatching(/^copy 1 · 0–23/),
          expect.stringMatching(/^copy 2 · 8–31/),
        ]);
        expect(await page.getByTestId('seam-label').textContent()).toBe('seam 23→8');
        // Overlap shaded on the source (8–23) and on both output runs that copy it.
        expect(await page.locator('[data-testid="overlap-region"][data-model="output"]').count()).toBe(2);
        expect(await page.getByTestId('cut-region').count()).toBe(0);
      });

      it('keeps the source rows still under a dragged handle and rescales the output on release', async () => {
        const handle = page.getByTestId('splice-handle-a');
        const start = Number(await handle.getAttribute('data-layer'));
        expect(start).toBe(24);
        const sourceBefore = await boxes(page, `[data-testid="source-layer"]`);
        const outputRowBefore = (await boxes(page, '[data-testid="output-layer"] rect:first-child'))[0]!;
        const box = (await handle.boundingBox())!;
        const x = box.x + box.width / 2;
        await page.mouse.move(x, box.y + box.height / 2);
        await page.mouse.down();
        // Layer for layer: at each boundary's y the handle shows that boundary, and no source row moved.
        let during: Box | undefined;
        try {
          for (const target of [25, 26, 27, 28, 29, 30, 31, 32]) {
          await page.mouse.move(x, await boundaryY(page, models.mistral, target, 32), { steps: 2 });
          expect(Number(await handle.getAttribute('data-layer'))).toBe(target);
          const handleBox = (await handle.boundingBox())!;
          expect(Math.abs(handleBox.y + handleBox.height / 2 - (await boundaryY(page, models.mistral, target, 32)))).toBeLessThanOrEqual(1.5);
        }
          expect(await boxes(page, `[data-testid="source-layer"]`)).toEqual(sourceBefore);
          // While the drag is open the output rows keep their height (the column grows instead).
          during = (await boxes(page, '[data-testid="output-layer"] rect:first-child'))[0]!;
          expect(during.bottom - during.top).toBeCloseTo(outputRowBefore.bottom - outputRowBefore.top, 1);
        } finally {
          await page.mouse.up();
        }
        await expect.poll(() => page.getByTestId('output-layer').count()).toBe(56);
        const after = (await boxes(page, '[data-testid="output-layer"] rect:first-child'))[0]!;
        expect(after.bottom - after.top).toBeLessThan(during!.bottom - during!.top);
        await shot('solar-dragged');
        // Back to the SOLAR plan for the next steps.
        await page.keyboard.press('ControlOrMeta+z');
        await expect.poll(() => page.getByTestId('output-layer').count()).toBe(48);
      });

      it("lists a recipe's repeated layers as a note, not a problem: no red anywhere", async () => {
        await page.getByTestId('tab-problems').click();
        await expect.poll(() => page.getByTestId('tab-problems').textContent()).toMatch(/Problems \(0\)/);
        const items = page.getByTestId('problem-item');
        expect(await items.evaluateAll((nodes) => nodes.map((node) => `${node.getAttribute('data-code')}:${node.classList.contains('info') ? 'info' : 'other'}`))).toEqual([
          'LayerRepeated:info',
        ]);
        expect(await page.getByText('No problems: the plan is valid.').count()).toBe(1);
        expect(await page.locator('li.problem').count()).toBe(0);
        await shot('solar-note');
      });

      it("draws only the plan's sources in the weight-norm charts, with a legend naming them", async () => {
        await page.getByTestId('tab-norms').click();
        await page.getByTestId('norm-chart').first().waitFor();
        // Five other checkpoints are open; only mistral-32 is in the plan.
        const drawn = new Set(await page.getByTestId('source-line').evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-model'))));
        expect([...drawn]).toEqual([models.mistral]);
        expect(await page.getByTestId('norm-legend-source').evaluateAll((nodes) => nodes.map((node) => node.textContent?.trim()))).toEqual(['mistral-32']);
        // Tick labels ("←31" under "47") never touch their neighbours.
        const ticks = await page
          .getByTestId('norm-chart')
          .first()
          .locator('.source-tick')
          .evaluateAll((nodes) => nodes.map((node) => node.getBoundingClientRect()).map((rect) => ({ left: rect.left, right: rect.right })));
        expect(ticks.length).toBeGreaterThanOrEqual(4);
        for (let index = 1; index < ticks.length; index++) expect(ticks[index]!.left).toBeGreaterThan(ticks[index - 1]!.right);
        await shot('norms-plan-sources');
      });

      it('follows the selected output layer through a plan change instead of showing another source layer', async () => {
        // Output 30 copies source layer 14 (copy 2 starts at output 24 with layer 8).
        await page.locator('[data-testid="output-layer"][data-index="30"]').click();
        const origin = page.locator('.inspector .origin');
        await expect.poll(() => origin.textContent()).toMatch(/layer\s*14\b/);
        // A one layer earlier: copy 2 now starts at output 23, so layer 14 is output 29.
        await page.getByTestId('splice-handle-a').focus();
        await page.keyboard.press('ArrowUp');
        await expect.poll(() => page.getByTestId('output-layer').count()).toBe(47);
        await expect.poll(() => page.locator('.inspector .title').textContent()).toMatch(/Output layer\s*29/);
        expect(await origin.textContent()).toMatch(/layer\s*14\b/);
        await page.mouse.move(2, 2);
        await shot('selection-follows');
        await page.keyboard.press('ControlOrMeta+z');
        await expect.poll(() => page.getByTestId('output-layer').count()).toBe(48);
        await page.locator('[data-testid="output-layer"][data-index="30"]').click();
      });

      it("clears the export pane's last outcome when the target changes", async () => {
        await page.getByTestId('tab-export').click();
        const target = page.getByTestId('export-target');
        // A folder that holds a checkpoint: the export refuses it.
        await target.fill(models.llamaA);
        await page.getByTestId('export-start').click();
        const alert = page.locator('.export [role="alert"]');
        await alert.first().waitFor({ timeout: STEP_MS });
        expect(await alert.first().textContent()).toMatch(/exist|not empty|replace/i);
        await shot('export-refused');
        await target.fill(path.join(tempDir, 'exports', 'fresh'));
        await expect.poll(() => alert.count()).toBe(0);
      });

      it("fits a slice's range to the model it is moved to, and every count agrees", async () => {
        const select = page.getByRole('combobox', { name: 'Slice 1 model' });
        await select.focus();
        await select.selectOption(models.llamaA);
        // 0–24 on a 12-layer model becomes 0–12: 12 + 24 layers, the same number everywhere.
        await expect.poll(() => page.getByTestId('output-layer').count()).toBe(36);
        await expect.poll(() => page.getByTestId('summary').textContent()).toMatch(/^\s*36 layers/);
        expect(await page.getByTestId('output-title').textContent()).toMatch(/Output · 36/);
        await page.getByTestId('tab-yaml').click();
        await expect.poll(() => page.getByTestId('yaml-editor').inputValue()).toContain('layer_range: [0, 12]');
        await shot('slice-model-changed');
        await page.getByTestId('stack-canvas').click({ position: { x: 2, y: 2 } });
        await page.keyboard.press('ControlOrMeta+z');
        await expect.poll(() => page.getByTestId('output-layer').count()).toBe(48);
      });

      it('lays three sources out without overlap or sideways scrolling and marks the rows that do not fit', async () => {
        await applyYaml(
          page,
          yamlOf([
            [models.llamaA, 0, 4],
            [models.llamaB, 4, 8],
            [models.odd, 4, 8],
            [models.llamaA, 8, 12],
          ]),
          16,
        );
        await page.getByTestId('tab-problems').click();
        await page.getByTestId('invalid-row').first().waitFor({ timeout: STEP_MS });
        await shot('three-sources');
        const invalid = await page.getByTestId('invalid-row').evaluateAll((nodes) => nodes.map((node) => Number(node.getAttribute('data-index'))));
        expect(invalid).toEqual([8, 9, 10, 11]);
        const canvas = page.getByTestId('stack-canvas');
        expect(await canvas.evaluate((svg) => svg.parentElement!.scrollWidth - svg.parentElement!.clientWidth)).toBe(0);
        const panel = await canvas.evaluate((svg) => {
          const rect = svg.parentElement!.getBoundingClientRect();
          return { left: rect.left, right: rect.right };
        });
        // Columns (with their titles) never overlap one another; handles and titles stay inside the panel.
        const columns = new Map<string, Box>();
        for (const row of await boxes(page, '[data-testid="source-layer"]')) {
          const column = columns.get(row.id);
          columns.set(row.id, column ? { left: Math.min(column.left, row.left), top: Math.min(column.top, row.top), right: Math.max(column.right, row.right), bottom: Math.max(column.bottom, row.bottom) } : row);
        }
        const output = await boxes(page, '[data-testid="output-layer"] rect:first-child');
        columns.set('output', { left: output[0]!.left, top: output[0]!.top, right: output[0]!.right, bottom: output.at(-1)!.bottom });
        expect(columns.size).toBe(4);
        const list = [...columns.values()];
        for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) expect(overlapArea(list[i]!, list[j]!)).toBe(0);
        for (const item of [...(await boxes(page, '[data-testid="column-title"]')), ...(await boxes(page, '.handle rect'))]) {
          expect(item.left).toBeGreaterThanOrEqual(panel.left - 0.5);
          expect(item.right).toBeLessThanOrEqual(panel.right + 0.5);
          for (const [id, column] of columns) if (id !== 'output') expect(overlapArea(item, column)).toBe(0);
        }
      });

      it('draws a 137-layer Goliath plan as an overview with a magnified band that follows the pointer', async () => {
        await applyYaml(page, planYaml(goliathPlan(models.goliathX, models.goliathE)), 137);
        const canvas = page.getByTestId('stack-canvas');
        expect(await canvas.getAttribute('data-banded')).toBe('true');
        // Near the first seam (after output 15) every row carries its number.
        const labelled = async () => new Set(await page.locator(SHOWN_OUTPUT_LABEL).evaluateAll((nodes) => nodes.map((node) => Number(node.parentElement!.getAttribute('data-index')))));
        for (const index of [12, 13, 14, 15, 16, 17, 18]) expect((await labelled()).has(index)).toBe(true);
        expect((await labelled()).has(101)).toBe(false);
        // Pointing at a thin row magnifies the rows around it; the band then stays put under the pointer.
        const row = page.locator('[data-testid="output-layer"][data-index="101"] rect').first();
        const box = (await row.boundingBox())!;
        expect(box.height).toBeLessThan(6);
        await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
        await expect.poll(async () => (await labelled()).has(101)).toBe(true);
        const magnified = (await row.boundingBox())!;
        expect(magnified.height).toBeGreaterThanOrEqual(10);
        await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2 + 2);
        const still = (await row.boundingBox())!;
        // (within the highlight's stroke, which the box includes once the row is hovered)
        expect(Math.abs(still.y - magnified.y)).toBeLessThanOrEqual(1);
        // Each parent keeps its own scale: 80 rows, not the output's 137.
        expect(await page.getByTestId('source-layer').count()).toBe(160);
        expect(await page.getByTestId('column-title').evaluateAll((nodes) => nodes.map((node) => node.textContent?.trim()))).toEqual([
          expect.stringContaining('· 80'),
          expect.stringContaining('· 80'),
        ]);
        await shot('goliath-137');
      });
    });
  }
});
