import { stat } from 'node:fs/promises';
import path from 'node:path';
import { StudioError, isStudioError } from '../../api/errors.js';
import type { CheckpointSummary, LayerPlan, PlanProblem, ResolvedPlan } from '../../api/types.js';
import { configDonor, tokenizerDonor } from '../../common/plan/plan-sources.js';
import { CONFIG_FILE_NAME } from '../checkpoint/model-config.js';
import { isTokenizerFileName, listSideFiles } from '../checkpoint/side-files.js';
import { nullWhenMissing, readFileWithin, readTextFileWithin } from '../formats/bounded-read.js';
import { parseSentencePieceModel } from '../evaluate/sentencepiece-model.js';
import { MODEL_CARD_FILE_NAME, PLAN_FILE_NAME } from './export-files.js';

/**
 * Which model gives an export each of its side files, as mergekit decides (merge.py):
 * - config.json and the model's own files (generation config, processor configs, the
 *   architecture's tagalong files) come from the donor: base_model, else the first slice's source
 *   (`_model_out_config`, `_get_donor_model`, `_copy_tagalong_files`);
 * - the tokenizer comes from tokenizer_source when the plan names one (tokenizer/build.py
 *   `build_tokenizer` loads it, run_merge saves it), else from the same donor (`_copy_tokenizer`).
 * Files are copied as they are; mergekit re-serialises a tokenizer it built, which gives the same
 * tokenizer in other bytes.
 */

/** The export writes its own config.json, README.md and plan; a source's copies of them are not side files. */
function sideFileNames(names: readonly string[]): string[] {
  return names.filter((name) => name !== CONFIG_FILE_NAME && name !== MODEL_CARD_FILE_NAME && name !== PLAN_FILE_NAME);
}

/** One side file to copy into the export: its name there and the file it is copied from. */
export interface SideFileCopy {
  name: string;
  from: string;
}

interface SideFileFolder {
  folder: string;
  names: string[];
}

/**
 * The side files of an export of `plan`, each with the file it comes from. A tokenizer_source must
 * hold a tokenizer whose vocabulary fits the embeddings (checkTokenizerFitsEmbeddings); all of this
 * is decided before anything is written.
 */
export async function exportSideFiles(plan: LayerPlan, resolved: ResolvedPlan, sources: ReadonlyMap<string, CheckpointSummary>): Promise<SideFileCopy[]> {
  const donorId = configDonor(plan);
  const donor = donorId === undefined ? undefined : sources.get(donorId);
  const fromDonor: SideFileFolder = { folder: donor?.folder ?? '', names: sideFileNames(donor?.sideFiles ?? []) };
  let tokenizer = fromDonor;
  if (plan.tokenizerSource !== undefined) {
    const requested = tokenizerDonor(plan) as string;
    tokenizer = await tokenizerFolder(requested, sources);
    await checkTokenizerFitsEmbeddings(tokenizer.folder, requested, resolved, sources, donor?.folder);
  }
  return [
    ...fromDonor.names.filter((name) => !isTokenizerFileName(name)).map((name) => ({ name, from: path.join(fromDonor.folder, name) })),
    ...tokenizer.names.filter(isTokenizerFileName).map((name) => ({ name, from: path.join(tokenizer.folder, name) })),
  ].sort((left, right) => left.name.localeCompare(right.name));
}

/**
 * The refusal exportSideFiles would give the plan's tokenizer_source, as a plan problem, so the app
 * and `--dry-run` show it while the plan is edited; null when it fits. A GGUF export ignores
 * tokenizer_source (plan validation reports that), so it is not checked here.
 */
export async function tokenizerSourceProblem(plan: LayerPlan, resolved: ResolvedPlan, sources: ReadonlyMap<string, CheckpointSummary>): Promise<PlanProblem | null> {
  const firstId = plan.slices[0]?.model;
  if (plan.tokenizerSource === undefined || (firstId !== undefined && sources.get(firstId)?.format === 'gguf')) return null;
  const requested = tokenizerDonor(plan) as string;
  const donorId = configDonor(plan);
  try {
    const tokenizer = await tokenizerFolder(requested, sources);
    await checkTokenizerFitsEmbeddings(tokenizer.folder, requested, resolved, sources, donorId === undefined ? undefined : sources.get(donorId)?.folder);
    return null;
  } catch (error) {
    if (!isStudioError(error)) throw error;
    return { severity: 'error', code: error.code, message: error.message, model: requested, planKey: 'tokenizer_source' };
  }
}

