import { describe, expect, it } from 'vitest';
import { fireEvent, render, waitFor } from '@testing-library/svelte';
import App from '../../../renderer/src/App.svelte';
import { StudioSession } from '../../../renderer/lib/state/studio-session.svelte.js';
import type { DesktopActions } from '../../../renderer/lib/studio-client.js';
import { createFakeStudio, LLAMA_E_PATH, LLAMA_X_PATH } from '../fake-studio.js';

async function startApp(options: { desktop?: DesktopActions } = {}) {
  const host = createFakeStudio();
  const session = new StudioSession(host, { planDebounceMs: 0, hostKind: options.desktop ? 'electron' : 'browser', desktop: options.desktop ?? null });
  const view = render(App, { props: { session } });
  await waitFor(() => expect(view.getAllByTestId('output-layer')).toHaveLength(8));
  return { host, session, ...view };
}

describe('App', () => {
  it('undoes and redoes with Ctrl+Z and Ctrl+Shift+Z, but not inside a text field', async () => {
    const { getAllByTestId, getByTestId } = await startApp();
    await fireEvent.change(getByTestId('drop-input'), { target: { value: '2' } });
    expect(getAllByTestId('output-layer')).toHaveLength(6);
    await fireEvent.keyDown(getByTestId('export-button'), { key: 'z', ctrlKey: true });
    expect(getAllByTestId('output-layer')).toHaveLength(8);
    await fireEvent.keyDown(getByTestId('export-button'), { key: 'Z', ctrlKey: true, shiftKey: true });
    expect(getAllByTestId('output-layer')).toHaveLength(6);
    await fireEvent.keyDown(getByTestId('drop-input'), { key: 'z', ctrlKey: true });
    expect(getAllByTestId('output-layer')).toHaveLength(6);
  });

  it('switches recipes from the toolbar', async () => {
    const { getAllByTestId, getByTestId } = await startApp();
    await fireEvent.change(getByTestId('recipe-select'), { target: { value: 'llama-pro' } });
    await waitFor(() => expect(getAllByTestId('output-layer')).toHaveLength(7));
    expect(getAllByTestId('hatch')).toHaveLength(2);
    await fireEvent.change(getByTestId('recipe-select'), { target: { value: 'stack' } });
    await waitFor(() => expect(getAllByTestId('output-layer')).toHaveLength(10));
  });

  it('disables Export while the plan has an error and opens the Export tab otherwise', async () => {
    const { session, getByTestId } = await startApp();
    const exportButton = getByTestId('export-button') as HTMLButtonElement;
    expect(exportButton.disabled).toBe(false);
    session.plan.setSliceRange(0, 3, 2);
    await session.plan.whenSettled();
    await waitFor(() => expect(exportButton.disabled).toBe(true));
    expect(getByTestId('tab-problems').textContent).toBe('Problems (1)');
    session.plan.undo();
    await session.plan.whenSettled();
    await waitFor(() => expect(exportButton.disabled).toBe(false));
    await fireEvent.click(exportButton);
    expect(getByTestId('tab-export').getAttribute('aria-selected')).toBe('true');
    expect(getByTestId('export-target')).toBeTruthy();
  });

  it('follows the system theme until the user picks one', async () => {
    const { getByTestId } = await startApp();
    expect(document.documentElement.dataset.theme).toBeUndefined();
    await fireEvent.click(getByTestId('theme-toggle'));
    expect(document.documentElement.dataset.theme).toBe('dark');
    await fireEvent.click(getByTestId('theme-toggle'));
    expect(document.documentElement.dataset.theme).toBeUndefined();
  });

  it('opens what the desktop menu sends and uses the native dialog for Open…', async () => {
    const chosen: string[][] = [[LLAMA_X_PATH]];
    const desktop: DesktopActions = {
      openDialog: async () => chosen.shift() ?? [],
      chooseFolder: async () => '/models/exports',
      chooseFile: async () => '/models/exports/model',
      reveal: async () => {},
    };
    const { host, session, getAllByTestId, getByTestId } = await startApp({ desktop });
    await fireEvent.click(getByTestId('open-button'));
    await waitFor(() => expect(getAllByTestId('checkpoint-card')).toHaveLength(2));
    host.emit('menu', { action: 'open', path: LLAMA_E_PATH });
    await waitFor(() => expect(getAllByTestId('checkpoint-card')).toHaveLength(3));
    host.emit('menu', { action: 'export' });
    await waitFor(() => expect(session.view.tab).toBe('export'));
    expect(session.view.fileBrowser).toBeNull();
  });

  it('tells a browser user that dropping files is not possible and offers the server browser', async () => {
    const { getByText, getByTestId } = await startApp();
    expect(getByText(/files cannot be dropped/)).toBeTruthy();
    await fireEvent.click(getByText("Browse the server's folders"));
    await waitFor(() => expect(getByTestId('file-browser')).toBeTruthy());
  });
});
