/**
 * Text from a job, a file or AWS cannot steer the terminal: every command run end to end
 * against the local fakes, with hostile payloads in job names and IDs (the ledger), status
 * reasons (Batch), log events (CloudWatch), object keys (S3), file names and values (job
 * files) and paths (options), prints them with their control characters shown.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { main as policyCheck } from "../../policy/check/cli";
import { LIFECYCLE } from "../helpers/fake-batch";
import {
  STACK_OUTPUTS,
  runJobs,
  tempDir,
  useLocalAws,
  writeJobFiles,
  type CliResult,
} from "../helpers/jobs-harness";

/** A terminal retitle, a colour, a line overwrite, a bidi override, a lone surrogate, a forged line. */
const HOSTILE = "\x1b]0;owned\x07|\x1b[31m|ok\rFAIL|\u202e|\ud800|x\nFORGED";
/** HOSTILE as a path or word the user types: its line breaks are the user's own. */
const TYPED = HOSTILE.replace("\n", "");
/** How HOSTILE reads once shown, when it stands on one line. */
const SHOWN = "\\x1b]0;owned\\x07|\\x1b[31m|ok\\rFAIL|\\u202e|\\ud800|x\\nFORGED";

const UNSAFE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/u;

/** Nothing in `text` but line breaks can act on a terminal, and no line was forged. */
function assertInert(text: string, what: string): void {
  const bad = UNSAFE.exec(text);
  assert.strictEqual(
    bad,
    null,
    `${what}: raw ${JSON.stringify(bad?.[0])} in ${JSON.stringify(text)}`,
  );
  assert.doesNotMatch(text, /^FORGED/m, `${what}: a line break in the payload started a line`);
}

function assertShownInert(r: CliResult, what: string): void {
  assertInert(r.stdout, `${what} stdout`);
  assertInert(r.stderr, `${what} stderr`);
  assert.ok(
    `${r.stdout}${r.stderr}`.includes("\\x1b]0;owned\\x07"),
    `${what} shows the payload: ${JSON.stringify(r)}`,
  );
}

