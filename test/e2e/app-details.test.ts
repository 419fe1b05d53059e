/**
 * Details of the window at real scale (issue 10) that the canvas and layout tests leave open, in
 * Chromium against serve mode: the first screen while `--open` loads, a toolbar on one line from
 * 1920 down to 800 px, a LLaMA-Pro plan without red, model colours apart from the error/seam red in
 * light and dark, the stack canvas in the dark theme, and similarity matrices of 48, 80 and 137
 * layers whose axes are never cut.
 */
import path from 'node:path';
import { lab } from 'd3';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goliathPlan, planYaml } from '../bench/goliath-plan.js';
import { e2eSkipRequested } from './browser.js';
import { applyYaml, collisions, SCREENSHOT_DIR, startStudio, STEP_MS, textBoxes, type Box, type StudioUnderTest, type TextBox } from './stack-page.js';

const POLL = { timeout: STEP_MS };
const SHOWN_OUTPUT_LABEL = '[data-testid="output-label"]:not([display="none"])';
const SHOWN_SOURCE_LABEL = '[data-testid="source-label"]:not([display="none"])';
const LLAMA = { architecture: 'LlamaForCausalLM', modelType: 'llama' } as const;
const TINY = { hidden: 8, intermediate: 16, vocab: 32, heads: 2, kvHeads: 1, ...LLAMA } as const;
/** Colours closer than this (CIELAB ΔE 1976) read as the same hue family; the nearest model tone to red is ~35 away. */
const MIN_DISTANCE_FROM_RED = 30;

/** Records, from the page's first script on, whether the canvas ever showed its empty or its loading state. */
const STACK_STATE_RECORDER = `
  window.__stackStates = { empty: false, loading: false };
  new MutationObserver(() => {
    if (document.querySelector('[data-testid="stack-empty"]')) window.__stackStates.empty = true;
    if (document.querySelector('[data-testid="stack-loading"]')) window.__stackStates.loading = true;
  }).observe(document, { childList: true, subtree: true });
`;

type Model = 'mistral' | 'llamaA' | 'llamaB' | 'odd' | 'xwin' | 'euryale' | 'deep48' | 'deep137';
let studio: StudioUnderTest<Model>;

function colourDistance(a: string, b: string): number {
  const x = lab(a);
  const y = lab(b);
  return Math.hypot(x.l - y.l, x.a - y.a, x.b - y.b);
}

/** The items that lie outside `inner` by more than half a pixel. */
function outside(items: TextBox[], inner: Box): string[] {
  return items
    .filter((item) => item.left < inner.left - 0.5 || item.right > inner.right + 0.5 || item.top < inner.top - 0.5 || item.bottom > inner.bottom + 0.5)
    .map((item) => `${item.text} [${item.left.toFixed(1)}, ${item.top.toFixed(1)} – ${item.right.toFixed(1)}, ${item.bottom.toFixed(1)}] not in [${inner.left.toFixed(1)}, ${inner.top.toFixed(1)} – ${inner.right.toFixed(1)}, ${inner.bottom.toFixed(1)}]`);
}

/** The error and seam colours the page draws with (computed from its CSS variables). */
async function alarmColours(page: Page): Promise<string[]> {
  return page.getByTestId('stack-canvas').evaluate((svg) => {
    const style = svg.ownerDocument.defaultView!.getComputedStyle(svg);
    return ['--error', '--seam'].map((name) => style.getPropertyValue(name).trim());
  });
}

/** The fills (as computed) of every source and output row on the canvas. */
async function rowFills(page: Page): Promise<string[]> {
  return page
    .locator('[data-testid="source-layer"], [data-testid="output-layer"] rect:first-child')
    .evaluateAll((nodes) => [...new Set(nodes.map((node) => node.ownerDocument.defaultView!.getComputedStyle(node).fill))]);
}

if (e2eSkipRequested()) console.warn('DUS_SKIP_E2E=1: the Chromium end-to-end tests are skipped.');

