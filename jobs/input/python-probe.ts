/** The entrypoint's read-only probes: `run_job.py --describe` and `--check-values`. */
import { spawn } from "child_process";
import * as path from "path";
import { FatalError } from "../errors";

const PURPOSE = {
  "--describe": "to read the script's options",
  "--check-values": "to check the job files' variables",
};

/**
 * Runs `python3 container/run_job.py <mode> [--script S] [--script-options FILE]` with
 * `input` on stdin: its stdout, or a FatalError saying what to do.
 */
export async function runProbe(
  repoRoot: string,
  mode: keyof typeof PURPOSE,
  input: string,
  script?: string,
  scriptOptions?: string,
): Promise<string> {
  const argv = [
    path.join(repoRoot, "container", "run_job.py"),
    mode,
    ...(script !== undefined ? ["--script", script] : []),
    ...(scriptOptions !== undefined ? ["--script-options", scriptOptions] : []),
  ];
  const timeout = mode === "--describe" ? 30_000 : undefined;
  const child = spawn("python3", argv, { cwd: repoRoot, stdio: "pipe", timeout });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
  // A process that exits before its input is written (a bad script) closes stdin under us.
  child.stdin.on("error", () => undefined);
  child.stdin.end(input);
  const { code, error } = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.on("error", (err) => resolve({ code: null, error: err }));
    child.on("close", (status) => resolve({ code: status }));
  });
  const shown = `python3 container/run_job.py ${mode}`;
  if (error !== undefined) {
    throw new FatalError(
      `could not run \`${shown}\` ${PURPOSE[mode]} (${error.message}); install python3`,
    );
  }
  if (code !== 0) {
    throw new FatalError(`\`${shown}\` exited ${code}: ${stderr.trim() || stdout.trim()}`);
  }
  return stdout;
}
