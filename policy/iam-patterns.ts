/**
 * IAM's wildcards, and whether one pattern grants all another stands for (`s3:**` grants `s3:*`).
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html#reference_policies_elements_resource_wildcards
 */

/** `colons`: whether a `*` may also match `:`, as a resource `*` ending its segment does. */
type Token =
  | { readonly kind: "star"; readonly colons: boolean }
  | { readonly kind: "one" }
  | { readonly kind: "char"; readonly char: string };

/** `segmented`: in ARNs a wildcard never matches `:`, but a `*` ending its segment may. */
type PatternKind = { readonly caseInsensitive: boolean; readonly segmented: boolean };

export const ACTION: PatternKind = { caseInsensitive: true, segmented: false };
export const RESOURCE: PatternKind = { caseInsensitive: false, segmented: true };

/** Each run of wildcards becomes its `?`s, then one `*` if it had any. */
function tokenize(pattern: string, kind: PatternKind): Token[] {
  const text = kind.caseInsensitive ? pattern.toLowerCase() : pattern;
  let end = 0;
  // The odd parts are the runs of wildcards, the even ones the text between them.
  return text.split(/([*?]+)/).flatMap((part, i): Token[] => {
    end += part.length;
    if (i % 2 === 0) {
      return Array.from(part, (char) => ({ kind: "char", char }) as const);
    }
    const ones = Array.from(part.replace(/\*/g, ""), () => ({ kind: "one" }) as const);
    const endsSegment = end === text.length || text[end] === ":";
    const star = { kind: "star", colons: !kind.segmented || endsSegment } as const;
    return part.includes("*") ? [...ones, star] : ones;
  });
}

/** The positions reachable without reading a character: `*` may match nothing. */
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

function step(
  tokens: readonly Token[],
  positions: ReadonlySet<number>,
  char: string,
  kind: PatternKind,
): Set<number> {
  const next: number[] = [];
  for (const position of positions) {
    const token = tokens[position];
    if (token?.kind === "star" && (token.colons || char !== ":")) {
      next.push(position);
    } else if (token?.kind === "one" && (!kind.segmented || char !== ":")) {
      next.push(position + 1);
    } else if (token?.kind === "char" && token.char === char) {
      next.push(position + 1);
    }
  }
  return closure(tokens, next);
}

const key = (positions: ReadonlySet<number>) => [...positions].sort((x, y) => x - y).join(",");

/** Exact: both are read as automata, over the characters either names plus one neither does. */
export function covers(pattern: string, granted: string, kind: PatternKind): boolean {
  const p = tokenize(pattern, kind);
  const g = tokenize(granted, kind);
  const literals = [...p, ...g].flatMap((t) => (t.kind === "char" ? [t.char] : []));
  let other = "\u0001";
  while (literals.includes(other)) {
    other = String.fromCharCode(other.charCodeAt(0) + 1);
  }
  const alphabet = [...new Set([...literals, ":", other])];
  const seen = new Set<string>();
  const queue = [{ g: closure(g, [0]), p: closure(p, [0]) }];
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

export function matches(pattern: string, name: string, kind: PatternKind): boolean {
  return !/[*?]/.test(name) && covers(pattern, name, kind);
}

const ANYTHING = /^[*?]*\*[*?]*$/;
const unscopedPart = (part: string) => part === "" || ANYTHING.test(part);

/** `*`, `arn:aws:s3:::*`, `arn:*`, …: a named bucket, prefix, region or account scopes it. */
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
      parts.slice(3).every(unscopedPart)
    );
  }
  const [region, account] = parts.slice(3, 5);
  const pieces = parts.slice(5).join(":").split(/[/:]/);
  return (
    unscopedPart(region) &&
    // Twelve `?` match every account ID (12 digits) as surely as `*` does.
    (unscopedPart(account) || /^\?{12,}$/.test(account)) &&
    pieces.every((piece) => ANYTHING.test(piece))
  );
}
