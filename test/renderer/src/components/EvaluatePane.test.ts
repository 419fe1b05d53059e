import { describe, expect, it } from 'vitest';
import { fireEvent, waitFor } from '@testing-library/svelte';
import EvaluatePane from '../../../../renderer/src/components/EvaluatePane.svelte';
import { formatCosine } from '../../../../renderer/lib/charts/similarity-heatmap.js';
import { seamJump } from '../../../../renderer/lib/stats/layer-norms.js';
import { formatSeamJump } from '../../../../renderer/lib/format/human-units.js';
import { rankCorrelation } from '../../../../electron/common/evaluation/sweep-rules.js';
import { FAKE_SOURCE_PERPLEXITY, goliathPlan, llamaCheckpoint, STORIES_PATH, STORIES_SHAPE, stepGate, syntheticSimilarity } from '../../fake-studio.js';
import { renderWithSession, startedSession } from '../../studio-fixture.js';

const stories = llamaCheckpoint(STORIES_SHAPE);


describe('EvaluatePane', () => {
  it('evaluates the plan with progress, then shows both perplexities, their ratio, the NLL curves and the continuations', async () => {
    const steps = stepGate();
    const { host, session } = await startedSession({ fake: { evaluationGate: () => steps.wait() } });
    const { getByTestId, queryByTestId } = renderWithSession(EvaluatePane, session);
    await fireEvent.click(getByTestId('evaluate-plan'));
    await waitFor(() => expect(getByTestId('evaluation-progress')).toBeTruthy());
    expect((getByTestId('evaluate-plan') as HTMLButtonElement).disabled).toBe(true);
    await steps.next();
    await waitFor(() => expect(getByTestId('evaluation-phase').textContent).toMatch(/Writing the temporary GGUF… 100 %/));
    await steps.next();
    await waitFor(() => expect(getByTestId('evaluation-result')).toBeTruthy());
    expect(queryByTestId('evaluation-progress')).toBeNull();
    const plan = Number(getByTestId('evaluation-plan-perplexity').dataset.value);
    const source = Number(getByTestId('evaluation-source-perplexity').dataset.value);
    expect(source).toBeCloseTo(FAKE_SOURCE_PERPLEXITY, 12);
    expect(Number(getByTestId('evaluation-ratio').dataset.value)).toBeCloseTo(plan / source, 12);
    expect(getByTestId('evaluation-ratio').textContent).toContain(`× ${(plan / source).toFixed(3)}`);
    expect(getByTestId('nll-plan-line').getAttribute('d')).toMatch(/^M[\d.]+,[\d.]+L/);
    expect(getByTestId('nll-source-line').getAttribute('d')).not.toBe(getByTestId('nll-plan-line').getAttribute('d'));
    expect(getByTestId('evaluation-continuation-plan').textContent).toContain('Once upon a time');
    expect(getByTestId('evaluation-continuation-source').textContent).toContain('there was a little girl named Lily.');
    expect(host.callsOf('evaluatePlan')[0]!.payload).toMatchObject({ plan: session.plan.plan });
    // An edit makes the report an earlier plan's.
    session.plan.setDrop(2);
    await waitFor(() => expect(getByTestId('evaluation-stale')).toBeTruthy());
  });

  it('cancels an evaluation and says so', async () => {
    const steps = stepGate();
    const { host, session } = await startedSession({ fake: { evaluationGate: () => steps.wait() } });
    const { getByTestId } = renderWithSession(EvaluatePane, session);
    await fireEvent.click(getByTestId('evaluate-plan'));
    await fireEvent.click(await waitFor(() => getByTestId('evaluation-cancel')));
    await steps.next();
    await waitFor(() => expect(getByTestId('evaluation-error').textContent).toBe('evaluation cancelled'));
    expect(host.callsOf('cancelJob')).toHaveLength(1);
  });

  it('shows a model the engine cannot convert as its message', async () => {
    const { session } = await startedSession();
    await session.openPath('/models/Xwin-LM-70B');
    await session.openPath('/models/Euryale-70B');
    session.plan.replace(goliathPlan());
    const { getByTestId } = renderWithSession(EvaluatePane, session);
    await fireEvent.click(getByTestId('evaluate-plan'));
    await waitFor(() => expect(getByTestId('evaluation-error').textContent).toMatch(/evaluation needs a GGUF of this model/));
    // Two sources: no sweep, and the reason.
    expect(getByTestId('sweep-blocked').textContent).toMatch(/one-source plan/);
    expect((getByTestId('sweep-run') as HTMLButtonElement).disabled).toBe(true);
  });

  it('streams sweep rows into the chart and the table, marks the current plan, and takes a clicked point', async () => {
    const steps = stepGate();
    const { host, session } = await startedSession({ fake: { evaluationGate: () => steps.wait() } });
    const { getByTestId, getAllByTestId, queryAllByTestId } = renderWithSession(EvaluatePane, session);
    await fireEvent.input(getByTestId('sweep-drop-from'), { target: { value: '1' } });
    await fireEvent.input(getByTestId('sweep-drop-to'), { target: { value: '3' } });
    await fireEvent.click(getByTestId('sweep-run'));
    expect(host.callsOf('sweepSplices')[0]!.payload).toEqual({ model: STORIES_PATH, range: { kind: 'drop', from: 1, to: 3 } });
    await steps.next();
    await waitFor(() => expect(queryAllByTestId('sweep-point')).toHaveLength(1));
    expect(getByTestId('sweep-cancel')).toBeTruthy();
    expect(getAllByTestId('sweep-row')).toHaveLength(1);
    await steps.next();
    await steps.next();
    await waitFor(() => expect(getByTestId('sweep-source-line')).toBeTruthy());
    const points = getAllByTestId('sweep-point');
    expect(points.map((point) => [point.dataset.a, point.dataset.b])).toEqual([
      ['4', '1'],
      ['3', '2'],
      ['2', '3'],
    ]);
    // The plan (drop 1) is the marked point.
    expect(points.filter((point) => point.classList.contains('current')).map((point) => point.dataset.b)).toEqual(['1']);
    const rows = getAllByTestId('sweep-row');
    const perplexities = points.map((point) => Number(point.dataset.perplexity));
    expect(rows.map((row) => row.dataset.b)).toEqual(['3', '2', '1']);
    expect(Math.min(...perplexities)).toBe(Number(points.find((point) => point.dataset.b === '3')!.dataset.perplexity));
    await fireEvent.click(points[1]!);
    await session.plan.whenSettled();
    expect(session.plan.drop).toBe(2);
    expect(session.plan.size.numLayers).toBe(6);
    await waitFor(() => expect(getAllByTestId('sweep-point')[1]!.classList.contains('current')).toBe(true));
    // A row of the table takes its plan too: A = 2, B = 3 is drop 3.
    await fireEvent.click(rows[0]!);
    await waitFor(() => expect(session.plan.drop).toBe(3));
  });

  it('shows each row’s seam cosine and norm jump, and their rank correlation with perplexity', async () => {
    const { session } = await startedSession();
    const { getByTestId, getAllByTestId } = renderWithSession(EvaluatePane, session);
    await fireEvent.change(getByTestId('sweep-mode'), { target: { value: 'grid' } });
    await fireEvent.click(getByTestId('sweep-run'));
    // 25 plans, each a re-render of the chart and the table: more than waitFor's default second under jsdom.
    await waitFor(() => expect(getByTestId('sweep-legend').textContent).toContain(`source ${FAKE_SOURCE_PERPLEXITY.toFixed(2)}`), { timeout: 10_000 });
    expect(getAllByTestId('sweep-row')).toHaveLength(25);
    const profile = session.profiles.get(STORIES_PATH)!;
    const expected = session.evaluation.rankedRows.map((row) => ({
      cosine: syntheticSimilarity(stories, stories, 'q', row.a - 1, row.b),
      jump: seamJump({ profile, layer: row.a - 1 }, { profile, layer: row.b }, 'l2'),
      perplexity: row.perplexity,
    }));
    await waitFor(() => expect(getAllByTestId('sweep-row-cosine').map((cell) => cell.textContent)).toEqual(expected.map((entry) => formatCosine(entry.cosine))));
    expect(getAllByTestId('sweep-row-jump').map((cell) => cell.textContent)).toEqual(expected.map((entry) => formatSeamJump(entry.jump)));
    const correlation = getByTestId('sweep-correlation');
    const rhoCosine = rankCorrelation(
      expected.map((entry) => entry.cosine),
      expected.map((entry) => entry.perplexity),
    );
    expect(Number(correlation.dataset.cosine)).toBeCloseTo(rhoCosine, 12);
    const withJump = expected.filter((entry) => entry.jump !== null);
    expect(Number(correlation.dataset.jump)).toBeCloseTo(
      rankCorrelation(
        withJump.map((entry) => entry.jump!),
        withJump.map((entry) => entry.perplexity),
      ),
      12,
    );
    // The heatmap draws one cell per (A, B), none left pending.
    expect(getByTestId('sweep-chart').dataset.kind).toBe('grid');
    expect(getAllByTestId('sweep-point')).toHaveLength(25);
  });

  it('refuses a range the model cannot hold before asking the engine', async () => {
    const { host, session } = await startedSession({ waitForStats: false });
    const { getByTestId } = renderWithSession(EvaluatePane, session);
    await fireEvent.input(getByTestId('sweep-drop-to'), { target: { value: '5' } });
    await waitFor(() => expect(getByTestId('sweep-blocked').textContent).toBe('drop must run within 0..4 (from ≤ to), not 1..5'));
    expect((getByTestId('sweep-run') as HTMLButtonElement).disabled).toBe(true);
    expect(host.callsOf('sweepSplices')).toHaveLength(0);
  });
});
