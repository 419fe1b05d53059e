/**
 * Renderer rows, in Debian's Chromium driven by playwright-core against the serve mode:
 *
 * - first render: a fresh page, the Goliath YAML pasted into the YAML tab, Apply clicked in the
 *   page; the time until the stack canvas holds all 137 output layers and that frame has been
 *   painted (requestAnimationFrame, then a task). Baseline: the same for one 80-layer slice.
 * - drag: splice handle A dragged with page.mouse over the Goliath stack, there and back; frame
 *   intervals from a requestAnimationFrame loop in the page (baseline: the same loop while idle),
 *   and the app's own `drag-frame` marks (window.__dusPerf, renderer/lib/perf-marks.ts).
 *
 * Page code is passed as source text: the bench bundle keeps function names (esbuild keepNames),
 * whose helper does not exist in the page.
 */
import { CHROMIUM_ARGS, CHROMIUM_EXECUTABLE } from '../e2e/chromium-flags.js';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeRow, type BenchRow } from './bench-table.js';
import type { BenchContext } from './bench-context.js';
import { GOLIATH_LAYERS, GOLIATH_SOURCE_LAYERS, goliathPlan, planYaml, wholeModelPlan } from './goliath-plan.js';
import { quantile, summarize } from './sample-summary.js';
import type { RunningServe } from './serve-bench.js';

type Playwright = typeof import('playwright-core');
type Page = import('playwright-core').Page;

/** A variable, so esbuild leaves playwright-core out of the bundle (it is loaded from node_modules at run time). */
const PLAYWRIGHT_MODULE = 'playwright-core';
const VIEWPORT = { width: 1600, height: 1000 };
/**
 * Bounds a wait for the page, never a figure: Chromium's start and the first render take about a
 * second, and over 15 s beside seven other busy sessions on two cores.
 */
const RENDER_TIMEOUT_MS = 120_000;

const OUTPUT_LAYER = '[data-testid="output-layer"]';

/** Clicks Apply and resolves with ms until `expected` output layers are on screen and painted. */
const APPLY_AND_TIME = `(({ expected, timeoutMs }) => new Promise((resolve, reject) => {
  const button = document.querySelector('[data-testid="yaml-apply"]');
  if (!button) { reject(new Error('no yaml-apply button')); return; }
  const started = performance.now();
  button.click();
  const check = () => {
    const count = document.querySelectorAll('${OUTPUT_LAYER}').length;
    if (count === expected) { setTimeout(() => resolve(performance.now() - started), 0); return; }
    if (performance.now() - started > timeoutMs) { reject(new Error('the stack shows ' + count + ' output layers, expected ' + expected)); return; }
    requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
}))`;

/**
 * Starts a requestAnimationFrame loop that records frame intervals in window.__benchFrames. An
 * interval is also filed under `afterUpdate` when the frame it starts had a new drag-frame mark:
 * pointer input is handled before that frame's rAF callbacks, and the frame's style, layout and
 * paint of the update lie inside the interval to the next rAF.
 */
const START_FRAME_LOOP = `(() => {
  const markCount = () => (window.__dusPerf && window.__dusPerf.marks ? window.__dusPerf.marks.length : 0);
  const state = { all: [], afterUpdate: [], last: null, seen: markCount(), updated: false, running: true };
  window.__benchFrames = state;
  const frame = (now) => {
    if (!state.running) return;
    if (state.last !== null) {
      state.all.push(now - state.last);
      if (state.updated) state.afterUpdate.push(now - state.last);
    }
    const marks = markCount();
    state.updated = marks > state.seen;
    state.seen = marks;
    state.last = now;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})()`;

