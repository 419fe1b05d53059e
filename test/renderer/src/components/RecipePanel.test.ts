import { beforeEach, describe, expect, it } from 'vitest';
import { fireEvent, render, waitFor } from '@testing-library/svelte';
import App from '../../../../renderer/src/App.svelte';
import { StudioSession } from '../../../../renderer/lib/state/studio-session.svelte.js';
import { planYaml } from '../../../bench/goliath-plan.js';
import { createFakeStudio, STORIES_PATH } from '../../fake-studio.js';
import { installPointerEvent } from '../../studio-fixture.js';

/** The recipe panel's inputs describe the plan on screen, however it got there (issue 10, YAML a recipe builds). */
async function startApp() {
  const session = new StudioSession(createFakeStudio({ statsStepMs: 0 }), { planDebounceMs: 0 });
  const view = render(App, { props: { session } });
  await waitFor(() => expect(view.getAllByTestId('output-layer')).toHaveLength(8));
  return { session, ...view };
}

const yamlOf = (ranges: [number, number][]) => planYaml({ slices: ranges.map(([start, end]) => ({ model: STORIES_PATH, start, end })) });
const inputValue = (element: HTMLElement) => (element as HTMLInputElement).value;

describe('recipe panel', () => {
  beforeEach(() => {
    installPointerEvent();
    window.__dusPerf = { marks: [] };
  });

  it("shows an interleave's own window and overlap when its YAML is applied, and rebuilds from them", async () => {
    const { session, getByTestId, getAllByTestId, getByRole } = await startApp();
    // Window 3, overlap 1 on the 5-layer model: [0,3) [2,5) [4,5).
    expect(await session.plan.setYaml(yamlOf([[0, 3], [2, 5], [4, 5]]))).toBe(true);
    await waitFor(() => expect(session.plan.recipe).toBe('interleave'));
    await waitFor(() => expect(inputValue(getByTestId('interleave-window'))).toBe('3'));
    expect(inputValue(getByTestId('interleave-overlap'))).toBe('1');

    await fireEvent.input(getByTestId('interleave-window'), { target: { value: '4' } });
    await fireEvent.click(getByRole('button', { name: 'Rebuild' }));
    // Window 4 with the plan's overlap 1 and its model: [0,4) [3,5).
    await waitFor(() => expect(getAllByTestId('output-layer')).toHaveLength(6));
    expect(session.plan.plan.slices).toEqual([
      { model: STORIES_PATH, start: 0, end: 4 },
      { model: STORIES_PATH, start: 3, end: 5 },
    ]);
    expect(inputValue(getByTestId('interleave-window'))).toBe('4');
    expect(inputValue(getByTestId('interleave-overlap'))).toBe('1');

    // Undo brings back the YAML's plan, and its numbers with it.
    session.plan.undo();
    await waitFor(() => expect(inputValue(getByTestId('interleave-window'))).toBe('3'));
    expect(inputValue(getByTestId('interleave-overlap'))).toBe('1');
  });

  it("shows SOLAR's m and the splice points of YAML with a drop other than the default", async () => {
    const { session, getByTestId } = await startApp();
    expect(await session.plan.setYaml(yamlOf([[0, 3], [2, 5]]))).toBe(true);
    await waitFor(() => expect(inputValue(getByTestId('drop-input'))).toBe('2'));
    expect(session.plan.recipeParameters).toEqual({ kind: 'dus', model: STORIES_PATH, drop: 2 });
    expect(inputValue(getByTestId('splice-a-input'))).toBe('3');
    expect(inputValue(getByTestId('splice-b-input'))).toBe('2');
  });
});
