/**
 * What the components' argument checks share: each checks its plain inputs before creating
 * any child, so a bad value fails `pulumi preview` with one clear message. Values known only
 * at deploy time are the policy pack's job.
 */

/** Thrown for an argument that AWS would reject or that would surprise the bill. */
export class ValidationError extends Error {
  /** @param arg the argument at fault, so stack config can name the key to change. */
  constructor(
    message: string,
    readonly arg?: string,
  ) {
    super(message);
    this.name = "ValidationError";
  }
}

/** Integer arguments' bounds, each with the reason shown when a value is out of them. */
export type IntegerRanges<T> = {
  readonly [K in keyof T]?: readonly [min: number, max: number, why: string];
};

/** Checks that every known number among `args` is an integer within its range. */
export function checkRanges<T extends object>(
  where: string,
  args: T,
  ranges: IntegerRanges<T>,
): void {
  type Range = [arg: keyof T & string, bounds: [min: number, max: number, why: string]];
  for (const [arg, [min, max, why]] of Object.entries(ranges) as Range[]) {
    const value = args[arg];
    if (typeof value === "number" && (!Number.isInteger(value) || value < min || value > max)) {
      throw new ValidationError(
        `${where} has '${arg}' = ${value}; '${arg}' must be an integer from ${min} to ${max} (${why}).`,
        arg,
      );
    }
  }
}

/** Levenshtein distance, for "did you mean" suggestions. */
function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** The closest candidate within a small distance (or a case-only difference). */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 4)) ? best : undefined;
}