const TAKE_FRAME_INTERVALS = `(() => {
  const state = window.__benchFrames;
  const taken = { all: state.all, afterUpdate: state.afterUpdate };
  state.all = [];
  state.afterUpdate = [];
  return taken;
})()`;
const STOP_FRAME_LOOP = `(() => { window.__benchFrames.running = false; })()`;
/** Resolves once no checkpoint card shows a statistics progress bar (polled per frame; waitForFunction's eval is barred by the page's CSP). */
const STATISTICS_SETTLED = `new Promise((resolve, reject) => {
  const started = performance.now();
  const check = () => {
    if (document.querySelector('[data-testid="checkpoint-card"] [role="progressbar"]') === null) { resolve(true); return; }
    if (performance.now() - started > ${RENDER_TIMEOUT_MS}) { reject(new Error('statistics did not finish')); return; }
    requestAnimationFrame(check);
  };
  check();
})`;
const PERF_MARKS = `(() => (window.__dusPerf && window.__dusPerf.marks ? window.__dusPerf.marks.slice() : []))()`;

interface FrameIntervals {
  all: number[];
  afterUpdate: number[];
}

interface PerfMark {
  name: string;
  ms: number;
}

/** playwright-core from beside the bundle (out/ in the repository), else from the working folder's node_modules. */
async function loadPlaywright(): Promise<Playwright> {
  try {
    return (await import(PLAYWRIGHT_MODULE)) as Playwright;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    // This resolves the CommonJS entry, whose exports arrive as `default`.
    const resolved = createRequire(path.join(process.cwd(), 'package.json')).resolve(PLAYWRIGHT_MODULE);
    const loaded = (await import(pathToFileURL(resolved).href)) as Playwright & { default?: Playwright };
    return loaded.default ?? loaded;
  }
}

/**
 * A fresh page with the app started (its first plan drawn) and both Goliath sources open in it, as
 * a user has them before pasting the plan. Checkpoints opened with `serve --open` that the page
 * does not list are opened through Open… (the in-app file browser): without them the page knows no
 * layer counts, and the splice handles cannot move past the slice ends.
 */
async function openApp(page: Page, serve: RunningServe): Promise<void> {
  await page.goto(serve.url, { waitUntil: 'load' });
  await page.waitForSelector(OUTPUT_LAYER, { timeout: RENDER_TIMEOUT_MS });
  for (const model of [serve.modelX, serve.modelE]) {
    const card = page.locator(`[data-testid="checkpoint-card"][data-id=${JSON.stringify(model)}]`);
    if ((await card.count()) > 0) continue;
    await page.click('[data-testid="open-button"]');
    const dialog = page.locator('[data-testid="file-browser"]');
    // The dialog lists its start folder first; typing before that listing lands would race it.
    await dialog.locator('[aria-busy="false"] [data-testid="file-browser-entry"]').first().waitFor({ timeout: RENDER_TIMEOUT_MS });
    const folder = dialog.getByLabel('Folder path');
    // Enter on a model folder's path opens it.
    await folder.fill(model);
    await folder.press('Enter');
    await card.waitFor({ timeout: RENDER_TIMEOUT_MS });
  }
  // Small checkpoints get statistics at once; let them finish so they do not land inside a timing.
  await page.evaluate(STATISTICS_SETTLED);
}

/** Pastes YAML into the YAML tab and times Apply until the stack shows `expected` layers. */
async function timeApply(page: Page, yaml: string, expected: number): Promise<number> {
  await page.click('[data-testid="tab-yaml"]');
  await page.fill('[data-testid="yaml-editor"]', yaml);
  return (await page.evaluate(`${APPLY_AND_TIME}(${JSON.stringify({ expected, timeoutMs: RENDER_TIMEOUT_MS })})`)) as number;
}

