import { describe, expect, it } from 'vitest';
import { fireEvent, waitFor } from '@testing-library/svelte';
import SimilarityPane from '../../../../renderer/src/components/SimilarityPane.svelte';
import App from '../../../../renderer/src/App.svelte';
import { formatCosine } from '../../../../renderer/lib/charts/similarity-heatmap.js';
import { llamaCheckpoint, LLAMA_X_PATH, STORIES_PATH, STORIES_SHAPE, syntheticSimilarity } from '../../fake-studio.js';
import { renderWithSession, startedSession } from '../../studio-fixture.js';
import { render } from '@testing-library/svelte';

const stories = llamaCheckpoint(STORIES_SHAPE);

function cellAt(cells: HTMLElement[], i: number, j: number): HTMLElement {
  const cell = cells.find((candidate) => candidate.dataset.i === String(i) && candidate.dataset.j === String(j));
  if (!cell) throw new Error(`no cell ${i},${j}`);
  return cell;
}

describe('SimilarityPane', () => {
  it('compares the splice source with itself at once and draws n × n cells', async () => {
    const { host, session } = await startedSession({ waitForStats: false });
    const { getByTestId, getAllByTestId } = renderWithSession(SimilarityPane, session);
    await waitFor(() => expect(getByTestId('similarity-heatmap').querySelectorAll('rect.pending')).toHaveLength(0));
    expect(host.callsOf('layerSimilarity').map((call) => call.payload)).toEqual([
      { checkpointA: STORIES_PATH, checkpointB: STORIES_PATH, kind: 'q', sampled: undefined },
    ]);
    const cells = getAllByTestId('similarity-cell');
    expect(cells).toHaveLength(25);
    expect(new Set(cells.map((cell) => `${cell.dataset.i},${cell.dataset.j}`)).size).toBe(25);
    expect(getByTestId('similarity-heatmap').dataset.rows).toBe('5');
    expect((getByTestId('similarity-source-a') as HTMLSelectElement).value).toBe(STORIES_PATH);
    expect((getByTestId('similarity-source-b') as HTMLSelectElement).value).toBe(STORIES_PATH);
    // Each cell is coloured by its value: the diagonal (1) and a far pair differ.
    expect(cellAt(cells, 0, 0).getAttribute('fill')).not.toBe(cellAt(cells, 0, 4).getAttribute('fill'));
    expect(cellAt(cells, 1, 3).getAttribute('fill')).toBe(cellAt(cells, 3, 1).getAttribute('fill'));
  });

  it('marks the seam pair (A − 1, B) and reads its cosine as a number', async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getByTestId, getAllByTestId } = renderWithSession(SimilarityPane, session);
    // DUS with one layer dropped from each copy of 5: A = 4, B = 1, so the seam joins layer 3 to layer 1.
    expect(session.plan.splice).toMatchObject({ a: { layer: 4 }, b: { layer: 1 } });
    await waitFor(() => expect(getByTestId('similarity-seam')).toBeTruthy());
    const seam = getByTestId('similarity-seam');
    expect([seam.dataset.i, seam.dataset.j]).toEqual(['3', '1']);
    const cell = cellAt(getAllByTestId('similarity-cell'), 3, 1);
    const marker = seam.querySelector('rect')!;
    expect(Number(marker.getAttribute('x'))).toBe(Number(cell.getAttribute('x')) - 1);
    expect(Number(marker.getAttribute('y'))).toBe(Number(cell.getAttribute('y')) - 1);
    const expected = syntheticSimilarity(stories, stories, 'q', 3, 1);
    await waitFor(() => expect(getByTestId('similarity-seam-value').textContent).toContain(formatCosine(expected)));
    expect(Number(getByTestId('similarity-seam-value').dataset.value)).toBeCloseTo(expected, 12);
  });

  it('splices at a clicked cell in one undo step', async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getByTestId, getAllByTestId } = renderWithSession(SimilarityPane, session);
    await waitFor(() => expect(getAllByTestId('similarity-cell')).toHaveLength(25));
    const before = session.plan.plan;
    await fireEvent.click(cellAt(getAllByTestId('similarity-cell'), 2, 0));
    const offer = getByTestId('similarity-splice-here') as HTMLButtonElement;
    expect(offer.textContent).toContain('A = 3, B = 0');
    expect(offer.disabled).toBe(false);
    await fireEvent.click(offer);
    expect(session.plan.splice).toMatchObject({ a: { layer: 3 }, b: { layer: 0 } });
    expect(session.plan.plan.slices.map((slice) => [slice.start, slice.end])).toEqual([
      [0, 3],
      [0, 5],
    ]);
    await waitFor(() => expect([getByTestId('similarity-seam').dataset.i, getByTestId('similarity-seam').dataset.j]).toEqual(['2', '0']));
    expect((getByTestId('similarity-splice-here') as HTMLButtonElement).disabled).toBe(true);
    session.plan.undo();
    expect(session.plan.plan).toBe(before);
  });

  it('moves a cursor with the arrow keys and offers the splice on Enter', async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getByTestId, getAllByTestId } = renderWithSession(SimilarityPane, session);
    await waitFor(() => expect(getAllByTestId('similarity-cell')).toHaveLength(25));
    const heatmap = getByTestId('similarity-heatmap');
    expect(heatmap.getAttribute('tabindex')).toBe('0');
    heatmap.focus();
    // The first arrow puts the cursor on the seam; the next ones move it.
    await fireEvent.keyDown(heatmap, { key: 'ArrowDown' });
    expect([getByTestId('similarity-selected').dataset.i, getByTestId('similarity-selected').dataset.j]).toEqual(['3', '1']);
    await fireEvent.keyDown(heatmap, { key: 'ArrowDown' });
    await fireEvent.keyDown(heatmap, { key: 'ArrowRight' });
    expect([getByTestId('similarity-selected').dataset.i, getByTestId('similarity-selected').dataset.j]).toEqual(['4', '2']);
    expect(heatmap.getAttribute('aria-activedescendant')).toMatch(/cell-4-2$/);
    await fireEvent.keyDown(heatmap, { key: 'Enter' });
    expect(document.activeElement).toBe(getByTestId('similarity-splice-here'));
    expect(getByTestId('similarity-splice-here').textContent).toContain('A = 5, B = 2');
  });

  it('shows progress while rows stream in, and fills the rows that arrived', async () => {
    // The stream stops before row 2 until the test has looked: two rows filled, three pending.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const similarityRowGate = (row: number): Promise<void> => (row === 2 ? held : Promise.resolve());
    const { session } = await startedSession({ waitForStats: false, fake: { similarityRowGate } });
    const { getByTestId } = renderWithSession(SimilarityPane, session);
    await waitFor(() => expect(getByTestId('similarity-heatmap').querySelectorAll('rect.pending')).toHaveLength(15));
    expect(getByTestId('similarity-progress')).toBeTruthy();
    release();
    await waitFor(() => expect(getByTestId('similarity-heatmap').querySelectorAll('rect.pending')).toHaveLength(0));
    expect(() => getByTestId('similarity-progress')).toThrow();
  });

  it('names both sources and the kind when their shapes differ', async () => {
    const { session } = await startedSession({ waitForStats: false });
    await session.openPath(LLAMA_X_PATH);
    const { getByTestId } = renderWithSession(SimilarityPane, session);
    await waitFor(() => expect(getByTestId('similarity-heatmap')).toBeTruthy());
    const sourceB = getByTestId('similarity-source-b') as HTMLSelectElement;
    sourceB.value = LLAMA_X_PATH;
    await fireEvent.change(sourceB);
    // 70B against 5 layers of stories: too large to start on its own.
    await fireEvent.click(getByTestId('similarity-compute'));
    await waitFor(() => expect(getByTestId('similarity-error').textContent).toMatch(/stories260K and Xwin-LM-70B hold their q tensors in different shapes/));
    expect(() => getByTestId('similarity-seam')).toThrow();
  });

  it('is reached from the Similarity tab of the window', async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getByTestId, getAllByTestId } = render(App, { props: { session, autoStart: false } });
    await fireEvent.click(getByTestId('tab-similarity'));
    expect(getByTestId('tab-similarity').getAttribute('aria-selected')).toBe('true');
    await waitFor(() => expect(getAllByTestId('similarity-cell')).toHaveLength(25));
  });
});
