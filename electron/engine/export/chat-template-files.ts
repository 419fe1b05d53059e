import path from 'node:path';
import { StudioError } from '../../api/errors.js';
import type { CheckpointSummary, LayerPlan } from '../../api/types.js';
import type { SideFileCopy } from './side-file-donors.js';
import { chatTemplateChoice, invalidChatTemplateMessage, mostCommonChatTemplate } from '../../common/plan/chat-templates.js';
import { nullWhenMissing, readTextFileWithin } from '../formats/bounded-read.js';

/** Where transformers (5.x, which mergekit requires) saves a tokenizer's chat template. */
export const CHAT_TEMPLATE_FILE_NAME = 'chat_template.jinja';
/** A processor's chat template; a tokenizer saved by transformers has none beside it. */
const PROCESSOR_CHAT_TEMPLATE_FILE_NAME = 'chat_template.json';
const TOKENIZER_CONFIG_FILE_NAME = 'tokenizer_config.json';
/** The key older transformers kept the template under, which 5.x moves out into chat_template.jinja. */
const CHAT_TEMPLATE_KEY = 'chat_template';
/** Largest tokenizer_config.json or chat_template.jinja read (templates are kilobytes; added-token tables can reach megabytes). */
const TEMPLATE_FILE_MAX_BYTES = 64 * 1024 * 1024;

/**
 * The models `chat_template: auto` asks: base_model, then each slice's source, each once
 * (config.py `referenced_models`; tokenizer_source is not among them).
 */
export function chatTemplateModels(plan: LayerPlan): string[] {
  const models = plan.baseModel === undefined ? [] : [plan.baseModel];
  return [...new Set([...models, ...plan.slices.map((slice) => slice.model)])];
}

/**
 * The template a plan's `chat_template` sets, or null when it sets none (no chat_template, or
 * `auto` and no input model has a template: mergekit then keeps the tokenizer's own).
 * `templateOf` gives a model's own template (null when it has none).
 */
export async function chosenChatTemplate(plan: LayerPlan, templateOf: (model: string) => Promise<string | null>): Promise<string | null> {
  if (plan.chatTemplate === undefined) return null;
  const choice = chatTemplateChoice(plan.chatTemplate);
  if (choice === null) throw new StudioError('InvalidPlan', invalidChatTemplateMessage(plan.chatTemplate));
  if (choice.kind !== 'auto') return choice.text;
  const templates: Array<string | null> = [];
  for (const model of chatTemplateModels(plan)) templates.push(await templateOf(model));
  return mostCommonChatTemplate(templates);
}

function readOptionalText(file: string, what: string): Promise<string | null> {
  return nullWhenMissing(readTextFileWithin(file, { what, maxBytes: TEMPLATE_FILE_MAX_BYTES, invalidCode: 'InvalidTokenizer' }));
}

function parseTokenizerConfig(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new StudioError('InvalidTokenizer', `${path.basename(file)} is not valid JSON, so its chat template cannot be read or replaced`, { path: file });
  }
}

/**
 * A model folder's chat template as transformers loads it: chat_template.jinja (read in Python's
 * text mode, which turns \r\n and \r into \n), else tokenizer_config.json's `chat_template`, a
 * string or, in the list form, the entry named `default`. Null when it has none.
 */
export async function folderChatTemplate(folder: string): Promise<string | null> {
  const jinja = await readOptionalText(path.join(folder, CHAT_TEMPLATE_FILE_NAME), 'chat template');
  if (jinja !== null) return jinja.replace(/\r\n?/g, '\n');
  const configFile = path.join(folder, TOKENIZER_CONFIG_FILE_NAME);
  const text = await readOptionalText(configFile, 'tokenizer config');
  if (text === null) return null;
  const config = parseTokenizerConfig(text, configFile);
  const template = typeof config === 'object' && config !== null ? (config as Record<string, unknown>)[CHAT_TEMPLATE_KEY] : undefined;
  if (typeof template === 'string') return template;
  if (Array.isArray(template)) {
    const named = template.find((entry): entry is { template: unknown } => typeof entry === 'object' && entry !== null && (entry as { name?: unknown }).name === 'default');
    return typeof named?.template === 'string' ? named.template : null;
  }
  return null;
}

/** The files a chat template changes in a folder export. */
export interface ChatTemplateFiles {
  /** Side files of the donor not to copy: the export writes its own or, as transformers, none. */
  replaced: ReadonlySet<string>;
  /** Files to write instead. */
  written: Array<{ name: string; text: string }>;
  warnings: string[];
}

const UNCHANGED: ChatTemplateFiles = { replaced: new Set(), written: [], warnings: [] };

/** A folder transformers can load a tokenizer from. */
function holdsTokenizer(names: readonly string[]): boolean {
  return names.some((name) => name === 'tokenizer.json' || name === 'tokenizer.model' || name === 'vocab.json' || name === TOKENIZER_CONFIG_FILE_NAME || name.endsWith('.tiktoken'));
}

/**
 * A folder export's chat template files, as mergekit's tokenizer.save_pretrained leaves them
 * (merge.py `_copy_tokenizer` reserialises the tokenizer whenever chat_template is set): the
 * template in chat_template.jinja, written as it is; no `chat_template` key in
 * tokenizer_config.json (removed from the donor's copy, every other byte kept); no processor
 * chat_template.json. Without a tokenizer in the donor mergekit saves no template, and neither
 * does this, with a warning.
 */
