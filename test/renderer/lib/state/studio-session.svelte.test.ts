import { describe, expect, it } from 'vitest';
import { StudioSession } from '../../../../renderer/lib/state/studio-session.svelte.js';
import { createFakeStudio, LLAMA_E_PATH, LLAMA_X_PATH, STORIES_PATH } from '../../fake-studio.js';

describe('StudioSession.start', () => {
  it('opens the bundled demo with a DUS plan when the host has nothing open', async () => {
    const host = createFakeStudio();
    const session = new StudioSession(host, { planDebounceMs: 0 });
    await session.start();
    expect(session.checkpoints.list.map((checkpoint) => checkpoint.id)).toEqual([STORIES_PATH]);
    expect(session.plan.plan.slices.map((slice) => slice.model)).toEqual([STORIES_PATH, STORIES_PATH]);
  });

  it('shows what the host opened before the window (serve --open) instead of the demo', async () => {
    const host = createFakeStudio();
    await host.openCheckpoint({ path: LLAMA_X_PATH });
    await host.openCheckpoint({ path: LLAMA_E_PATH });
    const session = new StudioSession(host, { planDebounceMs: 0 });
    await session.start();
    expect(session.checkpoints.list.map((checkpoint) => checkpoint.id)).toEqual([LLAMA_X_PATH, LLAMA_E_PATH]);
    expect(session.plan.plan.slices[0]?.model).toBe(LLAMA_X_PATH);
  });
});