export async function measureRenderer(
  context: BenchContext,
  serve: RunningServe,
  rows: ReadonlySet<string>,
  collect: (row: BenchRow) => void,
): Promise<void> {
  const { profile } = context;
  const { chromium } = await loadPlaywright();
  const browser = await chromium.launch({ executablePath: CHROMIUM_EXECUTABLE, args: [...CHROMIUM_ARGS] });
  try {
    const page = await browser.newPage({ viewport: VIEWPORT });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    const goliathYaml = planYaml(goliathPlan(serve.modelX, serve.modelE));
    const baselineYaml = planYaml(wholeModelPlan(serve.modelX, GOLIATH_SOURCE_LAYERS));

    const goliathMs: number[] = [];
    const baselineMs: number[] = [];
    const appFirstRender: number[] = [];
    // Without the first-render row, one Goliath page is enough for the drag.
    const runs = rows.has('render-first') ? profile.renderRuns : 0;
    for (let run = 0; run < runs; run += 1) {
      await openApp(page, serve);
      baselineMs.push(await timeApply(page, baselineYaml, GOLIATH_SOURCE_LAYERS));
      await openApp(page, serve);
      const marks = (await page.evaluate(PERF_MARKS)) as PerfMark[];
      const mark = marks.find((entry) => entry.name === 'first-render');
      if (mark !== undefined) appFirstRender.push(mark.ms);
      goliathMs.push(await timeApply(page, goliathYaml, GOLIATH_LAYERS));
      context.log(`first render: Goliath ${goliathMs.at(-1)?.toFixed(1)} ms, 80-layer plan ${baselineMs.at(-1)?.toFixed(1)} ms`);
    }
    if (rows.has('render-first')) {
      const appMark =
        appFirstRender.length === 0
          ? "the app recorded no first-render mark (window.__dusPerf)"
          : `the app's own first-render mark (its start-up plan, the demo) ${summarize(appFirstRender).median.toFixed(1)} ms`;
      collect(
        makeRow({
          id: 'render-first',
          figure: { label: 'first render of the Goliath plan (137 layers, 2×80-layer sources), Apply → painted', unit: 'ms', summary: summarize(goliathMs) },
          baseline: { label: 'same for one 80-layer slice', unit: 'ms', summary: summarize(baselineMs) },
          ratioMeaning: 'Goliath first render ÷ first render of an 80-layer single-slice plan, each in a fresh page',
          target: { text: '≤ 100 ms', checks: [{ on: 'figure', op: '<=', value: 100 }] },
          notes: [`includes the planFromYaml round trip to the serve process; ${appMark}`],
        }),
      );
    }
    if (rows.has('render-drag') || rows.has('render-drag-work')) {
      if (runs === 0) {
        await openApp(page, serve);
        await timeApply(page, goliathYaml, GOLIATH_LAYERS);
      }
      for (const row of await measureDrag(context, page)) if (rows.has(row.id)) collect(row);
    }
    if (pageErrors.length > 0) context.log(`page errors: ${pageErrors.join(' | ')}`);
  } finally {
    await browser.close();
  }
}

/**
 * In the page: the client y of every layer boundary of one source column (top edges, then the last
 * row's bottom). Rows are drawn half a pixel below their boundary and a pixel short. A string, like
 * the frame loop, so the bundler cannot add helpers to code that runs in the page.
 */
function boundaryYsScript(model: string | null): string {
  return `(() => {
    const rows = [...document.querySelectorAll('[data-testid="source-layer"]')].filter((row) => row.getAttribute('data-model') === ${JSON.stringify(model)});
    rows.sort((left, right) => Number(left.getAttribute('data-index')) - Number(right.getAttribute('data-index')));
    const ys = rows.map((row) => row.getBoundingClientRect().top - 0.5);
    const last = rows[rows.length - 1];
    if (last) ys.push(last.getBoundingClientRect().bottom + 0.5);
    return ys;
  })()`;
}

/** Layer boundaries to drag through: back and forth over up to 15 layers on the side with room, `moves` positions in all. */
export function dragPath(current: number, min: number, max: number, moves: number): number[] {
  const down = max - current;
  const up = current - min;
  const direction = down >= up ? 1 : -1;
  const reach = Math.min(15, Math.max(down, up));
  if (reach === 0) throw new Error(`the splice handle cannot move (layer ${current}, range ${min}–${max})`);
  const positions: number[] = [];
  let offset = 0;
  let step = 1;
  while (positions.length < moves) {
    if (offset + step > reach || offset + step < 0) step = -step;
    offset += step;
    positions.push(current + direction * offset);
  }
  return positions;
}

