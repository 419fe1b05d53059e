/**
 * Editing a plan at real scale (issue 10, "Editing"), in Chromium against serve mode with the mouse
 * and the keyboard: a slice moved to a smaller model, YAML problems at their lines, recipes named
 * from YAML, a recipe that replaces a hand-built plan, and opening checkpoints with visible feedback.
 * The models are written by the project's own writer (tiny hidden size); two of them are not opened
 * at start and wait in a library folder for the Open dialog.
 */
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planYaml } from '../bench/goliath-plan.js';
import { e2eSkipRequested } from './browser.js';
import { applyYaml, openStudioPage, SCREENSHOT_DIR, startStudio, STEP_MS, VIEWPORTS, type Box, type StudioUnderTest } from './stack-page.js';

/** expect.poll's default (1 s) is short for a page on a busy shared machine. */
const POLL = { timeout: STEP_MS };

type Model = 'mistral' | 'llama' | 'extraA' | 'extraB';
let models: Record<Model, string>;

function yamlOf(slices: [string, number, number][]): string {
  return planYaml({ slices: slices.map(([model, start, end]) => ({ model, start, end })) });
}

function overlaps(a: Box, b: Box): boolean {
  return Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5;
}

if (e2eSkipRequested()) console.warn('DUS_SKIP_E2E=1: the Chromium end-to-end tests are skipped.');

