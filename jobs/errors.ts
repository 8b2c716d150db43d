/** Exit codes (meanings in jobs/cli.ts's `--help`), error types and the one problem format. */
import { visible } from "./output/visible";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_INTERRUPTED = 130;

/** A run stopped by Ctrl-C with work left undone says so, before what failed. */
export function exitCode(interrupted: boolean, failed: boolean): number {
  return interrupted ? EXIT_INTERRUPTED : failed ? EXIT_FAILURE : EXIT_OK;
}

export interface Problem {
  /** As the user named it (relative when possible). */
  readonly file?: string;
  /** 1-based. */
  readonly line?: number;
  readonly column?: number;
  /** e.g. `containerOverrides.environment[1].name`. */
  readonly path?: string;
  readonly message: string;
}

export function formatProblem(p: Problem): string {
  const at = p.file !== undefined && p.line !== undefined ? [p.line, p.column] : [];
  const where = [p.file, ...at].filter((s) => s !== undefined).join(":");
  return visible([where, p.path ?? "", p.message].filter((s) => s !== "").join(": "));
}

export class BadInputError extends Error {
  override name = "BadInputError";
  readonly problems: readonly Problem[];
  constructor(problems: string | Problem | readonly Problem[]) {
    const one = typeof problems === "string" ? { message: problems } : problems;
    const list = "message" in one ? [one] : one;
    super(list.map(formatProblem).join("\n"));
    this.problems = list;
  }
}

export class FatalError extends Error {
  override name = "FatalError";
}

export function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
}

export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = httpStatus(err);
    const status = code !== undefined ? ` (HTTP ${code})` : "";
    const name = err.name && err.name !== "Error" ? `${err.name}: ` : "";
    return `${name}${err.message}${status}`;
  }
  return String(err);
}

/** ENOENT, EACCES, ENOSPC..., as opposed to a bug. */
export function isFileSystemError(err: unknown): boolean {
  return typeof (err as NodeJS.ErrnoException | null)?.code === "string";
}

export function isMissingFile(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** `read()`, or `fallback` when it throws what `expected` accepts (by default, any file error). */
export function orFallback<T>(read: () => T, fallback: T, expected = isFileSystemError): T {
  try {
    return read();
  } catch (err) {
    if (expected(err)) {
      return fallback;
    }
    throw err;
  }
}

/** Marked handled because it is awaited later, where a rejection surfaces. */
export function awaitedLater<T>(promise: Promise<T>): Promise<T> {
  promise.then(undefined, (err: unknown) => err);
  return promise;
}
