import { describe, expect, it } from 'vitest';
import { fireEvent, waitFor } from '@testing-library/svelte';
import YamlPane from '../../../../renderer/src/components/YamlPane.svelte';
import { STORIES_PATH } from '../../fake-studio.js';
import { renderWithSession, startedSession } from '../../studio-fixture.js';

describe('YamlPane', () => {
  it('shows the plan as mergekit YAML', async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getByTestId } = renderWithSession(YamlPane, session);
    const editor = getByTestId('yaml-editor') as HTMLTextAreaElement;
    expect(editor.value).toContain('merge_method: passthrough');
    expect(editor.value).toContain('layer_range: [0, 4]');
    expect(editor.value).toContain('layer_range: [1, 5]');
  });

  it('sends an edit through planFromYaml and redraws the plan from it', async () => {
    const { host, session } = await startedSession({ waitForStats: false });
    const { getByTestId } = renderWithSession(YamlPane, session);
    const editor = getByTestId('yaml-editor') as HTMLTextAreaElement;
    const apply = getByTestId('yaml-apply') as HTMLButtonElement;
    expect(apply.disabled).toBe(true);
    await fireEvent.input(editor, { target: { value: editor.value.replace('layer_range: [0, 4]', 'layer_range: [0, 3]') } });
    expect(apply.disabled).toBe(false);
    await fireEvent.click(apply);
    await waitFor(() => expect(host.callsOf('planFromYaml')).toHaveLength(1));
    expect((host.callsOf('planFromYaml')[0]!.payload as { text: string }).text).toContain('layer_range: [0, 3]');
    await waitFor(() => expect(session.plan.plan.slices[0]).toMatchObject({ model: STORIES_PATH, start: 0, end: 3 }));
    expect(session.plan.layers).toHaveLength(7);
    await session.plan.whenSettled();
    await waitFor(() => expect((getByTestId('yaml-editor') as HTMLTextAreaElement).value).toContain('layer_range: [0, 3]'));
  });

  it('points at the line of a YAML problem and keeps the plan as it was', async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getByTestId, getAllByTestId, container } = renderWithSession(YamlPane, session);
    const before = session.plan.plan;
    const text = `slices:\n  - sources:\n      - model: ${STORIES_PATH}\n        layer_range: [0, four]\nmerge_method: passthrough\n`;
    await fireEvent.input(getByTestId('yaml-editor'), { target: { value: text } });
    await fireEvent.click(getByTestId('yaml-apply'));
    await waitFor(() => expect(getAllByTestId('yaml-problem')).toHaveLength(1));
    expect(getAllByTestId('yaml-problem')[0]!.textContent).toContain('Line 4');
    const marked = [...container.querySelectorAll('.number.error')].map((element) => element.getAttribute('data-line'));
    expect(marked).toEqual(['4']);
    expect(session.plan.plan).toBe(before);
    const editor = getByTestId('yaml-editor') as HTMLTextAreaElement;
    await waitFor(() => expect(editor.value.slice(editor.selectionStart, editor.selectionEnd)).toBe('        layer_range: [0, four]'));
    expect(editor.getAttribute('aria-invalid')).toBe('true');
  });

  it("marks the line of a range outside its model in the plan's YAML once applied, not only under Problems", async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getByTestId, getAllByTestId, container } = renderWithSession(YamlPane, session);
    const text = `slices:\n  - sources:\n      - model: ${STORIES_PATH}\n        layer_range: [0, 4]\n  - sources:\n      - model: ${STORIES_PATH}\n        layer_range: [1, 9]\nmerge_method: passthrough\n`;
    await fireEvent.input(getByTestId('yaml-editor'), { target: { value: text } });
    await fireEvent.click(getByTestId('yaml-apply'));
    await session.plan.whenSettled();
    const editor = getByTestId('yaml-editor') as HTMLTextAreaElement;
    await waitFor(() => expect(container.querySelectorAll('.number.error')).toHaveLength(1));
    const line = Number(container.querySelector('.number.error')!.getAttribute('data-line'));
    expect(editor.value.split('\n')[line - 1]).toContain('layer_range: [1, 9]');
    const problem = getAllByTestId('yaml-problem').find((item) => item.textContent?.includes(`Line ${line}`));
    expect(problem?.classList.contains('error')).toBe(true);
    expect(editor.getAttribute('aria-invalid')).toBe('true');
  });

  it('leaves the user on the tab they went to while the applied plan was being checked', async () => {
    const { session } = await startedSession({ waitForStats: false });
    session.view.showTab('yaml');
    const { getByTestId } = renderWithSession(YamlPane, session);
    const text = `slices:\n  - sources:\n      - model: ${STORIES_PATH}\n        layer_range: [1, 9]\nmerge_method: passthrough\n`;
    await fireEvent.input(getByTestId('yaml-editor'), { target: { value: text } });
    await fireEvent.click(getByTestId('yaml-apply'));
    await waitFor(() => expect(session.plan.plan.slices[0]).toMatchObject({ start: 1, end: 9 }));
    session.view.showTab('export');
    await session.plan.whenSettled();
    await waitFor(() => expect(session.plan.problems.some((problem) => problem.severity === 'error')).toBe(true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(session.view.tab).toBe('export');
  });
});
