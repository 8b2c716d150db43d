/**
 * Stack outputs (as `index.ts` exports them): from `pulumi stack output --json --show-secrets`
 * when the pulumi CLI is on PATH, or from a file saved from that command (`--outputs F`).
 */
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { FatalError } from "../errors";
import { valueAt } from "./json-source";
import type { JobLimits } from "../../components/job-limits";
import type { JobDefaults } from "../../components/job-definition";

export interface StackOutputs {
  readonly bucketName?: string;
  readonly jobQueueName?: string;
  readonly jobQueueArn?: string;
  readonly jobDefinitionName?: string;
  readonly jobDefinitionArn?: string;
  readonly imageUri?: string;
  readonly logGroupName?: string;
  readonly region?: string;
  /** EC2, SPOT, FARGATE or FARGATE_SPOT; stacks deployed before it was exported lack it. */
  readonly computeType?: string;
  /** Optional: stacks deployed before it was exported lack it. */
  readonly jobLimits?: JobLimits;
  /** Optional: stacks deployed before it was exported lack it. */
  readonly jobDefaults?: JobDefaults;
}

const count = z.number().nonnegative();

/** The string outputs. */
export const OUTPUT_KEYS: readonly Exclude<keyof StackOutputs, "jobLimits" | "jobDefaults">[] = [
  "bucketName",
  "jobQueueName",
  "jobQueueArn",
  "jobDefinitionName",
  "jobDefinitionArn",
  "imageUri",
  "logGroupName",
  "region",
  "computeType",
];

/** The object outputs, and their shapes as an error shows them. */
const OBJECT_SHAPES: Readonly<Record<string, string>> = {
  jobLimits: `{"maxVcpus": N, "maxGpus": N, "largestJob": {"vcpus": N, "memoryMiB": N, "gpus": N}, "basis": [...]}`,
  jobDefaults: `{"vcpus": N, "memoryMiB": N, "gpus": N, "timeoutSeconds": N, "attempts": N}`,
};

/** Unknown keys are dropped; a known one may be null (not set). */
const outputsSchema = z.object({
  jobLimits: z
    .object({
      maxVcpus: count,
      maxGpus: count,
      largestJob: z.object({ vcpus: count, memoryMiB: count, gpus: count }),
      basis: z.array(z.string()),
    })
    .nullish(),
  jobDefaults: z
    .object({
      vcpus: count,
      memoryMiB: count,
      gpus: count,
      timeoutSeconds: count,
      attempts: count,
    })
    .nullish(),
  ...Object.fromEntries(OUTPUT_KEYS.map((k) => [k, z.string().nullish()])),
});

export const MISSING_OUTPUTS_FIX = "run `pulumi up` first, or pass --outputs FILE";

/** Keeps the known keys; a known key of the wrong shape is an error naming the source. */
export function parseOutputs(text: string, source: string): StackOutputs {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FatalError(
      `${source} is not JSON (${(err as Error).message}); save it with ` +
        "`pulumi stack output --json --show-secrets > outputs.json`",
    );
  }
  const parsed = outputsSchema.safeParse(value);
  if (parsed.success) {
    return Object.fromEntries(
      Object.entries(parsed.data).filter(([, v]) => v !== null && v !== undefined),
    );
  }
  const [key, ...at] = (parsed.error.issues[0]?.path ?? []).filter((p) => typeof p !== "symbol");
  if (key === undefined) {
    throw new FatalError(`${source} must be a JSON object of stack outputs`);
  }
  const v = (value as Record<string, unknown>)[key];
  const shape = OBJECT_SHAPES[key];
  if (shape === undefined) {
    throw new FatalError(`${source}: output "${key}" must be a string, got ${JSON.stringify(v)}`);
  }
  const actual = JSON.stringify(valueAt(v, at)) ?? "nothing";
  throw new FatalError(
    `${source}: output "${key}" ${at.length === 0 ? "is not an object" : `has ${at.join(".")} = ${actual}`}; ` +
      `expected ${shape}: run \`pulumi up\` to refresh it`,
  );
}

/**
 * The real path of the file `command` runs, found as execvp finds it: a command with a "/"
 * as it is, else the first PATH entry holding an executable file of that name (an empty
 * entry is the working directory; a folder does not count). On Windows, where an empty
 * entry is skipped, each PATHEXT extension is tried too. Undefined when there is none.
 */
export function onPath(
  command: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string | undefined {
  const windows = platform === "win32";
  const exts = windows ? ["", ...(env.PATHEXT ?? ".COM;.EXE;.BAT;.CMD").split(";")] : [""];
  const dirs =
    command.includes("/") || (windows && command.includes("\\"))
      ? [""]
      : (env.PATH ?? "")
          .split(windows ? ";" : ":")
          .filter((d) => !windows || d !== "")
          .map((d) => d || ".");
  for (const candidate of dirs.flatMap((d) => exts.map((e) => path.join(d, command + e)))) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) {
        return fs.realpathSync(candidate);
      }
    } catch (err) {
      if (!["ENOENT", "EACCES", "ENOTDIR"].includes((err as NodeJS.ErrnoException).code ?? "")) {
        throw err;
      }
    }
  }
  return undefined;
}

