/**
 * The one gate for text from a job, a file or AWS on its way to a terminal or a log: control
 * characters, bidi overrides and lone surrogates become escapes, so it cannot move the cursor,
 * restyle the terminal or reorder what is shown around it.
 */
export interface OutStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  /** The stream under visibleIo's gate: only a progress bar draws there (its own escapes). */
  readonly raw?: OutStream;
}

export interface Io {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
}

const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

// C0 and DEL, C1, the bidi embeddings/overrides/isolates (Trojan Source), line and
// paragraph separators, and surrogates that are not part of a pair.
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function visible(text: string): string {
  return text.replace(UNSAFE, escaped);
}

/** Line breaks are the printer's own; `--json` keeps a raw stdout, as JSON escapes the rest. */
export function visibleIo(io: Io, json: boolean): Io {
  return { stdout: json ? io.stdout : visibleStream(io.stdout), stderr: visibleStream(io.stderr) };
}

function visibleStream(raw: OutStream): OutStream {
  const lines = (text: string): string =>
    text.replace(UNSAFE, (c) => (c === "\n" ? c : escaped(c)));
  return { write: (chunk) => raw.write(lines(chunk)), isTTY: raw.isTTY, raw };
}

function escaped(c: string): string {
  const code = c.charCodeAt(0);
  const [prefix, width] = code <= 0xff ? ["x", 2] : ["u", 4];
  return NAMED[c] ?? `\\${prefix}${code.toString(16).padStart(width, "0")}`;
}

/** `s` as one POSIX shell word, for the commands the tool prints for the user to run. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
