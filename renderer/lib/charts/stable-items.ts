/**
 * Keyed lists rebuilt on every frame (a drag recomputes the whole stack geometry) with mostly the
 * same rows: an item equal field by field to the previous list's item of the same key is swapped
 * for that previous object. A keyed `{#each}` in runes mode compares items by reference, so rows
 * that did not change are skipped entirely instead of re-running every attribute of every row.
 * Fields are compared with ===; geometry items hold only primitives.
 */
export class StableItems<T extends { key: string }> {
  #previous = new Map<string, T>();

  /** `next`, with unchanged items replaced by the objects handed out last time. */
  take(next: readonly T[]): T[] {
    const kept = new Map<string, T>();
    const items = next.map((item) => {
      const before = this.#previous.get(item.key);
      const chosen = before !== undefined && sameFields(before, item) ? before : item;
      kept.set(item.key, chosen);
      return chosen;
    });
    this.#previous = kept;
    return items;
  }
}

export function sameFields<T extends object>(a: T, b: T): boolean {
  const keys = Object.keys(a) as (keyof T)[];
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => a[key] === b[key]);
}