export interface CommandResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the pulumi CLI; injected in tests. */
export type PulumiRunner = (args: readonly string[]) => CommandResult | undefined;

export function defaultPulumiRunner(env: NodeJS.ProcessEnv, cwd: string): PulumiRunner {
  return (args) => {
    if (onPath("pulumi", env) === undefined) {
      return undefined;
    }
    const r = spawnSync("pulumi", [...args], { cwd, env, encoding: "utf8", timeout: 120_000 });
    return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? r.error?.message ?? "" };
  };
}

export interface LoadedOutputs {
  readonly outputs: StackOutputs;
  /**
   * Names the ledger: `--stack`, else the pulumi stack (or "default" when pulumi names
   * none); with `--outputs` and no `--stack`, a name derived from the outputs.
   */
  readonly stack: string;
  readonly source: string;
}

/** `arn:aws:batch:<region>:...` -> region. */
function arnRegion(arn: string | undefined): string | undefined {
  const region = arn?.split(":")[3];
  return region !== undefined && /^[a-z0-9-]+$/.test(region) ? region : undefined;
}

/**
 * The ledger name of an outputs file given without `--stack`:
 * `outputs-<region>-<first 8 hex of sha256(jobQueueArn)>`. Two stacks' outputs files then
 * never share a ledger (sharing one would skip or cancel the other stack's jobs), and the
 * same stack's file always maps to the same ledger. Without a queue ARN the bucket name
 * identifies the stack, else the whole outputs; without a region the part is left out.
 */
export function outputsLedgerName(outputs: StackOutputs): string {
  const identity = outputs.jobQueueArn ?? outputs.bucketName ?? JSON.stringify(outputs);
  const digest = createHash("sha256").update(identity).digest("hex").slice(0, 8);
  const region = outputs.region ?? arnRegion(outputs.jobQueueArn);
  return region !== undefined ? `outputs-${region}-${digest}` : `outputs-${digest}`;
}

/**
 * The folder of a stack's ledger and submit lock: `stack-<region>-<first 12 hex of sha256 of
 * its queue ARN and bucket>`, from what the stack is, not the label typed, so `dev`,
 * `org/p/dev` and an outputs file of one stack share one ledger and one lock.
 */
export function stackStateName(outputs: StackOutputs): string {
  const parts = [outputs.jobQueueArn ?? outputs.jobQueueName, outputs.bucketName];
  const identity = parts.some((p) => p !== undefined) ? parts.join("\n") : JSON.stringify(outputs);
  const digest = createHash("sha256").update(identity).digest("hex").slice(0, 12);
  const region = outputs.region ?? arnRegion(outputs.jobQueueArn);
  return region !== undefined ? `stack-${region}-${digest}` : `stack-${digest}`;
}

/**
 * Resolves the outputs. `--outputs FILE` wins; otherwise the pulumi CLI. Throws FatalError
 * with the fix when neither is available.
 */
export function loadOutputs(args: {
  stack?: string;
  outputsFile?: string;
  cwd: string;
  pulumi: PulumiRunner;
}): LoadedOutputs {
  if (args.outputsFile !== undefined) {
    const file = path.resolve(args.cwd, args.outputsFile);
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      throw new FatalError(`cannot read --outputs ${args.outputsFile}: ${(err as Error).message}`);
    }
    const outputs = parseOutputs(text, args.outputsFile);
    return {
      outputs,
      stack: args.stack ?? outputsLedgerName(outputs),
      source: args.outputsFile,
    };
  }
  const stackArgs = args.stack !== undefined ? ["--stack", args.stack] : [];
  const result = args.pulumi(["stack", "output", "--json", "--show-secrets", ...stackArgs]);
  if (result === undefined) {
    throw new FatalError(
      `no stack outputs: the pulumi CLI is not on PATH and --outputs was not given; ${MISSING_OUTPUTS_FIX} ` +
        "(saved with `pulumi stack output --json --show-secrets > outputs.json`)",
    );
  }
  if (result.status !== 0) {
    throw new FatalError(
      `\`pulumi stack output\` failed (${result.stderr.trim() || `exit ${result.status}`}); ${MISSING_OUTPUTS_FIX}`,
    );
  }
  const outputs = parseOutputs(result.stdout, "`pulumi stack output --json`");
  if (Object.keys(outputs).length === 0) {
    throw new FatalError(`the stack has no batchpy outputs; ${MISSING_OUTPUTS_FIX}`);
  }
  let stack = args.stack;
  if (stack === undefined) {
    const name = args.pulumi(["stack", "--show-name"]);
    stack =
      name !== undefined && name.status === 0 && name.stdout.trim()
        ? name.stdout.trim()
        : "default";
  }
  return {
    outputs,
    stack,
    source: `pulumi stack ${stack}`,
  };
}

/** The output `key`, or a FatalError naming what needs it and the fix. */
export function requireOutput(
  loaded: { outputs: StackOutputs; source: string },
  key: (typeof OUTPUT_KEYS)[number],
  purpose: string,
): string {
  const v = loaded.outputs[key];
  if (v === undefined || v === "") {
    throw new FatalError(
      `stack output "${key}" (needed ${purpose}) is missing from ${loaded.source}; ${MISSING_OUTPUTS_FIX}`,
    );
  }
  return v;
}
