import { describe, expect, it } from 'vitest';
import type { CheckpointSummary, LayerPlan, PlanRecipe } from '../../../electron/api/types.js';
import { resolvePlan } from '../../../electron/common/plan/layer-plan.js';
import { buildPlanFromRecipe } from '../../../electron/common/plan/plan-recipes.js';
import { exportConfigFor } from '../../../electron/engine/export/config-remap.js';
import { planOutputTensors } from '../../../electron/engine/export/output-tensors.js';
import { parseMergekitYaml } from '../../../electron/engine/plan/mergekit-yaml.js';
import { lookupOf, makeSummary } from '../../common/plan/summary-factory.js';

/**
 * Golden outputs, written by hand from DESIGN.md §2 and mergekit's code (plan.py `plan_module`,
 * `plan_slice`, `plan_tensor`; config.py `evaluate_setting`, `ConfigReader.parameter`), not from
 * planOutputTensors: verify derives its expectations from that function, so only expectations
 * written independently can catch it misreading a plan.
 */

const A = makeSummary({ id: '/m/A', name: 'A', numLayers: 4 });
const B = makeSummary({ id: '/m/B', name: 'B', numLayers: 4 });
const sources = lookupOf(A, B);
const short = new Map([
  [A.id, 'A'],
  [B.id, 'B'],
]);

/** `output name ← model:source name ×scale` for the tensors whose output name contains `only`. */
function golden(plan: LayerPlan, only?: string): string[] {
  const resolved = resolvePlan(plan, sources);
  expect(resolved.problems.filter((problem) => problem.severity === 'error')).toEqual([]);
  return planOutputTensors(resolved, sources)
    .filter((tensor) => only === undefined || tensor.name.includes(only) || tensor.layer === null)
    .map((tensor) => `${tensor.name} ← ${short.get(tensor.source.model)}:${tensor.source.name} ×${tensor.scale}`);
}

function recipe(planRecipe: PlanRecipe): LayerPlan {
  return buildPlanFromRecipe(planRecipe, sources);
}

function fromYaml(...lines: string[]): LayerPlan {
  const parsed = parseMergekitYaml(lines.join('\n'), { baseDir: '/m' });
  expect(parsed.problems).toEqual([]);
  return parsed.plan as LayerPlan;
}

const EDGES_A = ['model.embed_tokens.weight ← A:model.embed_tokens.weight ×1'];
const HEAD_A = ['model.norm.weight ← A:model.norm.weight ×1', 'lm_head.weight ← A:lm_head.weight ×1'];
const o = (output: number, model: string, source: number, scale = 1): string =>
  `model.layers.${output}.self_attn.o_proj.weight ← ${model}:model.layers.${source}.self_attn.o_proj.weight ×${scale}`;