/** The tokenizer source's folder (an open source, or a folder or file on disk) and its side files; it must hold a tokenizer. */
async function tokenizerFolder(requested: string, sources: ReadonlyMap<string, CheckpointSummary>): Promise<SideFileFolder> {
  const open = sources.get(requested);
  let found: SideFileFolder;
  if (open !== undefined) {
    found = { folder: open.folder, names: sideFileNames(open.sideFiles) };
  } else {
    try {
      const info = await stat(requested);
      const folder = info.isDirectory() ? requested : path.dirname(requested);
      found = { folder, names: sideFileNames(await listSideFiles(folder)) };
    } catch {
      // mergekit fails here too (it loads the tokenizer from the path): an error, not another tokenizer.
      throw new StudioError('NotFound', `tokenizer_source ${requested} is not a model folder that can be read`, { path: requested });
    }
  }
  if (!found.names.some((name) => name === 'tokenizer.json' || name === 'tokenizer.model' || name.endsWith('.tiktoken'))) {
    throw new StudioError('InvalidPlan', `tokenizer_source ${requested} holds no tokenizer (tokenizer.json, tokenizer.model or *.tiktoken)`, { path: requested });
  }
  return found;
}

/** tokenizer.json files of large vocabularies run to tens of megabytes; far more is not a tokenizer. */
const TOKENIZER_MAX_BYTES = 256 * 1024 * 1024;
const TOKENIZER_CONFIG_MAX_BYTES = 16 * 1024 * 1024;

/**
 * With tokenizer_source, mergekit rebuilds every embedding matrix (embed_tokens, lm_head) for the
 * new vocabulary (tokenizer/embed.py `PermutedEmbeddings`): row i of the output is the source's
 * row for the token with id i in the new tokenizer, the matrix has one row per token, and
 * config.json's vocab_size becomes the token count (merge.py `_update_config_vocab`). DUS Studio
 * copies tensors as they are, so it accepts a tokenizer_source only when that rebuild changes
 * nothing: as many tokens as rows, and every token at the id it has in the tokenizer of each model
 * whose embeddings are copied. Anything else is refused with the numbers, never written differently.
 */
async function checkTokenizerFitsEmbeddings(
  tokenizerFolderPath: string,
  requested: string,
  resolved: ResolvedPlan,
  sources: ReadonlyMap<string, CheckpointSummary>,
  donorFolder: string | undefined,
): Promise<void> {
  const vocabulary = await readVocabulary(tokenizerFolderPath);
  if (vocabulary === null) {
    throw new StudioError(
      'InvalidPlan',
      `tokenizer_source ${requested}: the vocabulary of a *.tiktoken tokenizer cannot be counted here, so it cannot be checked against the embeddings, which mergekit resizes to it; use a model with tokenizer.json or tokenizer.model`,
      { path: requested },
    );
  }
  const holders: Array<{ model: string | null; kind: 'embed' | 'head' }> = [
    { model: resolved.embeddingsFrom, kind: 'embed' },
    { model: resolved.headFrom, kind: 'head' },
  ];
  for (const { model, kind } of holders) {
    const summary = model === null ? undefined : sources.get(model);
    const tensor = summary?.tensors.find((candidate) => candidate.layer === null && candidate.kind === kind);
    if (summary === undefined || tensor === undefined) continue;
    const rows = tensor.shape[0];
    if (rows !== vocabulary.size) {
      throw new StudioError(
        'InvalidPlan',
        `tokenizer_source ${requested} has ${vocabulary.size} tokens but ${tensor.name} of ${summary.name} has ${rows} rows: mergekit would resize the embeddings to the tokenizer (tokenizer/embed.py), which DUS Studio does not do; use a tokenizer of ${rows} tokens or drop tokenizer_source`,
        { path: requested },
      );
    }
    if (summary.folder === tokenizerFolderPath) continue;
    // mergekit assumes the base model's tokenizer for a model whose own cannot be loaded (build.py).
    const own = (await readVocabulary(summary.folder)) ?? (donorFolder === undefined ? null : await readVocabulary(donorFolder));
    if (own === null) {
      throw new StudioError(
        'InvalidPlan',
        `tokenizer_source ${requested}: ${summary.name} has no tokenizer.json or tokenizer.model to compare with, so it is unknown whether mergekit would reorder its embedding rows; drop tokenizer_source or add the model's tokenizer`,
        { path: requested },
      );
    }
    for (const [token, id] of vocabulary) {
      const ownId = own.get(token);
      if (ownId !== id) {
        throw new StudioError(
          'InvalidPlan',
          `tokenizer_source ${requested} gives token ${JSON.stringify(token)} id ${id} but the tokenizer of ${summary.name} gives it ${ownId === undefined ? 'no id' : `id ${ownId}`}: mergekit would reorder the rows of ${tensor.name} (tokenizer/embed.py), which DUS Studio does not do; drop tokenizer_source or use ${summary.name}'s tokenizer`,
          { path: requested },
        );
      }
    }
  }
}

/**
 * A tokenizer's vocabulary as transformers' `get_vocab()` gives it: token text → id, added tokens
 * included. From tokenizer.json (the fast tokenizer AutoTokenizer prefers) or a SentencePiece
 * tokenizer.model with the added tokens of added_tokens.json and tokenizer_config.json; null for a
 * folder with neither (a *.tiktoken tokenizer, whose special tokens live in Python code).
 */
