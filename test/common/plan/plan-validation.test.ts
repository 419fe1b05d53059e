import { describe, expect, it } from 'vitest';
import type { CheckpointSummary, LayerPlan, PlanProblem } from '../../../electron/api/types.js';
import { validatePlan } from '../../../electron/common/plan/plan-validation.js';
import { IDENTITY_BLOCK_SCALE } from '../../../electron/common/plan/scale-rules.js';
import { lookupOf, makeSummary } from './summary-factory.js';

const base = makeSummary({ name: 'Base-8', numLayers: 8 });

function pair(other: CheckpointSummary): { plan: LayerPlan; sources: CheckpointSummary[] } {
  return {
    plan: {
      slices: [
        { model: base.id, start: 0, end: 6 },
        { model: other.id, start: 2, end: 8 },
      ],
    },
    sources: [base, other],
  };
}

interface Case {
  title: string;
  plan: LayerPlan;
  sources: CheckpointSummary[];
  code: string;
  severity: PlanProblem['severity'];
  /** 0-based slice the problem is about; the message then says "slice <n+1> (<source name>)". */
  slice?: number;
  source?: string;
  words?: string[];
}

const cases: Case[] = [
  {
    title: 'a source that is not open',
    plan: { slices: [{ model: '/models/Absent-7B', start: 0, end: 4 }, { model: '/models/Absent-7B', start: 2, end: 6 }] },
    sources: [],
    code: 'SourceNotOpen',
    severity: 'error',
    slice: 0,
    source: 'Absent-7B',
    words: ['/models/Absent-7B', '2 slices'],
  },
  {
    title: 'an empty slice',
    plan: { slices: [{ model: base.id, start: 0, end: 8 }, { model: base.id, start: 3, end: 3 }] },
    sources: [base],
    code: 'EmptySlice',
    severity: 'error',
    slice: 1,
    source: 'Base-8',
    words: ['[3, 3]'],
  },
  {
    title: 'a reversed slice',
    plan: { slices: [{ model: base.id, start: 6, end: 2 }] },
    sources: [base],
    code: 'ReversedSlice',
    severity: 'error',
    slice: 0,
    source: 'Base-8',
    words: ['[6, 2]'],
  },
  {
    title: 'a range past the last layer',
    plan: { slices: [{ model: base.id, start: 0, end: 6 }, { model: base.id, start: 4, end: 12 }] },
    sources: [base],
    code: 'RangeOutsideModel',
    severity: 'error',
    slice: 1,
    source: 'Base-8',
    words: ['[4, 12]', "model's 8 layers"],
  },
  {
    title: 'a range before layer 0',
    plan: { slices: [{ model: base.id, start: -2, end: 4 }] },
    sources: [base],
    code: 'RangeOutsideModel',
    severity: 'error',
    slice: 0,
    source: 'Base-8',
    words: ['[-2, 4]', 'layer 0'],
  },
  {
    title: 'a fractional range',
    plan: { slices: [{ model: base.id, start: 0, end: 3.5 }] },
    sources: [base],
    code: 'NonIntegerRange',
    severity: 'error',
    slice: 0,
    source: 'Base-8',
    words: ['[0, 3.5]'],
  },
  { title: 'a plan without slices', plan: { slices: [] }, sources: [base], code: 'EmptyPlan', severity: 'error' },
  {
    title: 'sources of different families',
    ...pair(makeSummary({ name: 'Neo', numLayers: 8, family: 'neox', layerPrefix: 'gpt_neox.layers.' })),
    code: 'FamilyMismatch',
    severity: 'error',
    slice: 1,
    source: 'Neo',
    words: ["'neox'", "'llama'", 'Base-8'],
  },
  {
    title: 'sources of different hidden sizes',
    ...pair(makeSummary({ name: 'Wide', numLayers: 8, hiddenSize: 32 })),
    code: 'HiddenSizeMismatch',
    severity: 'error',
    slice: 1,
    source: 'Wide',
    words: ['32', '16'],
  },
  {
    title: 'sources of different vocabularies',
    ...pair(makeSummary({ name: 'Chatty', numLayers: 8, vocabSize: 48 })),
    code: 'VocabMismatch',
    severity: 'error',
    slice: 1,
    source: 'Chatty',
    words: ['48', '32'],
  },
  {
    title: 'sources whose layers hold different tensors',
    ...pair(makeSummary({ name: 'QkNorm', numLayers: 8, extraLayerTensors: [{ localName: 'self_attn.q_norm.weight', shape: [4] }] })),
    code: 'LayerTensorsMismatch',
    severity: 'error',
    slice: 1,
    source: 'QkNorm',
    words: ['self_attn.q_norm.weight'],
  },
  {
    title: 'sources whose layer tensors differ in shape',
    ...pair(makeSummary({ name: 'BigMlp', numLayers: 8, intermediateSize: 64 })),
    code: 'ShapeMismatch',
    severity: 'error',
    slice: 1,
    source: 'BigMlp',
    words: ['mlp.down_proj.weight is [16, 64], not [16, 40]'],
  },
  {
    title: 'sources of different dtypes without an output dtype',
    ...pair(makeSummary({ name: 'Half', numLayers: 8, dtype: 'F16' })),
    code: 'DtypeMismatch',
    severity: 'error',
    slice: 1,
    source: 'Half',
    words: ['F16', 'BF16'],
  },
  {
    title: 'sources of different dtypes cast to an output dtype',
    plan: { ...pair(makeSummary({ name: 'Half', numLayers: 8, dtype: 'F16' })).plan, dtype: 'bfloat16' },
    sources: pair(makeSummary({ name: 'Half', numLayers: 8, dtype: 'F16' })).sources,
    code: 'DtypeMismatch',
    severity: 'warning',
    slice: 1,
    source: 'Half',
    words: ['cast to bfloat16'],
  },
  {
    title: 'a first and last source that disagree about tied embeddings',
    ...pair(makeSummary({ name: 'TiedOne', numLayers: 8, tied: true })),
    code: 'TiedMismatch',
    severity: 'error',
    slice: 1,
    source: 'TiedOne',
    words: ['Base-8'],
  },
  {
    title: 'an output dtype mergekit does not know',
    plan: { slices: [{ model: base.id, start: 0, end: 8 }], dtype: 'float8' },
    sources: [base],
    code: 'UnsupportedDtype',
    severity: 'error',
    words: ["'float8'", 'bfloat16'],
  },
  {
    title: 'a scale that would touch integer tensors',
    plan: { slices: [{ model: base.id, start: 0, end: 4 }, { model: base.id, start: 3, end: 4, scale: IDENTITY_BLOCK_SCALE }] },
    sources: [makeSummary({ name: 'Base-8', id: base.id, numLayers: 8, layerDtypes: { 'mlp.down_proj.weight': 'I8' } })],
    code: 'ScaleOnNonFloat',
    severity: 'warning',
    slice: 1,
    source: 'Base-8',
    words: ['mlp.down_proj.weight (I8)'],
  },
  {
    title: 'a scale that is not a finite number',
    plan: { slices: [{ model: base.id, start: 0, end: 8, scale: [{ filter: 'o_proj', value: Number.NaN }] }] },
    sources: [base],
    code: 'InvalidScale',
    severity: 'error',
    slice: 0,
    source: 'Base-8',
    words: ['NaN', 'o_proj'],
  },
  {
    title: 'a splice that skips layers',
    plan: { slices: [{ model: base.id, start: 0, end: 3 }, { model: base.id, start: 5, end: 8 }] },
    sources: [base],
    code: 'GapInSplice',
    severity: 'warning',
    slice: 1,
    source: 'Base-8',
    words: ['layers 3–4'],
  },
  {
    title: 'layers used more than once',
    plan: { slices: [{ model: base.id, start: 0, end: 6 }, { model: base.id, start: 2, end: 8 }] },
    sources: [base],
    code: 'LayerRepeated',
    severity: 'info',
    slice: 1,
    source: 'Base-8',
    words: ['Base-8 layers 2–5'],
  },
];

