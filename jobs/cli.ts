/**
 * batchpy jobs: submit, watch, read logs of, download results of, report on and cancel AWS
 * Batch jobs.
 * One commander program with a subcommand per npm script; the commands live in their own
 * modules and take a Context, so tests drive them in-process against local servers.
 */
import * as path from "path";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import type { Context, Io, StackOptions } from "./context";
import {
  BadInputError,
  EXIT_BAD_INPUT,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OK,
  FatalError,
  describeError,
  formatProblem,
} from "./errors";
import {
  DEFAULT_CANCEL_REASON,
  DEFAULT_DOWNLOAD_CONCURRENCY,
  DEFAULT_WATCH_INTERVAL,
} from "./defaults";
import { replaceSdkNodeWarning } from "./node-support";
import {
  procNpmProcess,
  swallowedMessage,
  swallowedOptions,
  type NpmProcess,
  type ToolOption,
} from "./input/npm-args";
import { DEFAULT_SUBMIT_CONCURRENCY } from "./aws/pool";
import { BUCKET_PREFIXES, VARS } from "../components/contract";
import { shellWord } from "./output/shell";
import type { StartedPython } from "./input/python-probe";
import { startProbes } from "./input/describe-cache";
import type { ScriptDescription } from "./input/script-options";

const REPO_ROOT = path.resolve(__dirname, "..");

const EXIT_CODES_HELP = `
Exit codes:
  0    success (watch/status: no job failed)
  1    failure: an AWS call failed, a job FAILED, a local run failed, stack outputs missing,
       another jobs:submit holds the stack's lock, watch/status/cancel: Batch does not
       know some of the jobs (never counted as finished: check --stack/--outputs)
  2    bad input: invalid job/sweep file, unknown job name, bad option, options npm run
       kept for itself (put -- before the tool's arguments)
  130  interrupted with Ctrl-C (accepted jobs are in the ledger; re-run to continue)

Environment:
  AWS_PROFILE, AWS_ACCESS_KEY_ID, ...   credentials (the AWS SDK's default chain)
  AWS_ENDPOINT_URL[_BATCH|_S3|_CLOUDWATCH_LOGS]   endpoint overrides (SDK convention)
  ${VARS.stateDir.padEnd(20)} where ledgers live (default <repo>/.batchpy)
  ${VARS.localRoot.padEnd(20)} the --local bucket folder (default <repo>/.batchpy/local-bucket)`;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError(`expected a whole number of at least 1, got "${value}"`);
  }
  return n;
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`expected a number of seconds above 0, got "${value}"`);
  }
  return n;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`expected a price in USD of 0 or more, got "${value}"`);
  }
  return n;
}

/** The stack options as commander parses them (`--json` absent is undefined). */
interface StackFlags {
  stack?: string;
  outputs?: string;
  stateDir?: string;
  json?: boolean;
}

function stackOptions(cmd: Command): Command {
  return cmd
    .option("--stack <name>", "Pulumi stack to read outputs from; also names the ledger")
    .option(
      "--outputs <file>",
      "stack outputs saved with `pulumi stack output --json --show-secrets`",
    )
    .option(
      "--state-dir <dir>",
      `where ledgers live (default: $${VARS.stateDir} or <repo>/.batchpy)`,
    )
    .option("--json", "machine-readable output on stdout, nothing else");
}

function stackFlags(o: StackFlags): StackOptions {
  return {
    ...(o.stack !== undefined ? { stack: o.stack } : {}),
    ...(o.outputs !== undefined ? { outputs: o.outputs } : {}),
    ...(o.stateDir !== undefined ? { stateDir: o.stateDir } : {}),
    json: o.json === true,
  };
}

/**
 * A context made only once a command runs: the real one loads the AWS SDK, zod and the
 * ledger, about half a second that `--help` and a bad option never need.
 */
