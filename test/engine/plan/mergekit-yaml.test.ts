import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LayerPlan, PlanProblem } from '../../../electron/api/types.js';
import { resolvePlan } from '../../../electron/common/plan/layer-plan.js';
import { MAX_YAML_GRADIENT_POINTS, emitMergekitYaml, MAX_YAML_ALIASES, parseMergekitYaml } from '../../../electron/engine/plan/mergekit-yaml.js';
import { buildPlanFromRecipe } from '../../../electron/common/plan/plan-recipes.js';
import { IDENTITY_BLOCK_SCALE } from '../../../electron/common/plan/scale-rules.js';
import { lookupOf, makeSummary } from '../../common/plan/summary-factory.js';

// Pure path arithmetic: nothing is read from disk, so any absolute folder will do.
const configDir = path.resolve('/work-models/configs');
const mistralPath = path.resolve(configDir, '../Mistral-7B');

function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

function errorsOf(problems: PlanProblem[]): PlanProblem[] {
  return problems.filter((problem) => problem.severity === 'error');
}

const SOLAR_YAML = yaml(
  'slices:',
  '  - sources:',
  '      - model: ../Mistral-7B',
  '        layer_range: [0, 24]',
  '  - sources:',
  '      - model: ../Mistral-7B',
  '        layer_range: [8, 32]',
  'merge_method: passthrough',
  'dtype: bfloat16',
);

// Goliath-120B's published mergekit configuration (two Llama-2-70B fine-tunes).
const GOLIATH_YAML = yaml(
  'slices:',
  ...[
    ['Xwin', 0, 16],
    ['Euryale', 8, 24],
    ['Xwin', 17, 32],
    ['Euryale', 25, 40],
    ['Xwin', 33, 48],
    ['Euryale', 41, 56],
    ['Xwin', 49, 64],
    ['Euryale', 57, 72],
    ['Xwin', 65, 80],
  ].flatMap(([model, start, end]) => ['  - sources:', `    - model: ./${model}`, `      layer_range: [${start}, ${end}]`]),
  'merge_method: passthrough',
  'dtype: float16',
);

