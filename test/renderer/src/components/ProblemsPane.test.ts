import { describe, expect, it } from 'vitest';
import { fireEvent, waitFor } from '@testing-library/svelte';
import ProblemsPane from '../../../../renderer/src/components/ProblemsPane.svelte';
import { renderWithSession, startedSession } from '../../studio-fixture.js';

describe('ProblemsPane', () => {
  it('lists the live problems of the plan and selects the slice a problem concerns', async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getAllByTestId, queryAllByTestId } = renderWithSession(ProblemsPane, session);
    const codes = () => queryAllByTestId('problem-item').map((item) => item.dataset.code);
    // The default DUS plan reuses layers 1–3: the engine's rules note it, and nothing else.
    await waitFor(() => expect(codes()).toEqual(['LayerRepeated']));
    session.plan.setSliceRange(1, 1, 9);
    await session.plan.whenSettled();
    await waitFor(() => expect(codes()).toContain('RangeOutsideModel'));
    const item = getAllByTestId('problem-item')[0]!;
    expect(item.dataset.code).toBe('RangeOutsideModel');
    await fireEvent.click(item);
    expect(session.view.selectedSlice).toBe(1);
    expect(session.view.selected).toEqual({ column: 'output', index: 4 });
    session.plan.undo();
    await session.plan.whenSettled();
    await waitFor(() => expect(codes()).toEqual(['LayerRepeated']));
  });

  it('takes a YAML problem to its line in the YAML tab', async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getAllByTestId } = renderWithSession(ProblemsPane, session);
    await session.plan.setYaml('slices: [\n');
    await waitFor(() => expect(getAllByTestId('problem-item').filter((item) => item.dataset.code === 'InvalidYaml')).toHaveLength(1));
    await fireEvent.click(getAllByTestId('problem-item').find((item) => item.dataset.code === 'InvalidYaml')!);
    expect(session.view.tab).toBe('yaml');
    expect(session.view.yamlLine).toBeGreaterThanOrEqual(1);
  });

  it("names the YAML line of a plan problem and, for a plan applied as YAML, takes the user there", async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getAllByTestId } = renderWithSession(ProblemsPane, session);
    const model = session.plan.plan.slices[0]!.model;
    await session.plan.setYaml(`slices:\n  - sources:\n      - model: ${model}\n        layer_range: [0, 4]\n  - sources:\n      - model: ${model}\n        layer_range: [1, 9]\nmerge_method: passthrough\n`);
    await session.plan.whenSettled();
    const item = await waitFor(() => getAllByTestId('problem-item').find((candidate) => candidate.dataset.code === 'RangeOutsideModel')!);
    const line = session.plan.yamlText.split('\n').findIndex((text) => text.includes('layer_range: [1, 9]')) + 1;
    expect(item.textContent).toContain(`YAML line ${line}`);
    await fireEvent.click(item);
    expect(session.view.tab).toBe('yaml');
    expect(session.view.yamlLine).toBe(line);
  });
});

