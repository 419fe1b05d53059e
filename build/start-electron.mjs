#!/usr/bin/env node
/**
 * `npm start`: runs the desktop app (Electron on this folder, whose package.json `main` is
 * out/main.js; the renderer opens the demo model by itself). Arguments after `--` are passed on,
 * so `npm start -- ./my-model` opens that checkpoint too.
 *
 * Electron ≥ 42 fetches its binary on first start, not at install. Without network that fails, so
 * this checks for the binary first, tries the download once, and otherwise prints one line that
 * points to the browser UI. Environment, as Electron's own installer reads it:
 *   ELECTRON_OVERRIDE_DIST_PATH    a folder holding an Electron build (no download is tried)
 *   ELECTRON_SKIP_BINARY_DOWNLOAD  set to 1 to never download
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const UNAVAILABLE =
  'dus-studio: the Electron binary is not available here (no download possible); run the same UI in a browser with: npx dus-studio serve';

/** Generous: the download is about 100 MB, and a failure without network comes back at once. */
const DOWNLOAD_TIMEOUT_MS = 10 * 60 * 1000;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function fail(message) {
  console.error(message);
  process.exit(1);
}

/** The executable's path inside an Electron dist folder, as Electron's installer names it. */
function platformExecutable(platform) {
  switch (platform) {
    case 'darwin':
    case 'mas':
      return 'Electron.app/Contents/MacOS/Electron';
    case 'win32':
      return 'electron.exe';
    default:
      return 'electron';
  }
}

function electronPackageDir() {
  try {
    return path.dirname(createRequire(path.join(root, 'package.json')).resolve('electron/package.json'));
  } catch {
    return null;
  }
}

/** The installed binary of the electron package, or null. Never downloads (unlike require('electron')). */
function installedBinary(packageDir) {
  const pathFile = path.join(packageDir, 'path.txt');
  if (!existsSync(pathFile)) return null;
  const executable = path.join(packageDir, 'dist', readFileSync(pathFile, 'utf8').trim());
  return existsSync(executable) ? executable : null;
}

function tryDownload(packageDir) {
  const installer = path.join(packageDir, 'install.js');
  if (!existsSync(installer)) return;
  if (process.stdout.isTTY) console.log('dus-studio: fetching the Electron binary (first start only)…');
  // The installer's own output (a stack trace without network) is not the user's business; the
  // one line below says what to do instead.
  spawnSync(process.execPath, [installer], { cwd: packageDir, stdio: 'ignore', timeout: DOWNLOAD_TIMEOUT_MS });
}

function locateElectron() {
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  if (override) {
    const executable = path.join(override, platformExecutable(process.platform));
    return existsSync(executable) ? executable : null;
  }
  const packageDir = electronPackageDir();
  if (packageDir === null) return null;
  const installed = installedBinary(packageDir);
  if (installed !== null) return installed;
  const skip = process.env.ELECTRON_SKIP_BINARY_DOWNLOAD;
  if (skip !== undefined && skip !== '' && skip !== '0' && skip !== 'false') return null;
  tryDownload(packageDir);
  return installedBinary(packageDir);
}

const executable = locateElectron();
if (executable === null) fail(UNAVAILABLE);

const mainScript = path.join(root, 'out', 'main.js');
if (!existsSync(mainScript) || !existsSync(path.join(root, 'out', 'preload.cjs'))) {
  fail(`dus-studio: ${path.relative(process.cwd(), mainScript) || mainScript} is not built yet; run: npm run build`);
}

const env = { ...process.env };
// Inherited from a Node-based tool, it would make Electron run as plain Node.
delete env.ELECTRON_RUN_AS_NODE;

const child = spawn(executable, [root, ...process.argv.slice(2)], { stdio: 'inherit', env, windowsHide: false });
let exited = false;
child.on('error', () => {
  // ENOENT, EACCES, a binary for another platform: the same answer as a missing one.
  exited = true;
  fail(UNAVAILABLE);
});
child.on('exit', (code, signal) => {
  exited = true;
  process.exit(code ?? (signal ? 1 : 0));
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (!exited) child.kill(signal);
  });
}
