/**
 * IAM's wildcards, matched as IAM matches them: `*` is any run of characters, `?` exactly
 * one, in `Action`/`NotAction` (case-insensitively) and in `Resource` ARNs (case-sensitively;
 * a `*` stays within its colon-separated segment unless it ends the segment).
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html#reference_policies_elements_resource_wildcards
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
 *
 * The question the policies ask is not "does this pattern match that name" but "does this
 * statement's pattern grant everything that pattern stands for": `s3:**` grants `s3:*`,
 * `s3:Get*` grants `s3:GetObject`, `arn:aws:s3:::?*` grants every bucket. {@link covers}
 * answers it exactly.
 */

type Token =
  /** `*`; `colons`: whether it may also match `:` (a resource `*` that ends its segment). */
  | { readonly kind: "star"; readonly colons: boolean }
  /** `?`: any one character. */
  | { readonly kind: "one" }
  | { readonly kind: "char"; readonly char: string };

export interface PatternKind {
  /** Actions match case-insensitively, ARNs case-sensitively. */
  readonly caseInsensitive: boolean;
  /** ARN rule: a `*` matches a `:` only when it is the last character of its segment. */
  readonly segmented: boolean;
}

export const ACTION: PatternKind = { caseInsensitive: true, segmented: false };
export const RESOURCE: PatternKind = { caseInsensitive: false, segmented: true };

/**
 * A pattern as tokens, each run of wildcards in canonical form: its `?`s first, then one
 * `*` if it had any (`*?*` and `?*` both mean "at least one character").
 */
function tokenize(pattern: string, kind: PatternKind): Token[] {
  const text = kind.caseInsensitive ? pattern.toLowerCase() : pattern;
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] !== "*" && text[i] !== "?") {
      tokens.push({ kind: "char", char: text[i] });
      i++;
      continue;
    }
    let ones = 0;
    let star = false;
    while (i < text.length && (text[i] === "*" || text[i] === "?")) {
      star = star || text[i] === "*";
      ones += text[i] === "?" ? 1 : 0;
      i++;
    }
    for (let n = 0; n < ones; n++) {
      tokens.push({ kind: "one" });
    }
    if (star) {
      const endsSegment = i === text.length || text[i] === ":";
      tokens.push({ kind: "star", colons: !kind.segmented || endsSegment });
    }
  }
  return tokens;
}

/** The positions a pattern can be at after reading nothing more: `*` may match nothing. */
function closure(tokens: readonly Token[], positions: Iterable<number>): Set<number> {
  const result = new Set<number>();
  for (let position of positions) {
    result.add(position);
    while (tokens[position]?.kind === "star") {
      result.add(++position);
    }
  }
  return result;
}

/** The positions after reading `char` from any of `positions`. */
function step(
  tokens: readonly Token[],
  positions: ReadonlySet<number>,
  char: string,
  kind: PatternKind,
): Set<number> {
  const next: number[] = [];
  for (const position of positions) {
    const token = tokens[position];
    if (token === undefined) {
      continue;
    }
    if (token.kind === "star") {
      if (token.colons || char !== ":") {
        next.push(position);
      }
    } else if (token.kind === "one") {
      if (!kind.segmented || char !== ":") {
        next.push(position + 1);
      }
    } else if (token.char === char) {
      next.push(position + 1);
    }
  }
  return closure(tokens, next);
}

const key = (positions: ReadonlySet<number>) => [...positions].sort((x, y) => x - y).join(",");

/**
 * Whether `pattern` grants everything `granted` stands for: every name `granted` matches,
 * `pattern` matches too (a plain name is a pattern that matches only itself). Exact: both
 * patterns are read as automata, every way of reading `granted` is followed with the states
 * `pattern` can be in, over the characters either names plus one that neither does.
 */
export function covers(pattern: string, granted: string, kind: PatternKind): boolean {
  const p = tokenize(pattern, kind);
  const g = tokenize(granted, kind);
  const literals = [...p, ...g].flatMap((t) => (t.kind === "char" ? [t.char] : []));
  // One character no pattern names stands for all of them; `:` matters to ARN wildcards.
  let other = "\u0001";
  while (literals.includes(other)) {
    other = String.fromCharCode(other.charCodeAt(0) + 1);
  }
  const alphabet = [...new Set([...literals, ":", other])];
  const start = { g: closure(g, [0]), p: closure(p, [0]) };
  const seen = new Set<string>();
  const queue = [start];
  for (let item = queue.pop(); item !== undefined; item = queue.pop()) {
    const { g: gs, p: ps } = item;
    const id = `${key(gs)}|${key(ps)}`;
    if (seen.has(id)) {
      continue;
    }
    seen.add(id);
    if (gs.has(g.length) && !ps.has(p.length)) {
      return false; // a name `granted` matches and `pattern` does not
    }
    for (const char of alphabet) {
      const nextG = step(g, gs, char, kind);
      if (nextG.size > 0) {
        queue.push({ g: nextG, p: step(p, ps, char, kind) });
      }
    }
  }
  return true;
}

/** Whether `pattern` matches the concrete name `name` (an action or an ARN). */
export function matches(pattern: string, name: string, kind: PatternKind): boolean {
  return !/[*?]/.test(name) && covers(pattern, name, kind);
}

/** A pattern part made only of wildcards, with a `*`: it matches any non-empty text. */
const ANYTHING = /^[*?]*\*[*?]*$/;

/** Whether an ARN part (region, account, resource piece) names nothing. */
function unscopedPart(part: string, minimumLength = 0): boolean {
  // Twelve `?` match every account ID as surely as `*` does.
  return (
    part === "" ||
    ANYTHING.test(part) ||
    (minimumLength > 0 && /^\?+$/.test(part) && part.length >= minimumLength)
  );
}

/** AWS account IDs are 12 digits. */
const ACCOUNT_ID_LENGTH = 12;

/**
 * Whether a `Resource` pattern covers every resource of its service (or of every service),
 * with nothing scoping it: `*` (or `?*`, `**`); `arn:aws:s3:::*` (every bucket and object),
 * also with `/*` appended or as `?*`; `arn:aws:*:*:*:*`; `arn:*:*:*:*:*`; `arn:*`. The
 * partition and the service may be named; the region and the account must be empty or
 * wildcards, and the resource part only wildcards between its `/` and `:`. A pattern that
 * names a bucket, a prefix, a region or an account scopes the grant and is not reported.
 */
export function isWildcardResource(resource: string): boolean {
  if (ANYTHING.test(resource)) {
    return true;
  }
  const parts = resource.split(":");
  if (parts[0].toLowerCase() !== "arn") {
    return false;
  }
  if (parts.length < 6) {
    // A `*` that ends a segment spans colons: `arn:*` is every ARN, `arn:aws:s3:*` every S3 one.
    return (
      parts.length > 1 &&
      ANYTHING.test(parts[parts.length - 1]) &&
      parts.slice(3).every((part) => unscopedPart(part))
    );
  }
  const [region, account] = parts.slice(3, 5);
  const pieces = parts.slice(5).join(":").split(/[/:]/);
  return (
    unscopedPart(region) &&
    unscopedPart(account, ACCOUNT_ID_LENGTH) &&
    pieces.every((piece) => ANYTHING.test(piece))
  );
}
