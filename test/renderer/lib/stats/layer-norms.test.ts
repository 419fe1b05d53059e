import { describe, expect, it } from 'vitest';
import type { TensorStats } from '../../../../electron/api/types.js';
import { kindNorm, seamJump, sourceNormProfile, typicalStep } from '../../../../renderer/lib/stats/layer-norms.js';
import { llamaCheckpoint, STORIES_SHAPE } from '../../fake-studio.js';

const summary = llamaCheckpoint(STORIES_SHAPE);

/** Statistics where every tensor of layer l has RMS = (l + 1) × base[kind]. */
function linearStats(): Record<string, TensorStats> {
  return Object.fromEntries(
    summary.tensors.map((tensor) => {
      const rms = ((tensor.layer ?? 0) + 1) * (tensor.kind === 'o' ? 2 : 1);
      return [tensor.name, { name: tensor.name, elements: tensor.elements, l2: rms * Math.sqrt(tensor.elements), rms, mean: 0, maxAbs: rms * 5, nanCount: 0, infCount: 0, sampled: false }];
    }),
  );
}

describe('layer norms', () => {
  it('has no profile before any statistics arrive', () => {
    expect(sourceNormProfile(summary, undefined)).toBeNull();
    expect(sourceNormProfile(summary, {})).toBeNull();
    expect(seamJump({ profile: null, layer: 3 }, { profile: null, layer: 1 })).toBeNull();
  });

  it('applies scale rules per tensor: an identity copy has zero o_proj norm', () => {
    const profile = sourceNormProfile(summary, linearStats())!;
    const entry = profile.entries.o![2]!;
    expect(kindNorm(entry)!.rms).toBeCloseTo(6);
    expect(kindNorm(entry, [{ filter: 'o_proj', value: 0 }, { value: 1 }])!.l2).toBe(0);
    expect(kindNorm(entry, [{ value: 0.5 }])!.rms).toBeCloseTo(3);
    // mergekit's evaluate_setting: the filter "*" matches every name, as the exporter applies it.
    expect(kindNorm(entry, [{ filter: '*', value: 0 }])!.l2).toBe(0);
  });

  it('measures the seam jump relative to the profile level, averaged over kinds', () => {
    const profile = sourceNormProfile(summary, linearStats())!;
    // RMS of layer l is (l + 1) × c for every kind, the mean over 5 layers is 3c: from layer 3 to layer 1 the change is 2c / 3c.
    expect(seamJump({ profile, layer: 3 }, { profile, layer: 1 }, 'rms')).toBeCloseTo(2 / 3);
    expect(typicalStep(profile, 'rms')).toBeCloseTo(1 / 3);
  });

  it('leaves out a layer whose statistics have only partly arrived', () => {
    const stats = linearStats();
    delete stats['model.layers.2.self_attn.q_proj.weight'];
    const profile = sourceNormProfile(summary, stats)!;
    expect(profile.entries.q![2]).toBeNull();
    expect(profile.entries.k![2]).not.toBeNull();
  });

  it('extrapolates the L2 of a sampled tensor from its RMS and full element count', () => {
    const stats = linearStats();
    const name = 'model.layers.0.mlp.down_proj.weight';
    const tensor = summary.tensors.find((item) => item.name === name)!;
    stats[name] = { ...stats[name]!, elements: 100, l2: 10, rms: 1, sampled: true };
    const profile = sourceNormProfile(summary, stats)!;
    expect(kindNorm(profile.entries.down![0])!.l2).toBeCloseTo(Math.sqrt(tensor.elements));
  });
});
