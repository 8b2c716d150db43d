/**
 * Values against the script's own argparse types and choices, before anything is
 * submitted: the real entrypoint checks them (`run_job.py --check-values`), the tool
 * reports each with its file, line and column and the option's type.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { collectPairs, typedProblems } from "../../jobs/input/value-types";
import { checkValuesWithPython } from "../../jobs/input/value-types";
import { REPO_ROOT, runJobs, tempDir } from "../helpers/jobs-harness";

describe("jobs: values checked with the script's argparse types", function () {
  let dir: string;
  beforeEach(function () {
    dir = tempDir("types");
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function write(name: string, text: string): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  }

  it("refuses var_a=six for an int option, located, naming the type, and submits nothing", async function () {
    const job = write(
      "six.json",
      JSON.stringify(
        {
          jobName: "six",
          containerOverrides: {
            environment: [
              { name: "var_a", value: "six" },
              { name: "save_name", value: "s" },
            ],
          },
        },
        null,
        2,
      ),
    );
    const root = path.join(dir, "bucket");
    const run = await runJobs(["submit", "--local", "--local-root", root, job], {
      describe: "real",
    });
    assert.strictEqual(run.code, 2, run.stderr);
    assert.match(
      run.stderr,
      /six\.json:7:18: containerOverrides\.environment\[0\]\.value: "six" is not a valid int for --var_a \(type=int\)/,
    );
    assert.ok(!fs.existsSync(root), "nothing ran");
  });

  it("checks every set of a sweep, and skips a FileType option with a note", async function () {
    const script = write(
      "typed.py",
      [
        "import argparse",
        "p = argparse.ArgumentParser()",
        "p.add_argument('--lr', type=float)",
        "p.add_argument('--mode', choices=['fast', 'slow'])",
        "p.add_argument('--log', type=argparse.FileType('w'))",
        "p.parse_args()",
        "",
      ].join("\n"),
    );
    const sweep = write(
      "sweep.json",
      JSON.stringify({
        jobName: "s",
        grid: { lr: ["0.1", "1e-3", "ten"], mode: ["fast", "quick"] },
        base: { containerOverrides: { environment: [{ name: "log", value: "/etc/x" }] } },
      }),
    );
    const run = await runJobs(
      ["submit", "--local", "--local-root", path.join(dir, "bucket"), "--script", script, sweep],
      {
        describe: "real",
      },
    );
    assert.strictEqual(run.code, 2, run.stderr);
    assert.match(
      run.stderr,
      /sweep\.json:\d+:\d+: .*set \d: "ten" is not a valid float for --lr \(type=float\)/,
    );
    assert.match(
      run.stderr,
      /"quick" is not one of the choices of --mode \(type=str\): 'fast', 'slow'/,
    );
    assert.match(
      run.stderr,
      /values of "log" were not checked before submission: type=FileType\('w'\)/,
    );
    assert.ok(!fs.existsSync(path.join(dir, "bucket")), "nothing ran");
  });

  it("sends each distinct value once: 10,000 sets of one option are at most 10,000 pairs", async function () {
    const sets = Array.from({ length: 10_000 }, (_, i) => new Map([["var_a", String(i % 100)]]));
    const collected = collectPairs(
      [
        {
          kind: "sweep",
          file: "big.json",
          jobName: "big",
          base: {},
          basePrefix: [],
          sets,
          consumedFiles: [],
          keySources: new Map(),
        },
      ],
      {
        script: "script.py",
        options: [
          {
            env: "var_a",
            aliases: [],
            flag: "--var_a",
            kind: "value",
            required: false,
            type: "int",
          },
        ],
        groups: [],
        flagValues: { true: ["true"], false: ["false"] },
      },
    );
    assert.strictEqual(collected.pairs.length, 100);
    const checks = await checkValuesWithPython(REPO_ROOT, undefined, collected.pairs);
    assert.deepStrictEqual(typedProblems(collected, checks).problems, []);
  });
});