/** Drags splice handle A back and forth, one layer per pointer move, on the Goliath plan now on screen. */
async function measureDrag(context: BenchContext, page: Page): Promise<BenchRow[]> {
  const { profile } = context;
  const handle = page.locator('[data-testid="splice-handle-a"]');
  await handle.waitFor({ state: 'visible', timeout: RENDER_TIMEOUT_MS });
  await handle.scrollIntoViewIfNeeded();
  // Let the plan's resolve round trip and any statistics settle before the quiet baseline.
  await page.waitForTimeout(300);
  const current = Number(await handle.getAttribute('aria-valuenow'));
  const min = Number(await handle.getAttribute('aria-valuemin'));
  const max = Number(await handle.getAttribute('aria-valuemax'));
  const box = await handle.boundingBox();
  // Each column has its own row scale (a magnified band near the handle): read where each boundary of the handle's column is.
  const boundaryYs = (await page.evaluate(boundaryYsScript(await handle.getAttribute('data-model')))) as number[];
  if (box === null || boundaryYs.length === 0 || ![current, min, max].every(Number.isFinite)) {
    throw new Error("the splice handle, its range or its column's rows are not on the page");
  }
  const layerHeight = (boundaryYs.at(-1)! - boundaryYs[0]!) / (boundaryYs.length - 1);
  const positions = dragPath(current, min, max, profile.dragMoves);

  await page.evaluate(START_FRAME_LOOP);
  await page.waitForTimeout(profile.idleMs);
  const idle = ((await page.evaluate(TAKE_FRAME_INTERVALS)) as FrameIntervals).all;
  const marksBefore = ((await page.evaluate(PERF_MARKS)) as PerfMark[]).length;

  const x = box.x + box.width / 2;
  const y = box.y + box.height / 2;
  await page.mouse.move(x, y);
  await page.mouse.down();
  for (const position of positions) await page.mouse.move(x, boundaryYs[position]!);
  await page.mouse.up();
  const dragging = (await page.evaluate(TAKE_FRAME_INTERVALS)) as FrameIntervals;
  await page.evaluate(STOP_FRAME_LOOP);
  const work = ((await page.evaluate(PERF_MARKS)) as PerfMark[]).slice(marksBefore).filter((mark) => mark.name === 'drag-frame').map((mark) => mark.ms);
  if (work.length === 0) throw new Error('the drag moved nothing: no drag-frame marks (window.__dusPerf)');
  if (dragging.afterUpdate.length === 0 || idle.length === 0) throw new Error('no animation frames were recorded');
  context.log(`drag: ${positions.length} moves over layers ${Math.min(...positions, current)}–${Math.max(...positions, current)}, ${work.length} plan updates, ${dragging.all.length} frames`);

  const idleSummary = summarize(idle);
  return [
    makeRow({
      id: 'render-drag',
      figure: { label: 'frame time of a drag update: the rAF interval holding it (handle A, rAF loop in page)', unit: 'ms', summary: summarize(dragging.afterUpdate) },
      baseline: { label: 'idle frame interval', unit: 'ms', summary: idleSummary },
      ratioMeaning: 'frame interval while dragging ÷ idle frame interval (1.00 = no frame dropped)',
      target: { text: '≤ 20 ms', checks: [{ on: 'figure', op: '<=', value: 20 }] },
      notes: [
        `${dragging.afterUpdate.length} frames with a plan update, over ${positions.length} page.mouse moves of one layer (${layerHeight.toFixed(1)} px on average) each; 95th percentile ${quantile(dragging.afterUpdate, 0.95).toFixed(1)} ms; all ${dragging.all.length} frames of the drag: median ${summarize(dragging.all).median.toFixed(1)} ms`,
      ],
    }),
    makeRow({
      id: 'render-drag-work',
      figure: { label: "app work per drag update (the app's drag-frame mark)", unit: 'ms', summary: summarize(work) },
      baseline: { label: 'idle frame interval', unit: 'ms', summary: idleSummary },
      ratioMeaning: 'work per drag update ÷ idle frame interval (the frame budget)',
      target: { text: '≤ 20 ms', checks: [{ on: 'figure', op: '<=', value: 20 }] },
      notes: [`${work.length} plan updates; 95th percentile ${quantile(work, 0.95).toFixed(1)} ms; handler + DOM update (flushSync), not the browser's layout and paint`],
    }),
  ];
}