describe('parseMergekitYaml', () => {
  it('reads SOLAR DUS and resolves model paths against the base folder', () => {
    const { plan, problems } = parseMergekitYaml(SOLAR_YAML, { baseDir: configDir });
    expect(problems).toEqual([]);
    expect(plan).toEqual({
      slices: [
        { model: mistralPath, start: 0, end: 24 },
        { model: mistralPath, start: 8, end: 32 },
      ],
      dtype: 'bfloat16',
    });
  });

  it('reads Goliath-120B into 137 layers from two 80-layer sources', () => {
    const { plan, problems } = parseMergekitYaml(GOLIATH_YAML, { baseDir: configDir });
    expect(problems).toEqual([]);
    const xwin = makeSummary({ name: 'Xwin', id: path.join(configDir, 'Xwin'), numLayers: 80, dtype: 'F16' });
    const euryale = makeSummary({ name: 'Euryale', id: path.join(configDir, 'Euryale'), numLayers: 80, dtype: 'F16' });
    const resolved = resolvePlan(plan as LayerPlan, lookupOf(xwin, euryale));
    expect(resolved.numLayers).toBe(137);
    expect(resolved.ok).toBe(true);
    expect(resolved.seams).toHaveLength(8);
    expect(resolved.embeddingsFrom).toBe(xwin.id);
    expect(resolved.headFrom).toBe(xwin.id);
    const layers = resolved.layers.map((layer) => `${layer.model === xwin.id ? 'X' : 'E'}${layer.sourceLayer}`);
    expect(layers.slice(14, 19)).toEqual(['X14', 'X15', 'E8', 'E9', 'E10']);
    expect(layers.slice(30, 34)).toEqual(['E22', 'E23', 'X17', 'X18']);
    expect(layers.at(-1)).toBe('X79');
    // Xwin layer 16 (and the others between windows) is never used.
    expect(layers).not.toContain('X16');
  });

  it('reads block-style layer ranges, aliases, absolute paths and hub-style ids', () => {
    const text = yaml(
      'slices:',
      '  - sources:',
      `      - model: &base ${JSON.stringify(mistralPath)}`,
      '        layer_range:',
      '          - 0',
      '          - 4',
      '  - sources:',
      '      - model: mistralai/Mistral-7B-v0.1',
      '        layer_range: [2, 6]',
      'merge_method: passthrough',
      'base_model: *base',
    );
    const { plan, problems } = parseMergekitYaml(text, { baseDir: configDir });
    expect(problems).toEqual([]);
    expect(plan).toEqual({
      slices: [
        { model: mistralPath, start: 0, end: 4 },
        // Hub ids cannot be downloaded: they stay as paths below the base folder, and opening them reports NotFound.
        { model: path.join(configDir, 'mistralai/Mistral-7B-v0.1'), start: 2, end: 6 },
      ],
      baseModel: mistralPath,
    });
  });

  it('reads scale as a number, a filter list, on a slice, and with the * filter', () => {
    const text = yaml(
      'slices:',
      '  - sources:',
      '      - model: ./M',
      '        layer_range: [0, 1]',
      '        parameters:',
      '          scale: 0.5',
      '  - sources:',
      '      - model: ./M',
      '        layer_range: [0, 1]',
      '        parameters:',
      '          scale:',
      '            - filter: o_proj',
      '              value: 0.0',
      '            - filter: down_proj',
      '              value: 0.0',
      '            - value: 1.0',
      '  - sources:',
      '      - model: ./M',
      '        layer_range: [1, 2]',
      '        parameters:',
      '          scale: [{filter: o_proj, value: 0}]',
      '    parameters:',
      '      scale: [{filter: "*", value: 2}]',
      'merge_method: passthrough',
    );
    const { plan, problems } = parseMergekitYaml(text, { baseDir: configDir });
    expect(problems).toEqual([]);
    expect(plan?.slices.map((slice) => slice.scale)).toEqual([
      [{ value: 0.5 }],
      IDENTITY_BLOCK_SCALE,
      // The source's rules first, then the slice's: mergekit's lookup order under first-match.
      [
        { filter: 'o_proj', value: 0 },
        { filter: '*', value: 2 },
      ],
    ]);
  });

  it('resolves tokenizer_source to a path, or for "base" to base_model, else the first model referenced (tokenizer/build.py build_tokenizer)', () => {
    const withPath = parseMergekitYaml(SOLAR_YAML + 'tokenizer_source: ../Tokenizer\n', { baseDir: configDir });
    expect(withPath.plan?.tokenizerSource).toBe(path.resolve(configDir, '../Tokenizer'));
    const withBase = parseMergekitYaml(SOLAR_YAML + 'base_model: ../Mistral-7B\ntokenizer_source: base\n', { baseDir: configDir });
    expect(withBase.plan?.tokenizerSource).toBe(mistralPath);
    const withoutBase = parseMergekitYaml(SOLAR_YAML + 'tokenizer_source: base\n', { baseDir: configDir });
    expect(withoutBase.problems).toEqual([]);
    expect(withoutBase.plan?.tokenizerSource).toBe(withoutBase.plan?.slices[0]?.model);
    expect(withoutBase.plan?.tokenizerSource).toBe(mistralPath);
  });

  const slice = (lines: string[]): string[] => ['slices:', '  - sources:', '      - model: ./M', '        layer_range: [0, 4]', ...lines];

  // mergekit config.py `chat_template: Optional[str]`, read by merge.py `_set_chat_template`.
  it('keeps chat_template as written: auto, a built-in name, or a Jinja template of 20 characters or more with a {', () => {
    const read = (...lines: string[]): LayerPlan | null => parseMergekitYaml(yaml(...slice([]), 'merge_method: passthrough', ...lines), { baseDir: configDir }).plan;
    expect(read('chat_template: auto')?.chatTemplate).toBe('auto');
    expect(read('chat_template: llama3')?.chatTemplate).toBe('llama3');
    expect(read(`chat_template: "{{ messages[0]['content'] }}"`)?.chatTemplate).toBe("{{ messages[0]['content'] }}");
    expect(read('chat_template: |', '  {% for m in messages %}', '  {{ m.content }}', '  {% endfor %}')?.chatTemplate).toBe('{% for m in messages %}\n{{ m.content }}\n{% endfor %}\n');
    // A falsy value is no template in mergekit (`if not chat_template: return`).
    expect(read('chat_template: ""')).not.toHaveProperty('chatTemplate');
    expect(read('chat_template:')).not.toHaveProperty('chatTemplate');
    // Names are file names in mergekit: case counts, and 19 characters with a { are still too short.
    expect(read('chat_template: ChatML')).toBeNull();
    expect(read('chat_template: "{{ messages[0] }}xx"')).toBeNull();
    expect(read('chat_template: "{{ messages[0] }}xxx"')?.chatTemplate).toBe('{{ messages[0] }}xxx');
  });

  it('names the YAML file, the line and the known templates when a chat_template is refused', () => {
    const { plan, problems } = parseMergekitYaml(yaml(...slice([]), 'merge_method: passthrough', 'chat_template: llama-3'), { baseDir: configDir, fileName: 'merge.yml' });
    expect(plan).toBeNull();
    expect(problems).toEqual([
      {
        severity: 'error',
        code: 'InvalidYaml',
        line: 6,
        message: "merge.yml:6: chat_template 'llama-3' is not 'auto', a built-in template (alpaca, chatml, exaone, llama3, mistral) or a Jinja template (at least 20 characters with a '{')",
      },
    ]);
  });

  const refusals: { title: string; text: string; code: string; line: number; words: string[] }[] = [
    { title: 'another merge method', text: yaml(...slice([]), 'merge_method: slerp'), code: 'UnsupportedMergeOption', line: 5, words: ["'slerp'"] },
    { title: 'modules', text: yaml(...slice([]), 'modules: {}', 'merge_method: passthrough'), code: 'UnsupportedMergeOption', line: 5, words: ["'modules'"] },
    { title: 'a tokenizer block', text: yaml(...slice([]), 'merge_method: passthrough', 'tokenizer:', '  source: union'), code: 'UnsupportedMergeOption', line: 6, words: ["'tokenizer'"] },
    {
      title: 'a chat_template that is neither auto, a built-in name nor a Jinja template (merge.py _set_chat_template: "Invalid chat template")',
      text: yaml(...slice([]), 'merge_method: passthrough', 'chat_template: chatml2'),
      code: 'InvalidYaml',
      line: 6,
      words: ["'chatml2'", 'alpaca, chatml, exaone, llama3, mistral', 'at least 20 characters'],
    },
    { title: 'a chat_template that is a list', text: yaml(...slice([]), 'merge_method: passthrough', 'chat_template: [chatml]'), code: 'InvalidYaml', line: 6, words: ['chat_template must be a string'] },
    { title: 'out_dtype different from dtype', text: yaml(...slice([]), 'merge_method: passthrough', 'dtype: float16', 'out_dtype: bfloat16'), code: 'UnsupportedMergeOption', line: 7, words: ["out_dtype 'bfloat16'", "dtype 'float16'"] },
    { title: 'an unknown torch dtype', text: yaml(...slice([]), 'merge_method: passthrough', 'dtype: torch.int8'), code: 'UnsupportedDtype', line: 6, words: ["'torch.int8'"] },
    { title: 'an empty gradient', text: yaml(...slice(['        parameters:', '          scale:', '            - filter: o_proj', '              value: []']), 'merge_method: passthrough'), code: 'InvalidYaml', line: 8, words: ['gradient'] },
    { title: 'a union tokenizer', text: yaml(...slice([]), 'merge_method: passthrough', 'tokenizer_source: union'), code: 'UnsupportedMergeOption', line: 6, words: ["'union'"] },
    { title: 'an unknown top-level key', text: yaml(...slice([]), 'merge_method: passthrough', 'slicez: []'), code: 'InvalidYaml', line: 6, words: ["'slicez'"] },
    { title: 'a slice base_model', text: yaml(...slice(['    base_model: ./M']), 'merge_method: passthrough'), code: 'UnsupportedMergeOption', line: 5, words: ['slice 1', "'base_model'"] },
    { title: 'a residual weight', text: yaml(...slice(['    residual_weight: 0.5']), 'merge_method: passthrough'), code: 'UnsupportedMergeOption', line: 5, words: ['slice 1', "'residual_weight'"] },
    { title: 'an unknown slice key', text: yaml(...slice(['    layers: 3']), 'merge_method: passthrough'), code: 'InvalidYaml', line: 5, words: ['slice 1', "'layers'"] },
    { title: 'a weight parameter', text: yaml(...slice(['        parameters:', '          weight: 0.5']), 'merge_method: passthrough'), code: 'UnsupportedMergeOption', line: 6, words: ['slice 1', "'weight'"] },
    { title: 'a density parameter', text: yaml(...slice(['        parameters:', '          density: 0.5']), 'merge_method: passthrough'), code: 'UnsupportedMergeOption', line: 6, words: ["'density'"] },
    { title: 'an unknown source key', text: yaml(...slice(['        lora: ./adapter']), 'merge_method: passthrough'), code: 'InvalidYaml', line: 5, words: ["'lora'"] },
    {
      title: 'two sources in a slice',
      text: yaml('slices:', '  - sources:', '      - model: ./A', '        layer_range: [0, 4]', '      - model: ./B', '        layer_range: [0, 4]', 'merge_method: passthrough'),
      code: 'InvalidYaml',
      line: 3,
      words: ['exactly one source', 'found 2'],
    },
    { title: 'a slice without sources', text: yaml('slices:', '  - parameters:', '      scale: 1', 'merge_method: passthrough'), code: 'InvalidYaml', line: 2, words: ['slice 1 has no sources'] },
    { title: 'a source without layer_range', text: yaml('slices:', '  - sources:', '      - model: ./M', 'merge_method: passthrough'), code: 'InvalidYaml', line: 3, words: ['layer_range'] },
    { title: 'a source without model', text: yaml('slices:', '  - sources:', '      - layer_range: [0, 4]', 'merge_method: passthrough'), code: 'InvalidYaml', line: 3, words: ['no model'] },
    { title: 'a LoRA model reference', text: yaml('slices:', '  - sources:', '      - model: ./M+./adapter', '        layer_range: [0, 4]', 'merge_method: passthrough'), code: 'UnsupportedMergeOption', line: 3, words: ['LoRA'] },
    { title: 'a scale that is text', text: yaml(...slice(['        parameters:', '          scale: half']), 'merge_method: passthrough'), code: 'InvalidYaml', line: 6, words: ['scale must be a number'] },
    { title: 'a scale rule with an unknown key', text: yaml(...slice(['        parameters:', '          scale:', '            - filter: o_proj', '              weight: 0']), 'merge_method: passthrough'), code: 'InvalidYaml', line: 8, words: ["'weight'"] },
    { title: 'a layer_range of three numbers', text: yaml('slices:', '  - sources:', '      - model: ./M', '        layer_range: [0, 4, 8]', 'merge_method: passthrough'), code: 'InvalidYaml', line: 4, words: ['two layer numbers'] },
    { title: 'a fractional layer_range', text: yaml('slices:', '  - sources:', '      - model: ./M', '        layer_range: [0, 4.5]', 'merge_method: passthrough'), code: 'NonIntegerRange', line: 4, words: ['[0, 4.5]'] },
    { title: 'a reversed layer_range', text: yaml('slices:', '  - sources:', '      - model: ./M', '        layer_range: [8, 4]', 'merge_method: passthrough'), code: 'ReversedSlice', line: 4, words: ['[8, 4]'] },
    { title: 'an empty layer_range', text: yaml('slices:', '  - sources:', '      - model: ./M', '        layer_range: [4, 4]', 'merge_method: passthrough'), code: 'EmptySlice', line: 4, words: ['[4, 4]'] },
    { title: 'a negative layer_range', text: yaml('slices:', '  - sources:', '      - model: ./M', '        layer_range: [-1, 4]', 'merge_method: passthrough'), code: 'RangeOutsideModel', line: 4, words: ['layer 0'] },
    { title: 'a missing merge_method', text: yaml(...slice([])), code: 'InvalidYaml', line: 1, words: ['merge_method is missing'] },
    { title: 'missing slices', text: yaml('merge_method: passthrough', 'dtype: float16'), code: 'InvalidYaml', line: 1, words: ['slices is missing'] },
    { title: 'an empty slice list', text: yaml('merge_method: passthrough', 'slices: []'), code: 'EmptyPlan', line: 2, words: ['slices is empty'] },
    { title: 'an unknown dtype', text: yaml(...slice([]), 'merge_method: passthrough', 'dtype: fp8'), code: 'UnsupportedDtype', line: 6, words: ["'fp8'"] },
    { title: 'a list at the top level', text: yaml('- slices: []'), code: 'InvalidYaml', line: 1, words: ['mapping'] },
    { title: 'an empty file', text: '', code: 'InvalidYaml', line: 1, words: ['empty'] },
  ];

  it.each(refusals)('refuses $title with $code on line $line', ({ text, code, line, words }) => {
    const { plan, problems } = parseMergekitYaml(text, { baseDir: configDir });
    expect(plan).toBeNull();
    const problem = problems.find((candidate) => candidate.code === code);
    expect(problem, JSON.stringify(problems, null, 1)).toBeDefined();
    expect(problem?.severity).toBe('error');
    expect(problem?.line).toBe(line);
    for (const word of words) expect(problem?.message).toContain(word);
  });

  const syntaxErrors: { title: string; text: string; line: number }[] = [
    // yaml notices an unclosed [ or { on the next line; the line to fix is the one that opened it.
    { title: 'an unclosed flow list', text: yaml('slices:', '  - sources:', '      - model: ./M', '        layer_range: [0, 4', 'merge_method: passthrough'), line: 4 },
    {
      title: 'an unclosed [ followed by another slice',
      text: yaml('slices:', '  - sources:', '      - model: ./M', '        layer_range: [0, 4', '  - sources:', '      - model: ./M', '        layer_range: [2, 6]', 'merge_method: passthrough'),
      line: 4,
    },
    { title: 'an unclosed flow map', text: yaml('slices:', '  - sources:', '      - {model: ./M, layer_range: [0, 4]', '  - sources: []', 'merge_method: passthrough'), line: 3 },
    { title: 'an unclosed [ inside an unclosed {', text: yaml('merge_method: passthrough', 'slices:', '  - {sources: [{model: ./M}', 'dtype: float16'), line: 3 },
    { title: 'a duplicate key', text: yaml('merge_method: passthrough', 'slices: []', 'merge_method: passthrough'), line: 3 },
    { title: 'a bad indentation', text: yaml('slices:', '  - sources:', '      - model: ./M', '     layer_range: [0, 4]'), line: 4 },
    { title: 'an unterminated quote', text: yaml('merge_method: passthrough', 'dtype: "float16', 'slices: []'), line: 2 },
  ];

  it.each(syntaxErrors)('reports $title as InvalidYaml on line $line', ({ text, line }) => {
    const { plan, problems } = parseMergekitYaml(text, { baseDir: configDir });
    expect(plan).toBeNull();
    expect(errorsOf(problems).length).toBeGreaterThan(0);
    expect(problems[0]).toMatchObject({ code: 'InvalidYaml', severity: 'error', line });
  });

  it('says that an unclosed [ or { is never closed, at the line that opened it', () => {
    const text = yaml('slices:', '  - sources:', '      - model: ./M', '        layer_range: [0, 4', '  - sources: []', 'merge_method: passthrough');
    const [first] = parseMergekitYaml(text, { baseDir: configDir }).problems;
    expect(first).toMatchObject({ line: 4 });
    expect(first?.message).toMatch(/^YAML syntax: the \[ opened here is never closed \(Flow sequence .*\)$/);
  });

  it('reads the models form with passthrough as one slice over all layers (plan.py normalize_config)', () => {
    const text = yaml('models:', '  - model: ../Mistral-7B', '    parameters:', '      scale: 0.5', 'merge_method: passthrough', 'dtype: bfloat16');
    const parsed = parseMergekitYaml(text, { baseDir: configDir, layerCountOf: (model) => (model === mistralPath ? 32 : undefined) });
    expect(parsed.problems).toEqual([]);
    expect(parsed.plan).toEqual({ slices: [{ model: mistralPath, start: 0, end: 32, scale: [{ value: 0.5 }] }], dtype: 'bfloat16' });
  });

  it('refuses a models form with two models (passthrough takes one source) or a model it cannot count', () => {
    const two = parseMergekitYaml(yaml('models:', '  - model: ./A', '  - model: ./B', 'merge_method: passthrough'), { baseDir: configDir, layerCountOf: () => 4 });
    expect(two.plan).toBeNull();
    expect(two.problems[0]?.message).toContain('models lists 2 models; passthrough copies exactly one');
    const unknown = parseMergekitYaml(yaml('models:', '  - model: ./A', 'merge_method: passthrough'), { baseDir: configDir });
    expect(unknown.problems.map((problem) => problem.code)).toEqual(['SourceNotOpen']);
    const both = parseMergekitYaml(yaml('models:', '  - model: ./A', 'slices: []', 'merge_method: passthrough'), { baseDir: configDir, layerCountOf: () => 4 });
    expect(both.problems.some((problem) => problem.message.includes("either 'slices' or 'models'"))).toBe(true);
  });

  it('refuses gradients that aliases repeat beyond MAX_YAML_GRADIENT_POINTS numbers in all, without building them', () => {
    const points = Array.from({ length: 1024 }, () => '0.5').join(', ');
    const slices = Array.from({ length: 100 }, () => '  - *s').join('\n');
    const text = yaml('x: &g [' + points + ']', 'slices:', '  - &s', '    sources:', '      - model: ./A', '        layer_range: [0, 1]', '        parameters:', '          scale:', ...Array.from({ length: 64 }, () => '            - value: *g'), slices, 'merge_method: passthrough');
    const parsed = parseMergekitYaml(text, { baseDir: configDir });
    expect(parsed.plan).toBeNull();
    expect(parsed.problems.some((problem) => problem.message.includes(`more than ${MAX_YAML_GRADIENT_POINTS} numbers in all`))).toBe(true);
  });

  it('reports every problem at once, each with its line', () => {
    const text = yaml('slices:', '  - sources:', '      - model: ./M', '        layer_range: [4, 2]', '        weight: 1', 'merge_method: ties', 'density: 0.5');
    const { problems } = parseMergekitYaml(text, { baseDir: configDir });
    expect(problems.map((problem) => [problem.code, problem.line])).toEqual([
      ['ReversedSlice', 4],
      ['InvalidYaml', 5],
      ['UnsupportedMergeOption', 6],
      ['InvalidYaml', 7],
    ]);
  });

  it('prefixes messages with the file name and line when given one', () => {
    const { problems } = parseMergekitYaml(yaml(...slice([]), 'merge_method: linear'), { baseDir: configDir, fileName: 'solar.yml' });
    expect(problems[0]?.message).toMatch(/^solar\.yml:5: merge_method 'linear'/);
  });

  it(`reads ${MAX_YAML_ALIASES} aliases and refuses one more, at the line of the first alias too many`, () => {
    const flood = (aliases: number): string =>
      yaml('slices:', `  - sources: [&s {model: ../Mistral-7B, layer_range: [0, 4]}]`, ...Array.from({ length: aliases }, () => '  - sources: [*s]'), 'merge_method: passthrough');
    const atLimit = parseMergekitYaml(flood(MAX_YAML_ALIASES), { baseDir: configDir });
    expect(atLimit.problems).toEqual([]);
    expect(atLimit.plan?.slices).toHaveLength(MAX_YAML_ALIASES + 1);
    const over = parseMergekitYaml(flood(MAX_YAML_ALIASES + 1), { baseDir: configDir, fileName: 'flood.yml' });
    expect(over.plan).toBeNull();
    // Line 1 is `slices:`, line 2 the anchor, then one alias per line.
    const line = 2 + MAX_YAML_ALIASES + 1;
    expect(over.problems).toEqual([{ severity: 'error', code: 'InvalidYaml', line, message: `flood.yml:${line}: more than ${MAX_YAML_ALIASES} aliases (*name); a mergekit config needs a few` }]);
  });

  it('counts only aliases, not a * in comments, quoted text or block text', () => {
    const stars = Array.from({ length: MAX_YAML_ALIASES + 1 }, (_, index) => `  *s${index}`);
    const text = yaml(SOLAR_YAML.trimEnd(), ...stars.map((star) => `#${star}`), 'comment: "*s *t"', 'notes: |', ...stars.map((star) => `  ${star}`));
    const { problems } = parseMergekitYaml(text, { baseDir: configDir });
    expect(problems.some((problem) => problem.message.includes('aliases'))).toBe(false);
  });

  it('keeps a YAML warning as a warning and still returns the plan', () => {
    const { plan, problems } = parseMergekitYaml(SOLAR_YAML.replace('dtype: bfloat16', 'dtype: !custom bfloat16'), { baseDir: configDir });
    expect(problems.map((problem) => [problem.severity, problem.line])).toEqual([['warning', 9]]);
    expect(plan?.slices).toHaveLength(2);
  });
});

describe('emitMergekitYaml', () => {
  const mistral = makeSummary({ name: 'Mistral-7B', id: mistralPath, numLayers: 32 });

  it('writes readable passthrough YAML with a header, flow ranges and relative paths', () => {
    const plan = buildPlanFromRecipe({ kind: 'dus', model: mistral.id, drop: 8 }, lookupOf(mistral));
    const text = emitMergekitYaml({ ...plan, dtype: 'bfloat16' }, { relativeTo: configDir });
    expect(text.startsWith('# Generated by DUS Studio')).toBe(true);
    expect(text).toContain('48 output layers');
    expect(text).toContain('layer_range: [0, 24]');
    expect(text).toContain('layer_range: [8, 32]');
    expect(text).toContain(`model: ..${path.sep}Mistral-7B`);
    expect(text).toContain('merge_method: passthrough');
    expect(text).toContain('dtype: bfloat16');
    expect(text).toContain('# slice 2: Mistral-7B layers 8..31 → output 24..47');
  });

  it('counts the layers a range past its open model gives, as the stack and the toolbar do', () => {
    const mistral = makeSummary({ id: mistralPath, name: 'Mistral-7B', numLayers: 32 });
    const plan: LayerPlan = { slices: [{ model: mistralPath, start: 0, end: 24 }, { model: mistralPath, start: 10, end: 40 }] };
    const text = emitMergekitYaml(plan, { sources: lookupOf(mistral) });
    expect(text).toContain('46 output layers');
    expect(text).toContain('# slice 2: Mistral-7B layers 10..31 → output 24..45 (layer_range asks for 30)');
    expect(text).toContain('layer_range: [10, 40]');
    // Without the sources the ranges are all there is to count.
    expect(emitMergekitYaml(plan)).toContain('54 output layers');
  });

  it('writes absolute paths without a folder to be relative to, and names sources as told', () => {
    const text = emitMergekitYaml({ slices: [{ model: mistralPath, start: 0, end: 4 }] }, { sourceNames: new Map([[mistralPath, 'My Mistral']]) });
    expect(text).toContain(`model: ${mistralPath}`);
    expect(text).toContain('# slice 1: My Mistral layers 0..3');
    expect(text).not.toContain('dtype');
  });

  it("escapes NEL, LINE and PARAGRAPH SEPARATOR, which PyYAML (mergekit's reader) takes for line breaks", () => {
    const odd = `/models/odd\u2028name`;
    const plan = { slices: [{ model: odd, start: 0, end: 4 }], chatTemplate: '{{ messages }}\u2029\u0085 and a second {{ part }}' };
    const text = emitMergekitYaml(plan, { sourceNames: new Map([[odd, 'odd\u2028name']]) });
    expect(text).not.toMatch(/[\u0085\u2028\u2029]/u);
    expect(text).toContain('model: "/models/odd\\Lname"');
    expect(text).toContain('chat_template: "{{ messages }}\\P\\N and a second {{ part }}"');
    expect(parseMergekitYaml(text, { baseDir: configDir }).plan).toEqual(plan);
  });

  it('marks models inside the folder with ./ so they are not read as hub ids', () => {
    const inside = path.join(configDir, 'org', 'model');
    const text = emitMergekitYaml({ slices: [{ model: inside, start: 0, end: 1 }] }, { relativeTo: configDir });
    expect(text).toContain(`model: .${path.sep}org${path.sep}model`);
  });

  it('writes a single unfiltered scale as a plain number', () => {
    const text = emitMergekitYaml({ slices: [{ model: mistralPath, start: 0, end: 1, scale: [{ value: 0.5 }] }] });
    expect(text).toMatch(/scale: 0\.5\n/);
  });

  it('notes a dropped MTP choice in a comment, since mergekit has no such option', () => {
    const text = emitMergekitYaml({ slices: [{ model: mistralPath, start: 0, end: 1 }], mtp: 'drop' });
    expect(text).toMatch(/^# .*MTP layers are dropped/m);
  });
});

describe('mergekit YAML round trip', () => {
  const mistral = makeSummary({ name: 'Mistral-7B', id: mistralPath, numLayers: 32 });
  const xwin = makeSummary({ name: 'Xwin', id: path.join(configDir, 'Xwin'), numLayers: 80 });
  const euryale = makeSummary({ name: 'Euryale', id: path.join(configDir, 'Euryale'), numLayers: 80 });

  const plans: { title: string; plan: () => LayerPlan }[] = [
    { title: 'SOLAR DUS', plan: () => ({ ...buildPlanFromRecipe({ kind: 'dus', model: mistral.id, drop: 8 }, lookupOf(mistral)), dtype: 'bfloat16' }) },
    { title: 'LLaMA-Pro', plan: () => buildPlanFromRecipe({ kind: 'llama-pro', model: mistral.id, every: 4 }, lookupOf(mistral)) },
    { title: 'Goliath-120B', plan: () => parseMergekitYaml(GOLIATH_YAML, { baseDir: configDir }).plan as LayerPlan },
    {
      title: 'a plan with base model, tokenizer source and mixed scales',
      plan: () => ({
        slices: [
          { model: mistralPath, start: 0, end: 8, scale: [{ value: 0.5 }] },
          { model: path.join(configDir, 'with space: and #'), start: 4, end: 12, scale: [{ filter: '*', value: 1 }, { filter: 'q_proj', value: 2 }] },
        ],
        dtype: 'float32',
        baseModel: mistralPath,
        tokenizerSource: path.join(configDir, 'tokenizer'),
      }),
    },
    { title: 'a named chat template', plan: () => ({ slices: [{ model: mistralPath, start: 0, end: 8 }], chatTemplate: 'chatml' }) },
    {
      title: 'a Jinja chat template with indentation, blank lines, tabs, trailing spaces and newlines',
      plan: () => ({
        slices: [{ model: mistralPath, start: 0, end: 8 }],
        chatTemplate: "  {%- for m in messages -%}\n\n\t{{ m['content'] }}  \n{%- endfor -%}\n\n",
      }),
    },
    { title: 'a one-line Jinja chat template with quotes and a colon', plan: () => ({ slices: [{ model: mistralPath, start: 0, end: 8 }], chatTemplate: `{{ "a: b" + 'c' }} # not a comment` }) },
  ];

  it.each(plans)('reads back $title as an equal plan', ({ plan }) => {
    const original = plan();
    for (const options of [{ relativeTo: configDir }, {}]) {
      const text = emitMergekitYaml(original, options);
      const back = parseMergekitYaml(text, { baseDir: configDir });
      expect(back.problems).toEqual([]);
      expect(back.plan).toEqual(original);
    }
  });

  it('keeps Goliath at 137 layers after a round trip', () => {
    const plan = parseMergekitYaml(GOLIATH_YAML, { baseDir: configDir }).plan as LayerPlan;
    const back = parseMergekitYaml(emitMergekitYaml(plan, { relativeTo: path.resolve('/elsewhere') }), { baseDir: path.resolve('/elsewhere') });
    expect(resolvePlan(back.plan as LayerPlan, lookupOf(xwin, euryale)).numLayers).toBe(137);
  });
});
