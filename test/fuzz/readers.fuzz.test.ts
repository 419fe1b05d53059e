/**
 * The short fuzz run: a few thousand structure-aware cases against every reader of untrusted
 * input (targets in fuzz-targets.ts), each ending in a valid result or a named error, within its
 * time limit (on CPU time, so a busy machine does not fail it) and memory budget. The inputs that once broke a reader run first in every target.
 * The long run is `npm run fuzz` (fuzz.ts). FUZZ_SEED replays another seed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFuzzTargets, runFuzzCase, SHORT_SCALE } from './fuzz-targets.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_301);

/** Cases per target: the pure header parser is cheap, the folder-writing targets are not. */
const CASES: Readonly<Record<string, number>> = {
  'safetensors-header': 2000,
  'safetensors-file': 400,
  'safetensors-index': 250,
  config: 250,
  'layer-indexes': 60,
  'mergekit-yaml': 500,
  gguf: 600,
};

/**
 * A target's short run takes tens of seconds on a quiet machine and several times that beside other
 * busy processes (the slowest, mergekit-yaml, took 275 s on two cores shared with seven other
 * sessions): the bound only catches a hang, so it sits far above.
 */
const TARGET_TIMEOUT_MS = 1_800_000;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fuzzing the readers of untrusted input', () => {
  const targets = createFuzzTargets(SHORT_SCALE);

  it('has a short run for every target', () => {
    expect(targets.map((target) => target.name).sort()).toEqual(Object.keys(CASES).sort());
  });

  for (const target of targets) {
    it(`ends every ${target.name} case in a valid result or a named error, in time and in bounded memory`, async () => {
      let counter = 0;
      const outcomes = { valid: 0, error: 0 };
      await fc.assert(
        fc.asyncProperty(target.arbitrary, async (input) => {
          // CPU time, not wall time: on a machine busy with other work a case's wall time says nothing.
          const result = await runFuzzCase(target, input, path.join(dir, `${target.name}-${counter++}`), 'cpu');
          if (result.outcome.kind === 'failure') throw new Error(`${result.outcome.reason}\ninput: ${target.describe(input)}`);
          outcomes[result.outcome.kind] += 1;
        }),
        { seed: SEED, numRuns: CASES[target.name], examples: target.regressions.map((input) => [input] as [unknown]) },
      );
      // Both kinds of outcome occur: the generators reach past the first check and into valid files.
      expect(outcomes.valid).toBeGreaterThan(0);
      expect(outcomes.error).toBeGreaterThan(0);
    }, TARGET_TIMEOUT_MS);
  }
});
