/**
 * Launches Debian's Chromium for the end-to-end tests through playwright-core (no bundled browser:
 * none can be downloaded here or in CI). Each launch gets a fresh temporary profile.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export { CHROMIUM_ARGS, CHROMIUM_EXECUTABLE } from './chromium-flags.js';
import { CHROMIUM_ARGS, CHROMIUM_EXECUTABLE } from './chromium-flags.js';

/** The window size every screenshot is taken at. */
export const VIEWPORT = { width: 1280, height: 800 } as const;

/** True when the caller asked to skip the browser tests (DUS_SKIP_E2E=1); nothing else skips them. */
export function e2eSkipRequested(): boolean {
  return process.env.DUS_SKIP_E2E === '1';
}

/** Throws a message that says how to install Chromium; the tests fail rather than skip quietly. */
export function assertChromiumInstalled(executable: string = CHROMIUM_EXECUTABLE): void {
  if (!existsSync(executable)) {
    throw new Error(
      `${executable} is missing: the end-to-end tests need Debian's Chromium. Install it with ` +
        '`apt-get install -y chromium` (CI\'s .ci/run does), or set DUS_SKIP_E2E=1 to skip these tests.',
    );
  }
}

/** One headless Chromium; the caller closes it. Playwright gives the launch its own fresh user-data dir. */
export async function launchChromium(executable: string = CHROMIUM_EXECUTABLE): Promise<Browser> {
  assertChromiumInstalled(executable);
  return chromium.launch({ executablePath: executable, args: [...CHROMIUM_ARGS], timeout: 30_000 });
}
