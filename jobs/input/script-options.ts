/**
 * The entrypoint's read-only probes (`run_job.py --describe` and `--check-values`), and a
 * script's options as `--describe` reads them from argparse.
 */
import { spawn } from "child_process";
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

/** Runs `run_job.py --describe [--script S]` while the job files load. */
export async function describeScript(args: {
  readonly repoRoot: string;
  readonly script?: string;
}): Promise<ScriptDescription> {
  const text = await runProbe(args.repoRoot, "--describe", "", args.script);
  return parseDescription(text, "`python3 container/run_job.py --describe`");
}

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
