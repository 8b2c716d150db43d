/**
 * Strict JSON parsing that keeps positions, so every later error can point at a line and
 * column; comments and trailing commas are errors, as in `aws batch submit-job --cli-input-json`.
 */
import {
  createScanner,
  findNodeAtLocation,
  parseTree,
  printParseErrorCode,
  SyntaxKind,
  visit,
  type Node,
  type ParseError,
} from "jsonc-parser";
import { FatalError, orFallback, type Problem } from "../errors";

export type JsonPath = readonly (string | number)[];

export type JsonPlace = { readonly doc: JsonDocument; readonly path: JsonPath };

export interface JsonDocument {
  readonly file: string;
  readonly text: string;
  readonly value: unknown;
  readonly root: Node;
}

const PARSE_ERROR_TEXT: Record<string, string> = {
  InvalidSymbol: "invalid symbol",
  InvalidNumberFormat: "invalid number",
  PropertyNameExpected:
    'expected a property name in double quotes (or a trailing comma before "}")',
  ValueExpected: "expected a value (or a trailing comma before it)",
  ColonExpected: 'expected ":"',
  CommaExpected: 'expected ","',
  CloseBraceExpected: 'expected "}"',
  CloseBracketExpected: 'expected "]"',
  EndOfFileExpected: "expected end of file (only one JSON value per file)",
  InvalidCommentToken: "comments are not allowed in JSON",
  UnexpectedEndOfComment: "unterminated comment",
  UnexpectedEndOfString: "unterminated string",
  UnexpectedEndOfNumber: "unterminated number",
  InvalidUnicode: "invalid unicode escape",
  InvalidEscapeCharacter: "invalid escape character",
  InvalidCharacter: "invalid character in string (control characters must be escaped)",
};

/** Refused before parsing: the parser and the checks after it recurse once per level. */
export const MAX_JSON_DEPTH = 64;

/** Line starts of the text last asked about (checks ask many times). */
let indexed = { text: "", starts: [0] };

export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  if (indexed.text !== text) {
    indexed = { text, starts: [0] };
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) {
      indexed.starts.push(i + 1);
    }
  }
  const { starts } = indexed;
  const end = Math.max(0, Math.min(offset, text.length));
  let [lo, hi] = [0, starts.length - 1];
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    [lo, hi] = starts[mid] <= end ? [mid, hi] : [lo, mid - 1];
  }
  return { line: lo + 1, column: end - starts[lo] + 1 };
}

/** The offset of the first `[` or `{` nested deeper than MAX_JSON_DEPTH; or -1. */
export function tooDeepAt(text: string): number {
  const scanner = createScanner(text, true);
  let depth = 0;
  for (let t = scanner.scan(); t !== SyntaxKind.EOF; t = scanner.scan()) {
    if (t === SyntaxKind.OpenBraceToken || t === SyntaxKind.OpenBracketToken) {
      if (++depth > MAX_JSON_DEPTH) {
        return scanner.getTokenOffset();
      }
    } else if (t === SyntaxKind.CloseBraceToken || t === SyntaxKind.CloseBracketToken) {
      depth--;
    }
  }
  return -1;
}

/** `containerOverrides.environment[1].name` */
function formatPath(path: JsonPath): string {
  const part = (seg: string | number, i: number) =>
    typeof seg === "number"
      ? `[${seg}]`
      : /^[A-Za-z_$][\w$]*$/.test(seg)
        ? `${i > 0 ? "." : ""}${seg}`
        : `[${JSON.stringify(seg)}]`;
  return path.map(part).join("");
}

