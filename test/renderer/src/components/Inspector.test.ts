import { describe, expect, it } from 'vitest';
import { fireEvent, waitFor } from '@testing-library/svelte';
import Inspector from '../../../../renderer/src/components/Inspector.svelte';
import { renderWithSession, startedSession } from '../../studio-fixture.js';
import { STORIES_PATH } from '../../fake-studio.js';

describe('Inspector', () => {
  it('says statistics are not computed yet where the figures would be, and its Compute fills them in', async () => {
    const { session } = await startedSession();
    // As for a checkpoint over the automatic-statistics size: nothing computed yet.
    session.checkpoints.stats = {};
    session.checkpoints.statsStatus = {};
    session.view.selectLayer({ column: 'output', index: 1 });
    const { getByTestId, queryByTestId, container } = renderWithSession(Inspector, session);
    await waitFor(() => expect(getByTestId('statistics-prompt').textContent).toMatch(/L2, RMS and max of layer 1: statistics of .* not computed yet/));
    expect([...container.querySelectorAll('tbody td.number')].every((cell) => cell.textContent?.trim() === '—')).toBe(true);
    await fireEvent.click(getByTestId('statistics-compute'));
    await waitFor(() => expect(queryByTestId('statistics-prompt')).toBeNull());
    expect(container.querySelector('tbody td.number')?.textContent?.trim()).toMatch(/^\d/);
  });

  it('names the type a finished run has no figures for instead of showing a bare dash', async () => {
    const { session } = await startedSession();
    const summary = session.checkpoints.byId(STORIES_PATH)!;
    const missing = summary.tensors.find((tensor) => tensor.layer === 0)!;
    const { [missing.name]: _dropped, ...rest } = session.checkpoints.stats[STORIES_PATH]!;
    session.checkpoints.stats = { ...session.checkpoints.stats, [STORIES_PATH]: rest };
    session.view.selectLayer({ column: 'output', index: 0 });
    const { getAllByTestId, getByText } = renderWithSession(Inspector, session);
    await waitFor(() => expect(getAllByTestId('statistics-unavailable').map((cell) => cell.textContent?.trim())).toEqual([`n/a for ${missing.dtype}`]));
    expect(getByText(new RegExp(`Statistics not available for ${missing.dtype}`))).toBeTruthy();
  });

  it('offers Compute beside the seam jump of the plan overview when the splice source has no statistics', async () => {
    const { session } = await startedSession();
    session.checkpoints.stats = {};
    session.checkpoints.statsStatus = {};
    const { getByTestId } = renderWithSession(Inspector, session);
    await waitFor(() => expect(getByTestId('inspector-seam-jump').textContent).toBe('—'));
    expect(getByTestId('statistics-prompt').textContent).toMatch(/Seam jump: statistics of .* not computed yet/);
    await fireEvent.click(getByTestId('statistics-compute'));
    await waitFor(() => expect(getByTestId('inspector-seam-jump').textContent).toMatch(/%$/));
  });
});
