/**
 * The one door to llama.cpp (through node-llama-cpp's prebuilt binaries). Loading the library costs
 * seconds, so a runtime is created once and reused for every model an evaluation or a sweep loads;
 * the module itself is imported lazily so that commands which never evaluate never pay for it.
 */
import { StudioError } from '../../api/errors.js';

type NodeLlamaCpp = typeof import('node-llama-cpp');
export type Llama = Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;
export type LlamaModel = Awaited<ReturnType<Llama['loadModel']>>;

export interface LlamaRuntimeOptions {
  /** 'auto' uses a GPU when the machine has one (CUDA, Vulkan, Metal); false keeps to the CPU. */
  gpu?: 'auto' | false;
}

export interface LlamaRuntime {
  /** Which backend llama.cpp runs on: 'cpu', 'cuda', 'vulkan' or 'metal'. */
  readonly backend: string;
  /** Loads a GGUF file; the caller disposes it. Failures name the file. */
  loadModel(modelPath: string): Promise<LlamaModel>;
  dispose(): Promise<void>;
}

let nodeLlamaCpp: Promise<NodeLlamaCpp> | null = null;

function importNodeLlamaCpp(): Promise<NodeLlamaCpp> {
  nodeLlamaCpp ??= import('node-llama-cpp').catch((error: unknown) => {
    nodeLlamaCpp = null;
    throw new StudioError('EvaluationUnavailable', `llama.cpp (node-llama-cpp) could not be loaded: ${describe(error)}`, { cause: error });
  });
  return nodeLlamaCpp;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function createLlamaRuntime(options: LlamaRuntimeOptions = {}): Promise<LlamaRuntime> {
  const { getLlama, LlamaLogLevel } = await importNodeLlamaCpp();
  let llama: Llama;
  try {
    // build: 'never' and skipDownload — a user's machine may lack a compiler or a network; the prebuilt
    // binaries in the npm packages cover Linux, macOS and Windows.
    llama = await getLlama({ gpu: options.gpu ?? 'auto', build: 'never', skipDownload: true, logLevel: LlamaLogLevel.error, progressLogs: false });
  } catch (error) {
    throw new StudioError('EvaluationUnavailable', `llama.cpp could not start on this machine: ${describe(error)}`, { cause: error });
  }
  return {
    backend: llama.gpu === false ? 'cpu' : llama.gpu,
    async loadModel(modelPath) {
      try {
        return await llama.loadModel({ modelPath });
      } catch (error) {
        throw new StudioError('EvaluationFailed', `llama.cpp could not load this model: ${describe(error)}`, { path: modelPath, cause: error });
      }
    },
    async dispose() {
      await llama.dispose();
    },
  };
}
