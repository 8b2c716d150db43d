/**
 * run_job when storing a result or saving an input goes wrong in a way S3 does not report:
 * run_job.run_job() in the harness, against an in-memory store whose uploads fail on demand.
 */
import * as assert from "assert";
import * as path from "path";
import { FIXTURES, HarnessResult, harness, stopHarness } from "./harness";

const WORKER = path.join(FIXTURES, "worker.py");

function messages(result: HarnessResult): string[] {
  return (result.messages as string[] | undefined) ?? [];
}

// Every harness() call of this file goes to one python3 process; it ends with the file.
after(stopHarness);

describe("container: run_job when an upload or an input fails", function () {
  it("counts a result that fails with any error as a failed upload, uploads the rest and the log, and exits 74", async function () {
    const [result] = await harness([
      {
        op: "job",
        script: WORKER,
        env: { BATCHPY_JOB_NAME: "j", write: "a.txt=A,b.txt=B,c.txt=C" },
        fail: { "a.txt": "ValueError", "b.txt": "OSError" },
      },
    ]);
    assert.strictEqual(result.code, 74, JSON.stringify(result));
    assert.deepStrictEqual(Object.keys(result.stored as object).sort(), [
      "logs/j.log",
      "results/j/c.txt",
    ]);
    const errors = messages(result).filter((line) => line.startsWith("run_job: error:"));
    assert.deepStrictEqual(errors, [
      "run_job: error: could not upload result a.txt to s3://fake/results/j/a.txt: ValueError: injected ValueError",
      "run_job: error: could not upload result b.txt to s3://fake/results/j/b.txt: OSError: injected OSError",
    ]);
    assert.ok(
      messages(result).includes("run_job: uploaded 1 of 3 result file(s) to s3://fake/results/j/"),
    );
  });

  it("still uploads the log when storing the results fails unexpectedly", async function () {
    const [result] = await harness([
      {
        op: "job",
        script: WORKER,
        env: { BATCHPY_JOB_NAME: "j", write: "a.txt=A" },
        fail: { "a.txt": "TypeError" },
      },
    ]);
    // A bug in run_job still ends the job with 70 (main prints the traceback), but the log
    // is stored first.
    assert.strictEqual(result.raised, "TypeError", JSON.stringify(result));
    assert.deepStrictEqual(Object.keys(result.stored as object), ["logs/j.log"]);
    assert.match((result.stored as Record<string, string>)["logs/j.log"], /worker: to stdout/);
  });

  it("fails with 66 and says which keys clash when one input key is the folder of another", async function () {
    const [result] = await harness([
      {
        op: "job",
        script: WORKER,
        env: { BATCHPY_JOB_NAME: "j", BATCHPY_INPUTS: "clash/" },
        inputs: { "inputs/clash/a": "1", "inputs/clash/a/b": "2" },
      },
    ]);
    assert.strictEqual(result.code, 66, JSON.stringify(result));
    assert.strictEqual((result.error as string[]).length, 1);
    assert.match(
      (result.error as string[])[0],
      new RegExp(
        '^could not save input s3://fake/inputs/clash/a/b as "clash/a/b" in /\\S+/work: ' +
          "File exists: another input key uses this name as a folder, or this key's folder as " +
          "a file name; rename one of them$",
      ),
    );
  });
});