describe('validatePlan', () => {
  it.each(cases)('reports $code for $title', ({ plan, sources, code, severity, slice, source, words }) => {
    const problems = validatePlan(plan, lookupOf(...sources));
    const problem = problems.find((candidate) => candidate.code === code);
    expect(problem, JSON.stringify(problems, null, 1)).toBeDefined();
    expect(problem?.severity).toBe(severity);
    if (slice !== undefined) {
      expect(problem?.slice).toBe(slice);
      expect(problem?.message).toContain(`slice ${slice + 1} (${source})`);
      expect(problem?.model).toBe(plan.slices[slice]?.model);
    }
    for (const word of words ?? []) expect(problem?.message).toContain(word);
  });

  it('finds nothing wrong with a plain copy of one model', () => {
    expect(validatePlan({ slices: [{ model: base.id, start: 0, end: 8 }] }, lookupOf(base))).toEqual([]);
  });

  it('gives SOLAR DUS only the repeated-layer note', () => {
    const plan: LayerPlan = { slices: [{ model: base.id, start: 0, end: 6 }, { model: base.id, start: 2, end: 8 }] };
    expect(validatePlan(plan, lookupOf(base)).map((problem) => problem.code)).toEqual(['LayerRepeated']);
  });

  it('lists repeated layers once per plan, for every source and count', () => {
    const other = makeSummary({ name: 'Other-8', numLayers: 8 });
    const plan: LayerPlan = {
      slices: [
        { model: base.id, start: 0, end: 4 },
        { model: other.id, start: 0, end: 4 },
        { model: base.id, start: 2, end: 8 },
        { model: other.id, start: 3, end: 8 },
        { model: base.id, start: 3, end: 4 },
      ],
    };
    const repeats = validatePlan(plan, lookupOf(base, other)).filter((problem) => problem.code === 'LayerRepeated');
    expect(repeats).toHaveLength(1);
    expect(repeats[0]?.message).toContain('Base-8 layers 2–3 (up to 3×)');
    expect(repeats[0]?.message).toContain('Other-8 layer 3 (up to 2×)');
    expect(repeats[0]?.slice).toBe(2);
  });

  it('names a missing source once even when many slices use it', () => {
    const plan: LayerPlan = { slices: [0, 1, 2].map((start) => ({ model: '/models/Gone', start, end: start + 1 })) };
    expect(validatePlan(plan, new Map()).filter((problem) => problem.code === 'SourceNotOpen')).toHaveLength(1);
  });

  it('does not warn about a scale of 1 on integer tensors', () => {
    const quantised = makeSummary({ name: 'Q', numLayers: 4, layerDtypes: { 'mlp.down_proj.weight': 'I8' } });
    const plan: LayerPlan = { slices: [{ model: quantised.id, start: 0, end: 4, scale: [{ filter: 'o_proj', value: 0 }, { value: 1 }] }] };
    expect(validatePlan(plan, lookupOf(quantised)).map((problem) => problem.code)).toEqual([]);
  });

  it('matches scale filters against the source tensor name, as mergekit does (plan.py for_tensor(weight_in.name))', () => {
    const quantised = makeSummary({ name: 'Q', numLayers: 4, layerDtypes: { 'mlp.down_proj.weight': 'I8' } });
    // Output layer 5 is source layer 1 of the second slice: the filter names the source layer.
    const scale = [{ filter: 'layers.1.mlp', value: 0 }];
    const plan: LayerPlan = { slices: [{ model: quantised.id, start: 0, end: 4 }, { model: quantised.id, start: 0, end: 4, scale }] };
    const problem = validatePlan(plan, lookupOf(quantised)).find((candidate) => candidate.code === 'ScaleOnNonFloat');
    expect(problem?.layer).toBe(1);
  });

  it('refuses to mix architectures unless allowCrimes, as mergekit without --allow-crimes (architecture/__init__.py)', () => {
    const mistral = { ...makeSummary({ name: 'Mistral-8', numLayers: 8 }), architecture: 'MistralForCausalLM' };
    const plan: LayerPlan = { slices: [{ model: base.id, start: 0, end: 4 }, { model: mistral.id, start: 4, end: 8 }] };
    const refused = validatePlan(plan, lookupOf(base, mistral)).find((problem) => problem.code === 'ArchitectureMismatch');
    expect(refused).toMatchObject({ severity: 'error', slice: 1 });
    expect(refused?.message).toContain('MistralForCausalLM differs from LlamaForCausalLM of Base-8');
    expect(refused?.message).toContain('--allow-crimes');
    const allowed = validatePlan({ ...plan, allowCrimes: true }, lookupOf(base, mistral)).find((problem) => problem.code === 'ArchitectureMismatch');
    expect(allowed?.severity).toBe('warning');
  });

  it('says no decoder layers are recognised in a model whose layers no family names, instead of a range error', () => {
    const mamba = { ...makeSummary({ name: 'mamba', numLayers: 4 }), layerPrefix: null, numLayers: 0, architecture: 'MambaForCausalLM' };
    const problems = validatePlan({ slices: [{ model: mamba.id, start: 0, end: 4 }] }, lookupOf(mamba));
    expect(problems.map((problem) => problem.code)).toEqual(['NoDecoderLayers']);
    expect(problems[0]?.message).toContain('no decoder layers recognised in mamba (MambaForCausalLM)');
  });

  // mergekit takes config.json from base_model (merge.py _model_out_config) and counts it among the
  // models whose architectures must agree (architecture/__init__.py get_architecture_info).
  it('accepts a base_model other than the first slice source when it fits the slices (merge.py _model_out_config)', () => {
    const other = makeSummary({ name: 'Other-8', numLayers: 12 });
    const plan: LayerPlan = { slices: [{ model: base.id, start: 0, end: 8 }], baseModel: other.id };
    expect(validatePlan(plan, lookupOf(base, other))).toEqual([]);
    expect(validatePlan({ ...plan, baseModel: base.id }, lookupOf(base, other))).toEqual([]);
  });

  it('refuses a base_model that is not open, or whose architecture, hidden size or vocabulary differ, naming it and both values (merge.py _model_out_config, get_architecture_info)', () => {
    const plan = (model: CheckpointSummary): LayerPlan => ({ slices: [{ model: base.id, start: 0, end: 8 }], baseModel: model.id });
    const absent = validatePlan({ slices: [{ model: base.id, start: 0, end: 8 }], baseModel: '/models/Absent' }, lookupOf(base));
    expect(absent.map((problem) => [problem.code, problem.severity, problem.planKey])).toEqual([['SourceNotOpen', 'error', 'base_model']]);
    expect(absent[0]?.message).toContain('base_model /models/Absent');

    const wide = makeSummary({ name: 'Wide-8', numLayers: 8, hiddenSize: 32 });
    const widened = validatePlan(plan(wide), lookupOf(base, wide));
    expect(widened.map((problem) => problem.code)).toEqual(['HiddenSizeMismatch']);
    expect(widened[0]?.message).toMatch(new RegExp(`base_model ${wide.id}: .*hidden size 32 .*Base-8.* 16`));

    const bigVocab = makeSummary({ name: 'Vocab-8', numLayers: 8, vocabSize: 64 });
    const vocab = validatePlan(plan(bigVocab), lookupOf(base, bigVocab));
    expect(vocab.map((problem) => problem.code)).toEqual(['VocabMismatch']);
    expect(vocab[0]?.message).toMatch(/64 .*32/);

    const mistral = { ...makeSummary({ name: 'Mistral-8', numLayers: 8 }), architecture: 'MistralForCausalLM' };
    const crimes = validatePlan(plan(mistral), lookupOf(base, mistral));
    expect(crimes.map((problem) => [problem.code, problem.severity])).toEqual([['ArchitectureMismatch', 'error']]);
    expect(crimes[0]?.message).toMatch(/MistralForCausalLM .*LlamaForCausalLM.*--allow-crimes/);
    expect(validatePlan({ ...plan(mistral), allowCrimes: true }, lookupOf(base, mistral)).map((problem) => problem.severity)).toEqual(['warning']);

    const gguf = { ...makeSummary({ name: 'Gguf-8', numLayers: 8 }), format: 'gguf' as const };
    expect(validatePlan(plan(gguf), lookupOf(base, gguf)).map((problem) => problem.code)).toEqual(['UnsupportedMergeOption']);
    // Nor may a GGUF plan name another tokenizer: its metadata (tokenizer included) is the first source's.
    const ggufPlan: LayerPlan = { slices: [{ model: gguf.id, start: 0, end: 8 }], tokenizerSource: base.id };
    expect(validatePlan(ggufPlan, lookupOf(base, gguf)).map((problem) => problem.code)).toEqual(['UnsupportedMergeOption']);
    expect(validatePlan({ ...ggufPlan, tokenizerSource: gguf.id }, lookupOf(gguf))).toEqual([]);

    const noConfig = { ...makeSummary({ name: 'NoConfig-8', numLayers: 8 }), config: null };
    expect(validatePlan(plan(noConfig), lookupOf(base, noConfig)).map((problem) => problem.code)).toEqual(['InvalidConfig']);
  });

  it('does not call neighbouring slices of different sources a gap', () => {
    const other = makeSummary({ name: 'Other-8', numLayers: 8 });
    const plan: LayerPlan = { slices: [{ model: base.id, start: 0, end: 3 }, { model: other.id, start: 5, end: 8 }] };
    expect(validatePlan(plan, lookupOf(base, other)).map((problem) => problem.code)).toEqual([]);
  });
});
