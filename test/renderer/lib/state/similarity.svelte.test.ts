import { describe, expect, it } from 'vitest';
import { SimilarityState } from '../../../../renderer/lib/state/similarity.svelte.js';
import { createFakeStudio, llamaCheckpoint, STORIES_PATH, STORIES_SHAPE, syntheticSimilarity } from '../../fake-studio.js';

const key = { checkpointA: STORIES_PATH, checkpointB: STORIES_PATH, kind: 'down' as const };
const size = { rows: 5, cols: 5 };

async function openedHost(options: { similarityStepMs?: number } = {}) {
  const host = createFakeStudio(options);
  await host.openCheckpoint({ path: STORIES_PATH });
  return host;
}

describe('SimilarityState', () => {
  it('fills rows from progress events, then holds the final matrix', async () => {
    const host = await openedHost({ similarityStepMs: 5 });
    const state = new SimilarityState(host);
    const seen: number[] = [];
    const off = host.on('jobProgress', () => seen.push(state.entry(key)!.values.filter((row) => row !== undefined).length));
    const running = state.compute(key, size);
    expect(state.entry(key)).toMatchObject({ running: true, done: 0, total: 5 });
    expect(state.entry(key)!.values).toEqual([undefined, undefined, undefined, undefined, undefined]);
    await running;
    off();
    // Each event's listener ran after the state's own, so it saw one more row each time.
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    const summary = llamaCheckpoint(STORIES_SHAPE);
    expect(state.entry(key)).toMatchObject({ running: false, done: 5, sampled: false });
    expect(state.entry(key)!.values[2]![4]).toBe(syntheticSimilarity(summary, summary, 'down', 2, 4));
    state.dispose();
  });

  it('cancels a matrix being computed; the entry shows why and can be computed again', async () => {
    const host = await openedHost({ similarityStepMs: 5 });
    const state = new SimilarityState(host);
    const running = state.compute(key, size);
    const off = host.on('jobProgress', () => void state.cancel(key));
    await running;
    off();
    expect(host.callsOf('cancelJob')).toHaveLength(1);
    expect(state.entry(key)).toMatchObject({ running: false, error: 'the similarity matrix was cancelled' });
    await state.compute(key, size);
    expect(state.entry(key)).toMatchObject({ running: false, done: 5 });
    expect(state.entry(key)!.error).toBeUndefined();
  });

  it('asks once per matrix, and again only to replace an estimate with exact figures', async () => {
    const host = await openedHost();
    const state = new SimilarityState(host);
    await Promise.all([state.compute(key, size), state.compute(key, size)]);
    await state.compute(key, size);
    expect(host.callsOf('layerSimilarity')).toHaveLength(1);
    const sampledKey = { ...key, kind: 'q' as const };
    await state.compute(sampledKey, size, { sampled: true });
    expect(state.entry(sampledKey)!.sampled).toBe(true);
    await state.compute(sampledKey, size, { sampled: false });
    expect(state.entry(sampledKey)!.sampled).toBe(false);
    expect(host.callsOf('layerSimilarity').map((call) => (call.payload as { sampled?: boolean }).sampled)).toEqual([undefined, true, false]);
    state.dispose();
  });

  it('keeps the error of a failed request and forgets matrices of a closed checkpoint', async () => {
    const host = await openedHost();
    const state = new SimilarityState(host);
    const missing = { ...key, checkpointB: '/models/not-open' };
    await state.compute(missing, size);
    expect(state.entry(missing)).toMatchObject({ running: false, error: expect.stringContaining('not open') });
    await state.compute(key, size);
    state.forget(STORIES_PATH);
    expect(state.entries).toEqual({});
    state.dispose();
  });
});
