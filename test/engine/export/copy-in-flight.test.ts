import { describe, expect, it } from 'vitest';
import { COPIES_IN_FLIGHT, copyInFlight } from '../../../electron/engine/export/export-plan.js';

/** A copy per batch that the test finishes by hand, recording how many ran at once. */
function manualCopies() {
  const finishers = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  const started: number[] = [];
  let running = 0;
  let mostAtOnce = 0;
  const copy = (batch: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      started.push(batch);
      running += 1;
      mostAtOnce = Math.max(mostAtOnce, running);
      const done = (): void => {
        running -= 1;
      };
      finishers.set(batch, {
        resolve: () => {
          done();
          resolve();
        },
        reject: (error) => {
          done();
          reject(error);
        },
      });
    });
  return { copy, finishers, started, running: () => running, mostAtOnce: () => mostAtOnce };
}

/** The promise's outcome so far: 'pending', 'resolved' or the error it rejected with. */
function watch(promise: Promise<void>): () => unknown {
  let outcome: unknown = 'pending';
  promise.then(
    () => (outcome = 'resolved'),
    (error: unknown) => (outcome = error),
  );
  return () => outcome;
}

/** Lets every pending promise callback run. */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await Promise.resolve();
}

describe('copyInFlight', () => {
  it('runs the first batch alone, then keeps COPIES_IN_FLIGHT running', async () => {
    const copies = manualCopies();
    const batches = [0, 1, 2, 3, 4];
    const all = copyInFlight(batches, undefined, copies.copy);
    await settle();
    expect(copies.started, 'the first batch times the copy paths alone').toEqual([0]);
    copies.finishers.get(0)?.resolve();
    await settle();
    expect(copies.started).toEqual([0, 1, 2].slice(0, 1 + COPIES_IN_FLIGHT));
    for (const batch of batches.slice(1)) {
      await settle();
      copies.finishers.get(batch)?.resolve();
    }
    await all;
    expect(copies.started).toEqual(batches);
    expect(copies.mostAtOnce()).toBe(COPIES_IN_FLIGHT);
  });

  it('waits for the running copies before it throws the first failure, and starts no more', async () => {
    const copies = manualCopies();
    const outcome = watch(copyInFlight([0, 1, 2, 3, 4], undefined, copies.copy));
    await settle();
    copies.finishers.get(0)?.resolve();
    await settle();
    copies.finishers.get(1)?.reject(new Error('disk full'));
    await settle();
    expect(outcome(), 'batch 2 is still copying: the folder must not be removed under it').toBe('pending');
    copies.finishers.get(2)?.resolve();
    await settle();
    expect(outcome()).toMatchObject({ message: 'disk full' });
    expect(copies.started).toEqual([0, 1, 2]);
    expect(copies.running()).toBe(0);
  });

  it('starts no batch after a cancel, and lets the running one finish first', async () => {
    const copies = manualCopies();
    const controller = new AbortController();
    const outcome = watch(copyInFlight([0, 1, 2, 3], controller.signal, copies.copy));
    await settle();
    copies.finishers.get(0)?.resolve();
    await settle();
    copies.finishers.get(1)?.resolve();
    controller.abort();
    await settle();
    expect(outcome()).toBe('pending');
    copies.finishers.get(2)?.resolve();
    await settle();
    expect(outcome()).toMatchObject({ code: 'Cancelled' });
    expect(copies.started).toEqual([0, 1, 2]);
  });
});
