/** One figure a benchmark prints. */
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The goal, in words, e.g. "< 3 s". */
  readonly target?: string;
}
