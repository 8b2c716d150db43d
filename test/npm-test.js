"use strict";
/**
 * `npm test`: the type-check and the lint (ESLint, Prettier, knip) run beside the mocha
 * tests instead of before them. The tests leave a core idle whenever a worker waits (a
 * server, a child process, a deadline); the checks, started at a lower CPU priority (nice
 * 10), use those moments and give the tests the CPU otherwise, so they add little to the
 * wall time. Their output is held back and printed after the tests', so the two do not
 * interleave. `npm test` fails when any of the three fails; nothing is skipped on a
 * failure, so one run reports every problem.
 */
const { spawn } = require("child_process");
const os = require("os");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";
/** Below the tests': the checks run in the cores' idle moments, the tests are not slowed. */
const CHECK_NICENESS = 10;

/**
 * Runs `npm run -s <script>`; resolves with its exit code and, when `capture`, its output.
 * @param {string} script
 * @param {{ capture: boolean, niceness?: number }} opts
 * @returns {Promise<{ script: string, code: number, output: string }>}
 */
function run(script, opts) {
  return new Promise((resolve) => {
    const child = spawn(NPM, ["run", "-s", script], {
      cwd: ROOT,
      stdio: opts.capture ? ["ignore", "pipe", "pipe"] : "inherit",
    });
    if (opts.niceness !== undefined) {
      try {
        // npm has not started its own child yet; that one inherits the priority.
        os.setPriority(child.pid, opts.niceness);
      } catch (err) {
        // The OS refused (a SystemError, e.g. EACCES): the checks run at normal priority.
        if (err.code !== "ERR_SYSTEM_ERROR") {
          throw err;
        }
      }
    }
    const chunks = [];
    child.stdout?.on("data", (b) => chunks.push(b));
    child.stderr?.on("data", (b) => chunks.push(b));
    child.on("error", (err) => resolve({ script, code: 1, output: `${err.message}\n` }));
    child.on("close", (code, signal) =>
      resolve({
        script,
        code: code ?? 1,
        output: Buffer.concat(chunks).toString("utf8") + (signal ? `killed by ${signal}\n` : ""),
      }),
    );
  });
}

async function main() {
  const checks = [
    run("typecheck", { capture: true, niceness: CHECK_NICENESS }),
    run("lint", { capture: true, niceness: CHECK_NICENESS }),
  ];
  const tests = await run("test:unit", { capture: false });
  let failed = tests.code !== 0;
  for (const check of await Promise.all(checks)) {
    process.stdout.write(check.output);
    if (check.code === 0) {
      console.log(`npm run ${check.script}: passed`);
    } else {
      console.error(`npm run ${check.script}: failed (exit ${check.code})`);
      failed = true;
    }
  }
  if (tests.code !== 0) {
    console.error(`npm run test:unit: failed (exit ${tests.code})`);
  }
  process.exitCode = failed ? 1 : 0;
}

main();
