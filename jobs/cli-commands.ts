/**
 * The jobs CLI's commands as a table. `run` imports its module only when it runs, so `--help`
 * and a bad option load nothing but commander and this table.
 */
import * as path from "path";
import { InvalidArgumentError } from "commander";
import { BadInputError, EXIT_FAILURE, EXIT_OK } from "./errors";
import type { Context, StackOptions } from "./context";
import { DEFAULT_SUBMIT_CONCURRENCY } from "./aws/pool";
import { BUCKET_PREFIXES, METRICS, VARS } from "../components/contract";
import type { SubmitOptions } from "./commands/submit";
import type { WatchOptions } from "./commands/watch";
import type { LogsOptions } from "./commands/logs";
import type { ResultsOptions } from "./commands/results";
import type { ReportOptions } from "./commands/report";
import type { CancelOptions } from "./commands/cancel";
import type { WhyOptions } from "./commands/why";

/** jobs:watch's poll: job states change on the scale of tens of seconds. */
const DEFAULT_WATCH_INTERVAL = 10;
/** jobs:results' downloads: S3 serves many connections well; these keep a laptop link busy. */
const DEFAULT_DOWNLOAD_CONCURRENCY = 16;

type OptionDef = readonly [
  flags: string,
  description: string,
  parse?: (value: string, previous: unknown) => unknown,
  value?: unknown,
];

export interface CommandDef<O extends StackOptions = StackOptions> {
  readonly name: string;
  readonly description: string;
  /** `<x>` required, `[x]` optional, `x...` variadic; its description; the option it goes in. */
  readonly argument: readonly [string, string, string];
  readonly options: readonly OptionDef[];
  /** What the first Ctrl-C does for this command (default: "stopping"). */
  readonly stopping?: string;
  /** What a refusal of bad input leaves undone. */
  readonly unchanged?: string;
  /** Method syntax (bivariant), as the table mixes option types. */
  run(o: O, ctx: Context): Promise<number>;
}

function numberParser(ok: (n: number) => boolean, expected: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !ok(n)) {
      throw new InvalidArgumentError(`expected ${expected}, got "${value}"`);
    }
    return n;
  };
}

const positiveInt = numberParser(
  (n) => Number.isInteger(n) && n >= 1,
  "a whole number of at least 1",
);
const positiveSeconds = numberParser(
  (n) => Number.isFinite(n) && n > 0,
  "a number of seconds above 0",
);
const price = numberParser((n) => Number.isFinite(n) && n >= 0, "a price in USD of 0 or more");

function commaList(value: string, previous: unknown): string[] {
  return [
    ...(Array.isArray(previous) ? (previous as string[]) : []),
    ...value.split(",").filter((n) => n !== ""),
  ];
}

const STACK_OPTIONS: readonly OptionDef[] = [
  ["--stack <name>", "Pulumi stack to read outputs from"],
  ["--outputs <file>", "stack outputs saved with `pulumi stack output --json --show-secrets`"],
  ["--state-dir <dir>", `where ledgers live (default: $${VARS.stateDir} or <repo>/.batchpy)`],
  ["--json", "machine-readable output on stdout, nothing else"],
];

const PRICE_OPTIONS: readonly OptionDef[] = [
  ["--price-vcpu-hour <usd>", "your price per vCPU-hour, in place of the price table", price],
  ["--price-gb-hour <usd>", "your price per GB-hour of memory, in place of the price table", price],
];

const COST_OPTIONS: readonly OptionDef[] = [
  [
    "--max-cost <usd>",
    "refuse (exit 2, nothing sent) if the cost bound of the run time is above this",
    price,
  ],
  ...PRICE_OPTIONS,
];

const LAST: OptionDef = ["--last", "only the jobs of the most recent jobs:submit"];
const LOCAL_ROOT: OptionDef = ["--local-root <dir>", "the --locally bucket folder"];
const DRY_RUN: OptionDef = [
  "--dry-run",
  "print the resolved SubmitJob requests (valid --cli-input-json) and submit nothing",
];

const CHECK_OPTIONS: readonly OptionDef[] = [
  [
    "--script-file <path>",
    "the script whose options job variables must match (default: the entrypoint's)",
  ],
  [
    "--script-options <file>",
    "saved `python3 container/run_job.py --describe` output, instead of running it",
  ],
  [
    "--policy-pack-config <file>",
    "the policy pack's --policy-pack-config file, whose bounds (timeout, attempts, vCPUs) job files must keep",
  ],
  [
    "--ignore-policy-bounds",
    "submit jobs that exceed the policy pack's bounds or cannot be placed, listing each on stderr",
  ],
  [
    "--plain-env <names>",
    "pass these variables (comma-separated, no lower case) as plain environment even if they differ from an option only by case or -/_",
    commaList,
  ],
];