export interface DeferredContext {
  readonly io: Io;
  /** Cheap facts the npm-options check needs before anything heavy loads. */
  readonly env: NodeJS.ProcessEnv;
  readonly npm?: NpmProcess;
  /**
   * Starts submit's Python probes (`--script` as given) before the context loads, so their
   * start-up overlaps Node's; returns the description under way.
   */
  startProbes?(script: string | undefined): Promise<ScriptDescription>;
  load(): Promise<Context>;
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function run(
  argv: readonly string[],
  context: Context | DeferredContext,
): Promise<number> {
  let code = EXIT_OK;
  let json = false;
  const io = context.io;
  let loading: Promise<Context> | undefined;
  const load = (): Promise<Context> =>
    "load" in context ? (loading ??= context.load()) : Promise.resolve(context);
  let command = "";
  const program = new Command("batchpy jobs")
    .description("Submit, watch and collect AWS Batch jobs of the batchpy stack.")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .showHelpAfterError("(add --help for usage)")
    .addHelpText("after", EXIT_CODES_HELP);

  /** Wires a subcommand to its implementation; the options arrive parsed and typed. */
  const act = <O extends StackFlags>(
    cmd: Command,
    fn: (o: O, args: readonly unknown[], ctx: Context) => Promise<number>,
  ): void => {
    cmd.addHelpText("after", EXIT_CODES_HELP).action(async () => {
      const o = cmd.opts<O>();
      json = o.json === true;
      command = cmd.name();
      code = await fn(o, cmd.processedArgs, await load());
    });
  };

  const submit = stackOptions(
    program
      .command("submit")
      .description(
        "Validate job files, sweep files (.json with grid/zip/rows, or .csv/.tsv) and submit them.\n" +
          "Everything is checked before the first call; nothing is submitted if any file is bad.",
      )
      .argument(
        "<inputs...>",
        "job/sweep files, directories or glob patterns (with --retry-failed: sweep or job names)",
      )
      .option(
        "--dry-run",
        "print the resolved SubmitJob requests (valid --cli-input-json) and submit nothing",
      )
      .option("--local", "run the jobs on this machine with python3 container/run_job.py instead")
      .option("--force", "resubmit jobs the ledger says were already submitted")
      .option(
        "--retry-failed",
        "resubmit only the failed sets of the named sweeps (one array job keeping their set numbers) and the named failed jobs",
      )
      .option("--no-array", "submit a sweep as one job per parameter set instead of one array job")
      .option(
        "--concurrency <n>",
        `requests in flight (default ${DEFAULT_SUBMIT_CONCURRENCY}); with --local, processes (default: up to 4)`,
        positiveInt,
      )
      .option(
        "--script <path>",
        "the script whose options job variables must match (default: the entrypoint's)",
      )
      .option(
        "--script-options <file>",
        "saved `python3 container/run_job.py --describe` output, instead of running it",
      )
      .option("--local-root <dir>", "the --local bucket folder")
      .option(
        "--policy-pack-config <file>",
        "the policy pack's --policy-pack-config file, whose bounds (timeout, attempts, vCPUs) job files must keep",
      )
      .option(
        "--ignore-policy-bounds",
        "submit jobs that exceed the policy pack's bounds or cannot be placed, listing each on stderr",
      )
      .option(
        "--plain-env <names>",
        "pass these variables (comma-separated, no lower case) as plain environment even if they differ from an option only by case or -/_",
        (value: string, previous: string[] = []) => [
          ...previous,
          ...value.split(",").filter((n) => n !== ""),
        ],
      ),
  );
  // The script's options come from python processes: start them before the context and the
  // submit code load, so they run meanwhile.
  let earlyDescribe: Promise<ScriptDescription> | undefined;
  submit.hook("preAction", () => {
    const o = submit.opts<{ script?: string; scriptOptions?: string }>();
    if (o.scriptOptions === undefined && "load" in context) {
      earlyDescribe = context.startProbes?.(o.script);
      earlyDescribe?.catch(() => undefined);
    }
  });
  act(
    submit,
    async (
      o: StackFlags & {
        dryRun?: boolean;
        local?: boolean;
        force?: boolean;
        retryFailed?: boolean;
        array: boolean;
        concurrency?: number;
        script?: string;
        scriptOptions?: string;
        localRoot?: string;
        plainEnv?: string[];
        policyPackConfig?: string;
        ignorePolicyBounds?: boolean;
      },
      args,
      ctx,
    ) => {
      // One script for both: the options are read from it and --local runs it. Relative to
      // where the user is, not to the repository the entrypoint runs from.
      const script = o.script !== undefined ? path.resolve(ctx.cwd, o.script) : undefined;
      const described =
        o.scriptOptions === undefined ? (earlyDescribe ?? ctx.describe(script)) : undefined;
      described?.catch(() => undefined);
      const common = {
        ...stackFlags(o),
        dryRun: o.dryRun === true,
        local: o.local === true,
        force: o.force === true,
        array: o.array,
        ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
        ...(script !== undefined ? { script } : {}),
        ...(o.scriptOptions !== undefined ? { scriptOptions: o.scriptOptions } : {}),
        ...(o.localRoot !== undefined ? { localRoot: o.localRoot } : {}),
        ...(o.plainEnv !== undefined ? { plainEnv: o.plainEnv } : {}),
        ...(o.policyPackConfig !== undefined ? { policyPackConfig: o.policyPackConfig } : {}),
        ignorePolicyBounds: o.ignorePolicyBounds === true,
        ...(described !== undefined ? { described } : {}),
      };
      if (o.retryFailed === true) {
        const { retryCommand } = await import("./commands/retry");
        return retryCommand({ ...common, names: args[0] as string[] }, ctx);
      }
      const { submitCommand } = await import("./commands/submit");
      return submitCommand({ ...common, files: args[0] as string[] }, ctx);
    },
  );

  for (const name of ["watch", "status"] as const) {
    const once = name === "status";
    const cmd = stackOptions(
      program
        .command(name)
        .description(
          once
            ? "Show the ledger's jobs by status once, with reasons and exit codes of failures."
            : "Show the ledger's jobs by status until all have finished; exits 1 if any failed.",
        )
        .argument("[names...]", "only these jobs (default: every job in the ledger)")
        .option("--last", "only the jobs of the most recent jobs:submit"),
    );
    if (!once) {
      cmd.option(
        "--interval <seconds>",
        "seconds between polls",
        positiveSeconds,
        DEFAULT_WATCH_INTERVAL,
      );
    }
    act(cmd, async (o: StackFlags & { last?: boolean; interval?: number }, args, ctx) =>
      (await import("./commands/watch")).watchCommand(
        {
          ...stackFlags(o),
          names: args[0] as string[],
          last: o.last === true,
          interval: o.interval ?? DEFAULT_WATCH_INTERVAL,
          once,
        },
        ctx,
      ),
    );
  }

  const logs = stackOptions(
    program
      .command("logs")
      .description("Print a job's CloudWatch log (array child: <name>:<index>).")
      .argument("<job>", "job name from the ledger, or job ID; add :<index> for an array child")
      .option("-f, --follow", "keep printing new lines until the job ends")
      .option("--interval <seconds>", "seconds between polls with --follow", positiveSeconds, 2)
      .option(
        "--run <n>",
        "a retried set's or job's nth run (1: the first); default: latest",
        positiveInt,
      ),
  );
  act(
    logs,
    async (o: StackFlags & { follow?: boolean; interval: number; run?: number }, args, ctx) =>
      (await import("./commands/logs")).logsCommand(
        {
          ...stackFlags(o),
          target: args[0] as string,
          follow: o.follow === true,
          interval: o.interval,
          ...(o.run !== undefined ? { run: o.run } : {}),
        },
        ctx,
      ),
  );

  const results = stackOptions(
    program
      .command("results")
      .description(
        `Download ${BUCKET_PREFIXES.results} and ${BUCKET_PREFIXES.logs} (only new or changed files), like \`aws s3 sync\`.`,
      )
      .argument("[names...]", "only these jobs (default: everything)")
      .option(
        "--out <dir>",
        "destination (default: batchpy-results/<stack>, or batchpy-results/local)",
      )
      .option("--local", "copy from the --local bucket folder instead of S3")
      .option("--local-root <dir>", "the --local bucket folder")
      .option("--concurrency <n>", "parallel downloads", positiveInt, DEFAULT_DOWNLOAD_CONCURRENCY),
  );
  act(
    results,
    async (
      o: StackFlags & { out?: string; local?: boolean; localRoot?: string; concurrency: number },
      args,
      ctx,
    ) =>
      (await import("./commands/results")).resultsCommand(
        {
          ...stackFlags(o),
          names: args[0] as string[],
          ...(o.out !== undefined ? { out: o.out } : {}),
          local: o.local === true,
          ...(o.localRoot !== undefined ? { localRoot: o.localRoot } : {}),
          concurrency: o.concurrency,
        },
        ctx,
      ),
  );

  const report = stackOptions(
    program
      .command("report")
      .description(
        "One row per job or sweep set: parameters, status, reason, exit code, attempts, times,\n" +
          "vCPU-hours, estimated cost, result files and metrics.json values; failed rows first.",
      )
      .argument("[names...]", "only these jobs or sweeps (default: every job in the ledger)")
      .option("--last", "only the jobs of the most recent jobs:submit")
      .option("--local", "report the runs of jobs:submit --local instead of AWS")
      .option("--local-root <dir>", "the --local bucket folder")
      .option("--csv <file>", "also write every row as CSV")
      .option("--html <file>", "also write a self-contained page with a table and charts")
      .option("--limit <n>", "terminal rows shown (failed rows always are)", positiveInt)
      .option("--no-cache", "read finished runs' listings and metrics from S3, not the cache")
      .option(
        "--pricing <types>",
        "instance types (comma-separated) or FARGATE the default prices come from",
      )
      .option("--price-vcpu-hour <usd>", "your price per vCPU-hour", nonNegativeNumber)
      .option(
        "--price-gb-hour <usd>",
        "your price per GB-hour of memory (Fargate)",
        nonNegativeNumber,
      ),
  );
  act(
    report,
    async (
      o: StackFlags & {
        last?: boolean;
        local?: boolean;
        localRoot?: string;
        csv?: string;
        html?: string;
        limit?: number;
        pricing?: string;
        priceVcpuHour?: number;
        priceGbHour?: number;
        cache?: boolean;
      },
      args,
      ctx,
    ) =>
      (await import("./commands/report")).reportCommand(
        {
          ...stackFlags(o),
          names: args[0] as string[],
          last: o.last === true,
          local: o.local === true,
          ...(o.localRoot !== undefined ? { localRoot: o.localRoot } : {}),
          ...(o.csv !== undefined ? { csv: o.csv } : {}),
          ...(o.html !== undefined ? { html: o.html } : {}),
          ...(o.limit !== undefined ? { limit: o.limit } : {}),
          ...(o.pricing !== undefined
            ? {
                pricing: o.pricing
                  .split(",")
                  .map((t) => t.trim())
                  .filter((t) => t !== ""),
              }
            : {}),
          ...(o.priceVcpuHour !== undefined ? { priceVcpuHour: o.priceVcpuHour } : {}),
          ...(o.priceGbHour !== undefined ? { priceGbHour: o.priceGbHour } : {}),
          cache: o.cache !== false,
        },
        ctx,
      ),
  );

  const cancel = stackOptions(
    program
      .command("cancel")
      .description(
        "Stop unfinished jobs from the ledger with TerminateJob: jobs not started are cancelled,\n" +
          "running ones terminated; a sweep's running children are terminated one by one.",
      )
      .argument("[names...]", "jobs to stop")
      .option("--all", "every unfinished job in the ledger")
      .option("--reason <text>", "reason recorded by Batch", DEFAULT_CANCEL_REASON),
  );
  act(cancel, async (o: StackFlags & { all?: boolean; reason: string }, args, ctx) =>
    (await import("./commands/cancel")).cancelCommand(
      { ...stackFlags(o), names: args[0] as string[], all: o.all === true, reason: o.reason },
      ctx,
    ),
  );

  const refusal = npmRefusal(program, argv, context);
  if (refusal !== undefined) {
    io.stderr.write(`error: ${refusal}\n`);
    return EXIT_BAD_INPUT;
  }
  try {
    await program.parseAsync([...argv], { from: "user" });
    return code;
  } catch (err) {
    return reportError(err, io, json, command);
  }
}

/**
 * Why this run must not go ahead: `npm run` kept some of the command's options for itself
 * (see npm-args.ts). Checked before anything is read or sent.
 */
function npmRefusal(
  program: Command,
  argv: readonly string[],
  ctx: Pick<Context, "env" | "npm">,
): string | undefined {
  const sub = program.commands.find((c) => c.name() === argv[0]);
  if (sub === undefined) {
    return undefined;
  }
  const options: ToolOption[] = sub.options
    .filter((o) => o.long !== undefined && o.long !== "--help")
    .map((o) => ({
      name: (o.long ?? "").replace(/^--(no-)?/, ""),
      negate: o.negate,
      takesValue: o.required || o.optional,
    }));
  const swallowed = swallowedOptions(options, argv, ctx.env, ctx.npm);
  return swallowed.length > 0 ? swallowedMessage(swallowed, argv, ctx.env, shellWord) : undefined;
}

/** What a command leaves undone when it refuses bad input: true for that command. */
export const UNCHANGED: Readonly<Record<string, string>> = {
  submit: "nothing was submitted or changed",
  cancel: "nothing was cancelled",
  results: "nothing was downloaded",
};

/** Prints an error the way the user can act on it; returns the exit code. */
export function reportError(err: unknown, io: Io, json: boolean, command = ""): number {
  if (err instanceof CommanderError) {
    // Help and version "errors" are how commander ends after printing them.
    if (
      err.code === "commander.helpDisplayed" ||
      err.code === "commander.version" ||
      err.code === "commander.help"
    ) {
      return EXIT_OK;
    }
    return EXIT_BAD_INPUT;
  }
  if (err instanceof BadInputError) {
    if (json) {
      io.stdout.write(`${JSON.stringify({ errors: err.problems, message: err.message })}\n`);
    } else {
      for (const p of err.problems) {
        io.stderr.write(`error: ${formatProblem(p)}\n`);
      }
      const unchanged = new Map(Object.entries(UNCHANGED)).get(command);
      io.stderr.write(
        `${err.problems.length} problem(s) found${unchanged !== undefined ? `; ${unchanged}` : ""}\n`,
      );
    }
    return EXIT_BAD_INPUT;
  }
  const message = err instanceof FatalError ? err.message : describeError(err);
  if (json) {
    io.stdout.write(`${JSON.stringify({ error: message })}\n`);
  } else {
    io.stderr.write(`error: ${message}\n`);
  }
  return EXIT_FAILURE;
}

/** What the first Ctrl-C does, per command: what is true for that command. */
export const STOPPING: Readonly<Record<string, string>> = {
  submit: "stopping: finishing the requests in flight and recording them",
  watch: "stopping: no more polls; showing the last status",
  status: "stopping",
  logs: "stopping: no more polls",
  results: "stopping: finishing the downloads in flight, starting no more",
  cancel: "not stopping: cancel goes on until every job it set out to stop is stopped",
};

/** The command line (`batchpy jobs …`, `npm run jobs:*`): runs `argv`, sets the exit code. */
export async function main(argv: readonly string[]): Promise<void> {
  const controller = new AbortController();
  const io: Io = { stdout: process.stdout, stderr: process.stderr };
  replaceSdkNodeWarning(io.stderr);
  let interrupts = 0;
  const stopping = new Map(Object.entries(STOPPING)).get(argv[0] ?? "") ?? "stopping";
  process.on("SIGINT", () => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write(`\n${stopping} (Ctrl-C again to quit now)\n`);
      controller.abort();
    } else {
      process.exit(EXIT_INTERRUPTED);
    }
  });
  // `jobs:status | head` closes stdout early; that is not an error.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") {
      process.exit(process.exitCode ?? EXIT_OK);
    }
  });
  let checker: StartedPython | undefined;
  process.exitCode = await run(argv, {
    io,
    env: process.env,
    npm: procNpmProcess(),
    startProbes: (script) => {
      const resolved = script !== undefined ? path.resolve(script) : undefined;
      return startProbes(REPO_ROOT, resolved, process.env, (c) => (checker = c));
    },
    load: async () =>
      (await import("./context")).defaultContext(io, controller.signal, () => checker),
  });
}

if (require.main === module) {
  void main(process.argv.slice(2));
}
