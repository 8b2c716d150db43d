/**
 * batchpy jobs: a table of commands, a subcommand per npm script. `run` imports its module only
 * when it runs, so `--help` and a bad option load nothing but commander and this table.
 */
import * as path from "path";
import { setMaxListeners } from "events";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import type { Context, Io, OutStream, StackOptions } from "./context";
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
import { npmRefusal, procNpmProcess, type NpmProcess } from "./input/npm-args";
import { DEFAULT_SUBMIT_CONCURRENCY } from "./aws/pool";
import { BUCKET_PREFIXES, METRICS, VARS } from "../components/contract";
import { visible, visibleIo } from "./output/visible";
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

interface CommandDef<O extends StackOptions = StackOptions> {
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

function numberParser(ok: (n: number) => boolean, expected: string) {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || !ok(n)) {
      throw new InvalidArgumentError(`expected ${expected}, got "${value}"`);
    }
    return n;
  };
}

const count = numberParser((n) => Number.isInteger(n) && n >= 1, "a whole number of at least 1");
const positiveSeconds = numberParser((n) => n > 0, "a number of seconds above 0");
const price = numberParser((n) => n >= 0, "a price in USD of 0 or more");

function commaList(value: string, previous: unknown): string[] {
  const list = value.split(",").filter((n) => n !== "");
  return Array.isArray(previous) ? [...(previous as string[]), ...list] : list;
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

const LAST: OptionDef = ["--last", "only the jobs of the most recent jobs:submit"];
const LOCAL_ROOT: OptionDef = ["--local-root <dir>", "the --locally bucket folder"];
const DRY_RUN: OptionDef = [
  "--dry-run",
  "print the resolved SubmitJob requests (valid --cli-input-json) and submit nothing",
];

/** What jobs:submit and jobs:retry both take, after their own options. */
const SEND_OPTIONS: readonly OptionDef[] = [
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
  [
    "--max-cost <usd>",
    "refuse (exit 2, nothing sent) if the cost bound of the run time is above this",
    price,
  ],
  ...PRICE_OPTIONS,
  ...STACK_OPTIONS,
];

type SubmitFlags = SubmitOptions & { retryFailed?: boolean };

/** The script resolved where the user is, not the repository. */
function resolveScript<T extends SubmitFlags>(o: T, ctx: Context): T {
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
      count,
    ],
    LOCAL_ROOT,
    ...SEND_OPTIONS,
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
    return RETRY.run({ ...o, names: o.files }, ctx);
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
    ["--concurrency <n>", `requests in flight (default ${DEFAULT_SUBMIT_CONCURRENCY})`, count],
    ...SEND_OPTIONS,
  ],
  run: async (o, ctx) =>
    (await import("./commands/retry")).retryCommand({ ...resolveScript(o, ctx), array: true }, ctx),
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
      const { watch, watchExitCode } = await import("./commands/watch");
      const print = await import("./output/watch-print");
      const result = await watch({ interval: DEFAULT_WATCH_INTERVAL, ...o, once }, ctx);
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
    ["--run <n>", "a retried set's or job's nth run (1: the first); default: latest", count],
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
    ["--concurrency <n>", "parallel downloads", count, DEFAULT_DOWNLOAD_CONCURRENCY],
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
    ["--limit <n>", "terminal rows shown (failed rows always are)", count],
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
    const { cancelJobs } = await import("./commands/cancel");
    const print = await import("./output/status-print");
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
    const { why } = await import("./commands/why");
    const print = await import("./output/status-print");
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

const EXIT_CODES_HELP = `
Exit codes:
  0    success (watch/status: no job failed)
  1    failure: an AWS call failed, a job FAILED, a local run failed, stack outputs missing,
       another jobs:submit holds the stack's lock, watch/status/cancel: Batch does not
       know some of the jobs (never counted as finished: check --stack/--outputs)
  2    bad input: invalid job/sweep file, unknown job name, a name the stack's claims hold
       for another request (jobs:submit without --force), bad option, options npm run
       kept for itself (put -- before the tool's arguments)
  130  interrupted with Ctrl-C (accepted jobs are in the ledger; re-run to continue)

Environment:
  AWS_PROFILE, AWS_ACCESS_KEY_ID, ...   credentials (the AWS SDK's default chain)
  AWS_ENDPOINT_URL[_BATCH|_S3|_CLOUDWATCH_LOGS]   endpoint overrides (SDK convention)
  ${VARS.stateDir.padEnd(20)} where ledgers live (default <repo>/.batchpy)
  ${VARS.localRoot.padEnd(20)} the --locally bucket folder (default <repo>/.batchpy/local-bucket)`;

/** A context loaded only once a command runs: `--help` never needs the AWS SDK or zod. */
type DeferredContext = Pick<Context, "io" | "env"> & { npm?: NpmProcess; load(): Promise<Context> };

export function buildProgram(io: Io, action: (def: CommandDef, cmd: Command) => Promise<void>) {
  const program = new Command("batchpy jobs")
    .description("Submit, watch and collect AWS Batch jobs of the batchpy stack.")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError("(add --help for usage)")
    .addHelpText("after", EXIT_CODES_HELP);
  for (const def of COMMANDS) {
    const cmd = program.command(def.name).description(def.description);
    cmd.argument(def.argument[0], def.argument[1]);
    for (const [flags, description, parse, value] of def.options) {
      const option = new Option(flags, description).default(value);
      cmd.addOption(parse === undefined ? option : option.argParser(parse));
    }
    cmd.addHelpText("after", EXIT_CODES_HELP).action(() => action(def, cmd));
  }
  return program;
}

