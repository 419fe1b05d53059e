import { afterAll, describe, expect, it } from 'vitest';
import type { CheckpointSummary, LayerPlan } from '../../../electron/api/types.js';
import { planOutputDtype, planOutputTensors, type OutputTensor } from '../../../electron/engine/export/output-tensors.js';
import { resolvePlan } from '../../../electron/common/plan/layer-plan.js';
import { IDENTITY_BLOCK_SCALE } from '../../../electron/common/plan/scale-rules.js';
import { TempFolders, dusPlan, openFixture, slice, sourceMap } from './export-fixtures.js';

const folders = new TempFolders();
afterAll(() => folders.removeAll());

function plan(planned: LayerPlan, ...sources: CheckpointSummary[]): OutputTensor[] {
  const lookup = sourceMap(...sources);
  return planOutputTensors(resolvePlan(planned, lookup), lookup);
}

function byName(tensors: readonly OutputTensor[]): Map<string, OutputTensor> {
  return new Map(tensors.map((tensor) => [tensor.name, tensor]));
}

describe('planOutputTensors', () => {
  it('renumbers the layers of a DUS plan and takes each from its source layer', async () => {
    const source = await openFixture(folders, { layers: 6 });
    const tensors = plan(dusPlan(source, 2), source);
    const named = byName(tensors);
    expect(tensors.filter((tensor) => tensor.layer !== null).length).toBe(8 * 9);
    // Output 4..7 are source layers 2..5.
    expect(named.get('model.layers.4.self_attn.q_proj.weight')?.source.name).toBe('model.layers.2.self_attn.q_proj.weight');
    expect(named.get('model.layers.7.mlp.down_proj.weight')?.source.name).toBe('model.layers.5.mlp.down_proj.weight');
    expect(named.get('model.layers.3.input_layernorm.weight')?.source.name).toBe('model.layers.3.input_layernorm.weight');
    expect(tensors[0]?.name).toBe('model.embed_tokens.weight');
    expect(tensors.slice(-2).map((tensor) => tensor.name)).toEqual(['model.norm.weight', 'lm_head.weight']);
    expect(tensors.every((tensor) => tensor.scale === 1 && tensor.convertTo === undefined && tensor.bytes === tensor.source.bytes)).toBe(true);
  });

  it('takes embeddings from the first slice and final norm and head from the last, as mergekit does', async () => {
    const first = await openFixture(folders, { layers: 4, seed: 1 });
    const last = await openFixture(folders, { layers: 4, seed: 2 });
    const named = byName(plan({ slices: [slice(first, 0, 3), slice(last, 1, 4)] }, first, last));
    expect(named.get('model.embed_tokens.weight')?.source.model).toBe(first.id);
    expect(named.get('model.norm.weight')?.source.model).toBe(last.id);
    expect(named.get('lm_head.weight')?.source.model).toBe(last.id);
    expect(named.get('model.layers.3.mlp.up_proj.weight')?.source).toMatchObject({ model: last.id, name: 'model.layers.1.mlp.up_proj.weight' });
  });

  it('adds no lm_head for tied embeddings', async () => {
    const tied = await openFixture(folders, { layers: 4, tied: true });
    const tensors = plan(dusPlan(tied, 1), tied);
    expect(tensors.some((tensor) => tensor.name === 'lm_head.weight')).toBe(false);
  });

  it('moves MTP layers to the new last index, or drops them', async () => {
    const deepseek = await openFixture(folders, { layers: 4, mtp: true });
    expect(deepseek.mtpLayers).toEqual([4]);
    const moved = byName(plan(dusPlan(deepseek, 1), deepseek));
    expect(moved.get('model.layers.6.eh_proj.weight')).toMatchObject({ layer: 6, source: { name: 'model.layers.4.eh_proj.weight' } });
    expect(moved.get('model.layers.6.self_attn.q_proj.weight')?.source.name).toBe('model.layers.4.self_attn.q_proj.weight');
    const dropped = plan(dusPlan(deepseek, 1, { mtp: 'drop' }), deepseek);
    expect(dropped.some((tensor) => tensor.name.includes('eh_proj'))).toBe(false);
    expect(Math.max(...dropped.map((tensor) => tensor.layer ?? -1))).toBe(5);
  });

  it('renumbers only the text layers of a multimodal model and leaves the vision tower as it is', async () => {
    const llava = await openFixture(folders, { layers: 4, multimodal: true });
    const tensors = plan(dusPlan(llava, 1), llava);
    const vision = tensors.filter((tensor) => tensor.name.startsWith('vision_tower.'));
    expect(vision.length).toBeGreaterThan(0);
    expect(vision.every((tensor) => tensor.name === tensor.source.name && tensor.layer === null)).toBe(true);
    expect(tensors.some((tensor) => tensor.name === 'vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight')).toBe(true);
    expect(tensors.some((tensor) => tensor.name === 'language_model.model.layers.5.mlp.up_proj.weight')).toBe(true);
  });

  it('scales the identity block of a LLaMA-Pro insertion by the output tensor name', async () => {
    const source = await openFixture(folders, { layers: 2 });
    const named = byName(plan({ slices: [slice(source, 0, 2), slice(source, 1, 2, { scale: IDENTITY_BLOCK_SCALE })] }, source));
    expect(named.get('model.layers.2.self_attn.o_proj.weight')?.scale).toBe(0);
    expect(named.get('model.layers.2.mlp.down_proj.weight')?.scale).toBe(0);
    expect(named.get('model.layers.2.mlp.up_proj.weight')?.scale).toBe(1);
    expect(named.get('model.layers.1.self_attn.o_proj.weight')?.scale).toBe(1);
  });

  it('converts floating tensors to the plan dtype with the output byte count', async () => {
    const source = await openFixture(folders, { layers: 2, dtype: 'BF16' });
    const tensors = plan({ slices: [slice(source, 0, 2)], dtype: 'float32' }, source);
    for (const tensor of tensors) {
      expect(tensor).toMatchObject({ dtype: 'F32', convertTo: 'F32' });
      expect(tensor.bytes).toBe(tensor.source.bytes * 2);
    }
    expect(plan({ slices: [slice(source, 0, 2)], dtype: 'bfloat16' }, source).every((tensor) => tensor.convertTo === undefined)).toBe(true);
  });

  it('refuses a plan dtype it cannot write', () => {
    expect(() => planOutputDtype('int4')).toThrow(/unknown output dtype "int4"/);
    expect(planOutputDtype(undefined)).toBeUndefined();
  });
});
