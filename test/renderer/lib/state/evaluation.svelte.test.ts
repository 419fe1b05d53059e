import { describe, expect, it } from 'vitest';
import { buildPlanFromRecipe } from '../../../../electron/common/plan/plan-recipes.js';
import { EvaluationState } from '../../../../renderer/lib/state/evaluation.svelte.js';
import { createFakeStudio, defaultSources, FAKE_SOURCE_PERPLEXITY, goliathPlan, STORIES_PATH, stepGate } from '../../fake-studio.js';

const sources = defaultSources();
const dropOne = buildPlanFromRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 }, sources);


describe('EvaluationState', () => {
  it('evaluates a plan as a job, following its phases, and keeps the report with the source beside it', async () => {
    const steps = stepGate();
    const host = createFakeStudio({ evaluationGate: () => steps.wait() });
    await host.openCheckpoint({ path: STORIES_PATH });
    const state = new EvaluationState(host);
    const seen: string[] = [];
    // Registered after the state's own listener, so each sees the progress the state just took.
    host.on('jobProgress', () => seen.push(`${state.evaluation?.progress?.phase} ${state.evaluation?.progress?.done}`));
    const running = state.evaluate(dropOne);
    expect(state.evaluation).toMatchObject({ running: true, progress: null });
    await steps.next();
    await expect.poll(() => state.evaluation?.progress?.phase).toBe('writing');
    await steps.next();
    await running;
    expect(seen.slice(2)).toEqual(['scoring 48', 'scoring 96']);
    expect(seen[1]).toMatch(/^writing \d+$/);
    const report = state.evaluation!.report!;
    expect(state.evaluation!.running).toBe(false);
    expect(report.source!.perplexity).toBeCloseTo(FAKE_SOURCE_PERPLEXITY, 12);
    expect(report.plan.perplexity).toBeGreaterThan(report.source!.perplexity);
    expect(report.plan.layers).toBe(8);
    const call = host.callsOf('evaluatePlan')[0]!.payload as { plan: unknown };
    expect(call.plan).toEqual(dropOne);
    state.dispose();
  });

  it('cancels an evaluation and shows why', async () => {
    const steps = stepGate();
    const host = createFakeStudio({ evaluationGate: () => steps.wait() });
    await host.openCheckpoint({ path: STORIES_PATH });
    const state = new EvaluationState(host);
    const running = state.evaluate(dropOne);
    await state.cancelEvaluation();
    await steps.next();
    await running;
    expect(host.callsOf('cancelJob')).toHaveLength(1);
    expect(state.evaluation).toMatchObject({ running: false, error: 'evaluation cancelled' });
    expect(state.evaluation!.report).toBeUndefined();
  });

  it('shows the engine refusing a model it cannot convert as its message', async () => {
    const host = createFakeStudio();
    const state = new EvaluationState(host);
    await state.evaluate(goliathPlan());
    expect(state.evaluation!.error).toMatch(/Xwin-LM-70B: evaluation needs a GGUF of this model/);
  });

  it('streams sweep rows as they finish, ranks them best first, and ends with the source', async () => {
    const steps = stepGate();
    const host = createFakeStudio({ evaluationGate: () => steps.wait() });
    await host.openCheckpoint({ path: STORIES_PATH });
    const state = new EvaluationState(host);
    const running = state.runSweep(STORIES_PATH, { kind: 'drop', from: 1, to: 3 });
    await steps.next();
    await expect.poll(() => state.sweep?.rows.length).toBe(1);
    expect(state.sweep).toMatchObject({ running: true, done: 1, total: 3 });
    expect(state.sweep!.rows[0]).toMatchObject({ a: 4, b: 1, layers: 8 });
    await steps.next();
    await steps.next();
    await running;
    expect(state.sweep).toMatchObject({ running: false, done: 3, total: 3, source: { perplexity: FAKE_SOURCE_PERPLEXITY, layers: 5 } });
    const ranked = state.rankedRows.map((row) => row.perplexity);
    expect(ranked).toEqual([...ranked].sort((left, right) => left - right));
    // m = 2 and m = 3 both leave a one-layer seam (fake rule); the shorter stack ranks first.
    expect(state.rankedRows.map((row) => row.b)).toEqual([3, 2, 1]);
  });

  it('keeps the rows that finished when a sweep is cancelled', async () => {
    const steps = stepGate();
    const host = createFakeStudio({ evaluationGate: () => steps.wait() });
    await host.openCheckpoint({ path: STORIES_PATH });
    const state = new EvaluationState(host);
    const running = state.runSweep(STORIES_PATH, { kind: 'grid', aFrom: 1, aTo: 5, bFrom: 0, bTo: 4 });
    await steps.next();
    await expect.poll(() => state.sweep?.rows.length).toBe(1);
    await state.cancelSweep();
    await steps.next();
    await running;
    expect(state.sweep).toMatchObject({ running: false, error: 'the sweep was cancelled' });
    expect(state.sweep!.rows).toHaveLength(1);
    // Events of another job (another window's sweep) are not this one's rows.
    host.emit('jobProgress', { jobId: 'someone-else', kind: 'sweep', progress: { row: { a: 2, b: 2, layers: 5, perplexity: 3, tokens: 1 }, done: 1, total: 1 } });
    expect(state.sweep!.rows).toHaveLength(1);
  });

  it('reports a range the model cannot hold as the engine words it', async () => {
    const host = createFakeStudio();
    await host.openCheckpoint({ path: STORIES_PATH });
    const state = new EvaluationState(host);
    await state.runSweep(STORIES_PATH, { kind: 'drop', from: 1, to: 5 });
    expect(state.sweep!.error).toBe('drop must run within 0..4 (from ≤ to), not 1..5');
  });
});
