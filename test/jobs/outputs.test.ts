import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { FatalError } from "../../jobs/errors";
import {
  defaultPulumiRunner,
  loadOutputs,
  outputsLedgerName,
  parseOutputs,
  requireOutput,
  type CommandResult,
} from "../../jobs/input/outputs";
import { parseDescription } from "../../jobs/input/variables";
import { STACK_OUTPUTS, tempDir, writeOutputs } from "../helpers/jobs-harness";

describe("jobs/input/outputs: stack outputs", function () {
  let dir: string;
  beforeEach(function () {
    dir = tempDir("outputs");
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("runs the pulumi CLI from PATH, and says so when it is not there", function () {
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "pulumi"), '#!/bin/sh\necho "$@"\n', { mode: 0o755 });
    const run = (PATH: string) => defaultPulumiRunner({ PATH }, dir)(["stack", "--show-name"]);
    assert.strictEqual(run(bin)?.stdout, "stack --show-name\n");
    assert.strictEqual(run(path.join(dir, "none")), undefined);
  });

  it("reads a file saved from `pulumi stack output --json`", function () {
    const file = writeOutputs(dir, { ...STACK_OUTPUTS, somethingElse: "kept out" } as Record<
      string,
      string
    >);
    const loaded = loadOutputs({ outputsFile: file, cwd: dir, pulumi: () => undefined });
    assert.deepStrictEqual(loaded.outputs, STACK_OUTPUTS);
    assert.match(loaded.stack, /^outputs-us-east-1-[0-9a-f]{8}$/);
    assert.strictEqual(
      loadOutputs({ outputsFile: file, stack: "prod", cwd: dir, pulumi: () => undefined }).stack,
      "prod",
    );
  });

  it("names the ledger of an outputs file after the stack's queue, so stacks never share one", function () {
    const name = outputsLedgerName(STACK_OUTPUTS);
    // sha256 of the queue ARN, pinned so the name never changes under a user's ledger.
    assert.strictEqual(name, "outputs-us-east-1-36f6ec06");
    assert.strictEqual(outputsLedgerName({ ...STACK_OUTPUTS, imageUri: "other" }), name);
    const other = {
      ...STACK_OUTPUTS,
      jobQueueArn: STACK_OUTPUTS.jobQueueArn.replace("queue", "q2"),
    };
    assert.notStrictEqual(outputsLedgerName(other), name);
    const noRegion = Object.fromEntries(
      Object.entries(STACK_OUTPUTS).filter(([k]) => k !== "region"),
    );
    assert.strictEqual(outputsLedgerName(noRegion), name, "the region is read from the ARN");
    assert.match(outputsLedgerName({ bucketName: "b" }), /^outputs-[0-9a-f]{8}$/);
  });

  it("runs the pulumi CLI for the chosen stack when there is no file", function () {
    const calls: string[][] = [];
    const pulumi = (args: readonly string[]): CommandResult => {
      calls.push([...args]);
      return args[1] === "output"
        ? { status: 0, stdout: JSON.stringify(STACK_OUTPUTS), stderr: "" }
        : { status: 0, stdout: "dev\n", stderr: "" };
    };
    const loaded = loadOutputs({ cwd: dir, pulumi });
    assert.strictEqual(loaded.stack, "dev");
    assert.deepStrictEqual(calls[0], ["stack", "output", "--json", "--show-secrets"]);
    loadOutputs({ stack: "prod", cwd: dir, pulumi });
    assert.deepStrictEqual(calls[2], [
      "stack",
      "output",
      "--json",
      "--show-secrets",
      "--stack",
      "prod",
    ]);
  });

  it("says what to do when there are no outputs", function () {
    assert.throws(
      () => loadOutputs({ cwd: dir, pulumi: () => undefined }),
      (e: Error) =>
        e instanceof FatalError && /run `pulumi up` first, or pass --outputs FILE/.test(e.message),
    );
    assert.throws(
      () => loadOutputs({ cwd: dir, pulumi: () => ({ status: 0, stdout: "{}", stderr: "" }) }),
      /the stack has no batchpy outputs; run `pulumi up` first, or pass --outputs FILE/,
    );
    assert.throws(
      () =>
        loadOutputs({
          cwd: dir,
          pulumi: () => ({ status: 255, stdout: "", stderr: "error: no stack named 'x'" }),
        }),
      /no stack named 'x'.*run `pulumi up` first/,
    );
    assert.throws(
      () =>
        loadOutputs({
          outputsFile: path.join(dir, "nope.json"),
          cwd: dir,
          pulumi: () => undefined,
        }),
      /cannot read --outputs/,
    );
  });

  it("refuses malformed outputs, naming the key", function () {
    assert.throws(() => parseOutputs("[1]", "o.json"), /o\.json must be a JSON object/);
    assert.throws(
      () => parseOutputs('{"bucketName": 3}', "o.json"),
      /output "bucketName" must be a string/,
    );
    assert.throws(() => parseOutputs("{", "o.json"), /o\.json is not JSON/);
  });

  it("words a JSON syntax error with the parser's message, for the outputs and a script's description", function () {
    assert.throws(() => parseOutputs("{", "o.json"), {
      name: "FatalError",
      message:
        /^o\.json is not JSON \(.*JSON.*\); save it with `pulumi stack output --json --show-secrets > outputs\.json`$/,
    });
    assert.throws(() => parseDescription("{", "run_job.py --describe"), {
      name: "FatalError",
      message: /^run_job\.py --describe did not print JSON \(.*JSON.*\): \{$/,
    });
  });

  it("reads jobDefaults as optional, and refuses a malformed one naming the field", function () {
    const jobDefaults = { vcpus: 1, memoryMiB: 1000, gpus: 0, timeoutSeconds: 60, attempts: 3 };
    assert.deepStrictEqual(
      parseOutputs(JSON.stringify({ jobDefaults }), "o.json").jobDefaults,
      jobDefaults,
    );
    assert.strictEqual(parseOutputs("{}", "o.json").jobDefaults, undefined);
    assert.throws(
      () =>
        parseOutputs(JSON.stringify({ jobDefaults: { ...jobDefaults, attempts: -1 } }), "o.json"),
      /o\.json: output "jobDefaults" has attempts = -1; expected \{"vcpus": N, .*run `pulumi up` to refresh it/,
    );
  });

  it("requireOutput names the missing output and why it is needed", function () {
    assert.throws(
      () => requireOutput({ outputs: {}, source: "o.json" }, "bucketName", "to download results"),
      /stack output "bucketName" \(needed to download results\) is missing from o\.json/,
    );
  });
});