describe("jobs: hostile text from jobs, files and AWS is shown, never obeyed", function () {
  const aws = useLocalAws("hostile");
  const jobs = (...args: string[]) => aws.jobs(args);

  const { record, findJob } = aws;

  it("status, watch and cancel: names and IDs from the ledger, reasons from Batch", async function () {
    await aws.startBatch({
      outcome: ({ jobName }) =>
        jobName === "job-0000"
          ? { status: "FAILED", exitCode: 3, statusReason: HOSTILE }
          : { status: "SUCCEEDED" },
    });
    writeJobFiles(path.join(aws.dir, "jobs"), 2);
    assert.strictEqual((await jobs("submit", "jobs")).code, 0);
    record({ [`n${HOSTILE}`]: findJob("job-0001").jobId, plain: `id${HOSTILE}` });

    aws.batch.finishAll();
    const status = await jobs("status");
    assertShownInert(status, "status");
    assert.ok(status.stdout.includes(`job-0000 (${findJob("job-0000").jobId}): ${SHOWN}`));
    assert.ok(status.stdout.includes(`n${SHOWN} ${findJob("job-0001").jobId}`));
    assert.ok(status.stdout.includes(`plain id${SHOWN}`));
    const watch = await jobs("watch", "--interval", "0.01");
    assertShownInert(watch, "watch");

    const json = await jobs("status", "--json");
    const parsed = JSON.parse(json.stdout) as { failures: { statusReason: string }[] };
    assert.strictEqual(parsed.failures[0].statusReason, HOSTILE, "--json keeps the data as it is");

    await aws.startBatch({ autoAdvance: false });
    assert.strictEqual((await jobs("submit", "jobs", "--force")).code, 0);
    const running = findJob("job-0001");
    running.status = "RUNNING";
    running.step = LIFECYCLE.indexOf("RUNNING");
    record({ [`m${HOSTILE}`]: running.jobId });
    const cancel = await jobs("cancel", "--all");
    assertShownInert(cancel, "cancel");
    assert.match(cancel.stdout, /^terminated m\\x1b\]0;owned\\x07\|.* \(was RUNNING\)$/m);
  });

  it("logs: each event's lines shown, each line on its own line; --json stays JSON", async function () {
    await aws.startBatch({});
    writeJobFiles(path.join(aws.dir, "jobs"), 1);
    assert.strictEqual((await jobs("submit", "jobs")).code, 0);
    aws.batch.finishAll();
    const job = findJob("job-0000");
    aws.logs.put(STACK_OUTPUTS.logGroupName, job.logStreamName!, [HOSTILE, "two\nlines"]);
    const r = await jobs("logs", "job-0000");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(
      r.stdout,
      "\\x1b]0;owned\\x07|\\x1b[31m|ok\\rFAIL|\\u202e|\\ud800|x\nFORGED\ntwo\nlines\n",
      "a line break inside an event is the job's own: kept; all else shown",
    );
    assertInert(r.stdout.replace(/^FORGED$/m, ""), "logs stdout");
    const json = await jobs("logs", "job-0000", "--json");
    const messages = json.stdout
      .trimEnd()
      .split("\n")
      .map((l) => (JSON.parse(l) as { message: string }).message);
    assert.deepStrictEqual(messages, [HOSTILE, "two\nlines"]);
  });

  it("results: object keys from S3", async function () {
    await aws.startBatch({});
    // S3 keys are UTF-8: no lone surrogate.
    await aws.put(`results/a/k${HOSTILE.replace("\ud800", "")}.p`, "x");
    await aws.put("results/a/fine.p", "y");
    const r = await jobs("results", "--out", path.join(aws.dir, "dl"));
    assertShownInert(r, "results");
  });

  it("submit: file names and the values problems quote", async function () {
    await aws.startBatch({});
    const dir = path.join(aws.dir, "jobs");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, `f\x1b]0;owned\x07.json`), "{ not json");
    fs.writeFileSync(
      path.join(dir, "values.json"),
      JSON.stringify({
        jobName: `j${HOSTILE}`,
        containerOverrides: { environment: [{ name: `v${HOSTILE}`, value: HOSTILE }] },
      }),
    );
    const r = await jobs("submit", "jobs");
    assert.strictEqual(r.code, 2);
    assertShownInert(r, "submit");
    assert.match(r.stderr, /^error: jobs\/f\\x1b\]0;owned\\x07\.json:/m);
    const json = await jobs("submit", "jobs", "--json");
    assert.strictEqual(json.code, 2);
    assert.ok((JSON.parse(json.stdout) as { errors: unknown[] }).errors.length >= 2);
  });

  it("the top-level error printer and option errors: paths and words typed", async function () {
    const missing = path.join(tempDir("hostile-missing"), `o${HOSTILE}.json`);
    const fatal = await runJobs(["status", "--outputs", missing]);
    assert.notStrictEqual(fatal.code, 0);
    assertShownInert(fatal, "error");
    const json = await runJobs(["status", "--outputs", missing, "--json"]);
    assert.ok((JSON.parse(json.stdout) as { error: string }).error.includes(HOSTILE));
    const option = await runJobs(["status", `--x${TYPED}`]);
    assert.strictEqual(option.code, 2);
    assertShownInert(option, "unknown option");
  });
});

describe("policy check: what it prints about the files it was given is shown, never obeyed", function () {
  it("a --project-dir with control characters in its name", async function () {
    const dir = path.join(tempDir("hostile-policy"), `p${TYPED}`);
    fs.mkdirSync(dir);
    let stdout = "";
    let stderr = "";
    const code = await policyCheck(["--project-dir", dir], undefined, {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: (t: string) => (stderr += t) },
    });
    assert.strictEqual(code, 2);
    assertShownInert({ code, stdout, stderr }, "policy check");
  });
});
