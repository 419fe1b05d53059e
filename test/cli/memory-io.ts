/** A CliIo that records output in strings and lets tests press Ctrl-C. */
import type { StudioHost } from '../../electron/api/studio-api.js';
import type { CliIo } from '../../electron/cli/cli-io.js';

export interface MemoryIo {
  io: CliIo;
  stdout(): string;
  stderr(): string;
  /** Simulates Ctrl-C: calls every handler subscribed at this moment. */
  sigint(): void;
  /** Handlers subscribed right now. */
  sigintListeners(): number;
  /** How often createApi was called, and with which host kinds. */
  apiHosts: string[];
}

export function memoryIo(api: StudioHost, overrides: Partial<CliIo> = {}): MemoryIo {
  let stdout = '';
  let stderr = '';
  const handlers = new Set<() => void>();
  const apiHosts: string[] = [];
  const io: CliIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    isTTY: false,
    version: '9.8.7',
    createApi: (host) => {
      apiHosts.push(host);
      return api;
    },
    onSigint: (handler) => {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    ...overrides,
  };
  return {
    io,
    stdout: () => stdout,
    stderr: () => stderr,
    sigint: () => {
      for (const handler of [...handlers]) handler();
    },
    sigintListeners: () => handlers.size,
    apiHosts,
  };
}
