/** Where Debian's Chromium lives and the flags it runs with in tests and the benchmark (no playwright import here, so the bench bundle stays small). */

export const CHROMIUM_EXECUTABLE = '/usr/bin/chromium';

/** The flags DESIGN.md §7 sets: headless, no sandbox (containers), and nothing that reaches the network. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];
