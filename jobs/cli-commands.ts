/**
 * The jobs CLI's commands as a table: per command its name, description, arguments,
 * options and the handler that runs it. cli.ts builds the commander program from it.
 * Handlers import their command module only when they run, so `--help` and a bad option
 * load nothing but commander and this table.
 */
import * as path from "path";
import { InvalidArgumentError } from "commander";
import type { Context, StackOptions } from "./context";
import {
  DEFAULT_CANCEL_REASON,
  DEFAULT_DOWNLOAD_CONCURRENCY,
  DEFAULT_WATCH_INTERVAL,
} from "./defaults";
import { DEFAULT_SUBMIT_CONCURRENCY } from "./aws/pool";
import { BUCKET_PREFIXES, METRICS, VARS } from "../components/contract";
import { definedOnly } from "../components/defined";

/** One option as commander shows and parses it. */
interface OptionDef {
  /** Commander's flags, e.g. `--concurrency <n>` or `--follow`. */
  readonly flags: string;
  readonly description: string;
  /** Turns the text given into the value (throwing InvalidArgumentError when it is bad). */
  readonly parse?: (value: string, previous: unknown) => unknown;
  readonly default?: unknown;
}

/** The stack options as commander parses them (`--json` absent is undefined). */
export interface StackFlags {
  stack?: string;
  outputs?: string;
  stateDir?: string;
  json?: boolean;
}

/** One subcommand: how it shows in `--help`, what it takes, and what runs it. */
export interface CommandDef<O extends StackFlags = StackFlags> {
  readonly name: string;
  readonly description: string;
  /** `[name, description]`: `<x>` required, `[x]` optional, `x...` variadic. */
  readonly arguments: readonly (readonly [string, string])[];
  /** In the order `--help` lists them. */
  readonly options: readonly OptionDef[];
  /**
   * Runs the command; returns the exit code. Method syntax on purpose: the table holds
   * commands of differing option types, and commander hands each handler the options its
   * own definition declares.
   */
  handler(o: O, args: readonly unknown[], ctx: Context): Promise<number>;
}

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

/** A repeatable comma-separated list: `--plain-env A,B --plain-env C` gives [A, B, C]. */
function commaList(value: string, previous: unknown): string[] {
  return [
    ...(Array.isArray(previous) ? (previous as string[]) : []),
    ...value.split(",").filter((n) => n !== ""),
  ];
}

/** The options every command takes, which say which stack and ledger it works on. */
const STACK_OPTIONS: readonly OptionDef[] = [
  {
    flags: "--stack <name>",
    description: "Pulumi stack to read outputs from; also names the ledger",
  },
  {
    flags: "--outputs <file>",
    description: "stack outputs saved with `pulumi stack output --json --show-secrets`",
  },
  {
    flags: "--state-dir <dir>",
    description: `where ledgers live (default: $${VARS.stateDir} or <repo>/.batchpy)`,
  },
  { flags: "--json", description: "machine-readable output on stdout, nothing else" },
];

const LAST: OptionDef = {
  flags: "--last",
  description: "only the jobs of the most recent jobs:submit",
};
const LOCAL_ROOT: OptionDef = {
  flags: "--local-root <dir>",
  description: "the --locally bucket folder",
};

function stackFlags(o: StackFlags): StackOptions {
  return definedOnly({
    stack: o.stack,
    outputs: o.outputs,
    stateDir: o.stateDir,
    json: o.json === true,
  });
}

interface SubmitFlags extends StackFlags {
  dryRun?: boolean;
  locally?: boolean;
  force?: boolean;
  retryFailed?: boolean;
  array: boolean;
  concurrency?: number;
  scriptFile?: string;
  scriptOptions?: string;
  localRoot?: string;
  plainEnv?: string[];
  policyPackConfig?: string;
  ignorePolicyBounds?: boolean;
}