describe('export goldens: every recipe', () => {
  it('SOLAR DUS, drop 1 of 4: outputs 0..2 = A 0..2, outputs 3..5 = A 1..3', () => {
    expect(golden(recipe({ kind: 'dus', model: A.id, drop: 1 }), 'o_proj')).toEqual([
      ...EDGES_A,
      o(0, 'A', 0),
      o(1, 'A', 1),
      o(2, 'A', 2),
      o(3, 'A', 1),
      o(4, 'A', 2),
      o(5, 'A', 3),
      ...HEAD_A,
    ]);
  });

  it('splice a = 3, b = 2: outputs = A 0, 1, 2, 2, 3', () => {
    expect(golden(recipe({ kind: 'splice', model: A.id, a: 3, b: 2 }), 'o_proj')).toEqual([
      ...EDGES_A,
      o(0, 'A', 0),
      o(1, 'A', 1),
      o(2, 'A', 2),
      o(3, 'A', 2),
      o(4, 'A', 3),
      ...HEAD_A,
    ]);
  });

  it('LLaMA-Pro every 2: each inserted copy has o_proj and down_proj × 0, the rest × 1', () => {
    const plan = recipe({ kind: 'llama-pro', model: A.id, every: 2 });
    expect(golden(plan, 'o_proj')).toEqual([...EDGES_A, o(0, 'A', 0), o(1, 'A', 1), o(2, 'A', 1, 0), o(3, 'A', 2), o(4, 'A', 3), o(5, 'A', 3, 0), ...HEAD_A]);
    const copy = golden(plan).filter((line) => line.startsWith('model.layers.2.'));
    expect(copy).toEqual([
      'model.layers.2.input_layernorm.weight ← A:model.layers.1.input_layernorm.weight ×1',
      'model.layers.2.self_attn.q_proj.weight ← A:model.layers.1.self_attn.q_proj.weight ×1',
      'model.layers.2.self_attn.k_proj.weight ← A:model.layers.1.self_attn.k_proj.weight ×1',
      'model.layers.2.self_attn.v_proj.weight ← A:model.layers.1.self_attn.v_proj.weight ×1',
      'model.layers.2.self_attn.o_proj.weight ← A:model.layers.1.self_attn.o_proj.weight ×0',
      'model.layers.2.post_attention_layernorm.weight ← A:model.layers.1.post_attention_layernorm.weight ×1',
      'model.layers.2.mlp.gate_proj.weight ← A:model.layers.1.mlp.gate_proj.weight ×1',
      'model.layers.2.mlp.up_proj.weight ← A:model.layers.1.mlp.up_proj.weight ×1',
      'model.layers.2.mlp.down_proj.weight ← A:model.layers.1.mlp.down_proj.weight ×0',
    ]);
  });

  it('stack × 2: the whole stack twice, embeddings and head once', () => {
    expect(golden(recipe({ kind: 'stack', model: A.id, times: 2 }), 'o_proj')).toEqual([
      ...EDGES_A,
      ...[0, 1, 2, 3, 0, 1, 2, 3].map((source, output) => o(output, 'A', source)),
      ...HEAD_A,
    ]);
  });

  it('interleave A, B with window 2, overlap 1: embeddings from A, norm and head from B (the last slice)', () => {
    expect(golden(recipe({ kind: 'interleave', models: [A.id, B.id], window: 2, overlap: 1 }), 'o_proj')).toEqual([
      ...EDGES_A,
      o(0, 'A', 0),
      o(1, 'A', 1),
      o(2, 'B', 1),
      o(3, 'B', 2),
      o(4, 'A', 2),
      o(5, 'A', 3),
      o(6, 'B', 3),
      'model.norm.weight ← B:model.norm.weight ×1',
      'lm_head.weight ← B:lm_head.weight ×1',
    ]);
  });

  it('writes the config of the first slice source with the new layer count and nothing else changed', () => {
    const resolved = resolvePlan(recipe({ kind: 'dus', model: A.id, drop: 1 }), sources);
    expect(exportConfigFor(resolved, sources)?.config).toEqual({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 16,
      intermediate_size: 40,
      num_hidden_layers: 6,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 32,
      tie_word_embeddings: false,
    });
    const cast = resolvePlan({ ...recipe({ kind: 'stack', model: A.id, times: 2 }), dtype: 'bfloat16' }, sources);
    expect(exportConfigFor(cast, sources)?.config).toMatchObject({ num_hidden_layers: 8, torch_dtype: 'bfloat16' });
  });
});

const slice = (model: string, range: [number, number], parameters: string[] = []): string[] => [
  `  - sources:`,
  `      - model: ./${model}`,
  `        layer_range: [${range[0]}, ${range[1]}]`,
  ...parameters.map((line) => `        ${line}`),
];

