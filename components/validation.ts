/**
 * Small helpers shared by the components' argument checks. Each component validates its
 * plain (already known) inputs before creating any child, so a bad value fails `pulumi
 * preview` with one clear message instead of a half-created stack.
 */

/** Thrown for an argument that AWS would reject or that would surprise the bill. */
export class ValidationError extends Error {
  /**
   * @param arg the argument at fault, so a caller that built the arguments from stack config
   *   can name the config key to change.
   */
  constructor(
    message: string,
    readonly arg?: string,
  ) {
    super(message);
    this.name = "ValidationError";
  }
}

/** True when `value` is a plain number we can check now (not an Output or a promise). */
export function isKnownNumber(value: unknown): value is number {
  return typeof value === "number";
}

/**
 * Checks that a known integer lies in [min, max]. Outputs and promises are skipped:
 * Pulumi has no synth phase, so values known only at deploy time are the policy pack's job.
 */
export function checkIntegerRange(
  where: string,
  arg: string,
  value: unknown,
  min: number,
  max: number,
  why: string,
): void {
  if (!isKnownNumber(value)) {
    return;
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(
      `${where} has '${arg}' = ${value}; '${arg}' must be an integer from ${min} to ${max} (${why}).`,
      arg,
    );
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
