import { describe, expect, it } from 'vitest';
import { fireEvent, waitFor } from '@testing-library/svelte';
import ProblemsPane from '../../../../renderer/src/components/ProblemsPane.svelte';
import { renderWithSession, startedSession } from '../../studio-fixture.js';

describe('ProblemsPane', () => {
  it('lists the live problems of the plan and selects the slice a problem concerns', async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getAllByTestId, queryAllByTestId, getByText } = renderWithSession(ProblemsPane, session);
    expect(getByText(/No problems/)).toBeTruthy();
    session.plan.setSliceRange(1, 1, 9);
    await session.plan.whenSettled();
    await waitFor(() => expect(getAllByTestId('problem-item')).toHaveLength(1));
    const item = getAllByTestId('problem-item')[0]!;
    expect(item.dataset.code).toBe('RangeOutsideModel');
    await fireEvent.click(item);
    expect(session.view.selectedSlice).toBe(1);
    expect(session.view.selected).toEqual({ column: 'output', index: 4 });
    session.plan.undo();
    await session.plan.whenSettled();
    await waitFor(() => expect(queryAllByTestId('problem-item')).toHaveLength(0));
  });

  it('takes a YAML problem to its line in the YAML tab', async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getAllByTestId } = renderWithSession(ProblemsPane, session);
    await session.plan.setYaml('slices: [\n');
    await waitFor(() => expect(getAllByTestId('problem-item')).toHaveLength(1));
    await fireEvent.click(getAllByTestId('problem-item')[0]!);
    expect(session.view.tab).toBe('yaml');
    expect(session.view.yamlLine).toBeGreaterThanOrEqual(1);
  });
});
