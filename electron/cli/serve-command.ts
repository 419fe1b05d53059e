/**
 * `dus-studio serve`: starts the serve mode and runs until Ctrl-C or SIGTERM. The first line on stdout
 * is the URL to open (token included), so scripts can read it.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { StudioHost } from '../api/studio-api.js';
import { restrictToRoots } from '../serve/root-guard.js';
import { startServer } from '../serve/serve.js';
import type { ParsedCommand } from './cli-args.js';
import type { CliIo } from './cli-io.js';

type ServeCommand = Extract<ParsedCommand, { kind: 'serve' }>;

/** The built renderer next to the bundle (out/renderer beside out/cli.js); DUS_RENDERER_DIR overrides it. */
export function defaultRendererDir(): string {
  return process.env.DUS_RENDERER_DIR ?? path.join(import.meta.dirname, 'renderer');
}

/** The folder an --open path makes browsable: the path itself for a folder, its folder for a file. */
async function rootFor(openPath: string): Promise<string> {
  try {
    return (await stat(openPath)).isDirectory() ? openPath : path.dirname(openPath);
  } catch {
    // Missing: opening it fails below with the engine's own message.
    return path.dirname(openPath);
  }
}

export async function runServeCommand(api: StudioHost, io: CliIo, command: ServeCommand): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  const openPaths = command.open.map((openPath) => path.resolve(cwd, openPath));
  const roots = command.roots.map((root) => path.resolve(cwd, root));
  if (roots.length === 0) for (const openPath of openPaths) roots.push(await rootFor(openPath));
  const { demoPath } = await api.appInfo();
  // The bundled demo is always allowed: it is the app's own sample, and the UI offers it.
  if (demoPath !== '') roots.push(demoPath);

  const guarded = restrictToRoots(api, roots);
  for (const openPath of openPaths) await guarded.openCheckpoint({ path: openPath });

  const staticDir = io.rendererDir ?? defaultRendererDir();
  if (!existsSync(path.join(staticDir, 'index.html'))) {
    io.stderr.write(`warning: ${staticDir}: the renderer is not built (npm run build); only the API is served\n`);
  }
  const server = await startServer({
    api,
    host: command.host,
    port: command.port,
    roots,
    staticDir,
    onInternalError: (error, method) => {
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      io.stderr.write(`internal error in ${method} (please report):\n${detail}\n`);
    },
  });
  io.stdout.write(`${server.url}\n`);
  io.stderr.write(`DUS Studio is served at the URL above, listening on ${server.listening} (roots: ${roots.join(', ')}). Press Ctrl-C to stop.\n`);
  if (server.remote) {
    io.stderr.write(
      `WARNING: listening on ${server.listening} serves every network this machine is on. The session token and every model path and answer cross the network as plain HTTP: anyone who can see the traffic can use the studio with your files. Use this on a trusted network only, or tunnel 127.0.0.1 over SSH instead.\n`,
    );
  }
  await new Promise<void>((resolve) => {
    const stopListening = io.onSigint?.(() => {
      stopListening?.();
      resolve();
    });
  });
  await server.close();
  io.stderr.write('stopped\n');
  return 0;
}
