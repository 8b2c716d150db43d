/**
 * The submit printers and exit codes, on result objects alone: what a run that sent
 * something says, for humans and as --json, and which exit code each outcome gives.
 */
import * as assert from "assert";
import { submitExitCode } from "../../jobs/commands/submit";
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK } from "../../jobs/errors";
import type { Io } from "../../jobs/context";
import { printSubmitResult, type SentResult } from "../../jobs/output/submit-print";

function capture(): { io: Io; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return {
    io: {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
    },
    out: () => out,
    err: () => err,
  };
}

const SENT: SentResult = {
  kind: "sent",
  stack: "dev",
  ledger: "/state/dev.jsonl",
  submitted: [
    {
      v: 1,
      jobName: "a",
      jobId: "id-a",
      kind: "array",
      arraySize: 3,
      file: "a.yaml",
      hash: "h",
      run: "r",
      submittedAt: "t",
    },
  ],
  recovered: [],
  adopted: [],
  skipped: [{ jobName: "b", jobId: "id-b", changed: false }],
  failed: [],
  unrecorded: [],
  open: [],
  duplicates: [],
  notSubmitted: 0,
  failureReasons: [],
  aborted: false,
};

describe("jobs/output/submit-print: what a submit says, and its exit code", function () {
  it("a run that sent everything: a summary on stdout and the watch command on stderr", function () {
    const c = capture();
    printSubmitResult(SENT, c.io, { json: false, cwd: "/", stack: "dev" });
    assert.strictEqual(c.out(), "1 submitted, 1 already in the ledger\n");
    assert.strictEqual(c.err(), "next: npm run jobs:watch -- --stack dev\n");
    assert.strictEqual(submitExitCode(SENT), EXIT_OK);
  });

  it("--json: one line on stdout, nothing on stderr", function () {
    const c = capture();
    printSubmitResult(SENT, c.io, { json: true, cwd: "/" });
    const doc = JSON.parse(c.out()) as { submitted: unknown[]; ledger: string };
    assert.deepStrictEqual(doc.submitted, [
      { jobName: "a", jobId: "id-a", file: "a.yaml", arraySize: 3 },
    ]);
    assert.strictEqual(doc.ledger, "/state/dev.jsonl");
    assert.strictEqual(c.err(), "");
  });

  it("exit codes: unrecorded jobs fail, Ctrl-C with work left is interrupted", function () {
    const unrecorded = [{ jobName: "a", jobId: "id-a", file: "a.yaml", error: "EACCES" }];
    assert.strictEqual(submitExitCode({ ...SENT, unrecorded, aborted: true }), EXIT_FAILURE);
    assert.strictEqual(
      submitExitCode({ ...SENT, notSubmitted: 2, aborted: true }),
      EXIT_INTERRUPTED,
    );
    assert.strictEqual(submitExitCode({ ...SENT, lookupError: new Error("x") }), EXIT_FAILURE);
    assert.strictEqual(submitExitCode({ kind: "stopped", undecided: 1 }), EXIT_INTERRUPTED);
  });

  it("stopped while waiting for the job list: said on stderr even with --json", function () {
    const c = capture();
    printSubmitResult({ kind: "stopped", undecided: 2 }, c.io, { json: true, cwd: "/" });
    assert.strictEqual(c.out(), "");
    assert.match(c.err(), /^stopped while waiting for Batch's job list; 2 submission\(s\)/);
  });
});
