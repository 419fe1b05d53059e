/**
 * Perplexity, the per-token negative log-likelihood curve and a greedy continuation of one GGUF
 * model in llama.cpp. Perplexity is exp(mean NLL) over every scored token, natural log.
 */
import { StudioError } from '../../api/errors.js';
import type { ModelEvaluation } from '../../api/types.js';
import type { LlamaModel, LlamaRuntime } from './llama-runtime.js';

export interface ModelEvaluationOptions {
  /** The evaluation text. */
  text: string;
  /** Score at most this many tokens of it (after tokenising); default: all. */
  maxTokens?: number;
  /** The prompt to continue greedily; empty skips the continuation. */
  prompt?: string;
  /** Tokens of greedy continuation; default 48. */
  continuationTokens?: number;
  /** Tokens per window (each starts with BOS); default: the model's training context, at most 2048. */
  windowTokens?: number;
  /** llama.cpp's CPU threads; default: its own choice (the machine's math cores). */
  threads?: number;
  signal?: AbortSignal;
  onProgress?: (progress: { doneTokens: number; totalTokens: number }) => void;
}

/** A model's scores before its layer count is known to the caller. */
export type ScoredModel = Omit<ModelEvaluation, 'layers'>;

/** Probability maps cost a vocabulary's worth of entries per token: score this many tokens per call. */
const TOKENS_PER_CALL = 64;
const DEFAULT_CONTINUATION_TOKENS = 48;
const MAX_WINDOW_TOKENS = 2048;

export function perplexityOf(negativeLogLikelihoods: readonly number[]): number {
  if (negativeLogLikelihoods.length === 0) return Number.NaN;
  let sum = 0;
  for (const value of negativeLogLikelihoods) sum += value;
  return Math.exp(sum / negativeLogLikelihoods.length);
}

function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new StudioError('Cancelled', 'evaluation cancelled');
}

/**
 * Splits the text's tokens into windows that each fit the context with a BOS in front; every token
 * of a window is scored from the ones before it (the first from BOS alone).
 */
export function evaluationWindows(tokenCount: number, windowTokens: number): Array<{ start: number; end: number }> {
  const perWindow = Math.max(1, windowTokens - 1);
  const windows: Array<{ start: number; end: number }> = [];
  for (let start = 0; start < tokenCount; start += perWindow) windows.push({ start, end: Math.min(tokenCount, start + perWindow) });
  return windows;
}

export async function evaluateModel(runtime: LlamaRuntime, modelPath: string, options: ModelEvaluationOptions): Promise<ScoredModel> {
  throwIfCancelled(options.signal);
  const model = await runtime.loadModel(modelPath);
  try {
    return await evaluateLoadedModel(model, runtime.backend, modelPath, options);
  } finally {
    await model.dispose();
  }
}

async function evaluateLoadedModel(model: LlamaModel, backend: string, modelPath: string, options: ModelEvaluationOptions): Promise<ScoredModel> {
  const bos = model.tokens.bos;
  if (bos === null) throw new StudioError('EvaluationFailed', 'the model has no BOS token, so windows cannot be started', { path: modelPath });
  let textTokens = model.tokenize(options.text);
  if (options.maxTokens !== undefined) textTokens = textTokens.slice(0, options.maxTokens);
  if (textTokens.length === 0) throw new StudioError('InvalidRequest', 'the evaluation text has no tokens');
  const windowTokens = Math.max(2, Math.min(options.windowTokens ?? model.trainContextSize, MAX_WINDOW_TOKENS, model.trainContextSize));
  const context = await model.createContext({ contextSize: windowTokens + DEFAULT_CONTINUATION_TOKENS + 64, sequences: 1, ...(options.threads === undefined ? {} : { threads: options.threads }) });
  try {
    const sequence = context.getSequence();
    const negativeLogLikelihoods: number[] = [];
    for (const window of evaluationWindows(textTokens.length, windowTokens)) {
      await sequence.clearHistory();
      // Each input token predicts the next: BOS predicts the window's first token.
      const inputs = [bos, ...textTokens.slice(window.start, window.end - 1)];
      const targets = textTokens.slice(window.start, window.end);
      for (let offset = 0; offset < inputs.length; offset += TOKENS_PER_CALL) {
        throwIfCancelled(options.signal);
        const batch = inputs.slice(offset, offset + TOKENS_PER_CALL).map((token) => [token, { generateNext: { probabilities: true } }] as const);
        const results = await sequence.controlledEvaluate(batch.map(([token, item]) => [token, item]));
        for (let index = 0; index < batch.length; index += 1) {
          const probabilities = results[index]?.next?.probabilities;
          const target = targets[offset + index] as (typeof targets)[number];
          if (probabilities === undefined) throw new StudioError('EvaluationFailed', 'llama.cpp returned no probabilities', { path: modelPath });
          negativeLogLikelihoods.push(-Math.log(probabilities.get(target) ?? 0));
        }
        options.onProgress?.({ doneTokens: negativeLogLikelihoods.length, totalTokens: textTokens.length });
      }
    }
    const prompt = options.prompt ?? '';
    const continuation = prompt === '' ? '' : await greedyContinuation(model, sequence, prompt, options.continuationTokens ?? DEFAULT_CONTINUATION_TOKENS, options.signal);
    return {
      perplexity: perplexityOf(negativeLogLikelihoods),
      tokens: negativeLogLikelihoods.length,
      negativeLogLikelihoods,
      continuation,
      prompt,
      backend,
    };
  } finally {
    await context.dispose();
  }
}