export async function chatTemplateFiles(
  plan: LayerPlan,
  sideFiles: readonly SideFileCopy[],
  sources: ReadonlyMap<string, CheckpointSummary>,
): Promise<ChatTemplateFiles> {
  if (plan.chatTemplate === undefined) return UNCHANGED;
  const template = await chosenChatTemplate(plan, (model) => folderChatTemplate(sources.get(model)?.folder ?? model).catch(ignoreMissingFolder));
  if (template === null) return UNCHANGED;
  if (!holdsTokenizer(sideFiles.map((file) => file.name))) {
    return {
      ...UNCHANGED,
      warnings: ['chat_template is set but the tokenizer source holds no tokenizer, so no chat template was written (mergekit saves one only with a tokenizer)'],
    };
  }
  const written = [{ name: CHAT_TEMPLATE_FILE_NAME, text: template }];
  const replaced = new Set([CHAT_TEMPLATE_FILE_NAME, PROCESSOR_CHAT_TEMPLATE_FILE_NAME]);
  const configFile = sideFiles.find((file) => file.name === TOKENIZER_CONFIG_FILE_NAME)?.from;
  if (configFile !== undefined) {
    const text = (await readOptionalText(configFile, 'tokenizer config')) ?? '';
    const kept = withoutTopLevelKey(text, CHAT_TEMPLATE_KEY, configFile);
    if (kept !== text) {
      replaced.add(TOKENIZER_CONFIG_FILE_NAME);
      written.push({ name: TOKENIZER_CONFIG_FILE_NAME, text: kept });
    }
  }
  return { replaced, written, warnings: [] };
}

/** A model `auto` cannot read is skipped, as mergekit skips a tokenizer it cannot load. */
function ignoreMissingFolder(error: unknown): null {
  if (error instanceof StudioError && (error.code === 'NotFound' || error.code === 'PermissionDenied')) return null;
  throw error;
}

/**
 * A JSON object's text without its top-level `key` (every occurrence), each other byte kept:
 * re-serialising would reorder keys and turn 1e30 (tokenizers' model_max_length) into another number.
 */
export function withoutTopLevelKey(text: string, key: string, file: string): string {
  const parsed = parseTokenizerConfig(text, file);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new StudioError('InvalidTokenizer', `${path.basename(file)} is not a JSON object`, { path: file });
  }
  if (!Object.hasOwn(parsed, key)) return text;
  const members = topLevelMembers(text);
  // Each removed member is cut up to the next key (whose indentation stays) or, when it is the
  // last, from the end of the last value kept before it; overlapping cuts are joined.
  const cuts: Array<[number, number]> = [];
  let lastKept: JsonMember | undefined;
  members.forEach((member, index) => {
    if (member.key !== key) {
      lastKept = member;
      return;
    }
    const next = members[index + 1];
    cuts.push(next !== undefined ? [member.start, next.start] : [lastKept?.end ?? member.start, member.end]);
  });
  const joined: Array<[number, number]> = [];
  for (const cut of cuts.sort((left, right) => left[0] - right[0])) {
    const last = joined.at(-1);
    if (last !== undefined && cut[0] <= last[1]) last[1] = Math.max(last[1], cut[1]);
    else joined.push([...cut]);
  }
  let result = text;
  for (const [from, to] of joined.reverse()) result = result.slice(0, from) + result.slice(to);
  const expected = { ...(parsed as Record<string, unknown>) };
  delete expected[key];
  if (JSON.stringify(JSON.parse(result)) !== JSON.stringify(expected)) {
    throw new StudioError('Internal', `removing ${key} from ${path.basename(file)} changed other keys; please report this`, { path: file });
  }
  return result;
}

interface JsonMember {
  key: string;
  /** Offset of the key's opening quote. */
  start: number;
  /** Offset just past the value. */
  end: number;
}

/** The members of the top-level object of valid JSON text, with their spans. */
function topLevelMembers(text: string): JsonMember[] {
  const members: JsonMember[] = [];
  let at = text.indexOf('{') + 1;
  const skipSpace = (): void => {
    while (at < text.length && ' \t\n\r'.includes(text[at] as string)) at += 1;
  };
  const stringEnd = (from: number): number => {
    let index = from + 1;
    while (text[index] !== '"') index += text[index] === '\\' ? 2 : 1;
    return index + 1;
  };
  for (;;) {
    skipSpace();
    if (text[at] !== '"') return members;
    const start = at;
    const keyEnd = stringEnd(at);
    const key = JSON.parse(text.slice(start, keyEnd)) as string;
    at = keyEnd;
    skipSpace();
    at += 1; // ':'
    skipSpace();
    let depth = 0;
    while (at < text.length) {
      const char = text[at] as string;
      if (char === '"') {
        at = stringEnd(at);
        if (depth === 0) break;
        continue;
      }
      if (char === '{' || char === '[') depth += 1;
      else if (char === '}' || char === ']') {
        if (depth === 0) break;
        depth -= 1;
        at += 1;
        if (depth === 0) break;
        continue;
      } else if (depth === 0 && (char === ',' || ' \t\n\r'.includes(char))) break;
      at += 1;
    }
    members.push({ key, start, end: at });
    skipSpace();
    if (text[at] === ',') at += 1;
  }
}
