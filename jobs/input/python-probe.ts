/**
 * The entrypoint's read-only probes (`run_job.py --describe` and `--check-values`) as
 * processes that start before their input is known, so a submit's two Python start-ups
 * overlap instead of following each other.
 */
import { spawn } from "child_process";
import * as path from "path";
import { FatalError } from "../errors";

type Mode = "--describe" | "--check-values";

const PURPOSE: Record<Mode, string> = {
  "--describe": "to read the script's options",
  "--check-values": "to check the job files' variables",
};

export interface StartedPython {
  /** The arguments after `python3`, to tell whether it is the process a caller needs. */
  readonly argv: readonly string[];
  /** Sends `input` on stdin; its stdout, or a FatalError saying what to do. Once only. */
  finish(input?: string): Promise<string>;
  /** Ends a process whose answer is not needed (also done at exit for one never finished). */
  cancel(): void;
}

/** `container/run_job.py <mode> [--script S] [--script-options FILE]` */
export function probeArgs(
  repoRoot: string,
  mode: Mode,
  script?: string,
  scriptOptions?: string,
): string[] {
  return [
    path.join(repoRoot, "container", "run_job.py"),
    mode,
    ...(script !== undefined ? ["--script", script] : []),
    ...(scriptOptions !== undefined ? ["--script-options", scriptOptions] : []),
  ];
}

/**
 * Starts `python3 argv` (from probeArgs). Until `finish` is called the process does not keep
 * Node alive: a run that fails validation (or has nothing to check) exits without waiting
 * for it, and the process is killed then.
 */
export function startProbe(repoRoot: string, argv: readonly string[]): StartedPython {
  const mode = argv[1] as Mode;
  const timeout = mode === "--describe" ? 30_000 : undefined;
  const child = spawn("python3", [...argv], { cwd: repoRoot, stdio: "pipe", timeout });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
  // A process that exits before its input is written (a bad script) closes stdin under us.
  child.stdin.on("error", () => undefined);
  const ended = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.on("error", (error) => resolve({ code: null, error }));
    child.on("close", (code) => resolve({ code }));
  });
  const shown = `python3 container/run_job.py ${mode}`;
  const output = ({ code, error }: { code: number | null; error?: Error }): string => {
    if (error !== undefined) {
      const why = `could not run \`${shown}\` ${PURPOSE[mode]} (${error.message}); install python3`;
      throw new FatalError(why);
    }
    if (code !== 0) {
      throw new FatalError(`\`${shown}\` exited ${code}: ${stderr.trim() || stdout.trim()}`);
    }
    return stdout;
  };
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
      return ended.then(output).finally(() => process.removeListener("exit", kill));
    },
    cancel() {
      process.removeListener("exit", kill);
      kill();
    },
  };
}
