#!/usr/bin/env node
"use strict";
const USAGE = `Usage: batchpy <group> <command> [options]

  batchpy jobs submit|retry|watch|status|why|logs|results|report|cancel …   AWS Batch jobs of a stack
  batchpy policy check …                                                     the policy pack's verdict, offline

Add --help to any command for its options, e.g. \`batchpy jobs submit --help\`.
`;

function main(argv) {
  const [group, command, ...rest] = argv;
  if (group === "--help" || group === "-h" || group === "help") {
    process.stdout.write(USAGE);
    return undefined;
  }
  require("./register");
  if (group === "jobs") {
    return require("../jobs/cli.ts").main(argv.slice(1));
  }
  if (group === "policy" && command === "check") {
    return require("../policy/check/cli.ts").cli(rest);
  }
  const { visible } = require("../jobs/output/visible.ts");
  const what =
    group === undefined ? "a command is missing" : `unknown command "${visible(argv.join(" "))}"`;
  process.stderr.write(`batchpy: ${what}\n\n${USAGE}`);
  process.exitCode = 2;
  return undefined;
}

main(process.argv.slice(2));
