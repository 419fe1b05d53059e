/**
 * A tiny hook for the benchmark: `window.__dusPerf.marks` collects {name, ms} entries, e.g.
 * 'first-render' once the stack canvas has first drawn a plan, 'drag-frame' per handled drag frame.
 */
export interface PerfMark {
  name: 'first-render' | 'drag-frame';
  ms: number;
}

declare global {
  interface Window {
    __dusPerf?: { marks: PerfMark[] };
  }
}

/** Caps the list so a long drag session does not grow it without bound. */
const MAX_MARKS = 10_000;

/** Makes `window.__dusPerf` exist from start-up, so a benchmark can read it before any mark. */
export function installPerfHook(): void {
  if (typeof window !== 'undefined') window.__dusPerf ??= { marks: [] };
}

export function recordPerfMark(name: PerfMark['name'], ms: number): void {
  if (typeof window === 'undefined') return;
  const perf = (window.__dusPerf ??= { marks: [] });
  perf.marks.push({ name, ms });
  if (perf.marks.length > MAX_MARKS) perf.marks.splice(0, perf.marks.length - MAX_MARKS);
}
