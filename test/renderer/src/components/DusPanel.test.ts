import { describe, expect, it, beforeEach } from 'vitest';
import { fireEvent, render, waitFor } from '@testing-library/svelte';
import App from '../../../../renderer/src/App.svelte';
import { StudioSession } from '../../../../renderer/lib/state/studio-session.svelte.js';
import { createFakeStudio, STORIES_PATH } from '../../fake-studio.js';
import { installPointerEvent, statsSettled } from '../../studio-fixture.js';

/** The DUS workflow in the whole window: drop control, splice handles, seam jump. */
async function startApp(statsStepMs = 0) {
  const host = createFakeStudio({ statsStepMs });
  const session = new StudioSession(host, { planDebounceMs: 0 });
  const view = render(App, { props: { session } });
  await waitFor(() => expect(view.getAllByTestId('output-layer')).toHaveLength(8));
  return { host, session, ...view };
}

function sliceRanges(rows: HTMLElement[]): string[] {
  return rows.map((row) => {
    const [start, end] = [...row.querySelectorAll('input[type="number"]')].map((input) => (input as HTMLInputElement).value);
    return `[${start},${end})`;
  });
}

describe('DUS panel', () => {
  beforeEach(() => {
    installPointerEvent();
    window.__dusPerf = { marks: [] };
  });

  it('opens the demo model with a default DUS plan that drops one layer of five', async () => {
    const { host, getAllByTestId, getByTestId } = await startApp();
    expect(host.calls.slice(0, 3).map((call) => call.method)).toEqual(['appInfo', 'listCheckpoints', 'openCheckpoint']);
    expect(host.calls[2]!.payload).toEqual({ path: STORIES_PATH });
    expect(getAllByTestId('checkpoint-card')).toHaveLength(1);
    expect(getByTestId('checkpoint-parameters').textContent).toBe('260 K');
    expect(sliceRanges(getAllByTestId('slice-row'))).toEqual(['[0,4)', '[1,5)']);
    expect((getByTestId('drop-input') as HTMLInputElement).value).toBe('1');
    await waitFor(() => expect(getByTestId('summary').textContent).toMatch(/^8 layers · 396 K · 1\.6 MB$/));
  });

  it('rebuilds the slices when the drop changes', async () => {
    const { getAllByTestId, getByTestId } = await startApp();
    await fireEvent.change(getByTestId('drop-input'), { target: { value: '2' } });
    expect(sliceRanges(getAllByTestId('slice-row'))).toEqual(['[0,3)', '[2,5)']);
    expect(getAllByTestId('output-layer')).toHaveLength(6);
    expect(getByTestId('splice-handle-a').dataset.layer).toBe('3');
    expect(getByTestId('splice-handle-b').dataset.layer).toBe('2');
  });

  it('moves a splice handle by keyboard and updates the seam jump', async () => {
    const { session, getByTestId, getAllByTestId } = await startApp();
    await statsSettled(session);
    const jump = getByTestId('seam-jump');
    await waitFor(() => expect(jump.textContent).toMatch(/Δ \d+(\.\d)? %/));
    const before = jump.textContent;
    const handle = getByTestId('splice-handle-a');
    handle.focus();
    await fireEvent.keyDown(handle, { key: 'ArrowUp' });
    expect(getByTestId('splice-handle-a').dataset.layer).toBe('3');
    expect(getByTestId('splice-handle-a').getAttribute('aria-valuenow')).toBe('3');
    expect(sliceRanges(getAllByTestId('slice-row'))).toEqual(['[0,3)', '[1,5)']);
    expect(jump.textContent).toMatch(/Δ \d+(\.\d)? %/);
    expect(jump.textContent).not.toBe(before);
    await fireEvent.keyDown(getByTestId('splice-handle-a'), { key: 'ArrowDown' });
    expect(jump.textContent).toBe(before);
  });

  it('drags a splice handle with the pointer, one undo step per drag, and records frame times', async () => {
    const { session, getByTestId, getAllByTestId } = await startApp();
    const canvas = getByTestId('stack-canvas');
    const layerHeight = Number(canvas.dataset.layerHeight);
    const top = Number(canvas.dataset.top);
    const handle = getByTestId('splice-handle-b');
    await fireEvent.pointerDown(handle, { button: 0, pointerId: 1, clientY: top + 1 * layerHeight });
    await fireEvent.pointerMove(handle, { pointerId: 1, clientY: top + 2 * layerHeight + 2 });
    expect(getByTestId('splice-handle-b').dataset.layer).toBe('2');
    await fireEvent.pointerMove(handle, { pointerId: 1, clientY: top + 3 * layerHeight - 3 });
    expect(getByTestId('splice-handle-b').dataset.layer).toBe('3');
    await fireEvent.pointerUp(handle, { pointerId: 1 });
    expect(sliceRanges(getAllByTestId('slice-row'))).toEqual(['[0,4)', '[3,5)']);
    const frames = window.__dusPerf!.marks.filter((mark) => mark.name === 'drag-frame');
    expect(frames).toHaveLength(2);
    session.plan.undo();
    await waitFor(() => expect(getByTestId('splice-handle-b').dataset.layer).toBe('1'));
  });

  it('shows "—" as the seam jump until statistics exist', async () => {
    const { session, getByTestId } = await startApp(40);
    expect(getByTestId('seam-jump').textContent).toContain('—');
    await statsSettled(session);
    await waitFor(() => expect(getByTestId('seam-jump').textContent).toMatch(/Δ \d+(\.\d)? %/));
  });

  it('turns LLaMA-Pro on with its k and off again', async () => {
    const { getByTestId, getAllByTestId } = await startApp();
    await fireEvent.change(getByTestId('llama-pro-every'), { target: { value: '4' } });
    await fireEvent.click(getByTestId('llama-pro-toggle'));
    expect(getAllByTestId('output-layer')).toHaveLength(10);
    expect(getAllByTestId('hatch')).toHaveLength(2);
    await fireEvent.click(getByTestId('llama-pro-toggle'));
    expect(getAllByTestId('output-layer')).toHaveLength(8);
  });
});
