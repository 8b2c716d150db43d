/**
 * The AWS SDK's Node version warning, replaced by one line of the tool's: the line itself,
 * the replacement in-process, and the real SDK in a real `batchpy jobs submit` process.
 */
import * as assert from "assert";
import { spawn } from "child_process";
import * as path from "path";
import { RECOMMENDED_NODE, nodeSupportNotice, replaceSdkNodeWarning } from "../../jobs/cli";
import { FakeBatch } from "../helpers/fake-batch";
import { MemoryS3 } from "../helpers/fake-s3-memory";
import {
  BATCHPY_BIN,
  STACK_OUTPUTS,
  awsEnv,
  tempDir,
  writeJobFiles,
  writeOutputs,
  type CliResult,
} from "../helpers/jobs-harness";

/** What @aws-sdk/core 3.981 passes to process.emitWarning on Node 20.20.2. */
const SDK_WARNING = `NodeVersionSupportWarning: The AWS SDK for JavaScript (v3)
versions published after the first week of January 2027
will require node >=22. You are running node v20.20.2.

To continue receiving updates to AWS services, bug fixes,
and security updates please upgrade to node >=22.

More information can be found at: https://a.co/c895JFp`;

describe("Node version notice", function () {
  it("says in one line which Node to move to and why", function () {
    const line = nodeSupportNotice(SDK_WARNING, "v20.20.2");
    assert.strictEqual(
      line,
      `note: Node v20.20.2 reached end of life on 2026-04-30, and AWS SDK releases after the ` +
        `first week of January 2027 need Node >=22: move to Node ${RECOMMENDED_NODE} (the ` +
        `Active LTS) or at least 22 (README: "Supported Node.js versions").`,
    );
    assert.ok(!line.includes("\n"));
  });

  it("takes the release and the version from the SDK's text, and leaves out an unknown end of life", function () {
    const text = SDK_WARNING.replace(/>=22/g, ">=24").replace("January 2027", "July 2028");
    assert.strictEqual(
      nodeSupportNotice(text, "v22.23.5"),
      `note: AWS SDK releases after the first week of July 2028 need Node >=24 (this is ` +
        `v22.23.5): move to Node ${RECOMMENDED_NODE} (the Active LTS) or at least 24 (README: ` +
        `"Supported Node.js versions").`,
    );
  });

  it("is not about other warnings", function () {
    assert.strictEqual(nodeSupportNotice("ExperimentalWarning: x", "v20.20.2"), undefined);
    assert.strictEqual(nodeSupportNotice("see NodeVersionSupportWarning: x", "v20.1.0"), undefined);
  });

  it("replaces the SDK's warning once and passes every other warning through", function () {
    let written = "";
    const passed: unknown[][] = [];
    const original = process.emitWarning;
    // Stands for Node's own emitWarning, so the pass-through prints nothing here.
    process.emitWarning = ((...args: unknown[]) => passed.push(args)) as typeof process.emitWarning;
    replaceSdkNodeWarning({ write: (s: string) => (written += s) }, "v20.20.2");
    try {
      process.emitWarning(SDK_WARNING);
      process.emitWarning(new Error(SDK_WARNING));
      process.emitWarning("another warning", "DeprecationWarning", "DEP0");
    } finally {
      process.emitWarning = original;
    }
    assert.strictEqual(written.split("\n").length, 2, written);
    assert.match(written, /^note: Node v20\.20\.2 reached end of life/);
    assert.deepStrictEqual(passed, [["another warning", "DeprecationWarning", "DEP0"]]);
  });
});

describe("Node version notice in a real batchpy jobs submit", function () {
  let batch: FakeBatch;
  let s3: MemoryS3;
  let dir: string;

  before(async function () {
    batch = await FakeBatch.start({ autoAdvance: false });
    s3 = await MemoryS3.start(STACK_OUTPUTS.bucketName);
    dir = tempDir("node-notice");
    writeOutputs(dir, STACK_OUTPUTS);
    writeJobFiles(path.join(dir, "jobs"), 2);
  });

  after(async function () {
    await batch.close();
    await s3.close();
  });

  /** `batchpy jobs submit`, its SDK warning not switched off, Node's version as `preload` says. */
  function submit(preload: string[], stack: string): Promise<CliResult> {
    const env: Record<string, string> = awsEnv({ batch: batch.url, s3: s3.url });
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    const argv = [BATCHPY_BIN, "jobs", "submit", "jobs", "--outputs", "outputs.json"];
    const child = spawn(process.execPath, [...preload, ...argv, "--state-dir", stack], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", HOME: dir, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    return new Promise((resolve) =>
      child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr })),
    );
  }

  it("on Node 20 prints the one line instead of the SDK's eight, once", async function () {
    const r = await submit(["-r", path.join(__dirname, "fixtures", "node-20.js")], "state-20");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /NodeVersionSupportWarning|a\.co\/c895JFp/);
    const notes = r.stderr.split("\n").filter((l) => l.startsWith("note: Node v20.20.2"));
    assert.strictEqual(notes.length, 1, r.stderr);
    assert.match(notes[0], new RegExp(`move to Node ${RECOMMENDED_NODE} \\(the Active LTS\\)`));
  });

  it("on the Node running the tests prints the line only if the SDK would warn", async function () {
    const r = await submit([], "state-this");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /NodeVersionSupportWarning/);
    const major = Number(process.versions.node.split(".")[0]);
    assert.strictEqual(/^note: Node /m.test(r.stderr), major < 22, r.stderr);
  });
});
