import { describe, expect, it } from 'vitest';
import { fireEvent, waitFor } from '@testing-library/svelte';
import ExportPane from '../../../../renderer/src/components/ExportPane.svelte';
import { defaultCheckpoints, LLAMA_X_PATH, llama70bShape, llamaCheckpoint } from '../../fake-studio.js';
import { renderWithSession, startedSession } from '../../studio-fixture.js';

/** A clock the test moves by hand, in milliseconds. */
function manualClock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

async function startExport() {
  const clock = manualClock();
  const started = await startedSession({ waitForStats: false, session: { clock: clock.now } });
  const view = renderWithSession(ExportPane, started.session);
  await fireEvent.input(view.getByTestId('export-target'), { target: { value: '/models/exports/stories-dus' } });
  await fireEvent.input(view.getByTestId('export-shard-size'), { target: { value: '500MB' } });
  await fireEvent.click(view.getByTestId('export-replace'));
  await fireEvent.click(view.getByTestId('export-start'));
  await waitFor(() => expect(started.host.pendingExport()).not.toBeNull());
  return { ...started, ...view, clock };
}

describe('ExportPane', () => {
  it('starts an export with the typed folder, shard size and replace choice', async () => {
    const { host, session } = await startExport();
    const request = host.pendingExport()!;
    expect(request.target).toEqual({ dir: '/models/exports/stories-dus', shardSize: 500_000_000, replace: true });
    expect(request.plan).toEqual(session.plan.plan);
  });

  it('shows bytes, speed and time left as progress streams in', async () => {
    const { host, getByTestId, clock } = await startExport();
    const total = 4_000_000_000;
    host.progressExport({ phase: 'copying', doneBytes: 0, totalBytes: total, file: 'model-00001-of-00008.safetensors' });
    clock.advance(1000);
    host.progressExport({ phase: 'copying', doneBytes: 1_000_000_000, totalBytes: total, file: 'model-00002-of-00008.safetensors' });
    await waitFor(() => expect(getByTestId('export-progress').getAttribute('aria-valuenow')).toBe('25'));
    const text = getByTestId('export-progress').parentElement!.textContent!;
    expect(text).toContain('1.0 GB of 4.0 GB');
    expect(text).toContain('1.0 GB/s');
    expect(text).toContain('3 s left');
    expect(text).toContain('model-00002-of-00008.safetensors');
  });

  it('cancels a running export and says nothing was left behind', async () => {
    const { host, getByTestId, queryByTestId, getByText } = await startExport();
    host.progressExport({ phase: 'copying', doneBytes: 10, totalBytes: 100 });
    await fireEvent.click(getByTestId('export-cancel'));
    await waitFor(() => expect(host.callsOf('cancelJob')).toHaveLength(1));
    await waitFor(() => expect(getByText(/Export cancelled/)).toBeTruthy());
    expect(queryByTestId('export-cancel')).toBeNull();
    expect(queryByTestId('export-result')).toBeNull();
    expect((getByTestId('export-start') as HTMLButtonElement).disabled).toBe(false);
  });

  it('ends with the verify result and the folder path', async () => {
    const { host, getByTestId } = await startExport();
    const report = host.finishExport();
    await waitFor(() => expect(getByTestId('export-result')).toBeTruthy());
    expect(getByTestId('verify-status').textContent).toContain(`Verified: ${report.verify?.checkedTensors} tensors`);
    expect(getByTestId('export-path').textContent).toBe('/models/exports/stories-dus');
  });

  it('reports a failed verification, which left nothing at the target', async () => {
    const { host, getByRole } = await startExport();
    host.finishExport({ verifyOk: false });
    await waitFor(() => expect(getByRole('alert').textContent).toMatch(/failed verification \(1 problem\); nothing was written there/));
  });

  it('refuses to start with a shard size it cannot read', async () => {
    const { session } = await startedSession({ waitForStats: false });
    const { getByTestId, getByText } = renderWithSession(ExportPane, session);
    await fireEvent.input(getByTestId('export-target'), { target: { value: '/tmp/out' } });
    await fireEvent.input(getByTestId('export-shard-size'), { target: { value: 'five gigs' } });
    expect((getByTestId('export-start') as HTMLButtonElement).disabled).toBe(true);
    expect(getByText(/Shard size: a size such as 5GB/)).toBeTruthy();
  });

  it("offers mergekit's --allow-crimes while the plan mixes architectures, and sends it with the plan", async () => {
    const mistralPath = '/models/Mistral-70B';
    const mistral = { ...llamaCheckpoint(llama70bShape(mistralPath)), architecture: 'MistralForCausalLM', modelType: 'mistral' };
    const { host, session } = await startedSession({ waitForStats: false, fake: { checkpoints: [...defaultCheckpoints(), mistral] } });
    const { getByTestId, queryByTestId } = renderWithSession(ExportPane, session);
    expect(queryByTestId('export-allow-crimes')).toBeNull();

    session.plan.replace({ slices: [{ model: LLAMA_X_PATH, start: 0, end: 40 }, { model: mistralPath, start: 40, end: 80 }] });
    await session.plan.whenSettled();
    await fireEvent.input(getByTestId('export-target'), { target: { value: '/models/exports/crimes' } });
    const allow = (await waitFor(() => getByTestId('export-allow-crimes'))) as HTMLInputElement;
    expect(allow.checked).toBe(false);
    expect(session.plan.problems.find((problem) => problem.code === 'ArchitectureMismatch')?.severity).toBe('error');
    expect((getByTestId('export-start') as HTMLButtonElement).disabled).toBe(true);

    await fireEvent.click(allow);
    await session.plan.whenSettled();
    expect((host.callsOf('resolvePlan').at(-1)?.payload as { plan: { allowCrimes?: boolean } }).plan.allowCrimes).toBe(true);
    expect(session.plan.problems.find((problem) => problem.code === 'ArchitectureMismatch')?.severity).toBe('warning');
    await waitFor(() => expect((getByTestId('export-start') as HTMLButtonElement).disabled).toBe(false));
    expect(allow.checked).toBe(true);
    await fireEvent.click(getByTestId('export-start'));
    await waitFor(() => expect(host.pendingExport()?.plan.allowCrimes).toBe(true));

    // Unticked, the flag leaves the plan (not false: mergekit's flag is absent by default) and the refusal returns.
    host.finishExport();
    await fireEvent.click(allow);
    await session.plan.whenSettled();
    expect('allowCrimes' in session.plan.plan).toBe(false);
    expect(session.plan.problems.find((problem) => problem.code === 'ArchitectureMismatch')?.severity).toBe('error');
  });
});
