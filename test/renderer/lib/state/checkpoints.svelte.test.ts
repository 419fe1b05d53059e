import { describe, expect, it } from 'vitest';
import { lab } from 'd3';
// The stylesheet's text (vitest.config.ts lets the renderer tests read app.css), so the test checks the reds the app declares.
import appCss from '../../../../renderer/src/app.css?raw';
import { copyColour } from '../../../../renderer/lib/charts/stack-geometry.js';
import { CheckpointsState, SOURCE_COLOURS, UNKNOWN_SOURCE_COLOUR } from '../../../../renderer/lib/state/checkpoints.svelte.js';
import { createFakeStudio, LLAMA_X_PATH, STORIES_PATH } from '../../fake-studio.js';

describe('CheckpointsState', () => {
  it('replaces a checkpoint statistics record per streamed layer, then with the final report', async () => {
    const host = createFakeStudio({ statsStepMs: 1 });
    const checkpoints = new CheckpointsState(host);
    await checkpoints.open(STORIES_PATH);
    const records: object[] = [];
    const off = host.on('jobProgress', () => records.push(checkpoints.stats[STORIES_PATH]!));
    const running = checkpoints.computeStats(STORIES_PATH);
    expect(checkpoints.statsStatus[STORIES_PATH]?.running).toBe(true);
    await running;
    off();
    // One event per layer plus one for the embeddings and final norm.
    expect(records).toHaveLength(6);
    expect(new Set(records).size).toBe(6);
    expect(Object.keys(records[0]!).every((name) => name.startsWith('model.layers.0.'))).toBe(true);
    const final = checkpoints.stats[STORIES_PATH]!;
    expect(Object.keys(final)).toHaveLength(47);
    expect(checkpoints.statsStatus[STORIES_PATH]).toMatchObject({ running: false, done: 6, total: 6, sampled: false });
  });

  it('cancels running statistics by their job id, leaving the cancel as the error and allowing a new run', async () => {
    const host = createFakeStudio({ statsStepMs: 5 });
    const checkpoints = new CheckpointsState(host);
    await checkpoints.open(STORIES_PATH);
    const running = checkpoints.computeStats(STORIES_PATH);
    const off = host.on('jobProgress', () => void checkpoints.cancelStats(STORIES_PATH));
    await running;
    off();
    expect(host.callsOf('cancelJob')).toEqual([{ method: 'cancelJob', payload: { jobId: expect.stringMatching(/^stats-[0-9a-f]{32}$/) } }]);
    expect(checkpoints.statsStatus[STORIES_PATH]).toMatchObject({ running: false, error: 'statistics were cancelled' });
    await checkpoints.cancelStats(STORIES_PATH);
    expect(host.callsOf('cancelJob')).toHaveLength(1);
    await checkpoints.computeStats(STORIES_PATH);
    expect(checkpoints.statsStatus[STORIES_PATH]).toMatchObject({ running: false, done: 6, total: 6 });
  });

  it('records why a checkpoint did not open and keeps a colour per source', async () => {
    const host = createFakeStudio();
    const checkpoints = new CheckpointsState(host);
    expect(await checkpoints.open('/models/missing')).toBeNull();
    expect(checkpoints.lastError).toBe('/models/missing: No model folder or .safetensors file here.');
    await checkpoints.open(STORIES_PATH);
    await checkpoints.open(LLAMA_X_PATH);
    expect(checkpoints.colourOf(STORIES_PATH)).toBe(SOURCE_COLOURS[0]);
    expect(checkpoints.colourOf(LLAMA_X_PATH)).toBe(SOURCE_COLOURS[1]);
    await checkpoints.close(STORIES_PATH);
    expect(checkpoints.list.map((checkpoint) => checkpoint.id)).toEqual([LLAMA_X_PATH]);
    expect(checkpoints.colourOf(LLAMA_X_PATH)).toBe(SOURCE_COLOURS[1]);
  });

  it('stops listening to statistics events once disposed', () => {
    const host = createFakeStudio();
    const checkpoints = new CheckpointsState(host);
    expect(host.listenerCount()).toBe(1);
    checkpoints.dispose();
    expect(host.listenerCount()).toBe(0);
  });
});

describe('source colours', () => {
  /** The error and seam reds of both themes, as app.css declares them. */
  function alarmColours(): string[] {
    const css = appCss;
    return [...css.matchAll(/--(?:error|seam):\s*(#[0-9a-f]{6})/giu)].map((match) => match[1]!);
  }

  it('never reuse the error or seam red, in either tone a copy is drawn with (issue 10)', () => {
    const alarms = alarmColours();
    // Light and dark, error and seam.
    expect(alarms.length).toBeGreaterThanOrEqual(4);
    for (const colour of [...SOURCE_COLOURS, UNKNOWN_SOURCE_COLOUR]) {
      for (const tone of [copyColour(colour, 1), copyColour(colour, 2)]) {
        for (const alarm of alarms) {
          const a = lab(tone);
          const b = lab(alarm);
          // CIELAB ΔE 1976: the nearest tone (the darker orange) is ~35 from red; a red-like model colour would be under 20.
          expect(Math.hypot(a.l - b.l, a.a - b.a, a.b - b.b), `${tone} vs ${alarm}`).toBeGreaterThanOrEqual(30);
        }
      }
    }
  });
});
