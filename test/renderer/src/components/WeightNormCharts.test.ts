import { describe, expect, it } from 'vitest';
import { render } from '@testing-library/svelte';
import WeightNormCharts from '../../../../renderer/src/components/WeightNormCharts.svelte';
import { NORM_CHART_MARGIN, normChartData } from '../../../../renderer/lib/charts/norm-chart.js';
import { expandPlan, findSeams } from '../../../../electron/common/plan/layer-plan.js';
import { buildPlanFromRecipe } from '../../../../electron/common/plan/plan-recipes.js';
import { CHART_KINDS, sourceNormProfile } from '../../../../renderer/lib/stats/layer-norms.js';
import { defaultSources, llamaCheckpoint, STORIES_SHAPE, STORIES_PATH, syntheticStats } from '../../fake-studio.js';

function dusCharts(metric: 'l2' | 'rms' = 'l2') {
  const summary = llamaCheckpoint(STORIES_SHAPE);
  const stats = Object.fromEntries(syntheticStats(summary).map((tensor) => [tensor.name, tensor]));
  const profile = sourceNormProfile(summary, stats)!;
  const layers = expandPlan(buildPlanFromRecipe({ kind: 'dus', model: STORIES_PATH, drop: 1 }, defaultSources()), defaultSources());
  const kinds = CHART_KINDS.filter((kind) => profile.kinds.includes(kind));
  const charts = normChartData(kinds, layers, new Map([[STORIES_PATH, profile]]), () => '#4e79a7', findSeams(layers), metric);
  return { layers, charts, stats, summary };
}

describe('WeightNormCharts', () => {
  it('draws one chart per tensor kind of a Llama layer', () => {
    const { charts } = dusCharts();
    const { getAllByTestId } = render(WeightNormCharts, { props: { charts, metric: 'l2' } });
    expect(getAllByTestId('norm-chart').map((chart) => chart.dataset.kind)).toEqual([
      'q',
      'k',
      'v',
      'o',
      'gate',
      'up',
      'down',
      'input_norm',
      'post_attention_norm',
    ]);
    expect(getAllByTestId('output-line').every((line) => (line.getAttribute('d') ?? '').startsWith('M'))).toBe(true);
  });

  it('puts the seam marker halfway between the last layer of copy A and the first of copy B', () => {
    const { charts } = dusCharts();
    const width = 260;
    const { getAllByTestId } = render(WeightNormCharts, { props: { charts, metric: 'l2', fallbackWidth: width } });
    const seams = getAllByTestId('chart-seam');
    expect(seams).toHaveLength(9);
    // 8 output layers over [left, width − right]; the seam sits after output layer 3, at 3.5.
    const left = NORM_CHART_MARGIN.left;
    const right = width - NORM_CHART_MARGIN.right;
    const expected = left + ((3.5 + 0.5) / 8) * (right - left);
    for (const seam of seams) {
      expect(seam.dataset.after).toBe('3');
      expect(Number(seam.getAttribute('x1'))).toBeCloseTo(expected, 5);
    }
    const overlap = getAllByTestId('chart-overlap')[0]!;
    expect(Number(overlap.getAttribute('x'))).toBeCloseTo(left + (1 / 8) * (right - left), 5);
    expect(Number(overlap.getAttribute('width'))).toBeCloseTo((6 / 8) * (right - left), 5);
  });

  it('labels x ticks with the output layer and the source layer it copies', () => {
    const { charts, layers } = dusCharts();
    const { getAllByTestId } = render(WeightNormCharts, { props: { charts, metric: 'l2', fallbackWidth: 400 } });
    const ticks = getAllByTestId('x-tick').filter((tick) => tick.closest('[data-kind="q"]'));
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    for (const tick of ticks) {
      const output = Number(tick.dataset.output);
      const texts = [...tick.querySelectorAll('text')].map((text) => text.textContent);
      expect(texts).toEqual([String(output), `←${layers[output]!.sourceLayer}`]);
    }
    const four = ticks.find((tick) => tick.dataset.output === '4');
    expect(four?.textContent).toContain('←1');
  });

  it('plots the source layer values along the output, so the seam shows as a jump', () => {
    const { charts, stats } = dusCharts('rms');
    const down = charts.find((chart) => chart.kind === 'down')!;
    const rmsOf = (layer: number) => stats[`model.layers.${layer}.mlp.down_proj.weight`]!.rms;
    const expected = [0, 1, 2, 3, 1, 2, 3, 4].map(rmsOf);
    down.output.forEach((point, index) => expect(point.value).toBeCloseTo(expected[index]!, 12));
  });
});
