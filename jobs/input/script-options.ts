/**
 * The entrypoint's read-only probe (`run_job.py --check-values`), and a script's options as it
 * reads them from argparse.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "child_process";
import * as path from "path";
import { z } from "zod";
import { FatalError } from "../errors";

const optionSchema = z.looseObject({
  /** The environment variable that carries the option, e.g. `var_a`. */
  env: z.string().min(1),
  /** Other names that select the same option (its argparse dest). */
  aliases: z.array(z.string()).default([]),
  flag: z.string(),
  kind: z.enum(["value", "flag", "list"]),
  required: z.boolean(),
  /** argparse action name, e.g. "store", "count", "boolean_optional". */
  action: z.string().optional(),
});

const describeSchema = z.looseObject({
  script: z.string(),
  options: z.array(optionSchema),
  /** Mutually exclusive groups, by option env name. */
  groups: z
    .array(z.looseObject({ required: z.boolean(), options: z.array(z.string()) }))
    .default([]),
});

/** The script's options, as `run_job.py --describe` prints them. */
export type ScriptDescription = z.infer<typeof describeSchema> & {
  /** Names the user declared plain environment (`jobs:submit --plain-env`). */
  readonly plainEnv?: ReadonlySet<string>;
};

export function parseDescription(text: string, source: string): ScriptDescription {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FatalError(
      `${source} did not print JSON (${(err as Error).message}): ${text.slice(0, 200)}`,
    );
  }
  const parsed = describeSchema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new FatalError(
      `${source} printed an unexpected description (${first?.path.join(".")}: ${first?.message}); ` +
        `expected {"script": ..., "options": [{"env", "flag", "kind", "required"}]}`,
    );
  }
  return parsed.data;
}

/** A running `python3 container/run_job.py --check-values`, its stdout as it comes. */
export interface Probe {
  /** The first line it prints (the script's description, unless it was given one). */
  firstLine(): Promise<string>;
  /** Writes `input` to its stdin, closes it, and resolves to what it printed after that line. */
  finish(input: string): Promise<string>;
  /** Stops it, if it still runs: a submit that found its problems before asking. */
  stop(): void;
}

const SHOWN = "python3 container/run_job.py --check-values";
/** How long a script may take to reach parse_args(): its description comes then. */
const DESCRIBE_TIMEOUT_MS = 30_000;

/**
 * Starts `run_job.py --check-values [--script S] [--script-options FILE]`: it describes the
 * script (unless FILE describes it), then checks the request it reads on stdin. It starts
 * while the job files load.
 */
export function startProbe(repoRoot: string, script?: string, scriptOptions?: string): Probe {
  const argv = [
    path.join(repoRoot, "container", "run_job.py"),
    "--check-values",
    ...(script !== undefined ? ["--script", script] : []),
    ...(scriptOptions !== undefined ? ["--script-options", scriptOptions] : []),
  ];
  const child = spawn("python3", argv, { cwd: repoRoot, stdio: "pipe" });
  // A process that exits before its input is written (a bad script) closes stdin under us.
  child.stdin.on("error", () => undefined);
  const { line, ended } = outputOf(child);
  const timer = setTimeout(() => child.kill(), DESCRIBE_TIMEOUT_MS);
  void line.then(() => clearTimeout(timer));
  return {
    firstLine: () => unwrap(line),
    finish: async (input) => {
      child.stdin.end(input);
      const out = await unwrap(ended);
      return scriptOptions === undefined ? out.slice(out.indexOf("\n") + 1) : out;
    },
    stop: () => {
      clearTimeout(timer);
      child.kill();
    },
  };
}

/**
 * The probe's first line once printed, and its whole stdout once it exited 0; each settles
 * once, never rejecting (nothing is left unhandled when nobody asks): to the text, or to the
 * FatalError that says why there is none.
 */
function outputOf(child: ChildProcessWithoutNullStreams) {
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
  child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  const ended = new Promise<string | FatalError>((resolve) => {
    child.on("error", (err) =>
      resolve(
        new FatalError(
          `could not run \`${SHOWN}\` to check the job files' variables (${err.message}); install python3`,
        ),
      ),
    );
    child.on("close", (code) =>
      resolve(
        code === 0
          ? stdout
          : new FatalError(`\`${SHOWN}\` exited ${code}: ${stderr.trim() || stdout.trim()}`),
      ),
    );
  });
  const line = new Promise<string | FatalError>((resolve) => {
    const look = () => {
      if (stdout.includes("\n")) {
        child.stdout.off("data", look);
        resolve(stdout.slice(0, stdout.indexOf("\n")));
      }
    };
    child.stdout.on("data", look);
    void ended.then((out) => resolve(typeof out === "string" ? out.split("\n")[0] : out));
  });
  return { line, ended };
}

async function unwrap<T>(settled: Promise<T | FatalError>): Promise<T> {
  const value = await settled;
  if (value instanceof FatalError) {
    throw value;
  }
  return value;
}
