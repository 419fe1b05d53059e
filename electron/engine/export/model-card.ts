import { stringify } from 'yaml';
import type { CheckpointSummary, ResolvedPlan, ScaleRule } from '../../api/types.js';
import { describeChatTemplate } from '../../common/plan/chat-templates.js';
import { formatLayerRuns, sourceName } from '../../common/plan/plan-sources.js';
import { scalesAnything } from '../../common/plan/scale-rules.js';

export interface ModelCardInput {
  /** Heading of the card: the export folder's name. */
  title: string;
  resolved: ResolvedPlan;
  sources: ReadonlyMap<string, CheckpointSummary>;
  /** The plan as mergekit YAML, exactly as written to mergekit_config.yml. */
  planYaml: string;
  /** Export warnings (config remapping, plan warnings) a reader of the model should know. */
  warnings: readonly string[];
}

/** A Hugging Face repo id (`owner/name`), as config.json's `_name_or_path` holds for downloaded models. */
const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

export const MODEL_CARD_TAGS = ['merge', 'dus-studio', 'depth-up-scaling'];

/** What the Hub should show as a source: its repo id when config.json knows it, else its folder name. */
function baseModelName(summary: CheckpointSummary | undefined, model: string, sources: ReadonlyMap<string, CheckpointSummary>): string {
  const nameOrPath = summary?.config?._name_or_path;
  if (typeof nameOrPath === 'string' && HUB_ID.test(nameOrPath)) return nameOrPath;
  return sourceName(model, sources);
}

function tableCell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function describeScale(rules: readonly ScaleRule[]): string {
  if (!scalesAnything(rules)) return '';
  return rules.map((rule) => `${rule.filter ?? 'all'} ×${Array.isArray(rule.value) ? `[${rule.value.join(' → ')}]` : rule.value}`).join(', ');
}

/** Distinct source ids in order of first use. */
function modelsInOrder(resolved: ResolvedPlan): string[] {
  return [...new Set(resolved.plan.slices.map((slice) => slice.model))];
}

/**
 * README.md of an export: Hub front matter (`base_model`, tags, `library_name`), the sources, the
 * slices and seams, one row per output layer naming the source layer it copies, and the plan YAML,
 * so the model can be rebuilt with DUS Studio or mergekit.
 */
export function buildModelCard(input: ModelCardInput): string {
  const { resolved, sources } = input;
  const models = modelsInOrder(resolved);
  const frontMatter = stringify({
    base_model: [...new Set(models.map((model) => baseModelName(sources.get(model), model, sources)))],
    library_name: 'transformers',
    tags: MODEL_CARD_TAGS,
  }).trimEnd();
  const name = (model: string): string => tableCell(sourceName(model, sources));
  const lines: string[] = ['---', frontMatter, '---', '', `# ${input.title}`, ''];

  const sourceLayers = resolved.layers.length;
  const sourceList = models.map((model) => sourceName(model, sources)).join(', ');
  lines.push(
    `${input.title} has ${sourceLayers} decoder layers built from ${sourceList} by a passthrough merge (depth up-scaling), made with DUS Studio. ` +
      'No weights were trained: each output layer is a copy of a source layer (scaled where the table says so).',
    '',
    '## Sources',
    '',
    '| Source | Architecture | Layers | Parameters | Path |',
    '| --- | --- | ---: | ---: | --- |',
  );
  for (const model of models) {
    const summary = sources.get(model);
    lines.push(
      `| ${name(model)} | ${tableCell(summary?.architecture ?? 'unknown')} | ${summary?.numLayers ?? '?'} | ${summary?.parameters ?? '?'} | \`${tableCell(model)}\` |`,
    );
  }

  lines.push('', '## Plan', '');
  resolved.plan.slices.forEach((slice, index) => {
    const scale = describeScale(slice.scale ?? []);
    lines.push(`${index + 1}. ${sourceName(slice.model, sources)} layers [${slice.start}, ${slice.end})${scale === '' ? '' : `, scaled ${scale}`}`);
  });
  lines.push('');
  lines.push(`Embeddings from ${resolved.embeddingsFrom === null ? 'none' : sourceName(resolved.embeddingsFrom, sources)}; final norm and head from ${resolved.headFrom === null ? 'none' : sourceName(resolved.headFrom, sources)}.`);
  if (resolved.plan.dtype !== undefined) lines.push(`Tensors were written as ${resolved.plan.dtype}.`);
  if (resolved.plan.chatTemplate !== undefined) lines.push(`Chat template: ${describeChatTemplate(resolved.plan.chatTemplate)}.`);
  if (resolved.seams.length > 0) {
    lines.push('', 'Seams (where consecutive output layers are not consecutive source layers):', '');
    for (const seam of resolved.seams) {
      lines.push(
        `- after output layer ${seam.afterOutputLayer}: ${sourceName(seam.from.model, sources)} layer ${seam.from.layer} → ${sourceName(seam.to.model, sources)} layer ${seam.to.layer}`,
      );
    }
  }
  const repeated = resolved.layers.filter((layer) => layer.repeat > 0).map((layer) => layer.index);
  if (repeated.length > 0) lines.push('', `Output layers that repeat an earlier source layer: ${formatLayerRuns(repeated)}.`);

  lines.push('', '## Layers', '', '| Output layer | Source | Source layer | Scale |', '| ---: | --- | ---: | --- |');
  for (const layer of resolved.layers) {
    lines.push(`| ${layer.index} | ${name(layer.model)} | ${layer.sourceLayer} | ${tableCell(describeScale(layer.scale))} |`);
  }

  if (input.warnings.length > 0) {
    lines.push('', '## Warnings', '');
    for (const warning of input.warnings) lines.push(`- ${warning}`);
  }

  // A fence longer than any backtick run in the YAML (a path may hold backticks).
  const longestRun = Math.max(0, ...[...input.planYaml.matchAll(/`+/g)].map((match) => match[0].length));
  const fence = '`'.repeat(Math.max(3, longestRun + 1));
  lines.push('', '## Plan as mergekit YAML', '', `${fence}yaml`, input.planYaml.trimEnd(), fence, '');
  return lines.join('\n');
}
