import { describe, expect, it } from 'vitest';
import { render, fireEvent, waitFor } from '@testing-library/svelte';
import FileBrowser from '../../../../renderer/src/components/FileBrowser.svelte';
import { STUDIO_SESSION_KEY } from '../../../../renderer/lib/state/studio-session.svelte.js';
import { LLAMA_X_PATH, STORIES_PATH } from '../../fake-studio.js';
import { startedSession } from '../../studio-fixture.js';

function renderBrowser(session: Awaited<ReturnType<typeof startedSession>>['session'], purpose: 'open' | 'export-target') {
  return render(FileBrowser, { props: { purpose }, context: new Map([[STUDIO_SESSION_KEY, session]]) });
}

describe('FileBrowser', () => {
  it('lists the server folder and opens a checkpoint from it', async () => {
    const { host, session } = await startedSession({ waitForStats: false });
    session.view.openFileBrowser('open');
    const { getAllByTestId, getByTestId } = renderBrowser(session, 'open');
    await waitFor(() => expect(getAllByTestId('file-browser-entry').length).toBeGreaterThan(0));
    expect(host.callsOf('browse')[0]!.payload).toEqual({ dir: '/models' });
    expect(getByTestId('file-browser').getAttribute('aria-modal')).toBe('true');
    const yaml = getAllByTestId('file-browser-entry').find((entry) => entry.dataset.kind === 'yaml') as HTMLButtonElement;
    expect(yaml.disabled).toBe(false); // mergekit plans open from the browser too
    const xwin = getAllByTestId('file-browser-entry').find((entry) => entry.textContent?.includes('Xwin-LM-70B'))!;
    await fireEvent.click(xwin);
    await waitFor(() => expect(session.checkpoints.byId(LLAMA_X_PATH)).toBeDefined());
    expect(session.view.fileBrowser).toBeNull();
  });

  it('picks the current folder as the export target', async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getAllByTestId, getByText } = renderBrowser(session, 'export-target');
    await waitFor(() => expect(getAllByTestId('file-browser-entry').length).toBeGreaterThan(0));
    const exportsFolder = getAllByTestId('file-browser-entry').find((entry) => entry.textContent?.includes('exports'))!;
    await fireEvent.click(exportsFolder);
    await waitFor(() => expect(getByText('Export into /models/exports')).toBeTruthy());
    await fireEvent.click(getByText('Export into /models/exports'));
    expect(session.exporter.dir).toBe('/models/exports');
  });

  it('shows why a folder cannot be listed', async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getByLabelText, getByRole, findByRole } = renderBrowser(session, 'open');
    await fireEvent.input(getByLabelText('Folder path'), { target: { value: '/etc' } });
    await fireEvent.click(getByRole('button', { name: 'Go' }));
    expect((await findByRole('alert')).textContent).toContain('outside the folders the server may open');
  });

  it('opens a model folder whose path is typed and entered, and enters a plain folder', async () => {
    const { session } = await startedSession({ waitForStats: false });
    session.view.openFileBrowser('open');
    const { getByLabelText, getAllByTestId, unmount } = renderBrowser(session, 'open');
    await waitFor(() => expect(getAllByTestId('file-browser-entry').length).toBeGreaterThan(0));
    const field = getByLabelText('Folder path') as HTMLInputElement;
    await fireEvent.input(field, { target: { value: '/models/exports' } });
    await fireEvent.submit(field.form!);
    await waitFor(() => expect(field.value).toBe('/models/exports'));
    expect(session.view.fileBrowser).not.toBeNull();
    await fireEvent.input(field, { target: { value: LLAMA_X_PATH } });
    await fireEvent.submit(field.form!);
    await waitFor(() => expect(session.checkpoints.byId(LLAMA_X_PATH)).toBeDefined());
    expect(session.view.fileBrowser).toBeNull();
    unmount();
  });

  it('starts where the last one left off: the folder that held the model it opened', async () => {
    const { host, session } = await startedSession({ waitForStats: false });
    const first = renderBrowser(session, 'open');
    await waitFor(() => expect(first.getAllByTestId('file-browser-entry').length).toBeGreaterThan(0));
    const exportsFolder = first.getAllByTestId('file-browser-entry').find((entry) => entry.textContent?.includes('exports'))!;
    await fireEvent.click(exportsFolder);
    await waitFor(() => expect(first.getByText('Empty folder')).toBeTruthy());
    first.unmount();
    const second = renderBrowser(session, 'open');
    await waitFor(() => expect(host.callsOf('browse').at(-1)!.payload).toEqual({ dir: '/models/exports' }));
    const field = second.getByLabelText('Folder path') as HTMLInputElement;
    await waitFor(() => expect(field.value).toBe('/models/exports'));
    // Opening a model folder by its typed path: next time the dialog shows the folder that holds it.
    await fireEvent.input(field, { target: { value: STORIES_PATH } });
    await fireEvent.submit(field.form!);
    await waitFor(() => expect(session.view.fileBrowser).toBeNull());
    second.unmount();
    const third = renderBrowser(session, 'open');
    await waitFor(() => expect((third.getByLabelText('Folder path') as HTMLInputElement).value).toBe('/models'));
    third.unmount();
  });
});

