"use strict";
/**
 * The mocha config of `npm run test:unit` (and so `npm test`): .mocharc.json's settings,
 * the container's Python compiled once before the tests (test/helpers/python-bytecode.ts),
 * three parallel workers (on two cores: the tests often wait), and every test file, the
 * slowest first. The workers take the files in this order, so a long file started last
 * would run alone at the end while the others idle; started first, it overlaps the many
 * short ones. The list comes from
 * `npm run test:profile` (wall time); a file not in it runs after them, in name order.
 */
const path = require("path");
const fg = require("fast-glob");
const base = require("../.mocharc.json");

const ROOT = path.resolve(__dirname, "..");

/**
 * Slowest first, by wall time as `npm run test:profile` measured them (idle, each file
 * alone; wall, not CPU, because a file that waits on a server or a retry's back-off holds
 * its worker as long as one that computes). Every file over about 2 s is here: one left
 * out runs in name order after these, and a long one late in that order ran alone at the
 * end while the other worker idled.
 */
const SLOWEST_FIRST = [
  "test/contract/docs-commands.test.ts",
  "test/jobs/claims.test.ts",
  "test/jobs/exactly-once.test.ts",
  "test/container/pytest.test.ts",
  "test/jobs/cli-process.test.ts",
  "test/container/entrypoint.test.ts",
  "test/jobs/chunks-retry-cli.test.ts",
  "test/container/s3.test.ts",
  "test/jobs/aws.test.ts",
  "test/jobs/cli-submit.test.ts",
  "test/policy/check-cli.test.ts",
  "test/jobs/local.test.ts",
  "test/jobs/why.test.ts",
  "test/jobs/depends.test.ts",
  "test/jobs/variables.test.ts",
  "test/components/program.test.ts",
  "test/policy/pack-process.test.ts",
  "test/jobs/cli-flows.test.ts",
  "test/jobs/scripts.test.ts",
  "test/jobs/cost-cli.test.ts",
  "test/jobs/job-file.test.ts",
  "test/jobs/retry-views.test.ts",
  "test/tooling/bin.test.ts",
  "test/jobs/report-cli.test.ts",
  "test/jobs/npm-args.test.ts",
];

const all = fg.sync("test/**/*.test.ts", { cwd: ROOT }).sort();
const first = SLOWEST_FIRST.filter((file) => all.includes(file));
const spec = [...first, ...all.filter((file) => !first.includes(file))];

module.exports = {
  ...base,
  require: [...base.require, "./test/helpers/python-bytecode.ts"],
  parallel: true,
  jobs: 3,
  spec: spec.map((file) => path.join(ROOT, file)),
};