export async function readVocabulary(folder: string): Promise<Map<string, number> | null> {
  // The engine checks tokenizer_source on every resolve (each edit, each step of a drag): a
  // tokenizer is read again only when one of its files changed.
  const signature = (await Promise.all(VOCABULARY_FILES.map((name) => fileSignature(path.join(folder, name))))).join('|');
  const cached = vocabularyCache.get(folder);
  if (cached !== undefined && cached.signature === signature) return cached.vocabulary;
  const vocabulary = readVocabularyFiles(folder);
  vocabularyCache.delete(folder);
  vocabularyCache.set(folder, { signature, vocabulary });
  if (vocabularyCache.size > VOCABULARY_CACHE_SIZE) vocabularyCache.delete(vocabularyCache.keys().next().value as string);
  return vocabulary;
}

/** Every file readVocabularyFiles may read. */
const VOCABULARY_FILES = ['tokenizer.json', 'tokenizer.model', 'added_tokens.json', 'tokenizer_config.json'];
/** Vocabularies of large tokenizers take tens of megabytes each; a plan names a few folders. */
const VOCABULARY_CACHE_SIZE = 8;
const vocabularyCache = new Map<string, { signature: string; vocabulary: Promise<Map<string, number> | null> }>();

async function fileSignature(file: string): Promise<string> {
  try {
    const info = await stat(file);
    return `${info.size}:${info.mtimeMs}:${info.ino}`;
  } catch {
    return 'none';
  }
}

async function readVocabularyFiles(folder: string): Promise<Map<string, number> | null> {
  const json = await nullWhenMissing(
    readTextFileWithin(path.join(folder, 'tokenizer.json'), { what: 'tokenizer', maxBytes: TOKENIZER_MAX_BYTES, invalidCode: 'InvalidTokenizer' }),
  );
  if (json !== null) return tokenizerJsonVocabulary(json, path.join(folder, 'tokenizer.json'));
  const modelFile = path.join(folder, 'tokenizer.model');
  const model = await nullWhenMissing(readFileWithin(modelFile, { what: 'SentencePiece model', maxBytes: TOKENIZER_MAX_BYTES, invalidCode: 'InvalidTokenizer' }));
  if (model === null) return null;
  const vocabulary = new Map<string, number>();
  parseSentencePieceModel(model, modelFile).forEach(({ piece }, id) => vocabulary.set(piece, id));
  const addedFile = path.join(folder, 'added_tokens.json');
  const added = await readOptionalJson(addedFile);
  if (added !== null) {
    for (const [token, id] of Object.entries(objectOf(added, addedFile))) vocabulary.set(token, tokenId(id, addedFile));
  }
  const configFile = path.join(folder, 'tokenizer_config.json');
  const config = await readOptionalJson(configFile);
  const decoder = config === null ? undefined : objectOf(config, configFile).added_tokens_decoder;
  if (decoder !== undefined) {
    for (const [id, entry] of Object.entries(objectOf(decoder, configFile))) {
      const content = objectOf(entry, configFile).content;
      if (typeof content !== 'string') throw badTokenizer(configFile, `added token ${id} has no content`);
      vocabulary.set(content, tokenId(Number(id), configFile));
    }
  }
  return vocabulary;
}

function tokenizerJsonVocabulary(text: string, file: string): Map<string, number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw badTokenizer(file, 'it is not valid JSON');
  }
  const model = objectOf(objectOf(parsed, file).model, file);
  const vocabulary = new Map<string, number>();
  if (Array.isArray(model.vocab)) {
    // Unigram: [piece, score] pairs, the id is the position.
    model.vocab.forEach((entry: unknown, id) => {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string') throw badTokenizer(file, `vocabulary entry ${id} is not a [piece, score] pair`);
      vocabulary.set(entry[0], id);
    });
  } else {
    // BPE, WordPiece, WordLevel: token → id.
    for (const [token, id] of Object.entries(objectOf(model.vocab, file))) vocabulary.set(token, tokenId(id, file));
  }
  const added = objectOf(parsed, file).added_tokens;
  if (added !== undefined && added !== null) {
    if (!Array.isArray(added)) throw badTokenizer(file, 'added_tokens is not a list');
    for (const entry of added) {
      const { id, content } = objectOf(entry, file);
      if (typeof content !== 'string') throw badTokenizer(file, 'an added token has no content');
      vocabulary.set(content, tokenId(id, file));
    }
  }
  return vocabulary;
}

function objectOf(value: unknown, file: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badTokenizer(file, 'an object is missing where the format has one');
  return value as Record<string, unknown>;
}

function tokenId(value: unknown, file: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw badTokenizer(file, `token id ${String(value)} is not a whole number`);
  return value;
}

function badTokenizer(file: string, problem: string): StudioError {
  return new StudioError('InvalidTokenizer', `${path.basename(file)} cannot be read as a tokenizer: ${problem}`, { path: file });
}

async function readOptionalJson(file: string): Promise<unknown> {
  const text = await nullWhenMissing(readTextFileWithin(file, { what: 'tokenizer file', maxBytes: TOKENIZER_CONFIG_MAX_BYTES, invalidCode: 'InvalidTokenizer' }));
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw badTokenizer(file, 'it is not valid JSON');
  }
}
