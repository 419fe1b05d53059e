import { LineCounter, parseDocument, type Node } from 'yaml';
import type { PlanProblem } from '../../electron/api/types.js';

/** A place in a mergekit plan: a key path such as ['slices', 1, 'sources', 0, 'layer_range']. */
export type PlanPath = readonly (string | number)[];

/**
 * Lines of a mergekit YAML text by plan path, read once from the text's syntax tree, so a problem
 * the engine finds in the plan (slice 2's range is outside its model) can be shown at the line that
 * says it. Paths the text does not hold (the `models:` form, a text that does not parse) have no line.
 */
export class YamlPositions {
  readonly #lines = new LineCounter();
  readonly #doc;

  constructor(text: string) {
    this.#doc = parseDocument(text, { lineCounter: this.#lines });
  }

  /** The 1-based line where the value at `path` starts, or undefined when the text has no such value. */
  lineOf(path: PlanPath): number | undefined {
    if (this.#doc.errors.length > 0) return undefined;
    const node = this.#doc.getIn(path, true) as Node | null | undefined;
    const start = node?.range?.[0];
    return start === undefined ? undefined : this.#lines.linePos(start).line;
  }

  /**
   * The line a plan problem is about: its own line, else the key of its slice the problem concerns,
   * else the slice; a problem of no slice at the top-level key it names (base_model, tokenizer_source).
   */
  lineOfProblem(problem: PlanProblem): number | undefined {
    if (problem.line !== undefined) return problem.line;
    if (problem.slice === undefined) return problem.planKey === undefined ? undefined : this.lineOf([problem.planKey]);
    const source = ['slices', problem.slice, 'sources', 0];
    const key = problemKey(problem.code);
    return (key === null ? undefined : this.lineOf([...source, key])) ?? this.lineOf(source) ?? this.lineOf(['slices', problem.slice]);
  }
}

const RANGE_CODES = new Set(['EmptySlice', 'ReversedSlice', 'NonIntegerRange', 'RangeOutsideModel', 'MissingLayer', 'LayerRepeated', 'GapInSplice']);
const SCALE_CODES = new Set(['ScaleOnNonFloat', 'InvalidScale']);

/** Which key of a slice's source a problem code is about: its layer_range, its parameters, or (shapes, families, …) its model. */
function problemKey(code: PlanProblem['code']): string | null {
  if (RANGE_CODES.has(code)) return 'layer_range';
  if (SCALE_CODES.has(code)) return 'parameters';
  if (code === 'EmptyPlan' || code === 'MtpDropped' || code === 'ResolveFailed') return null;
  return 'model';
}