describe('export goldens: every scale-rule form, as mergekit evaluates it', () => {
  it('matches a filter against the SOURCE tensor name (plan.py plan_tensor: for_tensor(weight_in.name))', () => {
    const plan = fromYaml('slices:', ...slice('A', [0, 1]), ...slice('A', [2, 4], ['parameters:', '  scale:', '    - filter: layers.2.self_attn', '      value: 0', '    - filter: layers.1.self_attn', '      value: 0.5']), 'merge_method: passthrough');
    // Output layer 1 is source layer 2: "layers.2." matches it; "layers.1." (its output name) does not.
    expect(golden(plan, 'o_proj').slice(1, 4)).toEqual([o(0, 'A', 0), o(1, 'A', 2, 0), o(2, 'A', 3)]);
  });

  it('scales embeddings with the first slice and final norm and head with the last (plan.py plan_module)', () => {
    const single = fromYaml('slices:', ...slice('A', [0, 4], ['parameters:', '  scale: 0.5']), 'merge_method: passthrough');
    const edges = golden(single).filter((line) => !line.startsWith('model.layers.'));
    expect(edges).toEqual([
      'model.embed_tokens.weight ← A:model.embed_tokens.weight ×0.5',
      'model.norm.weight ← A:model.norm.weight ×0.5',
      'lm_head.weight ← A:lm_head.weight ×0.5',
    ]);
    const two = fromYaml('slices:', ...slice('A', [0, 2], ['parameters:', '  scale: 0.5']), ...slice('B', [2, 4], ['parameters:', '  scale: 2']), 'merge_method: passthrough');
    expect(golden(two).filter((line) => !line.startsWith('model.layers.'))).toEqual([
      'model.embed_tokens.weight ← A:model.embed_tokens.weight ×0.5',
      'model.norm.weight ← B:model.norm.weight ×2',
      'lm_head.weight ← B:lm_head.weight ×2',
    ]);
  });

  it('looks a scale up on the source, then the slice, then the top level (config.py ConfigReader.parameter)', () => {
    const plan = fromYaml(
      'slices:',
      '  - sources:',
      '      - model: ./A',
      '        layer_range: [0, 1]',
      '        parameters:',
      '          scale:',
      '            - filter: q_proj',
      '              value: 0',
      '    parameters:',
      '      scale:',
      '        - filter: k_proj',
      '          value: 0.25',
      'parameters:',
      '  scale: 0.5',
      'merge_method: passthrough',
    );
    expect(golden(plan)).toEqual([
      'model.embed_tokens.weight ← A:model.embed_tokens.weight ×0.5',
      'model.layers.0.input_layernorm.weight ← A:model.layers.0.input_layernorm.weight ×0.5',
      'model.layers.0.self_attn.q_proj.weight ← A:model.layers.0.self_attn.q_proj.weight ×0',
      'model.layers.0.self_attn.k_proj.weight ← A:model.layers.0.self_attn.k_proj.weight ×0.25',
      'model.layers.0.self_attn.v_proj.weight ← A:model.layers.0.self_attn.v_proj.weight ×0.5',
      'model.layers.0.self_attn.o_proj.weight ← A:model.layers.0.self_attn.o_proj.weight ×0.5',
      'model.layers.0.post_attention_layernorm.weight ← A:model.layers.0.post_attention_layernorm.weight ×0.5',
      'model.layers.0.mlp.gate_proj.weight ← A:model.layers.0.mlp.gate_proj.weight ×0.5',
      'model.layers.0.mlp.up_proj.weight ← A:model.layers.0.mlp.up_proj.weight ×0.5',
      'model.layers.0.mlp.down_proj.weight ← A:model.layers.0.mlp.down_proj.weight ×0.5',
      'model.norm.weight ← A:model.norm.weight ×0.5',
      'lm_head.weight ← A:lm_head.weight ×0.5',
    ]);
  });

  it('interpolates a gradient over the slice: t = offset / (n − 1), and 1 for a one-layer slice (plan.py plan_slice, evaluate_setting)', () => {
    const four = fromYaml('slices:', ...slice('A', [0, 4], ['parameters:', '  scale: [1.0, 0.5]']), 'merge_method: passthrough');
    // 1 − t/2 at t = 0, 1/3, 2/3, 1; embeddings and head at t = 0.
    expect(golden(four, 'o_proj')).toEqual([
      'model.embed_tokens.weight ← A:model.embed_tokens.weight ×1',
      o(0, 'A', 0, 1),
      o(1, 'A', 1, 1 - 1 / 6),
      o(2, 'A', 2, 1 - 2 / 6),
      o(3, 'A', 3, 0.5),
      'model.norm.weight ← A:model.norm.weight ×1',
      'lm_head.weight ← A:lm_head.weight ×1',
    ]);
    // Three points over 4 layers inside a filter rule: t·2 = 0, 2/3, 4/3, 2 → 0, 2/3·1, 1 − 1/3, 0.
    const peaked = fromYaml('slices:', ...slice('A', [0, 4], ['parameters:', '  scale:', '    - filter: o_proj', '      value: [0, 1, 0]']), 'merge_method: passthrough');
    expect(golden(peaked, 'o_proj').slice(1, 5)).toEqual([o(0, 'A', 0, 0), o(1, 'A', 1, 2 / 3), o(2, 'A', 2, 1 - 1 / 3), o(3, 'A', 3, 0)]);
    const one = fromYaml('slices:', ...slice('A', [2, 3], ['parameters:', '  scale: [1.0, 0.5]']), 'merge_method: passthrough');
    expect(golden(one, 'o_proj')[1]).toBe(o(0, 'A', 2, 0.5));
  });

  it('takes the first matching rule; "*" and a rule without filter match all; no match copies unscaled (evaluate_setting)', () => {
    const plan = fromYaml(
      'slices:',
      ...slice('A', [0, 1], ['parameters:', '  scale:', '    - filter: o_proj', '      value: 0', '    - filter: "*"', '      value: 3', '    - value: 9']),
      ...slice('A', [1, 2], ['parameters:', '  scale:', '    - filter: down_proj', '      value: 0.5']),
      'merge_method: passthrough',
    );
    const lines = golden(plan);
    expect(lines).toContain(o(0, 'A', 0, 0));
    expect(lines).toContain('model.layers.0.mlp.up_proj.weight ← A:model.layers.0.mlp.up_proj.weight ×3');
    expect(lines).toContain('model.embed_tokens.weight ← A:model.embed_tokens.weight ×3');
    expect(lines).toContain('model.layers.1.mlp.down_proj.weight ← A:model.layers.1.mlp.down_proj.weight ×0.5');
    expect(lines).toContain(o(1, 'A', 1, 1));
    expect(lines).toContain('lm_head.weight ← A:lm_head.weight ×1');
  });

  it('takes heads no kind names (phi-2 lm_head.linear/ln, score) from the last slice, as mergekit\'s post_weights (phi2-old.json, llama-sequence-classification.json)', () => {
    const withHeads = (summary: CheckpointSummary): CheckpointSummary => {
      const norm = summary.tensors.find((tensor) => tensor.name === 'model.norm.weight')!;
      const extra = ['lm_head.ln.weight', 'lm_head.linear.bias', 'score.weight'].map((name) => ({ ...norm, name, kind: 'other' as const }));
      return { ...summary, tensors: [...summary.tensors, ...extra] };
    };
    const first = withHeads(makeSummary({ id: '/m/P', name: 'P', numLayers: 2 }));
    const last = withHeads(makeSummary({ id: '/m/Q', name: 'Q', numLayers: 2 }));
    const lookup = lookupOf(first, last);
    const plan: LayerPlan = { slices: [{ model: first.id, start: 0, end: 2 }, { model: last.id, start: 0, end: 2 }] };
    const outside = planOutputTensors(resolvePlan(plan, lookup), lookup).filter((tensor) => tensor.layer === null);
    expect(outside.map((tensor) => `${tensor.name} ← ${tensor.source.model}`)).toEqual([
      'model.embed_tokens.weight ← /m/P',
      'model.norm.weight ← /m/Q',
      'lm_head.weight ← /m/Q',
      'lm_head.ln.weight ← /m/Q',
      'lm_head.linear.bias ← /m/Q',
      'score.weight ← /m/Q',
    ]);
  });

  it('writes out_dtype (with or without "torch.") as the output dtype (common.py dtype_from_name)', () => {
    const plan = fromYaml('slices:', ...slice('A', [0, 4]), 'merge_method: passthrough', 'out_dtype: torch.bfloat16');
    expect(plan.dtype).toBe('bfloat16');
    const resolved = resolvePlan(plan, sources);
    expect(new Set(planOutputTensors(resolved, sources).map((tensor) => tensor.dtype))).toEqual(new Set(['BF16']));
  });
});