/** Submit's and retry's options from the flags, the script resolved where the user is. */
function submitOptions(o: SubmitFlags, ctx: Context) {
  // One script for both: the options are read from it and --locally runs it. Relative to
  // where the user is, not to the repository the entrypoint runs from.
  const script = o.scriptFile !== undefined ? path.resolve(ctx.cwd, o.scriptFile) : undefined;
  return {
    ...stackFlags(o),
    dryRun: o.dryRun === true,
    local: o.locally === true,
    force: o.force === true,
    array: o.array,
    ...definedOnly({
      concurrency: o.concurrency,
      script,
      scriptOptions: o.scriptOptions,
      localRoot: o.localRoot,
      plainEnv: o.plainEnv,
      policyPackConfig: o.policyPackConfig,
    }),
    ignorePolicyBounds: o.ignorePolicyBounds === true,
  };
}

const DRY_RUN: OptionDef = {
  flags: "--dry-run",
  description: "print the resolved SubmitJob requests (valid --cli-input-json) and submit nothing",
};

/** How the job files are checked: against which script, and which policy bounds. */
const CHECK_OPTIONS: readonly OptionDef[] = [
  {
    flags: "--script-file <path>",
    description: "the script whose options job variables must match (default: the entrypoint's)",
  },
  {
    flags: "--script-options <file>",
    description: "saved `python3 container/run_job.py --describe` output, instead of running it",
  },
  {
    flags: "--policy-pack-config <file>",
    description:
      "the policy pack's --policy-pack-config file, whose bounds (timeout, attempts, vCPUs) job files must keep",
  },
  {
    flags: "--ignore-policy-bounds",
    description:
      "submit jobs that exceed the policy pack's bounds or cannot be placed, listing each on stderr",
  },
  {
    flags: "--plain-env <names>",
    description:
      "pass these variables (comma-separated, no lower case) as plain environment even if they differ from an option only by case or -/_",
    parse: commaList,
  },
];

const SUBMIT: CommandDef<SubmitFlags> = {
  name: "submit",
  description:
    "Validate job files, sweep files (.json with grid/zip/rows, or .csv/.tsv) and submit them. " +
    "Everything is checked before the first call; nothing is submitted if any file is bad.",
  arguments: [["<inputs...>", "job/sweep files, directories or glob patterns"]],
  options: [
    DRY_RUN,
    {
      flags: "--locally",
      description: "run the jobs on this machine with python3 container/run_job.py instead",
    },
    { flags: "--force", description: "resubmit jobs the ledger says were already submitted" },
    {
      flags: "--retry-failed",
      description: "deprecated: the inputs are sweep or job names; use jobs:retry instead",
    },
    {
      flags: "--no-array",
      description: "submit a sweep as one job per parameter set instead of one array job",
    },
    {
      flags: "--concurrency <n>",
      description: `requests in flight (default ${DEFAULT_SUBMIT_CONCURRENCY}); with --locally, processes (default: up to 4)`,
      parse: positiveInt,
    },
    LOCAL_ROOT,
    ...CHECK_OPTIONS,
    ...STACK_OPTIONS,
  ],
  async handler(o, args, ctx) {
    const common = submitOptions(o, ctx);
    const inputs = args[0] as string[];
    if (o.retryFailed === true) {
      ctx.io.stderr.write(
        `note: --retry-failed leaves jobs:submit in the next release; use npm run jobs:retry -- ${inputs.join(" ")}\n`,
      );
      const { retryCommand } = await import("./commands/retry");
      return retryCommand({ ...common, names: inputs }, ctx);
    }
    const { submitCommand } = await import("./commands/submit");
    return submitCommand({ ...common, files: inputs }, ctx);
  },
};

