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
 * answers it exactly for patterns written in canonical form (see {@link tokenize}).
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
 * `*` if it had any (`*?*` and `?*` both mean "at least one character"). Canonical runs make
 * the symbolic comparison in {@link covers} exact rather than order-dependent.
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

/**
 * Whether `pattern` grants everything `granted` stands for: every string `granted` matches,
 * `pattern` matches too (a plain name is a pattern that matches itself). Symbolic matching:
 * a `*` of `pattern` may absorb any part of `granted`, wildcards included; a `?` absorbs one
 * character or `?`; a character only itself. Both sides in canonical form, this is exact.
 */
export function covers(pattern: string, granted: string, kind: PatternKind): boolean {
  const p = tokenize(pattern, kind);
  const g = tokenize(granted, kind);
  const memo = new Map<number, boolean>();
  const width = g.length + 1;
  const from = (i: number, j: number): boolean => {
    const key = i * width + j;
    const cached = memo.get(key);
    if (cached !== undefined) {
      return cached;
    }
    let result: boolean;
    if (i === p.length) {
      result = j === g.length;
    } else {
      const token = p[i];
      const next = g[j];
      if (token.kind === "star") {
        // Absorb nothing more, or absorb the next token of `granted` if the star can.
        const absorbs =
          next !== undefined &&
          (token.colons ||
            next.kind === "one" ||
            (next.kind === "char" && next.char !== ":") ||
            (next.kind === "star" && !next.colons));
        result = from(i + 1, j) || (absorbs && from(i, j + 1));
      } else if (next === undefined || next.kind === "star") {
        result = false;
      } else if (token.kind === "one") {
        result =
          (next.kind === "one" || next.char !== ":" || !kind.segmented) && from(i + 1, j + 1);
      } else {
        result = next.kind === "char" && next.char === token.char && from(i + 1, j + 1);
      }
    }
    memo.set(key, result);
    return result;
  };
  return from(0, 0);
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