type Sequence = ReturnType<Awaited<ReturnType<LlamaModel['createContext']>>['getSequence']>;

async function greedyContinuation(model: LlamaModel, sequence: Sequence, prompt: string, count: number, signal: AbortSignal | undefined): Promise<string> {
  await sequence.clearHistory();
  const generated: Array<ReturnType<LlamaModel['tokenize']>[number]> = [];
  const eos = model.tokens.eos;
  const bos = model.tokens.bos;
  const promptTokens = model.tokenize(prompt);
  const input = bos === null ? promptTokens : [bos, ...promptTokens];
  // temperature 0 is greedy: the most probable token each step, deterministic.
  for await (const token of sequence.evaluate(input, { temperature: 0 })) {
    throwIfCancelled(signal);
    if (token === eos) break;
    generated.push(token);
    if (generated.length >= count) break;
  }
  // Detokenised alone, a first piece loses its leading space ("▁there" → "there"): decode with the
  // prompt and cut the prompt's text off instead.
  const promptText = model.detokenize(promptTokens);
  const full = model.detokenize([...promptTokens, ...generated]);
  return full.startsWith(promptText) ? full.slice(promptText.length) : model.detokenize(generated);
}

/** Tokens scored per timing probe when choosing a thread count. */
const PROBE_TOKENS = 48;

/**
 * Chooses llama.cpp's CPU thread count for a model by timing it on this machine: scoring a short
 * probe with one thread and with llama.cpp's own choice (all math cores), best of two each. On a
 * small model or a busy machine more threads spin against each other and lose; on a large model
 * on an idle machine they win. Returns undefined when llama.cpp's own choice is as fast.
 */
export async function measureThreads(runtime: LlamaRuntime, modelPath: string, text: string): Promise<number | undefined> {
  if (runtime.backend !== 'cpu') return undefined;
  const model = await runtime.loadModel(modelPath);
  try {
    const bos = model.tokens.bos;
    const tokens = model.tokenize(text).slice(0, PROBE_TOKENS);
    if (bos === null || tokens.length === 0) return undefined;
    const input = [bos, ...tokens].map((token) => [token, { generateNext: { probabilities: true } }] as const);
    const timeWith = async (threads: number | undefined): Promise<number> => {
      const context = await model.createContext({ contextSize: input.length + 8, sequences: 1, ...(threads === undefined ? {} : { threads }) });
      try {
        const sequence = context.getSequence();
        const started = performance.now();
        await sequence.controlledEvaluate(input.map(([token, item]) => [token, item]));
        return performance.now() - started;
      } finally {
        await context.dispose();
      }
    };
    let single = Number.POSITIVE_INFINITY;
    let all = Number.POSITIVE_INFINITY;
    for (let round = 0; round < 2; round += 1) {
      single = Math.min(single, await timeWith(1));
      all = Math.min(all, await timeWith(undefined));
    }
    return single < all ? 1 : undefined;
  } finally {
    await model.dispose();
  }
}