const RETRY: CommandDef<SubmitFlags> = {
  name: "retry",
  description:
    "Submit again only what failed, planned from the files the ledger recorded: " +
    "a sweep's failed sets go as one array job, a failed job as <job>-r<n>.",
  arguments: [["<names...>", "sweep or job names from the ledger"]],
  options: [
    DRY_RUN,
    {
      flags: "--concurrency <n>",
      description: `requests in flight (default ${DEFAULT_SUBMIT_CONCURRENCY})`,
      parse: positiveInt,
    },
    ...CHECK_OPTIONS,
    ...STACK_OPTIONS,
  ],
  async handler(o, args, ctx) {
    const { retryCommand } = await import("./commands/retry");
    const opts = submitOptions({ ...o, array: true }, ctx);
    return retryCommand({ ...opts, names: args[0] as string[] }, ctx);
  },
};

/** `watch` polls until every job has finished; `status` shows them once. */
function watchOrStatus(
  name: "watch" | "status",
): CommandDef<StackFlags & { last?: boolean; interval?: number }> {
  const once = name === "status";
  const interval: OptionDef = {
    flags: "--interval <seconds>",
    description: "seconds between polls",
    parse: positiveSeconds,
    default: DEFAULT_WATCH_INTERVAL,
  };
  return {
    name,
    description: once
      ? "Show the ledger's jobs by status once, with reasons and exit codes of failures."
      : "Show the ledger's jobs by status until all have finished; exits 1 if any failed.",
    arguments: [["[names...]", "only these jobs (default: every job in the ledger)"]],
    options: [LAST, ...STACK_OPTIONS, ...(once ? [] : [interval])],
    async handler(o, args, ctx) {
      const { watchCommand } = await import("./commands/watch");
      return watchCommand(
        {
          ...stackFlags(o),
          names: args[0] as string[],
          last: o.last === true,
          interval: o.interval ?? DEFAULT_WATCH_INTERVAL,
          once,
        },
        ctx,
      );
    },
  };
}

const LOGS: CommandDef<StackFlags & { follow?: boolean; interval: number; run?: number }> = {
  name: "logs",
  description: "Print a job's CloudWatch log (array child: <name>:<index>).",
  arguments: [["<job>", "job name from the ledger, or job ID; add :<index> for an array child"]],
  options: [
    { flags: "--follow", description: "keep printing new lines until the job ends" },
    {
      flags: "--interval <seconds>",
      description: "seconds between polls with --follow",
      parse: positiveSeconds,
      default: 2,
    },
    {
      flags: "--run <n>",
      description: "a retried set's or job's nth run (1: the first); default: latest",
      parse: positiveInt,
    },
    ...STACK_OPTIONS,
  ],
  async handler(o, args, ctx) {
    const { logsCommand } = await import("./commands/logs");
    return logsCommand(
      {
        ...stackFlags(o),
        target: args[0] as string,
        follow: o.follow === true,
        interval: o.interval,
        ...definedOnly({ run: o.run }),
      },
      ctx,
    );
  },
};

const RESULTS: CommandDef<
  StackFlags & { out?: string; locally?: boolean; localRoot?: string; concurrency: number }
> = {
  name: "results",
  description: `Download ${BUCKET_PREFIXES.results} and ${BUCKET_PREFIXES.logs} (only new or changed files), like \`aws s3 sync\`.`,
  arguments: [["[names...]", "only these jobs (default: everything)"]],
  options: [
    {
      flags: "--out <dir>",
      description: "destination (default: batchpy-results/<stack>, or batchpy-results/local)",
    },
    { flags: "--locally", description: "copy from the --locally bucket folder instead of S3" },
    LOCAL_ROOT,
    {
      flags: "--concurrency <n>",
      description: "parallel downloads",
      parse: positiveInt,
      default: DEFAULT_DOWNLOAD_CONCURRENCY,
    },
    ...STACK_OPTIONS,
  ],
  async handler(o, args, ctx) {
    const { resultsCommand } = await import("./commands/results");
    return resultsCommand(
      {
        ...stackFlags(o),
        names: args[0] as string[],
        ...definedOnly({ out: o.out }),
        local: o.locally === true,
        ...definedOnly({ localRoot: o.localRoot }),
        concurrency: o.concurrency,
      },
      ctx,
    );
  },
};

