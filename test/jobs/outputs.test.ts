import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { FatalError } from "../../jobs/errors";
import {
  loadOutputs,
  onPath,
  outputsLedgerName,
  parseOutputs,
  requireOutput,
  type CommandResult,
} from "../../jobs/input/outputs";
import { STACK_OUTPUTS, tempDir, writeOutputs } from "../helpers/jobs-harness";

describe("jobs/input/outputs: stack outputs", function () {
  let dir: string;
  beforeEach(function () {
    dir = tempDir("outputs");
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("finds a command on PATH as execvp does: files only, an empty entry is the working directory", function () {
    const exe = (p: string): void => {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, "#!/bin/sh\n", { mode: 0o755 });
    };
    fs.mkdirSync(path.join(dir, "a", "tool"), { recursive: true }); // a folder does not count
    fs.mkdirSync(path.join(dir, "b"));
    fs.writeFileSync(path.join(dir, "b", "tool"), "", { mode: 0o644 }); // nor a plain file
    exe(path.join(dir, "c", "tool"));
    const PATH = ["a", "b", "c"].map((d) => path.join(dir, d)).join(":");
    const real = fs.realpathSync(path.join(dir, "c", "tool"));
    assert.strictEqual(onPath("tool", { PATH }, "linux"), real);
    assert.strictEqual(onPath("tool", { PATH: path.join(dir, "a") }, "linux"), undefined);
    assert.strictEqual(onPath("tool", {}, "linux"), undefined);
    assert.strictEqual(onPath(path.join(dir, "c", "tool"), { PATH: "" }, "linux"), real);
    const cwd = process.cwd();
    process.chdir(path.join(dir, "c"));
    try {
      assert.strictEqual(onPath("tool", { PATH: `${path.join(dir, "a")}::` }, "linux"), real);
      // Windows skips an empty entry and tries each PATHEXT extension.
      assert.strictEqual(onPath("tool", { PATH: ";" }, "win32"), undefined);
      exe(path.join(dir, "w", "tool.EXE"));
      const w = { PATH: path.join(dir, "w"), PATHEXT: ".COM;.EXE" };
      assert.strictEqual(
        onPath("tool", w, "win32"),
        fs.realpathSync(path.join(dir, "w", "tool.EXE")),
      );
      assert.strictEqual(onPath("tool", w, "linux"), undefined);
    } finally {
      process.chdir(cwd);
    }
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
