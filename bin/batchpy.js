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
    return;
  }
  require("./register");
  if (group === "jobs") {
    require("../jobs/cli.ts").main(argv.slice(1));
  } else if (group === "policy" && command === "check") {
    require("../policy/check/cli.ts").cli(rest);
  } else {
    const { visible } = require("../jobs/output/visible.ts");
    const what =
      group === undefined ? "a command is missing" : `unknown command "${visible(argv.join(" "))}"`;
    process.stderr.write(`batchpy: ${what}\n\n${USAGE}`);
    process.exitCode = 2;
  }
}

main(process.argv.slice(2));
