/** Stack outputs, from the pulumi CLI or a file saved from it (`--outputs F`). */
import { spawnSync, type SpawnSyncReturns } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { FatalError } from "../errors";
import { jsonOrFatal, valueAt } from "./json-source";
import type { JobLimits } from "../../components/instance-types";
import type { JobDefaults } from "../../components/job-definition";

export const OUTPUT_KEYS = [
  "bucketName",
  "jobQueueName",
  "jobQueueArn",
  "jobDefinitionName",
  "jobDefinitionArn",
  "imageUri",
  "logGroupName",
  "region",
  "computeType",
] as const;

/** Every output is optional: stacks deployed before one was exported lack it. */
export type StackOutputs = { readonly [K in (typeof OUTPUT_KEYS)[number]]?: string } & {
  readonly jobLimits?: JobLimits;
  readonly jobDefaults?: JobDefaults;
};

const counts = (...keys: string[]) =>
  z.object(Object.fromEntries(keys.map((k) => [k, z.number().nonnegative()])));

const OBJECT_SHAPES: Readonly<Record<string, string>> = {
  jobLimits: `{"maxVcpus": N, "maxGpus": N, "largestJob": {"vcpus": N, "memoryMiB": N, "gpus": N}, "basis": [...]}`,
  jobDefaults: `{"vcpus": N, "memoryMiB": N, "gpus": N, "timeoutSeconds": N, "attempts": N}`,
};

/** Unknown keys are dropped; a known one may be null (not set). */
const outputsSchema = z.object({
  jobLimits: counts("maxVcpus", "maxGpus")
    .extend({ largestJob: counts("vcpus", "memoryMiB", "gpus"), basis: z.array(z.string()) })
    .nullish(),
  jobDefaults: counts("vcpus", "memoryMiB", "gpus", "timeoutSeconds", "attempts").nullish(),
  ...Object.fromEntries(OUTPUT_KEYS.map((k) => [k, z.string().nullish()])),
});

export const MISSING_OUTPUTS_FIX = "run `pulumi up` first, or pass --outputs FILE";

export function parseOutputs(text: string, source: string): StackOutputs {
  const value = jsonOrFatal(
    text,
    (why) =>
      `${source} is not JSON (${why}); save it with ` +
      "`pulumi stack output --json --show-secrets > outputs.json`",
  );
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

export type CommandResult = Pick<SpawnSyncReturns<string>, "status" | "stdout" | "stderr">;

/** Undefined when the pulumi CLI is not on PATH. */
export type PulumiRunner = (args: readonly string[]) => CommandResult | undefined;

export function defaultPulumiRunner(env: NodeJS.ProcessEnv, cwd: string): PulumiRunner {
  return (args) => {
    const r = spawnSync("pulumi", [...args], { cwd, env, encoding: "utf8", timeout: 120_000 });
    if ((r.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") {
      return undefined;
    }
    return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? r.error?.message ?? "" };
  };
}

function stackName(prefix: string, outputs: StackOutputs, identity: string, hex: number): string {
  const digest = createHash("sha256").update(identity).digest("hex").slice(0, hex);
  const fromArn = outputs.jobQueueArn?.split(":")[3];
  const region = outputs.region ?? (/^[a-z0-9-]+$/.test(fromArn ?? "") ? fromArn : undefined);
  return [prefix, region, digest].filter((p) => p !== undefined).join("-");
}

/** Two stacks' files never share a ledger, which would skip or cancel the other's jobs. */
export function outputsLedgerName(outputs: StackOutputs): string {
  const identity = outputs.jobQueueArn ?? outputs.bucketName ?? JSON.stringify(outputs);
  return stackName("outputs", outputs, identity, 8);
}

/** From what the stack is, not the label typed: `dev`, `org/p/dev` and its outputs file agree. */
export function stackStateName(outputs: StackOutputs): string {
  const parts = [outputs.jobQueueArn ?? outputs.jobQueueName, outputs.bucketName];
  const identity = parts.some((p) => p !== undefined) ? parts.join("\n") : JSON.stringify(outputs);
  return stackName("stack", outputs, identity, 12);
}

export function loadOutputs(args: {
  stack?: string;
  outputsFile?: string;
  cwd: string;
  pulumi: PulumiRunner;
}) {
  if (args.outputsFile !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(path.resolve(args.cwd, args.outputsFile), "utf8");
    } catch (err) {
      throw new FatalError(`cannot read --outputs ${args.outputsFile}: ${(err as Error).message}`);
    }
    const outputs = parseOutputs(text, args.outputsFile);
    const stack = args.stack ?? outputsLedgerName(outputs);
    return { outputs, stack, source: args.outputsFile };
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
  const shown = args.stack === undefined ? args.pulumi(["stack", "--show-name"]) : undefined;
  const stack =
    args.stack ?? (shown?.status === 0 && shown.stdout.trim() ? shown.stdout.trim() : "default");
  return { outputs, stack, source: `pulumi stack ${stack}` };
}

export type LoadedOutputs = ReturnType<typeof loadOutputs>;

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
