/**
 * The entrypoint's two read-only probes (`run_job.py --describe` and `--check-values`) as
 * processes that can start before their input is known: a submit starts the values check
 * beside the describe step, so their start-ups (two interpreters per probe: run_job.py and
 * its probe child) overlap instead of following each other. Reading the answers is
 * script-options.ts's and variables.ts's job.
 */
import { spawn } from "child_process";
import * as path from "path";
import { FatalError } from "../errors";

/** How a probe process ended. */
export interface PythonRun {
  /** Exit code; null when a signal (the timeout) stopped it. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when python3 could not be started at all. */
  readonly error?: Error;
}

/** A probe process, started; its input (stdin) is sent when known. */
export interface StartedPython {
  /** The arguments after `python3`, to tell whether it is the process a caller needs. */
  readonly argv: readonly string[];
  /** Sends `input` (closing stdin) and waits for the process to end. Once only. */
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
  const kill = (): void => {
    child.kill();
  };
  process.once("exit", kill);
  const handles = [child, child.stdin, child.stdout, child.stderr] as unknown as {
    ref?(): unknown;
    unref?(): unknown;
  }[];
  handles.forEach((h) => h.unref?.());
  let finished = false;
  return {
    argv,
    finish(input = "") {
      if (finished) {
        throw new Error("internal: a probe process was finished twice");
      }
      finished = true;
      handles.forEach((h) => h.ref?.());
      child.stdin.end(input);
      return ended.finally(() => process.removeListener("exit", kill));
    },
    cancel() {
      finished = true;
      process.removeListener("exit", kill);
      kill();
    },
  };
}

/** `run_job.py [--script S] [--script-options FILE]` arguments of one of its modes. */
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

/** `python3 run_job.py --check-values ...`, started; send the question with `finish`. */
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
