/** batchpy jobs: the commander program of cli-commands.ts's table, a subcommand per npm script. */
import { setMaxListeners } from "events";
import { Command, CommanderError, Option } from "commander";
import type { Context, Io } from "./context";
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
import { replaceSdkNodeWarning } from "./node-support";
import { npmRefusal, procNpmProcess, type NpmProcess } from "./input/npm-args";
import { VARS } from "../components/contract";
import { COMMANDS, type CommandDef } from "./cli-commands";
import { visible, visibleIo } from "./output/visible";

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
type DeferredContext = Pick<Context, "io" | "env"> & {
  readonly npm?: NpmProcess;
  load(): Promise<Context>;
};

export function buildProgram(io: Io, action: (def: CommandDef, cmd: Command) => Promise<void>) {
  const program = new Command("batchpy jobs")
    .description("Submit, watch and collect AWS Batch jobs of the batchpy stack.")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
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

export async function run(argv: readonly string[], context: Context | DeferredContext) {
  const outcome = { code: EXIT_OK, json: false, unchanged: "" };
  // Text from a job, a file or AWS reaches the terminal with its control characters shown.
  const io = (): Io => visibleIo(context.io, outcome.json);
  const program = buildProgram(io(), async (def, cmd) => {
    outcome.json = cmd.opts().json === true;
    outcome.unchanged = def.unchanged ?? "";
    const ctx = { ...("load" in context ? await context.load() : context), io: io() };
    const o = { ...cmd.opts(), json: outcome.json, [def.argument[2]]: cmd.processedArgs[0] };
    outcome.code = await def.run(o, ctx);
  });
  // Why this run must not go ahead: `npm run` kept some of its options (see npm-args.ts).
  const sub = program.commands.find((c) => c.name() === argv[0]);
  const npm = "npm" in context ? context.npm : undefined;
  const refusal =
    sub && npmRefusal(sub.options, argv, context.env, npm, "; nothing was read or sent");
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

const HELP_CODES = new Set(["commander.helpDisplayed", "commander.version", "commander.help"]);

function reportError(err: unknown, io: Io, json: boolean, unchanged: string): number {
  if (err instanceof CommanderError) {
    return HELP_CODES.has(err.code) ? EXIT_OK : EXIT_BAD_INPUT;
  }
  const bad = err instanceof BadInputError;
  const message =
    err instanceof Error && (bad || err instanceof FatalError) ? err.message : describeError(err);
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

/** `adapt` changes the real context once loaded: how a test's entry injects faults. */

export async function main(
  argv: readonly string[],
  adapt: (ctx: Context) => Context = (ctx) => ctx,
): Promise<void> {
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
