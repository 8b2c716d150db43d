/**
 * The one gate for text that came from a job, a file or AWS on its way to a terminal or a
 * log: control characters (C0, DEL, C1), bidirectional overrides and lone surrogates are
 * written as escapes, so such text can neither move the cursor, retitle or recolour the
 * terminal, overwrite a line, nor reorder what is shown around it.
 */

const NAMED: ReadonlyMap<string, string> = new Map([
  ["\n", "\\n"],
  ["\r", "\\r"],
  ["\t", "\\t"],
]);

// C0 and DEL, C1, the bidi embeddings/overrides/isolates (Trojan Source), line and
// paragraph separators, and surrogates that are not part of a pair.
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** `text` with every unsafe character as a visible escape (`\x1b`, `\r`, `\u202e`). */
export function visible(text: string): string {
  return text.replace(UNSAFE, (c) => NAMED.get(c) ?? escapeCode(c.charCodeAt(0)));
}

function escapeCode(code: number): string {
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}
