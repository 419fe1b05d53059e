/**
 * Evaluates a plan before it is exported: its output is written as a temporary GGUF (streamed from
 * the sources, removed afterwards), loaded in llama.cpp, and scored on the evaluation text.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StudioError } from '../../api/errors.js';
import type { CheckpointSummary, ModelEvaluation, ResolvedPlan } from '../../api/types.js';
import { tokenizerDonor } from '../../common/plan/plan-sources.js';
import { readFileWithin, readTextFileWithin } from '../formats/bounded-read.js';
import { exportConfigFor } from '../export/config-remap.js';
import { exportPlan } from '../export/export-plan.js';
import { planOutputTensors } from '../export/output-tensors.js';
import { writeGgufLayout } from './gguf-layout-writer.js';
import { llamaGgufLayout, type GgufConversion } from './llama-gguf-conversion.js';
import type { LlamaRuntime } from './llama-runtime.js';
import { evaluateModel, type ModelEvaluationOptions } from './model-evaluation.js';
import { parseSentencePieceModel } from './sentencepiece-model.js';

/** A SentencePiece model is a few MB even for large vocabularies. */
const TOKENIZER_MODEL_MAX_BYTES = 64 * 1024 * 1024;
const TOKENIZER_CONFIG_MAX_BYTES = 8 * 1024 * 1024;

export interface PlanEvaluationOptions extends Omit<ModelEvaluationOptions, 'onProgress'> {
  /** Picks the thread count from the written model when `threads` is not given (measureThreads, cached by the caller). */
  chooseThreads?: (modelPath: string) => Promise<number | undefined>;
  /** Folder for the temporary GGUF; default: the system's temporary folder. */
  workDir?: string;
  onProgress?: (progress: { phase: 'writing' | 'scoring'; done: number; total: number }) => void;
}

/** The tokenizer folder of a plan: its tokenizer_source, else base_model's, else the first source's (mergekit's rule). */
function tokenizerFolder(resolved: ResolvedPlan, sources: ReadonlyMap<string, CheckpointSummary>): string {
  const donor = tokenizerDonor(resolved.plan);
  const summary = donor === undefined || donor === null ? undefined : sources.get(donor);
  if (summary !== undefined) return summary.folder;
  if (donor !== undefined && donor !== null) return donor;
  throw new StudioError('InvalidPlan', 'the plan has no source to take a tokenizer from');
}

async function addSpecialTokens(folder: string): Promise<{ bos?: boolean; eos?: boolean }> {
  const file = path.join(folder, 'tokenizer_config.json');
  let text: string;
  try {
    text = await readTextFileWithin(file, { what: 'tokenizer config', maxBytes: TOKENIZER_CONFIG_MAX_BYTES, invalidCode: 'InvalidTokenizer' });
  } catch (error) {
    if (error instanceof StudioError && error.code === 'NotFound') return {};
    throw error;
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    throw new StudioError('InvalidTokenizer', 'tokenizer_config.json is not valid JSON', { path: file });
  }
  const flags: { bos?: boolean; eos?: boolean } = {};
  if (typeof config === 'object' && config !== null) {
    const { add_bos_token: bos, add_eos_token: eos } = config as Record<string, unknown>;
    if (typeof bos === 'boolean') flags.bos = bos;
    if (typeof eos === 'boolean') flags.eos = eos;
  }
  return flags;
}

/** The GGUF layout of a plan's output with safetensors sources of the Llama family. */
export async function planGgufLayout(resolved: ResolvedPlan, sources: ReadonlyMap<string, CheckpointSummary>): Promise<GgufConversion> {
  const remapped = exportConfigFor(resolved, sources);
  const folder = tokenizerFolder(resolved, sources);
  if (remapped === null) throw new StudioError('EvaluationNeedsGguf', 'evaluation needs a GGUF of this model: it has no config.json', { path: folder });
  const tokenizerFile = path.join(folder, 'tokenizer.model');
  let tokenizerBytes: Buffer;
  try {
    tokenizerBytes = await readFileWithin(tokenizerFile, { what: 'SentencePiece model', maxBytes: TOKENIZER_MODEL_MAX_BYTES, invalidCode: 'InvalidTokenizer' });
  } catch (error) {
    if (!(error instanceof StudioError) || error.code !== 'NotFound') throw error;
    throw new StudioError('EvaluationNeedsGguf', 'evaluation needs a GGUF of this model: it has no SentencePiece tokenizer.model to convert', { path: folder });
  }
  return llamaGgufLayout({
    config: remapped.config as Record<string, unknown>,
    tensors: planOutputTensors(resolved, sources),
    pieces: parseSentencePieceModel(tokenizerBytes, tokenizerFile),
    name: path.basename(folder),
    path: folder,
    addSpecialTokens: await addSpecialTokens(folder),
  });
}

export async function evaluatePlanOutput(
  runtime: LlamaRuntime,
  resolved: ResolvedPlan,
  sources: ReadonlyMap<string, CheckpointSummary>,
  options: PlanEvaluationOptions,
): Promise<ModelEvaluation> {
  const formats = new Set([...sources.values()].map((summary) => summary.format));
  const fromGguf = formats.size === 1 && formats.has('gguf');
  // GGUF sources export directly (llama.cpp reads them); safetensors ones are converted.
  const layout = fromGguf ? null : await planGgufLayout(resolved, sources);
  const workDir = await mkdtemp(path.join(options.workDir ?? os.tmpdir(), 'dus-eval-'));
  try {
    const modelPath = path.join(workDir, 'plan.gguf');
    const writing = (done: number, total: number): void => options.onProgress?.({ phase: 'writing', done, total });
    if (layout === null) {
      await exportPlan({
        plan: resolved.plan,
        target: { dir: modelPath },
        sources,
        verify: false,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        onProgress: (progress) => writing(progress.doneBytes, progress.totalBytes),
      });
    } else {
      await writeGgufLayout(modelPath, layout, {
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        onProgress: ({ doneBytes, totalBytes }) => writing(doneBytes, totalBytes),
      });
    }
    const { workDir: _workDir, onProgress, chooseThreads, ...modelOptions } = options;
    const threads = modelOptions.threads ?? (await chooseThreads?.(modelPath));
    const scored = await evaluateModel(runtime, modelPath, {
      ...modelOptions,
      ...(threads === undefined ? {} : { threads }),
      onProgress: ({ doneTokens, totalTokens }) => onProgress?.({ phase: 'scoring', done: doneTokens, total: totalTokens }),
    });
    return { ...scored, layers: resolved.layers.length };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
