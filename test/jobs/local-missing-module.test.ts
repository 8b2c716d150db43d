/**
 * Bring your own script: a script whose import is not installed stops `submit --locally`
 * (what `npm run local` runs) before anything runs, with one line naming the module and the
 * requirements file to add it to.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { runJobs, tempDir } from "../helpers/jobs-harness";

describe("jobs --locally: a script that imports a package that is not installed", function () {
  let dir: string;
  beforeEach(function () {
    dir = tempDir("byo");
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("fails naming the module and the script's requirements.txt, and runs nothing", async function () {
    const script = path.join(dir, "job", "script.py");
    fs.mkdirSync(path.dirname(script));
    fs.writeFileSync(
      script,
      [
        "import argparse",
        "import batchpy_test_absent_pkg  # not installed anywhere",
        "p = argparse.ArgumentParser()",
        "p.add_argument('--var_a', type=int)",
        "p.add_argument('--save_name', required=True)",
        "p.parse_args()",
        "",
      ].join("\n"),
    );
    const root = path.join(dir, "bucket");
    const run = await runJobs(
      [
        "submit",
        "--locally",
        "--local-root",
        root,
        "--script-file",
        script,
        "jobs/sample_job_1.json",
      ],
      { describe: "real" },
    );
    assert.notStrictEqual(run.code, 0, run.stderr);
    const requirements = path.join(dir, "job", "requirements.txt");
    assert.ok(
      run.stderr.includes(
        `script.py imports "batchpy_test_absent_pkg", which is not installed: add the package ` +
          `that provides it to ${requirements}`,
      ),
      run.stderr,
    );
    assert.ok(!fs.existsSync(root), "nothing ran");
  });
});
