import { distance as levenshtein } from "fastest-levenshtein";

// Deploy-time values are the policy pack's to check.

export class ValidationError extends Error {
  /** @param arg the argument at fault, so stack config can name its key. */
  constructor(
    message: string,
    readonly arg?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export function checkRanges<T extends object>(
  where: string,
  args: T,
  ranges: { readonly [K in keyof T]?: readonly [min: number, max: number, why: string] },
): void {
  for (const [arg, range] of Object.entries(ranges)) {
    const [min, max, why] = range as [number, number, string];
    const value: unknown = args[arg as keyof T];
    if (typeof value === "number" && (!Number.isInteger(value) || value < min || value > max)) {
      throw new ValidationError(
        `${where} has '${arg}' = ${value}; '${arg}' must be an integer from ${min} to ${max} (${why}).`,
        arg,
      );
    }
  }
}

/** The closest candidate within a small Levenshtein distance, or a case-only difference. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const distance = (a: string, b: string) =>
    a.toLowerCase() === b.toLowerCase() ? 0 : levenshtein(a, b);
  const [best] = [...candidates].sort((x, y) => distance(word, x) - distance(word, y));
  const within = Math.max(2, Math.floor(word.length / 4));
  return best !== undefined && distance(word, best) <= within ? best : undefined;
}
