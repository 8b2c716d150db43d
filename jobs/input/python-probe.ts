/**
 * The entrypoint's read-only probes (`run_job.py --describe` and `--check-values`) as
 * processes that start before their input is known, so a submit's two Python start-ups
 * overlap instead of following each other.
 */
import { spawn } from "child_process";
import * as path from "path";
import { FatalError } from "../errors";

interface PythonRun {
  /** null when a signal (the timeout) stopped it. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** python3 could not be started at all. */
  readonly error?: Error;
}

export interface StartedPython {
  /** The arguments after `python3`, to tell whether it is the process a caller needs. */
  readonly argv: readonly string[];
  /** Sends `input` on stdin and waits for the process to end. Once only. */
  finish(input?: string): Promise<PythonRun>;
  /** Ends a process whose answer is not needed (also done at exit for one never finished). */
  cancel(): void;
}

/**
 * Starts `python3 argv` in `cwd`. Until `finish` is called the process does not keep Node
 * alive: a run that fails validation (or has nothing to check) exits without waiting for it,
 * and the process is killed then.
 */
export function startPython(
  argv: readonly string[],
  cwd: string,
  timeoutMs?: number,
): StartedPython {
  const child = spawn("python3", [...argv], {
    cwd,
    stdio: ["pipe", "pipe", "pipe"],
    timeout: timeoutMs,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
  // A process that exits before its input is written (a bad script) closes stdin under us.
  child.stdin.on("error", () => undefined);
  const ended = new Promise<PythonRun>((resolve) => {
    child.on("error", (error) => resolve({ code: null, stdout, stderr, error }));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  const kill = () => child.kill();
  process.once("exit", kill);
  const handles = [child, child.stdin, child.stdout, child.stderr] as unknown as {
    ref?(): unknown;
    unref?(): unknown;
  }[];
  handles.forEach((h) => h.unref?.());
  return {
    argv,
    finish(input = "") {
      handles.forEach((h) => h.ref?.());
      child.stdin.end(input);
      return ended.finally(() => process.removeListener("exit", kill));
    },
    cancel() {
      process.removeListener("exit", kill);
      kill();
    },
  };
}

/** `run_job.py <mode> [--script S] [--script-options FILE]` */
export function entrypointArgs(
  repoRoot: string,
  mode: "--describe" | "--check-values",
  script: string | undefined,
  scriptOptions?: string,
): string[] {
  return [
    path.join(repoRoot, "container", "run_job.py"),
    mode,
    ...(script !== undefined ? ["--script", script] : []),
    ...(scriptOptions !== undefined ? ["--script-options", scriptOptions] : []),
  ];
}

export function startCheckValues(repoRoot: string, script: string | undefined): StartedPython {
  return startPython(entrypointArgs(repoRoot, "--check-values", script), repoRoot);
}

/** What a finished probe printed on stdout; a FatalError saying what to do when it failed. */
export function probeOutput(run: PythonRun, shown: string, purpose: string): string {
  if (run.error !== undefined) {
    throw new FatalError(
      `could not run \`${shown}\` ${purpose} (${run.error.message}); install python3`,
    );
  }
  if (run.code !== 0) {
    throw new FatalError(
      `\`${shown}\` exited ${run.code}: ${run.stderr.trim() || run.stdout.trim()}`,
    );
  }
  return run.stdout;
}
