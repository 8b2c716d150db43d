/**
 * `npm run bench`: prints the project's speed figures. Targets are printed beside the
 * figures, never asserted: timings belong here, not in the tests.
 */
import { benchCli } from "./cli";
import { benchAwsPace, benchJobs } from "./jobs";
import { benchFirstRequest } from "./first-request";
import { benchPolicy } from "./policy";
import { benchProgram } from "./program";
import { benchValidation } from "./validation";
import { benchReport } from "./report";
import { benchSweepSize } from "./sweep-size";
import { benchWhy } from "./why";
import { benchPipeline } from "./pipeline";
import { BenchResult } from "./result";

function format(result: BenchResult): string {
  const value = Number.isInteger(result.value) ? String(result.value) : result.value.toFixed(3);
  const target = result.target ? `   (target ${result.target})` : "";
  return `${result.name.padEnd(90)} ${value.padStart(10)} ${result.unit}${target}`;
}

async function main(): Promise<void> {
  const suites: [string, () => Promise<BenchResult[]>][] = [
    ["cli", benchCli],
    ["program", benchProgram],
    ["policy", benchPolicy],
    ["jobs", benchJobs],
    ["aws-pace", benchAwsPace],
    ["first-request", benchFirstRequest],
    ["validation", benchValidation],
    ["report", benchReport],
    ["sweep-size", benchSweepSize],
    ["why", benchWhy],
    ["pipeline", benchPipeline],
  ];
  const only = process.argv.slice(2);
  for (const [name, run] of suites) {
    if (only.length > 0 && !only.includes(name)) {
      continue;
    }
    for (const result of await run()) {
      console.log(format(result));
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