export function parseJsonDocument(
  file: string,
  text: string,
): { doc?: JsonDocument; problems: Problem[] } {
  const fail = (offset: number, message: string) => ({
    problems: [{ file, ...lineColumnAt(text, offset), message }],
  });
  // Common from Windows editors; JSON.parse and the AWS CLI reject it.
  if (text.charCodeAt(0) === 0xfeff) {
    return fail(0, "remove the UTF-8 byte order mark (BOM)");
  }
  const deep = tooDeepAt(text);
  if (deep >= 0) {
    return fail(
      deep,
      `arrays and objects are nested more than ${MAX_JSON_DEPTH} levels deep here; a job or ` +
        "sweep file needs fewer than 10: check for unbalanced brackets",
    );
  }
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { disallowComments: true });
  // jsonc-parser often reports one mistake twice at the same offset; keep the first.
  const offsets = new Set<number>();
  const firstPerOffset = errors.filter((e) => !offsets.has(e.offset) && offsets.add(e.offset));
  const problems: Problem[] = firstPerOffset.map((e) => ({
    file,
    ...lineColumnAt(text, e.offset),
    message: `invalid JSON: ${PARSE_ERROR_TEXT[printParseErrorCode(e.error)] ?? printParseErrorCode(e.error)}`,
  }));
  if (root === undefined) {
    return problems.length > 0 ? { problems } : fail(0, "invalid JSON: the file is empty");
  }
  const doc = { file, text, value: problems.length === 0 ? JSON.parse(text) : undefined, root };
  const { duplicates, notText } = keyProblems(doc);
  problems.push(...duplicates);
  return problems.length > 0 ? { problems } : { doc, problems: notText };
}

/** In a `u` regular expression a pair is one character: this finds only lone halves. */
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Repeated keys (JSON.parse silently keeps the last), and keys and strings holding a lone
 * surrogate, which cannot be encoded as UTF-8 and so reaches neither environment nor log.
 */
function keyProblems(doc: JsonDocument): { duplicates: Problem[]; notText: Problem[] } {
  const duplicates: Problem[] = [];
  const notText: Problem[] = [];
  const objects: Set<string>[] = [];
  const check = (s: string, at: () => JsonPath, what: "key" | "value"): void => {
    const half = LONE_SURROGATE.exec(s)?.[0];
    if (half !== undefined) {
      const shown = JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);
      const message =
        `the ${what} ${shown} holds \\u${half.charCodeAt(0).toString(16)}, half of a UTF-16 ` +
        "surrogate pair, which is not a character and cannot be encoded as UTF-8; remove it, " +
        "or write the whole pair (such as \\ud83d\\ude00)";
      notText.push(problemAt(doc, at(), message, { key: what === "key" }));
    }
  };
  visit(doc.text, {
    onObjectBegin: () => void objects.push(new Set()),
    onObjectEnd: () => void objects.pop(),
    onObjectProperty: (name, offset, _l, _sl, _sc, at) => {
      const keys = objects[objects.length - 1];
      if (keys.has(name)) {
        const message = `duplicate key "${name}"; JSON keeps only the last one, so remove one of them`;
        const path = formatPath([...at(), name]);
        duplicates.push({ file: doc.file, ...lineColumnAt(doc.text, offset), path, message });
      }
      keys.add(name);
      check(name, () => [...at(), name], "key");
    },
    onLiteralValue: (value, _o, _l, _sl, _sc, at) =>
      typeof value === "string" && check(value, at, "value"),
  });
  return { duplicates, notText };
}

/** A text that may not be JSON: its value, or undefined. */
export function jsonValue(text: string): { value: unknown } | undefined {
  const parse = () => ({ value: JSON.parse(text) as unknown });
  return orFallback(parse, undefined, (err) => err instanceof SyntaxError);
}

/** A text that must be JSON: its value, or a FatalError that `failure` words from the parser's. */
export function jsonOrFatal(text: string, failure: (parserMessage: string) => string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw new FatalError(failure(err.message));
    }
    throw err;
  }
}

export function valueAt(root: unknown, path: JsonPath): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") {
      return undefined;
    }
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

/** At the value, or the nearest existing parent; with `key: true`, at the property's key. */
export function problemAt(
  doc: JsonDocument,
  path: JsonPath,
  message: string,
  opts: { key?: boolean } = {},
): Problem {
  // The root, at n = 0, is always found.
  for (let n = path.length; ; n--) {
    const node = findNodeAtLocation(doc.root, path.slice(0, n) as (string | number)[]);
    if (node !== undefined) {
      const key = opts.key === true && n === path.length && node.parent?.type === "property";
      const at = lineColumnAt(doc.text, (key ? (node.parent as Node) : node).offset);
      return { file: doc.file, ...at, path: formatPath(path), message };
    }
  }
}