type SubmitFlags = SubmitOptions & { retryFailed?: boolean };

/** The script resolved where the user is, not the repository. */
function resolveScript(o: SubmitFlags, ctx: Context): SubmitFlags {
  return o.scriptFile === undefined ? o : { ...o, scriptFile: path.resolve(ctx.cwd, o.scriptFile) };
}

const SUBMIT: CommandDef<SubmitFlags> = {
  name: "submit",
  description:
    "Validate job files, sweep files (.json with grid/zip/rows, or .csv/.tsv) and submit them. " +
    "Everything is checked before the first call; nothing is submitted if any file is bad.",
  argument: ["<inputs...>", "job/sweep files, directories or glob patterns", "files"],
  options: [
    DRY_RUN,
    ["--locally", "run the jobs on this machine with python3 container/run_job.py instead"],
    ["--force", "resubmit jobs the ledger says were already submitted"],
    ["--retry-failed", "deprecated: the inputs are sweep or job names; use jobs:retry instead"],
    ["--no-array", "submit a sweep as one job per parameter set instead of one array job"],
    [
      "--concurrency <n>",
      `requests in flight (default ${DEFAULT_SUBMIT_CONCURRENCY}); with --locally, processes (default: up to 4)`,
      positiveInt,
    ],
    LOCAL_ROOT,
    ...CHECK_OPTIONS,
    ...COST_OPTIONS,
    ...STACK_OPTIONS,
  ],
  stopping: "stopping: finishing the requests in flight and recording them",
  unchanged: "; nothing was submitted or changed",
  async run(o, ctx) {
    if (o.retryFailed !== true) {
      return (await import("./commands/submit")).submitCommand(resolveScript(o, ctx), ctx);
    }
    ctx.io.stderr.write(
      `note: --retry-failed leaves jobs:submit in the next release; use npm run jobs:retry -- ${o.files.join(" ")}\n`,
    );
    const flags = { "--locally": o.locally, "--force": o.force, "--no-array": !o.array };
    const bad = Object.entries(flags).flatMap(([flag, on]) => (on === true ? [flag] : []));
    if (bad.length > 0) {
      throw new BadInputError(
        `--retry-failed cannot be combined with ${bad.join(" or ")}: it resubmits the failed ` +
          "runs recorded in the ledger as they were first submitted; leave those options out",
      );
    }
    const { retryCommand } = await import("./commands/retry");
    return retryCommand({ ...resolveScript(o, ctx), names: o.files }, ctx);
  },
};

const RETRY: CommandDef<SubmitFlags & { names: readonly string[] }> = {
  name: "retry",
  description:
    "Submit again only what failed, planned from the files the ledger recorded: " +
    "a sweep's failed sets go as one array job, a failed job as <job>-r<n>.",
  argument: ["<names...>", "sweep or job names from the ledger", "names"],
  options: [
    DRY_RUN,
    [
      "--concurrency <n>",
      `requests in flight (default ${DEFAULT_SUBMIT_CONCURRENCY})`,
      positiveInt,
    ],
    ...CHECK_OPTIONS,
    ...COST_OPTIONS,
    ...STACK_OPTIONS,
  ],
  async run(o, ctx) {
    const { retryCommand } = await import("./commands/retry");
    return retryCommand({ ...resolveScript(o, ctx), names: o.names, array: true }, ctx);
  },
};

type WatchFlags = Omit<WatchOptions, "once" | "interval"> & { interval?: number };

function watchOrStatus(name: "watch" | "status"): CommandDef<WatchFlags> {
  const once = name === "status";
  const interval: OptionDef = [
    "--interval <seconds>",
    "seconds between polls",
    positiveSeconds,
    DEFAULT_WATCH_INTERVAL,
  ];
  return {
    name,
    description: once
      ? "Show the ledger's jobs by status once, with reasons and exit codes of failures."
      : "Show the ledger's jobs by status until all have finished; exits 1 if any failed.",
    argument: ["[names...]", "only these jobs (default: every job in the ledger)", "names"],
    options: [LAST, ...STACK_OPTIONS, ...(once ? [] : [interval])],
    stopping: once ? undefined : "stopping: no more polls; showing the last status",
    async run(o, ctx) {
      const [{ watch, watchExitCode }, print] = await Promise.all([
        import("./commands/watch"),
        import("./output/watch-print"),
      ]);
      const result = await watch(
        { ...o, interval: o.interval ?? DEFAULT_WATCH_INTERVAL, once },
        ctx,
      );
      (o.json ? print.printWatchJson : print.printWatch)(result, ctx.io, once);
      return watchExitCode(result, ctx.signal);
    },
  };
}

