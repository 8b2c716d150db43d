/**
 * The pack's process: what `@pulumi/pulumi/cmd/run-policy-pack` does for the Pulumi CLI, but
 * with the pack's TypeScript from bin/register.js's cache instead of ts-node type-checking it
 * at every start (`tsc --noEmit` checks the same files).
 */

const packDir = process.cwd();
// As run-policy-pack does: an uncaught error fails the process, with 32 when Pulumi has
// shown every one to the user already.
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
    process.exitCode = [...uncaught].every((e) => logged.has(e)) ? 32 : 1;
  }
});
// Resolved from the pack's folder, as the language host does.
const runModule = require.resolve("@pulumi/pulumi/cmd/run-policy-pack/run", { paths: [packDir] });
// run.js is @internal in @pulumi/pulumi: it ships no types.
void import(runModule).then((pulumi: { run(options: object): Promise<unknown> }) =>
  pulumi
    .run({
      argv: { _: [packDir] },
      programStarted: () => (programRunning = true),
      reportLoggedError: (err: Error) => logged.add(err),
      typeScript: false,
    })
    .then(() => (programRunning = false)),
);
