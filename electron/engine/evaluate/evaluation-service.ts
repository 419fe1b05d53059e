/**
 * What the engine exposes of evaluation: one llama.cpp runtime shared by every evaluation and sweep
 * of the session (loaded on first use), the evaluation text (the bundled one or the user's file),
 * and plan evaluation with the source beside it.
 */
import path from 'node:path';
import { StudioError } from '../../api/errors.js';
import type { CheckpointSummary, EvaluationDevice, PlanEvaluationReport, ResolvedPlan, SweepRange, SweepReport, SweepRow } from '../../api/types.js';
import { readTextFileWithin } from '../formats/bounded-read.js';
import { createLlamaRuntime, type LlamaRuntime, type LlamaRuntimeOptions } from './llama-runtime.js';
import { measureThreads } from './model-evaluation.js';
import { evaluatePlanOutput, type PlanEvaluationOptions } from './plan-evaluation.js';
import { rankSweep, spliceCandidates, sweepSplices } from './splice-sweep.js';
import { buildPlanFromRecipe } from '../../common/plan/plan-recipes.js';
import { resolvePlan } from '../../common/plan/layer-plan.js';

/** The bundled evaluation text: TinyStories-style prose written for this project (MIT, like the project). */
export const BUNDLED_TEXT_NAME = 'tiny-stories.txt';
const TEXT_MAX_BYTES = 16 * 1024 * 1024;
export const DEFAULT_PROMPT = 'Once upon a time';

export interface EvaluationTextChoice {
  /** A UTF-8 text file of the user's; default: the bundled text. */
  textPath?: string;
  device?: EvaluationDevice;
}

export interface EvaluationServiceOptions {
  /** Folder holding the bundled evaluation text. */
  textFolder: string;
  runtime?: LlamaRuntimeOptions;
}

export interface EvaluationService {
  evaluatePlan(
    resolved: ResolvedPlan,
    sources: ReadonlyMap<string, CheckpointSummary>,
    options: EvaluationTextChoice & Omit<PlanEvaluationOptions, 'text'> & { compareSource?: boolean },
  ): Promise<PlanEvaluationReport>;
  sweep(
    summary: CheckpointSummary,
    range: SweepRange,
    options: EvaluationTextChoice & Omit<PlanEvaluationOptions, 'text' | 'prompt' | 'onProgress'> & { onRow?: (row: SweepRow, done: number, total: number) => void },
  ): Promise<SweepReport>;
  dispose(): Promise<void>;
}

export function createEvaluationService(options: EvaluationServiceOptions): EvaluationService {
  // One runtime per device choice, loaded on first use and kept for the session (loading costs seconds).
  const runtimes = new Map<EvaluationDevice, Promise<LlamaRuntime>>();
  const runtimeOnce = (device: EvaluationDevice = 'auto'): Promise<LlamaRuntime> => {
    let runtime = runtimes.get(device);
    if (runtime === undefined) {
      runtime = createLlamaRuntime({ ...options.runtime, gpu: device === 'cpu' ? false : (options.runtime?.gpu ?? 'auto') }).catch((error: unknown) => {
        runtimes.delete(device);
        throw error;
      });
      runtimes.set(device, runtime);
    }
    return runtime;
  };

  // Thread counts measured on this machine, per device and source model (measureThreads).
  const threadChoices = new Map<string, Promise<number | undefined>>();
  const threadChooser = (llama: LlamaRuntime, key: string, text: string) => (modelPath: string): Promise<number | undefined> => {
    let choice = threadChoices.get(key);
    if (choice === undefined) {
      choice = measureThreads(llama, modelPath, text);
      threadChoices.set(key, choice);
      choice.catch(() => threadChoices.delete(key));
    }
    return choice;
  };

  async function textOf(choice: EvaluationTextChoice): Promise<{ text: string; name: string }> {
    const file = choice.textPath ?? path.join(options.textFolder, BUNDLED_TEXT_NAME);
    const text = await readTextFileWithin(file, { what: 'evaluation text', maxBytes: TEXT_MAX_BYTES, invalidCode: 'InvalidRequest' });
    if (text.trim() === '') throw new StudioError('InvalidRequest', 'the evaluation text is empty', { path: file });
    return { text, name: path.basename(file) };
  }

  return {
    async evaluatePlan(resolved, sources, request) {
      const { textPath, compareSource, device, ...rest } = request;
      const { text, name } = await textOf(textPath === undefined ? {} : { textPath });
      const llama = await runtimeOnce(device);
      const firstModel = resolved.layers[0]?.model ?? '';
      const evaluationOptions = { prompt: DEFAULT_PROMPT, ...rest, text, chooseThreads: threadChooser(llama, `${device ?? 'auto'}\u0000${firstModel}`, text) };
      const plan = await evaluatePlanOutput(llama, resolved, sources, evaluationOptions);
      const report: PlanEvaluationReport = { plan, textName: name };
      const first = resolved.layers[0]?.model;
      const firstSource = first === undefined ? undefined : sources.get(first);
      if (compareSource !== false && firstSource !== undefined) {
        const single = new Map([[firstSource.id, firstSource]]);
        const identity = resolvePlan(buildPlanFromRecipe({ kind: 'stack', model: firstSource.id, times: 1 }, single), single);
        const { onProgress: _onProgress, ...quiet } = evaluationOptions;
        const source = await evaluatePlanOutput(llama, identity, single, quiet);
        report.source = source;
      }
      return report;
    },

    async sweep(summary, range, request) {
      const started = performance.now();
      const { textPath, onRow, device, ...rest } = request;
      const { text, name } = await textOf(textPath === undefined ? {} : { textPath });
      const layers = summary.numLayers;
      if (layers < 1) throw new StudioError('InvalidPlan', `${summary.name} has no layers to splice`, { path: summary.folder });
      const candidates = spliceCandidates(layers, range);
      const llama = await runtimeOnce(device);
      const single = new Map([[summary.id, summary]]);
      const identity = resolvePlan(buildPlanFromRecipe({ kind: 'stack', model: summary.id, times: 1 }, single), single);
      const chooseThreads = threadChooser(llama, `${device ?? 'auto'}\u0000${summary.id}`, text);
      const source = await evaluatePlanOutput(llama, identity, single, { ...rest, text, prompt: '', chooseThreads });
      const rows = await sweepSplices(llama, summary, candidates, {
        ...rest,
        text,
        chooseThreads,
        ...(onRow === undefined ? {} : { onResult: (row: SweepRow, index: number, total: number) => onRow(row, index + 1, total) }),
      });
      return {
        rows: rankSweep(rows),
        source: { perplexity: source.perplexity, tokens: source.tokens, layers },
        textName: name,
        seconds: (performance.now() - started) / 1000,
      };
    },

    async dispose() {
      const loaded = [...runtimes.values()];
      runtimes.clear();
      for (const runtime of loaded) await (await runtime.catch(() => null))?.dispose();
    },
  };
}