const LOGS: CommandDef<LogsOptions> = {
  name: "logs",
  description: "Print a job's CloudWatch log (array child: <name>:<index>).",
  argument: [
    "<job>",
    "job name from the ledger, or job ID; add :<index> for an array child",
    "target",
  ],
  options: [
    ["--follow", "keep printing new lines until the job ends"],
    ["--interval <seconds>", "seconds between polls with --follow", positiveSeconds, 2],
    ["--run <n>", "a retried set's or job's nth run (1: the first); default: latest", positiveInt],
    ...STACK_OPTIONS,
  ],
  stopping: "stopping: no more polls",
  run: async (o, ctx) => (await import("./commands/logs")).logsCommand(o, ctx),
};

const RESULTS: CommandDef<ResultsOptions> = {
  name: "results",
  description: `Download ${BUCKET_PREFIXES.results} and ${BUCKET_PREFIXES.logs} (only new or changed files), like \`aws s3 sync\`.`,
  argument: ["[names...]", "only these jobs (default: everything)", "names"],
  options: [
    ["--out <dir>", "destination (default: batchpy-results/<stack>, or batchpy-results/local)"],
    ["--locally", "copy from the --locally bucket folder instead of S3"],
    LOCAL_ROOT,
    ["--concurrency <n>", "parallel downloads", positiveInt, DEFAULT_DOWNLOAD_CONCURRENCY],
    ...STACK_OPTIONS,
  ],
  stopping: "stopping: finishing the downloads in flight, starting no more",
  unchanged: "; nothing was downloaded",
  run: async (o, ctx) => (await import("./commands/results")).resultsCommand(o, ctx),
};

const REPORT: CommandDef<ReportOptions> = {
  name: "report",
  description:
    "One row per job or sweep set: parameters, status, reason, exit code, attempts, times, " +
    `vCPU-hours, estimated cost, result files and ${METRICS.file} values; failed rows first.`,
  argument: ["[names...]", "only these jobs or sweeps (default: every job in the ledger)", "names"],
  options: [
    LAST,
    ["--locally", "report the runs of jobs:submit --locally instead of AWS"],
    LOCAL_ROOT,
    [
      "--write-csv [file]",
      "also write every row as CSV (default: batchpy-results/<stack>/report.csv)",
    ],
    [
      "--write-html [file]",
      "also write a page with charts (default: batchpy-results/<stack>/report.html)",
    ],
    ["--limit <n>", "terminal rows shown (failed rows always are)", positiveInt],
    ["--refresh", "no effect, kept for scripts: every report reads AWS afresh"],
    [
      "--pricing <types>",
      "price as these instance types (comma-separated), FARGATE or FARGATE_SPOT (default: the stack's)",
      (value: string) => value.split(",").flatMap((t) => t.trim() || []),
    ],
    ...PRICE_OPTIONS,
    ...STACK_OPTIONS,
  ],
  run: async (o, ctx) => (await import("./commands/report")).reportCommand(o, ctx),
};

const CANCEL: CommandDef<CancelOptions> = {
  name: "cancel",
  description:
    "Stop unfinished jobs from the ledger with TerminateJob: jobs not started are cancelled, " +
    "running ones terminated; a sweep's running children are terminated one by one.",
  argument: ["[names...]", "jobs to stop", "names"],
  options: [
    ["--all", "every unfinished job in the ledger"],
    [
      "--reason <text>",
      "reason recorded by Batch",
      undefined,
      "Cancelled with batchpy jobs:cancel",
    ],
    ...STACK_OPTIONS,
  ],
  stopping: "not stopping: cancel goes on until every job it set out to stop is stopped",
  unchanged: "; nothing was cancelled",
  async run(o, ctx) {
    const [{ cancelJobs }, print] = await Promise.all([
      import("./commands/cancel"),
      import("./output/cancel-print"),
    ]);
    const result = await cancelJobs(o, ctx);
    (o.json ? print.printCancelJson : print.printCancel)(result, ctx.io);
    return result.failed.length > 0 || result.unknown.length > 0 ? EXIT_FAILURE : EXIT_OK;
  },
};

const WHY: CommandDef<WhyOptions> = {
  name: "why",
  description:
    "Explain why a job or sweep waits: its reason and fix, the job Batch holds at the head of " +
    "the queue, the queue and its compute environments, its place, and when the queue cancels it.",
  argument: ["<name>", "job or sweep name from the ledger", "name"],
  options: STACK_OPTIONS,
  async run(o, ctx) {
    const [{ why }, print] = await Promise.all([
      import("./commands/why"),
      import("./output/status-print"),
    ]);
    (o.json ? print.printWhyJson : print.printWhy)(await why(o, ctx), ctx.io, Date.now());
    return EXIT_OK;
  },
};

export const COMMANDS: readonly CommandDef[] = [
  SUBMIT,
  RETRY,
  watchOrStatus("watch"),
  watchOrStatus("status"),
  WHY,
  LOGS,
  RESULTS,
  REPORT,
  CANCEL,
];
