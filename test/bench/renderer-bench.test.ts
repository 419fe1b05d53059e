import { describe, expect, it } from 'vitest';
import { dragPath } from './renderer-bench.js';

describe('dragPath', () => {
  it('sweeps one layer per move towards the side with room, back and forth', () => {
    expect(dragPath(16, 1, 80, 8)).toEqual([17, 18, 19, 20, 21, 22, 23, 24]);
    expect(dragPath(16, 1, 16, 5)).toEqual([15, 14, 13, 12, 11]);
    expect(dragPath(3, 1, 5, 7)).toEqual([4, 5, 4, 3, 4, 5, 4]);
  });

  it('stays within the handle range', () => {
    for (const position of dragPath(40, 1, 80, 100)) {
      expect(position).toBeGreaterThanOrEqual(25);
      expect(position).toBeLessThanOrEqual(55);
    }
  });

  it('refuses a handle that cannot move', () => {
    expect(() => dragPath(5, 5, 5, 3)).toThrow(/cannot move/);
  });
});
