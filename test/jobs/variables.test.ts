/**
 * Values against the script's own argparse types and choices, before anything is
 * submitted: the real entrypoint checks them (`run_job.py --check-values`), the tool
 * reports each with its file, line and column and the option's type.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { checkVariables, probeScript, type CheckRequest } from "../../jobs/input/variables";
import {
  REPO_ROOT,
  STACK_OUTPUTS,
  runJobs,
  spawnJobs,
  tempDir,
  writeOutputs,
} from "../helpers/jobs-harness";
import { explain, runEntrypoint } from "../helpers/python";

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
    const run = await runJobs(["submit", "--locally", "--local-root", root, job], {
      describe: "real",
    });
    assert.strictEqual(run.code, 2, run.stderr);
    assert.match(
      run.stderr,
      /six\.json:7:18: containerOverrides\.environment\[0\]\.value: "six" is not a valid int for --var_a \(type=int\)/,
    );
    assert.ok(!fs.existsSync(root), "nothing ran");
  });

  it("checks a sweep's set that sets no variable: its required option is missing there too", async function () {
    const rows = [{ var_a: "1", save_name: "a" }, {}];
    write("rows.json", JSON.stringify({ jobName: "rw", rows }));
    const run = await runJobs(["submit", "--dry-run", "rows.json"], { describe: "real", cwd: dir });
    assert.strictEqual(run.code, 2, run.stderr);
    assert.strictEqual(run.stdout, "", "no request printed");
    assert.deepStrictEqual(run.stderr.split("\n"), [
      'error: rows.json:1:1: container/job/script.py requires --save_name: set the variable "save_name" in the sweep or in base.containerOverrides.environment (not set in sets 1)',
      "1 problem(s) found; nothing was submitted or changed",
      "",
    ]);
  });

  it("places a bad value of a rows sweep at its own row, with rows crossed with a grid too", async function () {
    const rows = [
      { var_a: "1", save_name: "a" },
      { var_a: "two", save_name: "b" },
    ];
    const sweep = { jobName: "rg", rows, grid: { var_b: ["1", "2", "3"] } };
    write("rows.json", JSON.stringify(sweep, null, 2));
    const run = await runJobs(["submit", "--dry-run", "rows.json"], { describe: "real", cwd: dir });
    assert.strictEqual(run.code, 2, run.stderr);
    // Rows are outermost: sets 3-5 are row 1 with each var_b.
    assert.deepStrictEqual(run.stderr.split("\n").slice(0, 3), [
      'error: rows.json:9:7: rows[1].var_a: set 3: "two" is not a valid int for --var_a (type=int)',
      'error: rows.json:9:7: rows[1].var_a: set 4: "two" is not a valid int for --var_a (type=int)',
      'error: rows.json:9:7: rows[1].var_a: set 5: "two" is not a valid int for --var_a (type=int)',
    ]);
  });

  it("refuses a value the run's own mapping to argv would refuse: item counts, option-like and @file items", async function () {
    const script = write(
      "lists.py",
      [
        "import argparse",
        "p = argparse.ArgumentParser(fromfile_prefix_chars='@')",
        "p.add_argument('--pair', nargs=2)",
        "p.add_argument('--names', nargs='+')",
        "p.add_argument('--files', nargs='*')",
        "p.parse_args()",
        "",
      ].join("\n"),
    );
    const environment = [
      { name: "pair", value: "a" },
      { name: "names", value: "a,-b" },
      { name: "files", value: "@list.txt" },
    ];
    write("lists.json", JSON.stringify({ jobName: "lists", containerOverrides: { environment } }));
    const run = await runJobs(["submit", "--dry-run", "--script-file", script, "lists.json"], {
      describe: "real",
      cwd: dir,
    });
    assert.strictEqual(run.code, 2, run.stderr);
    assert.strictEqual(run.stdout, "", "no request printed");
    const at = (i: number, column: number) =>
      `error: lists.json:1:${column}: containerOverrides.environment[${i}].value: variable `;
    assert.deepStrictEqual(run.stderr.split("\n"), [
      `${at(0, 80)}"pair" has 1 item(s) but --pair takes exactly 2: separate items with ","`,
      `${at(1, 109)}"names" has the item "-b", which argparse would read as an option after --names: list items cannot start with "-" (a single-value option can take it)`,
      `${at(2, 141)}"files" has the item "@list.txt", which argparse would read as a file of arguments ("@" is a fromfile_prefix_char)`,
      "3 problem(s) found; nothing was submitted or changed",
      "",
    ]);
  });

  it("refuses an @file or custom-prefix item against a saved description (--script-options) as the probe does", async function () {
    const script = write(
      "files.py",
      [
        "import argparse",
        "p = argparse.ArgumentParser(fromfile_prefix_chars='@', prefix_chars='-+')",
        "p.add_argument('--files', nargs='*')",
        "p.add_argument('--names', nargs='+')",
        "p.parse_args()",
        "",
      ].join("\n"),
    );
    const describe = await runEntrypoint({}, ["--describe", "--script", script]);
    assert.strictEqual(describe.code, 0, explain(describe));
    write("saved.json", describe.stdout);
    const environment = [
      { name: "files", value: "@list.txt" },
      { name: "names", value: "a,+b" },
    ];
    write("files.json", JSON.stringify({ jobName: "files", containerOverrides: { environment } }));
    const run = await runJobs(
      ["submit", "--dry-run", "--script-options", "saved.json", "files.json"],
      { cwd: dir },
    );
    assert.strictEqual(run.code, 2, run.stderr);
    assert.strictEqual(run.stdout, "", "no request printed");
    const at = (i: number, column: number) =>
      `error: files.json:1:${column}: containerOverrides.environment[${i}].value: variable `;
    assert.deepStrictEqual(run.stderr.split("\n"), [
      `${at(0, 81)}"files" has the item "@list.txt", which argparse would read as a file of arguments ("@" is a fromfile_prefix_char)`,
      `${at(1, 118)}"names" has the item "+b", which argparse would read as an option after --names: list items cannot start with "+" (a single-value option can take it)`,
      "2 problem(s) found; nothing was submitted or changed",
      "",
    ]);
  });

  it("refuses an empty variable name once, in the entrypoint's words", async function () {
    const job = write(
      "empty.json",
      JSON.stringify({
        jobName: "empty",
        containerOverrides: {
          environment: [
            { name: "", value: "1" },
            { name: "save_name", value: "s" },
          ],
        },
      }),
    );
    const run = await runJobs(["submit", "--dry-run", job], { describe: "real" });
    assert.strictEqual(run.code, 2, run.stderr);
    const errors = run.stderr.split("\n").filter((line) => line.startsWith("error:"));
    assert.deepStrictEqual(errors.length, 1, run.stderr);
    assert.match(errors[0], /environment\[0\]\.name: a variable's name cannot be empty; name it/);
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
      [
        "submit",
        "--locally",
        "--local-root",
        path.join(dir, "bucket"),
        "--script-file",
        script,
        sweep,
      ],
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

  describe("one run reports every problem", function () {
    const misspelt = {
      jobName: "misspelt",
      containerOverrides: {
        environment: [
          { name: "var_a", value: "six" },
          { name: "save_nam", value: "x" },
        ],
      },
    };

    for (const mode of [["--locally", "--local-root", "bucket"], ["--dry-run"], []]) {
      it(`a misspelt name and var_a=six are both reported (${mode.join(" ") || "submit"})`, async function () {
        write("misspelt.json", JSON.stringify(misspelt, null, 2));
        const run = await runJobs(["submit", ...mode, "misspelt.json"], {
          describe: "real",
          cwd: dir,
        });
        assert.strictEqual(run.code, 2, run.stderr);
        assert.deepStrictEqual(run.stderr.split("\n"), [
          'error: misspelt.json:4:20: containerOverrides.environment: container/job/script.py requires --save_name: set the variable "save_name"',
          'error: misspelt.json:7:18: containerOverrides.environment[0].value: "six" is not a valid int for --var_a (type=int)',
          'error: misspelt.json:10:17: containerOverrides.environment[1].name: "save_nam" is not an option of container/job/script.py (declared: var_a, var_b, save_name); fix the name or add the option to the script',
          "3 problem(s) found; nothing was submitted or changed",
          "",
        ]);
        assert.deepStrictEqual(fs.readdirSync(dir), ["misspelt.json"], "nothing written");
      });
    }

    it("prints what docs/jobs.md shows for a job file with a bad value and a misspelt name", async function () {
      const docs = fs.readFileSync(path.join(REPO_ROOT, "docs", "jobs.md"), "utf8");
      const shown = /One run reports every problem[^`]*```\n([^`]*)```/.exec(docs)?.[1];
      fs.mkdirSync(path.join(dir, "jobs"));
      write(
        "jobs/typo.json",
        [
          "{",
          '  "jobName": "typo",',
          '  "containerOverrides": {',
          '    "environment": [',
          '      { "name": "var_a", "value": "six" },',
          '      { "name": "var_c", "value": "7" },',
          '      { "name": "save_name", "value": "typo" }',
          "    ]",
          "  }",
          "}",
          "",
        ].join("\n"),
      );
      const run = await runJobs(["submit", "--dry-run", "jobs/typo.json"], {
        describe: "real",
        cwd: dir,
      });
      assert.strictEqual(run.code, 2, run.stderr);
      assert.strictEqual(run.stderr, shown);
    });

    it("names, missing options and values of every file, a sweep and a file that fails the schema among them", async function () {
      write("misspelt.json", JSON.stringify(misspelt, null, 2));
      write(
        "sweep.json",
        JSON.stringify({ jobName: "sw", grid: { var_a: ["1", "two"], var_bb: ["x"] } }, null, 2),
      );
      write("rows.csv", "var_a,save_name\n1,a\nthree,b\n");
      write(
        "schema.json",
        JSON.stringify(
          {
            containerOverrides: {
              vcpus: "2",
              environment: [
                { name: "var_a", value: "4.5" },
                { name: "save_name", value: "s" },
              ],
            },
          },
          null,
          2,
        ),
      );
      const run = await runJobs(["submit", "--locally", "--local-root", "bucket", "."], {
        describe: "real",
        cwd: dir,
      });
      assert.strictEqual(run.code, 2, run.stderr);
      assert.deepStrictEqual(run.stderr.split("\n"), [
        'error: misspelt.json:4:20: containerOverrides.environment: container/job/script.py requires --save_name: set the variable "save_name"',
        'error: misspelt.json:7:18: containerOverrides.environment[0].value: "six" is not a valid int for --var_a (type=int)',
        'error: misspelt.json:10:17: containerOverrides.environment[1].name: "save_nam" is not an option of container/job/script.py (declared: var_a, var_b, save_name); fix the name or add the option to the script',
        'error: rows.csv:1:1: set 1: "three" is not a valid int for --var_a (type=int)',
        'error: schema.json:3:14: containerOverrides.vcpus: expected number, got the string "2"; write it without quotes: 2',
        'error: schema.json:7:18: containerOverrides.environment[0].value: "4.5" is not a valid int for --var_a (type=int)',
        'error: sweep.json:1:1: container/job/script.py requires --save_name: set the variable "save_name" in the sweep or in base.containerOverrides.environment (not set in any set)',
        'error: sweep.json:4:5: grid.var_a: set 1: "two" is not a valid int for --var_a (type=int)',
        'error: sweep.json:8:5: grid.var_bb: "var_bb" is not an option of container/job/script.py (declared: var_a, var_b, save_name); fix the name or add the option to the script',
        "9 problem(s) found; nothing was submitted or changed",
        "",
      ]);
      assert.ok(!fs.existsSync(path.join(dir, "bucket")), "nothing ran");
    });
  });

  it("asks once per distinct value and once per distinct set of option names: 10,000 sets, 101 pairs, 1 set", async function () {
    const sets = Array.from(
      { length: 10_000 },
      (_, i) =>
        new Map([
          ["var_a", String(i % 100)],
          ["save_name", "s"],
        ]),
    );
    let asked: CheckRequest | undefined;
    const checked = await checkVariables(
      [
        {
          kind: "sweep",
          file: "big.json",
          jobName: "big",
          base: {},
          sets,
          consumedFiles: [],
          keySources: new Map(),
          problemAt: (message) => ({ message }),
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
          { env: "save_name", aliases: [], flag: "--save_name", kind: "value", required: true },
        ],
        groups: [],
      },
      (request) => {
        asked = request;
        return probeScript(REPO_ROOT, undefined).check(request);
      },
    );
    assert.strictEqual(asked?.values.length, 101);
    assert.strictEqual(asked?.sets.length, 1);
    assert.deepStrictEqual(checked.problems, []);
  });

  it("a submit process checks against the --script-file as it is now: an option just added, its type", async function () {
    this.timeout(120_000);
    const scriptDir = path.join(dir, "script");
    fs.mkdirSync(scriptDir);
    const script = path.join(scriptDir, "script.py");
    const original = fs.readFileSync(path.join(REPO_ROOT, "container/job/script.py"), "utf8");
    fs.writeFileSync(script, original);
    const outputs = writeOutputs(dir, STACK_OUTPUTS);
    const job = (varC: string) =>
      fs.writeFileSync(
        path.join(dir, "job.json"),
        JSON.stringify({
          jobName: "edited",
          containerOverrides: {
            environment: [
              { name: "save_name", value: "r" },
              { name: "var_c", value: varC },
            ],
          },
        }),
      );
    const submit = () =>
      spawnJobs(
        ["submit", "job.json", "--dry-run", "--outputs", outputs, "--script-file", script],
        {},
        dir,
      ).done;

    job("7");
    const before = await submit();
    assert.strictEqual(before.code, 2, before.stderr);
    assert.match(before.stderr, /"var_c" is not an option of .*script\.py/);

    fs.writeFileSync(
      script,
      original.replace(
        '    parser.add_argument("--var_b"',
        '    parser.add_argument("--var_c", type=int, default=0)\n    parser.add_argument("--var_b"',
      ),
    );
    const after = await submit();
    assert.strictEqual(after.code, 0, after.stderr);

    job("seven");
    const typed = await submit();
    assert.strictEqual(typed.code, 2, typed.stderr);
    assert.match(typed.stderr, /"seven" is not a valid int for --var_c/);
  });
});
