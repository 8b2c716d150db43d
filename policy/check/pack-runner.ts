/**
 * The policy pack's process for `policy:check`:
 * `node -r bin/register.js pack-runner.ts <engine-address> <pack-dir>`. It does what
 * `@pulumi/pulumi/cmd/run-policy-pack` does for the Pulumi CLI — Pulumi's own `run()` loads
 * the pack, which serves the Analyzer and prints its port — with one difference: the pack's
 * TypeScript comes through bin/register.js (transpiled once, cached by content) instead of
 * ts-node type-checking the pack at every start. `tsc --noEmit`
 * (`npm test`) checks the same files with the same settings; `pulumi preview
 * --policy-pack policy` still runs the pack through ts-node.
 */
import * as path from "path";

/** The part of run-policy-pack/run.js this uses (it is @internal in @pulumi/pulumi). */
interface PulumiRun {
  run(opts: {
    argv: { _: string[] };
    programStarted: () => void;
    reportLoggedError: (err: Error) => void;
    typeScript: boolean;
  }): Promise<unknown>;
}

/**
 * Exit 1 after an error nobody saw, 32 after one Pulumi logged for the user: the codes
 * run-policy-pack uses, which the engine reads ("32: already reported").
 */
const EXIT_LOGGED = 32;

async function main(args: readonly string[]): Promise<void> {
  if (args.length < 2) {
    console.error("usage: pack-runner <engine-address> <pack-dir>");
    process.exit(2);
  }
  const packDir = path.resolve(args[1]);
  const uncaught = new Set<unknown>();
  const logged = new Set<unknown>();
  let programRunning = false;
  const onUncaught = (err: unknown) => {
    uncaught.add(err);
    if (!programRunning) {
      console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    }
  };
  process.on("uncaughtException", onUncaught);
  process.on("unhandledRejection", onUncaught);
  process.on("exit", (code) => {
    if (code === 0 && uncaught.size > 0) {
      process.exitCode = [...uncaught].every((e) => logged.has(e)) ? EXIT_LOGGED : 1;
    }
  });
  // Resolved from the pack's folder, as the language host does.
  const runModule = require.resolve("@pulumi/pulumi/cmd/run-policy-pack/run", {
    paths: [packDir],
  });
  const pulumiRun = (await import(runModule)) as PulumiRun;
  await pulumiRun.run({
    argv: { _: [packDir] },
    programStarted: () => {
      programRunning = true;
    },
    reportLoggedError: (err) => logged.add(err),
    typeScript: false,
  });
  programRunning = false;
}

void main(process.argv.slice(2));