interface ReportFlags extends StackFlags {
  last?: boolean;
  locally?: boolean;
  localRoot?: string;
  writeCsv?: string | true;
  writeHtml?: string | true;
  limit?: number;
  pricing?: string;
  priceVcpuHour?: number;
  priceGbHour?: number;
  refresh?: boolean;
}

const REPORT: CommandDef<ReportFlags> = {
  name: "report",
  description:
    "One row per job or sweep set: parameters, status, reason, exit code, attempts, times, " +
    `vCPU-hours, estimated cost, result files and ${METRICS.file} values; failed rows first.`,
  arguments: [["[names...]", "only these jobs or sweeps (default: every job in the ledger)"]],
  options: [
    LAST,
    { flags: "--locally", description: "report the runs of jobs:submit --locally instead of AWS" },
    LOCAL_ROOT,
    {
      flags: "--write-csv [file]",
      description: "also write every row as CSV (default: batchpy-results/<stack>/report.csv)",
    },
    {
      flags: "--write-html [file]",
      description: "also write a page with charts (default: batchpy-results/<stack>/report.html)",
    },
    {
      flags: "--limit <n>",
      description: "terminal rows shown (failed rows always are)",
      parse: positiveInt,
    },
    {
      flags: "--refresh",
      description: "read finished runs' listings and metrics from S3, not the cache",
    },
    {
      flags: "--pricing <types>",
      description:
        "price as these instance types (comma-separated), FARGATE or FARGATE_SPOT (default: the stack's)",
    },
    {
      flags: "--price-vcpu-hour <usd>",
      description: "your price per vCPU-hour, in place of the price table",
      parse: nonNegativeNumber,
    },
    {
      flags: "--price-gb-hour <usd>",
      description: "your price per GB-hour of memory, in place of the price table",
      parse: nonNegativeNumber,
    },
    ...STACK_OPTIONS,
  ],
  async handler(o, args, ctx) {
    const { reportCommand } = await import("./commands/report");
    const pricing = o.pricing
      ?.split(",")
      .map((t) => t.trim())
      .filter((t) => t !== "");
    return reportCommand(
      {
        ...stackFlags(o),
        names: args[0] as string[],
        last: o.last === true,
        local: o.locally === true,
        ...definedOnly({
          localRoot: o.localRoot,
          csv: o.writeCsv,
          html: o.writeHtml,
          limit: o.limit,
          pricing,
          priceVcpuHour: o.priceVcpuHour,
          priceGbHour: o.priceGbHour,
        }),
        cache: o.refresh !== true,
      },
      ctx,
    );
  },
};

const CANCEL: CommandDef<StackFlags & { all?: boolean; reason: string }> = {
  name: "cancel",
  description:
    "Stop unfinished jobs from the ledger with TerminateJob: jobs not started are cancelled, " +
    "running ones terminated; a sweep's running children are terminated one by one.",
  arguments: [["[names...]", "jobs to stop"]],
  options: [
    { flags: "--all", description: "every unfinished job in the ledger" },
    {
      flags: "--reason <text>",
      description: "reason recorded by Batch",
      default: DEFAULT_CANCEL_REASON,
    },
    ...STACK_OPTIONS,
  ],
  async handler(o, args, ctx) {
    const { cancelCommand } = await import("./commands/cancel");
    return cancelCommand(
      { ...stackFlags(o), names: args[0] as string[], all: o.all === true, reason: o.reason },
      ctx,
    );
  },
};

/** Every command, in the order `--help` lists them. */
export const COMMANDS: readonly CommandDef[] = [
  SUBMIT,
  RETRY,
  watchOrStatus("watch"),
  watchOrStatus("status"),
  LOGS,
  RESULTS,
  REPORT,
  CANCEL,
];