describe.skipIf(e2eSkipRequested())('editing a plan at real scale', () => {
  let context: BrowserContext;
  let page: Page;
  let studio: StudioUnderTest<Model>;
  const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOT_DIR, `editing-${name}.png`) });
  const summary = () => page.getByTestId('summary').textContent();
  const outputCount = () => page.getByTestId('output-layer').count();
  const editorText = () => page.getByTestId('yaml-editor').inputValue();
  const boxOf = async (selector: string): Promise<Box> => {
    const box = await page.locator(selector).first().boundingBox();
    if (!box) throw new Error(`${selector} is not on screen`);
    return { left: box.x, top: box.y, right: box.x + box.width, bottom: box.y + box.height };
  };
  /** The 1-based line of the YAML editor's text that contains `text`. */
  const lineWith = async (text: string) => (await editorText()).split('\n').findIndex((line) => line.includes(text)) + 1;
  const markedLines = () => page.locator('[data-testid="yaml-line"].error').evaluateAll((nodes) => nodes.map((node) => Number(node.getAttribute('data-line'))));

  beforeAll(async () => {
    const small = { hidden: 16, intermediate: 32, vocab: 64 } as const;
    studio = await startStudio('dus-editing-', {
      mistral: { folder: 'mistral-32', layers: 32, seed: 3, ...small },
      llama: { folder: 'small-12', layers: 12, seed: 4, ...small },
      // Not opened at start: they wait in a library folder beside models/ for the Open dialog.
      extraA: { folder: '../library/extra-a', open: false, layers: 8, seed: 5, ...small },
      extraB: { folder: '../library/extra-b', open: false, layers: 8, seed: 6, ...small },
    });
    models = studio.models;
    ({ context, page } = await openStudioPage(studio, VIEWPORTS[0], 47));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await studio?.close();
  });

  it("fits a slice's range to the smaller model it is moved to: its row, the toolbar, the canvas and the YAML header agree", async () => {
    const select = page.getByRole('combobox', { name: 'Slice 1 model' });
    await select.focus();
    await select.selectOption(models.llama);
    // 0–24 on a 12-layer model becomes 0–12: 12 + 24 = 36 layers, the same number everywhere.
    await expect.poll(outputCount, POLL).toBe(36);
    await expect.poll(summary, POLL).toMatch(/^\s*36 layers/);
    const rows = await page.getByTestId('slice-length').allTextContents();
    expect(rows.map((row) => row.trim())).toEqual(['12 L', '24 L']);
    expect(await page.getByTestId('output-title').textContent()).toMatch(/Output · 36/);
    await page.getByTestId('tab-yaml').click();
    await expect.poll(editorText, POLL).toContain('36 output layers');
    expect(await editorText()).toContain('layer_range: [0, 12]');
    expect(await page.getByTestId('tab-problems').textContent()).toMatch(/Problems \(0\)/);
    await shot('slice-model-changed-1280x800');
    await page.getByTestId('stack-canvas').click({ position: { x: 2, y: 2 } });
    await page.keyboard.press('ControlOrMeta+z');
    await expect.poll(outputCount, POLL).toBe(48);
  });

  it('marks layer_range [10, 40] of a 32-layer model at its line in the YAML editor, and Problems leads there', async () => {
    await applyYaml(page, yamlOf([[models.mistral, 0, 24], [models.mistral, 10, 40]]), 46);
    // The row says how many of the asked layers the model has; the rows add up to the toolbar's count.
    await expect.poll(() => page.getByTestId('slice-length').allTextContents(), POLL).toEqual(['24 L', '22 of 30 L']);
    await expect.poll(summary, POLL).toMatch(/^\s*46 layers/);
    await expect.poll(editorText, POLL).toContain('layer_range: [10, 40]');
    expect(await editorText()).toContain('46 output layers');
    const line = await lineWith('layer_range: [10, 40]');
    await expect.poll(markedLines, POLL).toEqual([line]);
    const listed = page.locator(`[data-testid="yaml-problem"][data-line="${line}"]`);
    expect(await listed.textContent()).toMatch(/layer|range/i);
    expect(await page.getByTestId('yaml-editor').getAttribute('aria-invalid')).toBe('true');
    await shot('yaml-range-outside-model-1280x800');

    await page.getByTestId('tab-problems').click();
    const problem = page.locator('[data-testid="problem-item"][data-code="RangeOutsideModel"]');
    expect(await problem.textContent()).toContain(`YAML line ${line}`);
    await shot('problems-name-yaml-line-1280x800');
    await problem.click();
    await expect.poll(() => page.getByTestId('tab-yaml').getAttribute('aria-selected'), POLL).toBe('true');
    const selected = () => page.getByTestId('yaml-editor').evaluate((node) => {
      const area = node as unknown as { value: string; selectionStart: number; selectionEnd: number };
      return area.value.slice(area.selectionStart, area.selectionEnd);
    });
    await expect.poll(selected, POLL).toBe('        layer_range: [10, 40]');
  });

  it('shows an unclosed [ on line 11 at line 11, and keeps the plan', async () => {
    const text = [
      'merge_method: passthrough',
      'slices:',
      '  - sources:',
      `      - model: ${models.mistral}`,
      '        layer_range: [0, 8]',
      '  - sources:',
      `      - model: ${models.mistral}`,
      '        layer_range: [8, 16]',
      '  - sources:',
      `      - model: ${models.mistral}`,
      '        layer_range: [16, 24',
      '  - sources:',
      `      - model: ${models.mistral}`,
      '        layer_range: [24, 32]',
    ].join('\n');
    const before = await outputCount();
    const editor = page.getByTestId('yaml-editor');
    await editor.click();
    await editor.fill(text);
    await page.keyboard.press('Control+Enter');
    await expect.poll(markedLines, POLL).toEqual([11]);
    expect(await page.locator('[data-testid="yaml-problem"]').first().textContent()).toContain('Line 11');
    expect(await outputCount()).toBe(before);
    await shot('yaml-unclosed-bracket-1280x800');
    await page.getByRole('button', { name: 'Reset' }).click();
  });

  it('names the recipe of YAML identical to a SOLAR plan, and leaves a near miss Custom', async () => {
    const recipe = page.getByTestId('recipe-select');
    await applyYaml(page, yamlOf([[models.mistral, 0, 24], [models.mistral, 8, 31]]), 47);
    await expect.poll(() => recipe.inputValue(), POLL).toBe('custom');
    await applyYaml(page, yamlOf([[models.mistral, 0, 24], [models.mistral, 8, 32]]), 48);
    await expect.poll(() => recipe.inputValue(), POLL).toBe('dus');
    expect(await page.getByTestId('drop-input').inputValue()).toBe('8');
    expect(await page.locator('#plan-heading + .kind').textContent()).toMatch(/SOLAR depth up-scaling · mistral-32/);
    await shot('yaml-recognised-solar-1280x800');
  });

  it("shows a recognised recipe's own numbers in the panel: an interleave's window and overlap, SOLAR's m, and rebuilds from them", async () => {
    const recipe = page.getByTestId('recipe-select');
    const value = (testId: string) => page.getByTestId(testId).inputValue();
    // Interleave of mistral-32 and small-12, window 6, overlap 2: M[0,6) L[4,10) M[8,14) → 18 layers.
    await applyYaml(page, yamlOf([[models.mistral, 0, 6], [models.llama, 4, 10], [models.mistral, 8, 14]]), 18);
    await expect.poll(() => recipe.inputValue(), POLL).toBe('interleave');
    await expect.poll(() => value('interleave-window'), POLL).toBe('6');
    expect(await value('interleave-overlap')).toBe('2');
    expect(await value('recipe-model')).toBe(models.mistral);
    await expect.poll(editorText, POLL).toContain('18 output layers');
    await page.getByTestId('interleave-window').scrollIntoViewIfNeeded();
    await shot('yaml-recognised-interleave-1280x800');
    // Overlap 3 on the plan's own models and window: M[0,6) L[3,9) M[6,12) L[9,12) M[12,18) → 27 layers.
    await page.getByTestId('interleave-overlap').fill('3');
    await page.getByRole('button', { name: 'Rebuild' }).click();
    await expect.poll(outputCount, POLL).toBe(27);
    expect(await value('interleave-window')).toBe('6');
    expect(await value('interleave-overlap')).toBe('3');

    // SOLAR DUS with m = 5 (the default for 32 layers is 8): 2 × 27 = 54 layers.
    await applyYaml(page, yamlOf([[models.mistral, 0, 27], [models.mistral, 5, 32]]), 54);
    await expect.poll(() => recipe.inputValue(), POLL).toBe('dus');
    await expect.poll(() => value('drop-input'), POLL).toBe('5');
    expect(await value('splice-a-input')).toBe('27');
    expect(await value('splice-b-input')).toBe('5');
    expect(await value('recipe-model')).toBe(models.mistral);
    await expect.poll(editorText, POLL).toContain('54 output layers');
    await page.getByTestId('drop-input').scrollIntoViewIfNeeded();
    await shot('yaml-recognised-solar-m5-1280x800');
  });

  it('says a recipe replaced a hand-built 5-slice plan, Undo brings it back, and recipes build on the picked model', async () => {
    const handBuilt = yamlOf([
      [models.mistral, 0, 8],
      [models.mistral, 4, 12],
      [models.mistral, 8, 16],
      [models.mistral, 12, 24],
      [models.mistral, 16, 32],
    ]);
    await applyYaml(page, handBuilt, 52);
    const recipe = page.getByTestId('recipe-select');
    expect(await recipe.inputValue()).toBe('custom');
    await recipe.selectOption('stack');
    await expect.poll(outputCount, POLL).toBe(64);
    const notice = page.getByTestId('notice').filter({ hasText: 'Replaced your 5-slice plan' });
    await expect.poll(() => notice.textContent(), POLL).toMatch(/Replaced your 5-slice plan with stacked copies\.\s*Undo/);
    // The notice never covers the YAML editor's text, at either size.
    for (const viewport of VIEWPORTS) {
      await page.setViewportSize(viewport);
      const noticeBox = await boxOf('[data-testid="notice"]');
      expect(overlaps(noticeBox, await boxOf('[data-testid="yaml-editor"]'))).toBe(false);
      expect(overlaps(noticeBox, await boxOf('[data-testid="stack-canvas"]'))).toBe(false);
      await shot(`recipe-replaced-plan-${viewport.width}x${viewport.height}`);
    }
    await page.setViewportSize(VIEWPORTS[0]);

    await notice.getByRole('button', { name: 'Undo' }).click();
    await expect.poll(outputCount, POLL).toBe(52);
    expect(await recipe.inputValue()).toBe('custom');
    await expect.poll(editorText, POLL).toContain('layer_range: [12, 24]');
    await expect.poll(() => notice.count(), POLL).toBe(0);

    // The model picker: for a custom plan it waits for the next recipe, which is then built on it.
    const modelPicker = page.getByTestId('recipe-model');
    await modelPicker.selectOption(models.llama);
    expect(await outputCount()).toBe(52);
    expect(await modelPicker.inputValue()).toBe(models.llama);
    await recipe.selectOption('dus');
    // SOLAR DUS on 12 layers drops 3 from each copy: 2 × 9.
    await expect.poll(outputCount, POLL).toBe(18);
    await expect.poll(() => page.getByTestId('notice').filter({ hasText: 'Replaced your 5-slice plan with SOLAR DUS' }).count(), POLL).toBe(1);
    // With a recipe in use, picking another model rebuilds it there.
    await modelPicker.selectOption(models.mistral);
    await expect.poll(outputCount, POLL).toBe(48);
    expect(await recipe.inputValue()).toBe('dus');
    await shot('recipe-model-picked-1280x800');
  });

  it('opens a typed model path on Enter, shows the new card and a notice, and the next Open starts in that folder', async () => {
    const tempDir = studio.tempDir;
    const folderField = () => page.getByTestId('file-browser').getByLabel('Folder path');
    await page.getByTestId('open-button').click();
    await expect.poll(() => folderField().inputValue(), POLL).toBe(tempDir);
    await folderField().fill(models.extraA);
    await folderField().press('Enter');
    await expect.poll(() => page.getByTestId('file-browser').count(), POLL).toBe(0);
    const cardA = page.locator(`[data-testid="checkpoint-card"][data-id=${JSON.stringify(models.extraA)}]`);
    await expect.poll(() => cardA.getAttribute('data-just-opened'), POLL).toBe('true');
    // Scrolled into view inside the sidebar, which holds three cards, the plan and the slices.
    const sidebar = await boxOf('[data-testid="sidebar"]');
    await expect.poll(async () => {
      const card = await cardA.boundingBox();
      return card !== null && card.y >= sidebar.top - 1 && card.y + card.height <= sidebar.bottom + 1;
    }, POLL).toBe(true);
    const opened = page.getByTestId('notice').filter({ hasText: 'Opened extra-a' });
    await expect.poll(() => opened.textContent(), POLL).toMatch(/Opened extra-a: 8 layers, .*the plan is unchanged/);
    await shot('checkpoint-opened-1280x800');

    await page.getByTestId('open-button').click();
    await expect.poll(() => folderField().inputValue(), POLL).toBe(path.dirname(models.extraA));
    await page.getByTestId('file-browser').locator('[data-testid="file-browser-entry"]', { hasText: 'extra-b' }).click();
    const cardB = page.locator(`[data-testid="checkpoint-card"][data-id=${JSON.stringify(models.extraB)}]`);
    await expect.poll(() => cardB.getAttribute('data-just-opened'), POLL).toBe('true');
    expect(await cardA.getAttribute('data-just-opened')).toBeNull();
    const openedB = page.getByTestId('notice').filter({ hasText: 'Opened extra-b' });
    await openedB.getByRole('button', { name: 'Build SOLAR DUS on extra-b' }).click();
    // 8 layers, 2 dropped from each copy: 12, and the canvas shows it.
    await expect.poll(outputCount, POLL).toBe(12);
    // The recipe's model picker follows the model the recipe now builds on.
    expect(await page.getByTestId('recipe-model').inputValue()).toBe(models.extraB);
    expect(await page.getByTestId('source-layer').evaluateAll((nodes) => [...new Set(nodes.map((node) => node.getAttribute('data-model')))])).toEqual([models.extraB]);
    await shot('checkpoint-opened-built-1280x800');
  });
});
