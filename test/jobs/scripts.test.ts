/**
 * More than one script, and a step that reads its parents' results: a job names the script
 * it runs (`"script"`), its variables are checked against that script's options, and
 * `"resultsOf"` puts the named jobs' results/<name>/ in the folder the script is told about.
 * A project root of its own (the real entrypoint linked in, container/job/ with two
 * scripts) so the repository's container/job/ stays as it is.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { buildPlan } from "../../jobs/input/plan";
import { loadJob } from "../../jobs/input/job-file";
import { parseJsonDocument } from "../../jobs/input/json-source";
import { REPO_ROOT, STACK_OUTPUTS, runJobs, tempDir } from "../helpers/jobs-harness";

const STEP = [
  "import argparse, json, os",
  "p = argparse.ArgumentParser()",
  'p.add_argument("--metric", required=True)',
  "a = p.parse_args()",
  'root = os.path.join(os.environ["BATCHPY_PARENT_RESULTS"], "grid")',
  "seen = {int(i): json.load(open(os.path.join(root, i, 'metrics.json')))[a.metric]",
  "        for i in os.listdir(root)}",
  "best = max(seen, key=seen.get)",
  'json.dump({"set": best, a.metric: seen[best]}, open("best.json", "w"))',
  "",
].join("\n");

describe("jobs: a job names its script and reads its parents' results", function () {
  let root: string;
  before(function () {
    root = tempDir("scripts");
    const container = path.join(root, "container");
    fs.mkdirSync(path.join(container, "job"), { recursive: true });
    for (const entry of ["run_job.py", "batchpy_job", "contract.json", "job/script.py"]) {
      fs.symlinkSync(path.join(REPO_ROOT, "container", entry), path.join(container, entry));
    }
    fs.writeFileSync(path.join(container, "job", "step.py"), STEP);
    const env = (vars: Record<string, string>) =>
      Object.entries(vars).map(([name, value]) => ({ name, value }));
    const files: Record<string, unknown> = {
      "grid.json": {
        // A sweep names its script in base; script.py is also the default.
        base: { script: "script.py", containerOverrides: { environment: env({ save_name: "g" }) } },
        grid: { var_a: [1, 3], var_b: [20] },
      },
      "step.json": {
        script: "step.py",
        resultsOf: ["grid"],
        containerOverrides: { environment: env({ metric: "product" }) },
      },
      "bad.json": {
        script: "nope.py",
        containerOverrides: { environment: env({ save_name: "x" }) },
      },
      "mixed.json": {
        script: "step.py",
        resultsOf: ["grid", "../logs"],
        containerOverrides: { environment: env({ var_a: "1" }) },
      },
    };
    for (const [name, value] of Object.entries(files)) {
      fs.writeFileSync(path.join(root, name), JSON.stringify(value, null, 2));
    }
  });
  after(function () {
    fs.rmSync(root, { recursive: true, force: true });
  });

  const submit = (...argv: string[]) =>
    runJobs(["submit", "--locally", "--local-root", "bucket", ...argv], {
      describe: "real",
      cwd: root,
      repoRoot: root,
    });

  it("runs the grid, then the step with the grid's results, each against its own script", async function () {
    const grid = await submit("grid.json");
    assert.strictEqual(grid.code, 0, grid.stderr);
    const step = await submit("step.json");
    assert.strictEqual(step.code, 0, step.stderr);
    const best = fs.readFileSync(path.join(root, "bucket", "results", "step", "best.json"), "utf8");
    assert.deepStrictEqual(JSON.parse(best), { set: 1, product: 60 });
  });

  it("refuses an unknown script, a variable the named script lacks and a bad name, sending nothing", async function () {
    const r = await submit("bad.json", "mixed.json");
    assert.strictEqual(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /bad\.json:2:\d+: script: "nope\.py" is not a file directly under container\/job\/, whose scripts are script\.py, step\.py/,
    );
    // Checked against step.py, whose only option is --metric, even in a file the schema refused.
    assert.match(r.stderr, /mixed\.json:.*"var_a" is not an option of container\/job\/step\.py/);
    assert.match(r.stderr, /mixed\.json:.*resultsOf\[1\]: job name "\.\.\/logs"/);
    assert.ok(!fs.existsSync(path.join(root, "bucket", "results", "bad")));
  });

  it("sends the fields as the entrypoint's variables, never as SubmitJob fields", function () {
    const { doc } = parseJsonDocument(
      "s.json",
      JSON.stringify({ script: "a.py", resultsOf: ["x", "y"] }),
    );
    const { job } = loadJob(doc!);
    const plan = buildPlan([job!], {
      array: true,
      outputs: { outputs: STACK_OUTPUTS, source: "o" },
    });
    const request = plan.submissions[0].request as Record<string, unknown>;
    assert.ok(!("script" in request) && !("resultsOf" in request));
    assert.deepStrictEqual(plan.submissions[0].request.containerOverrides?.environment, [
      { name: "BATCHPY_SCRIPT", value: "a.py" },
      { name: "BATCHPY_RESULTS_OF", value: "x,y" },
      { name: "BATCHPY_JOB_NAME", value: "s" },
    ]);
  });
});
