#!/usr/bin/env node
/**
 * `npm run build` (and `prepare`, so `npm install` / `npm ci` leave a runnable tree): bundles the
 * CLI, the Electron main process and the preload with esbuild, the optional bench and fuzz
 * runners, then the renderer with Vite. Plain JavaScript, because it must run before anything is
 * built. The native addon is not touched: it stays at native/build/Release/dus_native.node and
 * electron/engine/native.ts finds it by walking up from out/.
 *
 *   node build/build.mjs [--outdir DIR] [--root DIR] [--no-renderer]
 */
import { chmod, mkdir, readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const USAGE = 'usage: node build/build.mjs [--outdir DIR] [--root DIR] [--no-renderer]';

/** ESM bundles may contain CommonJS dependencies that call require(); ESM has none, so give it one. */
const REQUIRE_SHIM = "import { createRequire as __dusCreateRequire } from 'node:module';\nconst require = __dusCreateRequire(import.meta.url);";

class BuildError extends Error {}

function parseArguments(argv) {
  const options = { outdir: null, root: null, renderer: true };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (arg === '--no-renderer') options.renderer = false;
    else if (arg === '--outdir' || arg === '--root') {
      const value = argv[++index];
      if (value === undefined || value.startsWith('--')) throw new BuildError(`${arg} needs a folder\n${USAGE}`);
      options[arg.slice(2)] = value;
    } else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new BuildError(`unknown option ${arg}\n${USAGE}`);
  }
  return options;
}

/** The esbuild bundles; `optional` ones are built only when their entry exists (others add them later). */
function bundleSpecs(root, outdir) {
  const nodeEsm = {
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // The addon is found at run time by path, never bundled.
    // node-llama-cpp loads its prebuilt llama.cpp binaries at run time from its own packages: never bundled.
    external: ['*.node', 'node-llama-cpp'],
  };
  return [
    {
      name: 'cli',
      entry: 'electron/cli/cli.ts',
      outfile: path.join(outdir, 'cli.js'),
      executable: true,
      options: { ...nodeEsm, banner: { js: `#!/usr/bin/env node\n${REQUIRE_SHIM}` } },
    },
    {
      name: 'main',
      entry: 'electron/main/main.ts',
      outfile: path.join(outdir, 'main.js'),
      options: { ...nodeEsm, external: [...nodeEsm.external, 'electron'], banner: { js: REQUIRE_SHIM } },
    },
    {
      name: 'preload',
      entry: 'electron/preload/preload.ts',
      outfile: path.join(outdir, 'preload.cjs'),
      // A sandboxed preload is a browser script that may require('electron') and nothing else:
      // platform 'browser' makes any Node built-in a build error instead of a failure at run time.
      options: { platform: 'browser', format: 'cjs', target: 'chrome120', external: ['electron'] },
    },
    {
      name: 'bench',
      entry: 'test/bench/bench.ts',
      outfile: path.join(outdir, 'bench.js'),
      optional: true,
      options: { ...nodeEsm, banner: { js: REQUIRE_SHIM } },
    },
    {
      name: 'fuzz',
      entry: 'test/fuzz/fuzz.ts',
      outfile: path.join(outdir, 'fuzz.js'),
      optional: true,
      options: { ...nodeEsm, banner: { js: REQUIRE_SHIM } },
    },
  ].map((spec) => ({ ...spec, entryPath: path.join(root, spec.entry) }));
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MB`;
}

function shown(file) {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

async function bundle(esbuild, spec, root) {
  try {
    await esbuild.build({
      absWorkingDir: root,
      entryPoints: [spec.entryPath],
      outfile: spec.outfile,
      bundle: true,
      // Function names survive, so stack traces in "please report" errors stay readable.
      keepNames: true,
      legalComments: 'none',
      logLevel: 'silent',
      ...spec.options,
    });
  } catch (error) {
    const messages = Array.isArray(error?.errors) && error.errors.length > 0
      ? (await esbuild.formatMessages(error.errors, { kind: 'error', color: false })).join('').trimEnd()
      : String(error?.message ?? error);
    throw new BuildError(`could not bundle ${spec.entry} (${spec.name}):\n${messages}`);
  }
  if (spec.executable) await chmod(spec.outfile, 0o755);
  const { size } = await stat(spec.outfile);
  return `${shown(spec.outfile)}  ${formatSize(size)}`;
}

async function folderSize(folder) {
  let bytes = 0;
  let files = 0;
  for (const entry of await readdir(folder, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    files += 1;
    bytes += (await stat(path.join(entry.parentPath ?? entry.path, entry.name))).size;
  }
  return { bytes, files };
}

async function buildRenderer(root, outdir, useDefaultOutdir) {
  const configFile = path.join(root, 'renderer', 'vite.config.ts');
  const target = path.join(outdir, 'renderer');
  const { build } = await import('vite');
  try {
    await build({
      configFile,
      logLevel: 'warn',
      // With --outdir the renderer follows; otherwise its own config says where (out/renderer).
      ...(useDefaultOutdir ? {} : { build: { outDir: target, emptyOutDir: true } }),
    });
  } catch (error) {
    throw new BuildError(`could not build the renderer (${path.relative(root, configFile)}):\n${error?.message ?? error}`);
  }
  if (!existsSync(path.join(target, 'index.html'))) {
    throw new BuildError(`the renderer build wrote no ${shown(path.join(target, 'index.html'))}; renderer/vite.config.ts must build to out/renderer`);
  }
  const { bytes, files } = await folderSize(target);
  return `${shown(target)}/  ${formatSize(bytes)} in ${files} files`;
}

/** Builds everything; returns one line per output. */
export async function buildProject({ root, outdir, renderer = true, defaultOutdir = false }) {
  const esbuild = await import('esbuild');
  await mkdir(outdir, { recursive: true });
  const specs = bundleSpecs(root, outdir);
  const missing = specs.filter((spec) => !spec.optional && !existsSync(spec.entryPath));
  if (missing.length > 0) {
    throw new BuildError(`missing entry ${missing.map((spec) => spec.entry).join(', ')} (in ${root})`);
  }
  const present = specs.filter((spec) => existsSync(spec.entryPath));
  const lines = await Promise.all(present.map((spec) => bundle(esbuild, spec, root)));
  if (renderer && existsSync(path.join(root, 'renderer', 'vite.config.ts'))) {
    lines.push(await buildRenderer(root, outdir, defaultOutdir));
  }
  return lines;
}

async function main() {
  const started = performance.now();
  const options = parseArguments(process.argv.slice(2));
  const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const root = path.resolve(options.root ?? repositoryRoot);
  const outdir = path.resolve(options.outdir ?? path.join(root, 'out'));
  const lines = await buildProject({
    root,
    outdir,
    renderer: options.renderer,
    defaultOutdir: options.outdir === null,
  });
  for (const line of lines) console.log(line);
  console.log(`built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    const message = error instanceof BuildError ? error.message : (error?.stack ?? String(error));
    console.error(`dus-studio build failed: ${message}`);
    process.exit(1);
  });
}
