import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildModelCard } from '../../../electron/engine/export/model-card.js';
import { resolvePlan } from '../../../electron/common/plan/layer-plan.js';
import { emitMergekitYaml } from '../../../electron/engine/plan/mergekit-yaml.js';
import { IDENTITY_BLOCK_SCALE } from '../../../electron/common/plan/scale-rules.js';
import { TempFolders, dusPlan, openFixture, slice, sourceMap } from './export-fixtures.js';

const folders = new TempFolders();
afterAll(() => folders.removeAll());

function frontMatter(card: string): Record<string, unknown> {
  const match = /^---\n([\s\S]*?)\n---\n/.exec(card);
  if (match === null) throw new Error('no front matter');
  return parse(match[1] as string) as Record<string, unknown>;
}

describe('buildModelCard', () => {
  it('writes Hub front matter, the sources, a row per output layer and the plan YAML', async () => {
    const source = await openFixture(folders, { layers: 6, extraConfig: { _name_or_path: 'mistralai/Mistral-7B-v0.1' } });
    const sources = sourceMap(source);
    const plan = dusPlan(source, 2);
    const planYaml = emitMergekitYaml(plan);
    const card = buildModelCard({ title: 'my-dus', resolved: resolvePlan(plan, sources), sources, planYaml, warnings: ['layer_types was rewritten'] });

    expect(frontMatter(card)).toEqual({ base_model: ['mistralai/Mistral-7B-v0.1'], library_name: 'transformers', tags: ['merge', 'dus-studio', 'depth-up-scaling'] });
    expect(card).toContain('# my-dus');
    expect(card).toContain(`| model | MistralForCausalLM | 6 | ${source.parameters} | \`${source.id}\` |`);
    expect(card).toContain('- after output layer 3: model layer 3 → model layer 2');
    const rows = card.split('\n').filter((line) => /^\| \d+ \| model \| \d+ \|/.test(line));
    expect(rows.map((row) => row.split('|')[3]?.trim())).toEqual(['0', '1', '2', '3', '2', '3', '4', '5']);
    expect(card).toContain('- layer_types was rewritten');
    expect(card).toContain(`\`\`\`yaml\n${planYaml.trimEnd()}\n\`\`\``);
  });

  it('names sources by folder when they have no hub id and marks scaled layers', async () => {
    const source = await openFixture(folders, { layers: 2 });
    const sources = sourceMap(source);
    const plan = { slices: [slice(source, 0, 2), slice(source, 1, 2, { scale: IDENTITY_BLOCK_SCALE })] };
    const card = buildModelCard({ title: 'pro', resolved: resolvePlan(plan, sources), sources, planYaml: emitMergekitYaml(plan), warnings: [] });
    expect(frontMatter(card).base_model).toEqual(['model']);
    expect(card).toContain('| 2 | model | 1 | o_proj ×0, down_proj ×0, all ×1 |');
    expect(card).toContain('2. model layers [1, 2), scaled o_proj ×0, down_proj ×0, all ×1');
    expect(card).not.toContain('## Warnings');
  });
});