export async function run(argv: readonly string[], context: DeferredContext) {
  const outcome = { code: EXIT_OK, json: false, unchanged: "" };
  // Text from a job, a file or AWS reaches the terminal with its control characters shown.
  const io = (): Io => visibleIo(context.io, outcome.json);
  const program = buildProgram(io(), async (def, cmd) => {
    outcome.json = cmd.opts().json === true;
    outcome.unchanged = def.unchanged ?? "";
    const o = { ...cmd.opts(), json: outcome.json, [def.argument[2]]: cmd.processedArgs[0] };
    outcome.code = await def.run(o, { ...(await context.load()), io: io() });
  });
  // Why this run must not go ahead: `npm run` kept some of its options (see npm-args.ts).
  const sub = program.commands.find((c) => c.name() === argv[0]);
  const refusal =
    sub && npmRefusal(sub.options, argv, context.env, context.npm, "; nothing was read or sent");
  if (refusal !== undefined) {
    io().stderr.write(`error: ${refusal}\n`);
    return EXIT_BAD_INPUT;
  }
  try {
    await program.parseAsync([...argv], { from: "user" });
    return outcome.code;
  } catch (err) {
    return reportError(err, io(), outcome.json, outcome.unchanged);
  }
}

const HELP_CODES = new Set(["commander.helpDisplayed", "commander.help"]);

function reportError(err: unknown, io: Io, json: boolean, unchanged: string): number {
  if (err instanceof CommanderError) {
    return HELP_CODES.has(err.code) ? EXIT_OK : EXIT_BAD_INPUT;
  }
  const bad = err instanceof BadInputError;
  const message = bad || err instanceof FatalError ? err.message : describeError(err);
  if (json) {
    const body = bad ? { errors: err.problems, message } : { error: message };
    io.stdout.write(`${JSON.stringify(body)}\n`);
  } else if (bad) {
    const lines = err.problems.map((p) => `error: ${formatProblem(p)}\n`).join("");
    io.stderr.write(`${lines}${err.problems.length} problem(s) found${unchanged}\n`);
  } else {
    io.stderr.write(`error: ${visible(message)}\n`);
  }
  return bad ? EXIT_BAD_INPUT : EXIT_FAILURE;
}

/** The current Active LTS. */
export const RECOMMENDED_NODE = 26;

/** End-of-life dates of the lines the SDK warns about (nodejs/Release schedule). */
const END_OF_LIFE: Record<string, string | undefined> = { 18: "2025-04-30", 20: "2026-04-30" };

export function nodeSupportNotice(text: string, version: string): string | undefined {
  if (!text.startsWith("NodeVersionSupportWarning:")) {
    return undefined;
  }
  const [, when, required = "22"] =
    /published (after [^\n]*?)\s+will require node >=(\d+)/.exec(text) ?? [];
  const eol = END_OF_LIFE[/^v?(\d+)/.exec(version)?.[1] ?? ""];
  const releases = when === undefined ? "new AWS SDK releases" : `AWS SDK releases ${when}`;
  const why =
    eol !== undefined
      ? `Node ${version} reached end of life on ${eol}, and ${releases} need Node >=${required}`
      : `${releases} need Node >=${required} (this is ${version})`;
  return (
    `note: ${why}: move to Node ${RECOMMENDED_NODE} (the Active LTS) or at least ` +
    `${required} (README: "Supported Node.js versions").`
  );
}

/**
 * On an old Node the AWS SDK's first client emits a long `NodeVersionSupportWarning`; the tool
 * says it in one line, once per command. `AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true`
 * silences both.
 */
export function replaceSdkNodeWarning(stderr: OutStream, version = process.version) {
  const original = process.emitWarning;
  let said = false;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]): void => {
    const text = typeof warning === "string" ? warning : warning.message;
    const notice = nodeSupportNotice(text, version);
    if (notice === undefined) {
      Reflect.apply(original, process, [warning, ...rest]);
    } else if (!said) {
      said = true;
      stderr.write(`${notice}\n`);
    }
  }) as typeof process.emitWarning;
}

/** `adapt` changes the real context once loaded: how a test's entry injects faults. */
export async function main(argv: readonly string[], adapt = (ctx: Context) => ctx) {
  const controller = new AbortController();
  // Every wait of the run (a submit's many sends) listens to this one signal: no leak warning.
  setMaxListeners(0, controller.signal);
  const io: Io = { stdout: process.stdout, stderr: process.stderr };
  replaceSdkNodeWarning(io.stderr);
  const stopping = COMMANDS.find((c) => c.name === argv[0])?.stopping ?? "stopping";
  process.on("SIGINT", () => {
    if (controller.signal.aborted) {
      process.exit(EXIT_INTERRUPTED);
    }
    process.stderr.write(`\n${stopping} (Ctrl-C again to quit now)\n`);
    controller.abort();
  });
  // `jobs:status | head` closes stdout early; that is not an error.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") {
      process.exit(process.exitCode ?? EXIT_OK);
    }
  });
  process.exitCode = await run(argv, {
    io,
    env: process.env,
    npm: procNpmProcess(),
    load: async () => adapt((await import("./context")).defaultContext(io, controller.signal)),
  });
}

if (require.main === module) {
  void main(process.argv.slice(2));
}
