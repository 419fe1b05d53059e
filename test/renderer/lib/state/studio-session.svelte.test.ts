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

describe('StudioSession edits that replace or add', () => {
  it('says when a recipe replaces a hand-built plan and brings that plan back with Undo, even after later edits', async () => {
    const host = createFakeStudio();
    const session = new StudioSession(host, { planDebounceMs: 0 });
    await session.start();
    const plan = session.plan;
    plan.addSlice();
    plan.addSlice();
    plan.addSlice();
    const handBuilt = plan.plan;
    expect(plan.recipe).toBe('custom');
    expect(handBuilt.slices).toHaveLength(5);

    await session.applyRecipe({ kind: 'stack', model: STORIES_PATH, times: 2 });
    expect(plan.plan.slices).toHaveLength(2);
    const notice = session.notices.items.at(-1)!;
    expect(notice).toMatchObject({ kind: 'info', message: 'Replaced your 5-slice plan with stacked copies.', action: { label: 'Undo' } });
    plan.setSliceRange(0, 0, 3);
    session.notices.act(notice.id);
    expect(plan.plan.slices).toEqual(handBuilt.slices);
    expect(plan.recipe).toBe('custom');
    expect(session.notices.items).not.toContainEqual(expect.objectContaining({ id: notice.id }));

    // A recipe replacing a recipe's plan loses nothing a recipe cannot rebuild: no notice.
    await session.applyRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 });
    const count = session.notices.items.length;
    await session.applyRecipe({ kind: 'stack', model: STORIES_PATH, times: 3 });
    expect(session.notices.items).toHaveLength(count);
  });

  it('marks a checkpoint the user opened and says whether the plan uses it, offering to build on it', async () => {
    const host = createFakeStudio();
    const session = new StudioSession(host, { planDebounceMs: 0 });
    await session.start();
    expect(session.view.justOpened).toBeNull();
    expect(session.notices.items).toHaveLength(0);
    await session.openChosen(LLAMA_X_PATH);
    expect(session.view.justOpened).toBe(LLAMA_X_PATH);
    const notice = session.notices.items.at(-1)!;
    expect(notice.message).toMatch(/^Opened Xwin-LM-70B: 80 layers, .+\. It is listed under Checkpoints; the plan is unchanged\.$/);
    expect(notice.action?.label).toBe('Build SOLAR DUS on Xwin-LM-70B');
    session.notices.act(notice.id);
    await session.plan.whenSettled();
    expect(session.plan.plan.slices.map((slice) => slice.model)).toEqual([LLAMA_X_PATH, LLAMA_X_PATH]);
    expect(session.plan.recipe).toBe('dus');
  });
});