describe.skipIf(e2eSkipRequested())('details of the window at real scale', () => {
  let context: BrowserContext;
  let page: Page;
  const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOT_DIR, `details-${name}.png`) });

  beforeAll(async () => {
    studio = await startStudio('dus-details-', {
      // Opened first: the default plan is its SOLAR DUS (32 → 48).
      mistral: { layers: 32, hidden: 16, intermediate: 32, vocab: 64, seed: 3 },
      llamaA: { layers: 12, hidden: 16, intermediate: 32, vocab: 64, seed: 4, ...LLAMA },
      llamaB: { layers: 12, hidden: 16, intermediate: 32, vocab: 64, seed: 5, ...LLAMA },
      // Another hidden size: its layers cannot sit between the other two's.
      odd: { layers: 12, hidden: 24, intermediate: 48, vocab: 64, seed: 6, ...LLAMA },
      xwin: { layers: 80, seed: 7, ...TINY },
      euryale: { layers: 80, seed: 8, ...TINY },
      deep48: { layers: 48, seed: 9, ...TINY },
      deep137: { layers: 137, seed: 10, ...TINY },
    });
    context = await studio.browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    await context.addInitScript({ content: STACK_STATE_RECORDER });
    page = await context.newPage();
    await page.goto(studio.server.url);
    await page.locator('[data-testid="output-layer"][data-index="47"]').waitFor({ timeout: 60_000 });
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await studio?.close();
  });

  it('shows "Opening checkpoints…" while --open loads, never "No plan yet"', async () => {
    const states = (await page.evaluate('window.__stackStates')) as { empty: boolean; loading: boolean };
    expect(states).toEqual({ empty: false, loading: true });
    expect(await page.getByTestId('stack-empty').count()).toBe(0);
  });

  /** The toolbar's controls, each by its accessible name, all on one line inside the window. */
  async function checkToolbarOnOneLine(name: string, width: number): Promise<void> {
    const toolbar = page.getByRole('banner');
    const bar = (await toolbar.boundingBox())!;
    const controls = [
      toolbar.getByRole('button', { name: 'Open…' }),
      toolbar.getByRole('combobox', { name: 'Recipe', exact: true }),
      toolbar.getByRole('combobox', { name: 'Model the recipe builds on' }),
      toolbar.getByRole('button', { name: 'Undo' }),
      toolbar.getByRole('button', { name: 'Redo' }),
      toolbar.getByTestId('summary'),
      toolbar.getByRole('button', { name: 'Export…' }),
      toolbar.getByRole('button', { name: /Switch to (light|dark) theme/ }),
    ];
    const boxes = await Promise.all(controls.map(async (control) => (await control.boundingBox())!));
    // One line: every control's vertical middle within the first line's band, none outside the window.
    const middle = boxes[0]!.y + boxes[0]!.height / 2;
    for (const [index, box] of boxes.entries()) {
      expect(Math.abs(box.y + box.height / 2 - middle), `${name}: control ${index}`).toBeLessThanOrEqual(4);
      expect(box.x + box.width, `${name}: control ${index}`).toBeLessThanOrEqual(width);
    }
    expect(bar.height, name).toBeLessThanOrEqual(48);
    expect(await toolbar.evaluate((node) => node.scrollWidth - node.clientWidth)).toBe(0);
  }

  it('keeps the toolbar on one line from 1920 down to 800 px, errors shown, and usable at 1024×700', async () => {
    for (const size of [
      { width: 1920, height: 1080 },
      { width: 1280, height: 800 },
      { width: 1024, height: 700 },
      { width: 800, height: 600 },
    ]) {
      await page.setViewportSize(size);
      await checkToolbarOnOneLine(`${size.width}x${size.height}`, size.width);
      if (size.width === 800) await shot('toolbar-800x600');
    }
    // A plan with an error adds the "1 error" button: still one line at 800 px.
    await applyYaml(page, planYaml({ slices: [{ model: studio.models.llamaA, start: 0, end: 6 }, { model: studio.models.odd, start: 6, end: 12 }] }), 12);
    await page.getByTestId('stack-canvas').click({ position: { x: 2, y: 2 } });
    const errors = page.getByRole('button', { name: /^\d+ errors?$/ });
    await errors.waitFor({ timeout: STEP_MS });
    await checkToolbarOnOneLine('800x600 with errors', 800);
    const errorBox = (await errors.boundingBox())!;
    expect(errorBox.x + errorBox.width).toBeLessThanOrEqual(800);
    await shot('toolbar-errors-800x600');
    // At 1024×700 the toolbar works from the keyboard and mouse: the errors button opens Problems.
    await page.setViewportSize({ width: 1024, height: 700 });
    await errors.click();
    await expect.poll(() => page.getByTestId('tab-problems').getAttribute('aria-selected'), POLL).toBe('true');
    await page.getByRole('button', { name: 'Undo' }).click();
    await expect.poll(() => page.getByTestId('output-layer').count(), POLL).toBe(48);
    await checkToolbarOnOneLine('1024x700', 1024);
    await shot('toolbar-1024x700');
  });

  it('treats the identity copies of a LLaMA-Pro plan as notes: no red on the canvas, the slices or the toolbar', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByRole('combobox', { name: 'Recipe', exact: true }).selectOption('llama-pro');
    await expect.poll(() => page.getByTestId('summary').textContent(), POLL).toMatch(/^\s*40 layers/);
    await page.getByTestId('tab-problems').click();
    await expect.poll(() => page.getByTestId('tab-problems').textContent(), POLL).toMatch(/Problems \(0\)/);
    await expect.poll(() => page.getByText('No problems: the plan is valid.').count(), POLL).toBe(1);
    // The slice editor's red border, the canvas's invalid rows.
    expect(await page.locator('li.problem').count()).toBe(0);
    expect(await page.getByTestId('invalid-row').count()).toBe(0);
    expect(await page.getByRole('button', { name: /^\d+ errors?$/ }).count()).toBe(0);
    // Nothing on the canvas is filled or stroked in the error colour.
    const [error] = await alarmColours(page);
    const inError = await page.getByTestId('stack-canvas').evaluate((svg, colour) => {
      const view = svg.ownerDocument.defaultView!;
      const probe = svg.ownerDocument.createElement('span');
      probe.style.color = colour;
      svg.ownerDocument.body.append(probe);
      const rgb = view.getComputedStyle(probe).color;
      probe.remove();
      return [...svg.querySelectorAll('*')].filter((node) => {
        const style = view.getComputedStyle(node);
        return style.stroke === rgb || style.fill === rgb;
      }).length;
    }, error!);
    expect(inError).toBe(0);
    await shot('llama-pro-1280x800');
    await page.getByRole('button', { name: 'Undo' }).click();
    await expect.poll(() => page.getByTestId('output-layer').count(), POLL).toBe(48);
  });

  for (const scheme of ['light', 'dark'] as const) {
    it(`keeps every model colour apart from the error and seam red (${scheme}), three sources and Goliath`, async () => {
      await page.emulateMedia({ colorScheme: scheme });
      for (const size of [
        { width: 1280, height: 800 },
        { width: 1920, height: 1080 },
      ]) {
        await page.setViewportSize(size);
        await applyYaml(
          page,
          planYaml({
            slices: [
              { model: studio.models.llamaA, start: 0, end: 4 },
              { model: studio.models.llamaB, start: 4, end: 8 },
              { model: studio.models.deep48, start: 4, end: 8 },
              { model: studio.models.llamaA, start: 8, end: 12 },
              { model: studio.models.llamaB, start: 0, end: 12 },
            ],
          }),
          28,
        );
        const alarms = await alarmColours(page);
        const fills = await rowFills(page);
        // Three models, two tones each (copy 2 of llama-a/llama-b is darker).
        expect(fills.length).toBeGreaterThanOrEqual(4);
        for (const fill of fills) for (const alarm of alarms) expect(colourDistance(fill, alarm), `${fill} vs ${alarm}`).toBeGreaterThanOrEqual(MIN_DISTANCE_FROM_RED);
        await shot(`colours-${scheme}-${size.width}x${size.height}`);
      }
      await page.setViewportSize({ width: 1280, height: 800 });
      await applyYaml(page, planYaml(goliathPlan(studio.models.xwin, studio.models.euryale)), 137);
      const alarms = await alarmColours(page);
      for (const fill of await rowFills(page)) for (const alarm of alarms) expect(colourDistance(fill, alarm)).toBeGreaterThanOrEqual(MIN_DISTANCE_FROM_RED);
    });
  }

  it('draws the stack canvas in the dark theme as in the light one: numbers, copies, seam, Goliath overview', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    for (const size of [
      { width: 1280, height: 800 },
      { width: 1920, height: 1080 },
    ]) {
      await page.setViewportSize(size);
      const name = `${size.width}x${size.height}`;
      await applyYaml(page, planYaml({ slices: [{ model: studio.models.mistral, start: 0, end: 24 }, { model: studio.models.mistral, start: 8, end: 32 }] }), 48);
      await page.mouse.move(2, 2);
      await expect.poll(() => page.locator(SHOWN_OUTPUT_LABEL).count(), POLL).toBe(48);
      expect(await page.locator(SHOWN_SOURCE_LABEL).count()).toBe(32);
      const fills = await page.getByTestId('output-layer').evaluateAll((nodes) => nodes.map((node) => node.ownerDocument.defaultView!.getComputedStyle(node.querySelector('rect')!).fill));
      expect(fills[0]).not.toBe(fills[24]);
      expect(await page.getByTestId('seam-label').textContent()).toBe('seam 23→8');
      expect(await page.locator('[data-testid="overlap-region"][data-model="output"]').count()).toBe(2);
      // The page really is in the dark theme (its surface colour is dark).
      const surface = await page.getByTestId('stack-canvas').evaluate((svg) => svg.ownerDocument.defaultView!.getComputedStyle(svg).getPropertyValue('--surface').trim());
      expect(lab(surface).l).toBeLessThan(30);
      await shot(`dark-solar-48-${name}`);
      await applyYaml(page, planYaml(goliathPlan(studio.models.xwin, studio.models.euryale)), 137);
      expect(await page.getByTestId('stack-canvas').getAttribute('data-banded')).toBe('true');
      await page.mouse.move(2, 2);
      await shot(`dark-goliath-137-${name}`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
  });

  /** The similarity matrix of `model` against itself, all computed; no tick label or axis title outside what the pane shows. */
  async function checkSimilarityAxes(model: string, layers: number, name: string): Promise<void> {
    await page.getByTestId('tab-similarity').click();
    await page.getByTestId('similarity-source-a').selectOption(model);
    await page.getByTestId('similarity-source-b').selectOption(model);
    const compute = page.getByTestId('similarity-compute');
    if (await compute.count()) await compute.click();
    const heatmap = page.getByTestId('similarity-heatmap');
    await expect.poll(() => heatmap.getAttribute('data-rows'), POLL).toBe(String(layers));
    await expect.poll(() => page.locator('[data-testid="similarity-cell"]:not(.pending)').count(), { timeout: 120_000 }).toBe(layers * layers);
    // What the plot shows without scrolling: its box, within the window.
    const shown = await page.locator('.similarity-chart .plot').evaluate((plot) => {
      const rect = plot.getBoundingClientRect();
      const view = plot.ownerDocument.defaultView!;
      return { left: rect.left, top: rect.top, right: Math.min(rect.right, view.innerWidth), bottom: Math.min(rect.bottom, view.innerHeight), scroll: plot.scrollHeight - plot.clientHeight };
    });
    expect(shown.scroll, `${name}: the matrix scrolls`).toBe(0);
    const texts = await textBoxes(page, '[data-testid="similarity-heatmap"] text');
    expect(texts.filter((text) => text.text.startsWith('A layer') || text.text.startsWith('B layer'))).toHaveLength(2);
    expect(outside(texts, shown), name).toEqual([]);
    expect(collisions(texts), name).toEqual([]);
    // The legend's labels too.
    const legend = await textBoxes(page, '[data-testid="similarity-legend"] text');
    const body = (await page.locator('.similarity-chart .body').boundingBox())!;
    expect(outside(legend, { left: body.x, top: body.y, right: body.x + body.width, bottom: Math.min(body.y + body.height, (page.viewportSize()?.height ?? 0)) }), name).toEqual([]);
    await shot(`similarity-${name}`);
  }

  it('never cuts a similarity axis title or tick label at 48, 80 and 137 layers, 1280×800 and 1920×1080 (and 80 at 1024×700)', async () => {
    await applyYaml(page, planYaml({ slices: [{ model: studio.models.mistral, start: 0, end: 24 }, { model: studio.models.mistral, start: 8, end: 32 }] }), 48);
    for (const size of [
      { width: 1280, height: 800 },
      { width: 1920, height: 1080 },
    ]) {
      await page.setViewportSize(size);
      for (const [model, layers] of [
        [studio.models.deep48, 48],
        [studio.models.xwin, 80],
        [studio.models.deep137, 137],
      ] as const) {
        await checkSimilarityAxes(model, layers, `${layers}-${size.width}x${size.height}`);
      }
    }
    // The smallest window the layout serves in full: the panel is lower still.
    await page.setViewportSize({ width: 1024, height: 700 });
    await checkSimilarityAxes(studio.models.xwin, 80, '80-1024x700');
  }, 400_000);
});
