import * as assert from "assert";
import * as path from "path";
import * as fc from "fast-check";
import { formatProblem } from "../../jobs/errors";
import { parseJsonDocument } from "../../jobs/input/json-source";
import {
  combineBlocks,
  expandGrid,
  expandZip,
  isSweepValue,
  loadRowsSweep,
  loadSweep,
  parseRows,
  whichSets,
  type LoadedSweep,
  type ParameterSet,
} from "../../jobs/input/sweep";
import { MAX_ARG_BYTES } from "../../components/contract";
import { checkVariables } from "../../jobs/input/variables";
import { SCRIPT_DESCRIPTION, checkAgainst } from "../helpers/jobs-harness";

const CHECK = checkAgainst(SCRIPT_DESCRIPTION);

/** The problems of a sweep's variables, as formatted lines. */
async function variableProblems(sweep: LoadedSweep): Promise<string[]> {
  return (await checkVariables([sweep], SCRIPT_DESCRIPTION, CHECK)).problems.map(formatProblem);
}

const DIR = path.resolve("/virtual/jobs");

/**
 * Loads a sweep from in-memory files (`files` maps names relative to DIR to text) and checks
 * its variables as an array job, or with `array` false as one job per set.
 */
async function load(
  text: string,
  files: Record<string, string> = {},
  array = true,
): Promise<{ sweep?: LoadedSweep; problems: string[] }> {
  const parsed = parseJsonDocument("jobs/sweep.json", text);
  assert.ok(parsed.doc, parsed.problems.map(formatProblem).join("\n"));
  const r = loadSweep(
    parsed.doc,
    path.join(DIR, "sweep.json"),
    (abs) => files[path.relative(DIR, abs)],
  );
  const problems = r.problems.map(formatProblem);
  if (r.sweep !== undefined) {
    const checked = await checkVariables([r.sweep], SCRIPT_DESCRIPTION, CHECK, array);
    problems.push(...checked.problems.map(formatProblem));
  }
  return { ...(r.sweep !== undefined ? { sweep: r.sweep } : {}), problems };
}

/** A grid or zip block from an object literal. */
const block = (o: Record<string, (string | number)[]>) => new Map(Object.entries(o));

/** Sets as plain objects, to compare with literals. */
const plain = (sets: readonly ParameterSet[]): Record<string, string>[] =>
  sets.map((s) => Object.fromEntries(s));
const set = (o: Record<string, string>): ParameterSet => new Map(Object.entries(o));

const BASE = { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } };

describe("jobs/input/sweep: parameter grids, zipped lists and CSV/TSV rows", function () {
  it("a grid is every combination, the last key varying fastest", function () {
    assert.deepStrictEqual(plain(expandGrid(block({ a: [1, 2], b: ["x", "y", "z"] }))), [
      { a: "1", b: "x" },
      { a: "1", b: "y" },
      { a: "1", b: "z" },
      { a: "2", b: "x" },
      { a: "2", b: "y" },
      { a: "2", b: "z" },
    ]);
  });

  it("grid size is the product of the list lengths, and sets are distinct", function () {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.stringMatching(/^[a-z]{1,6}$/),
          fc.uniqueArray(fc.integer(), { minLength: 1, maxLength: 4 }),
          {
            minKeys: 1,
            maxKeys: 4,
          },
        ),
        (grid) => {
          const sets = expandGrid(block(grid));
          const product = Object.values(grid).reduce((n, v) => n * v.length, 1);
          assert.strictEqual(sets.length, product);
          assert.strictEqual(new Set(sets.map((s) => JSON.stringify([...s]))).size, product);
        },
      ),
    );
  });

  it("zip pairs by position; blocks combine as a product", function () {
    assert.deepStrictEqual(plain(expandZip(block({ seed: [1, 2], tag: ["a", "b"] }))), [
      { seed: "1", tag: "a" },
      { seed: "2", tag: "b" },
    ]);
    assert.deepStrictEqual(
      plain(combineBlocks([[set({ a: "1" }), set({ a: "2" })], [set({ b: "x" })]])),
      [
        { a: "1", b: "x" },
        { a: "2", b: "x" },
      ],
    );
  });

  it("recognises sweep files by their blocks", function () {
    assert.ok(isSweepValue({ grid: {} }));
    assert.ok(isSweepValue({ rows: "p.csv" }));
    assert.ok(!isSweepValue({ jobName: "x" }));
    assert.ok(!isSweepValue([]));
  });

  it("loads a full sweep: base, rows file, zip and grid", async function () {
    const { sweep, problems } = await load(
      JSON.stringify({
        jobName: "lr",
        base: BASE,
        rows: "params.tsv",
        zip: { var_b: [1, 2] },
        grid: { OMP_NUM_THREADS: [1, 4] },
      }),
      { "params.tsv": "var_a\tBATCHPY_INPUTS\n0.1\tdata/a.csv\n0.2\tdata/b.csv\n" },
      false,
    );
    assert.deepStrictEqual(problems, []);
    assert.strictEqual(sweep?.jobName, "lr");
    assert.strictEqual(sweep?.sets.length, 8);
    assert.deepStrictEqual(plain(sweep?.sets ?? [])[0], {
      var_a: "0.1",
      BATCHPY_INPUTS: "data/a.csv",
      var_b: "1",
      OMP_NUM_THREADS: "1",
    });
    assert.deepStrictEqual(plain(sweep?.sets ?? [])[7], {
      var_a: "0.2",
      BATCHPY_INPUTS: "data/b.csv",
      var_b: "2",
      OMP_NUM_THREADS: "4",
    });
    assert.deepStrictEqual(sweep?.consumedFiles, [path.join(DIR, "params.tsv")]);
  });

  it("takes the base from another job file", async function () {
    const { sweep, problems } = await load(
      JSON.stringify({ base: "sample_job_1.json", grid: { var_a: [1, 2] } }),
      {
        "sample_job_1.json": JSON.stringify({ jobName: "sample_job_1", ...BASE, tags: { t: "1" } }),
      },
    );
    assert.deepStrictEqual(problems, []);
    assert.strictEqual(sweep?.jobName, "sweep", "the sweep is named after its own file");
    assert.deepStrictEqual(sweep?.base.tags, { t: "1" });
  });

  it("reports sweep mistakes with their place", async function () {
    const text = JSON.stringify(
      {
        base: { jobName: "x", arrayProperties: { size: 3 }, containerOverides: {} },
        zip: { var_a: [1, 2], var_b: [1] },
        grid: { var_a: [1], var_c: [1] },
      },
      null,
      2,
    );
    const out = (await load(text)).problems.join("\n");
    assert.match(
      out,
      /jobs\/sweep\.json:3:5: base\.jobName: put jobName at the top level of the sweep file/,
    );
    assert.match(out, /base\.arrayProperties: a sweep sets arrayProperties itself/);
    assert.match(
      out,
      /base\.containerOverides: unknown field "containerOverides"; did you mean "containerOverrides"\?/,
    );
    assert.match(
      out,
      /zip: zip lists must have the same length \(var_a: 2, var_b: 1\); use "grid" for every combination/,
    );
    assert.match(out, /grid\.var_a: "var_a" is also set by another block of this sweep/);
  });

  it("checks set keys against the script's options and required options across sets", async function () {
    const out = (await load(JSON.stringify({ grid: { var_c: [1, 2] } }), {})).problems.join("\n");
    assert.match(
      out,
      /jobs\/sweep\.json:1:10: grid\.var_c: "var_c" is not an option of container\/job\/script\.py/,
    );
    assert.match(
      out,
      /^jobs\/sweep\.json:1:1: container\/job\/script\.py requires --save_name: set the variable "save_name" in the sweep or in base\.containerOverrides\.environment \(not set in any set\)$/m,
    );
    const rows = (
      await load(JSON.stringify({ rows: [{ var_a: 1, save_name: "a" }, { var_a: 2 }] }))
    ).problems.join("\n");
    assert.match(
      rows,
      /"save_name" in the sweep or in base\.containerOverrides\.environment \(not set in sets 1\)$/m,
    );
    const reserved = (
      await load(JSON.stringify({ base: BASE, grid: { AWS_BATCH_JOB_ID: [1, 2] } }))
    ).problems.join("\n");
    assert.match(reserved, /"AWS_BATCH_JOB_ID" is reserved/);
  });

  it("an array sweep's sets cannot carry BATCHPY_* settings; one job per set can", async function () {
    const text = JSON.stringify({ base: BASE, grid: { BATCHPY_INPUTS: ["a.csv", "b.csv"] } });
    assert.deepStrictEqual((await load(text)).problems, [
      'jobs/sweep.json:1:91: grid.BATCHPY_INPUTS: "BATCHPY_INPUTS" cannot vary per set of an array job: the entrypoint reads BATCHPY_* ' +
        "variables from the job's own environment, before a set applies, and refuses them in the manifest; " +
        "set it once in base.containerOverrides.environment, or pass --no-array to submit one job per set",
    ]);
    assert.deepStrictEqual((await load(text, {}, false)).problems, []);
  });

  it("holds every set to a single job's rules: NUL bytes, the kernel's size per argument, names", async function () {
    const big = "x".repeat(200_000);
    const out = (
      await load(JSON.stringify({ base: BASE, rows: "p.csv" }), {
        "p.csv": `var_a,var_b\n1,2\n"a\u0000b",${big}\n`,
      })
    ).problems;
    assert.deepStrictEqual(
      out.map((p) => p.slice(0, 150)),
      [
        'jobs/p.csv:1:1: set 1: the value of "var_a" contains a NUL byte (at character 2), which no environment variable or argument can hold; remove it',
        'jobs/p.csv:1:7: set 1: the value of "var_b" is 200,000 bytes; Linux passes at most 131,071 bytes per environment variable or argument ("--var_b=<value>" in'.slice(
          0,
          150,
        ),
      ],
    );
    // Just under the limit with "--var_b=" counted: accepted.
    const fits = "y".repeat(MAX_ARG_BYTES - 1 - "--var_b=".length);
    assert.deepStrictEqual(
      (await load(JSON.stringify({ base: BASE, grid: { var_b: [fits, "1"] } }))).problems,
      [],
    );
    assert.match(
      (
        await load(JSON.stringify({ base: BASE, grid: { var_b: [`${fits}y`, "1"] } }))
      ).problems.join("\n"),
      /set 0: the value of "var_b" is 131,064 bytes/,
    );
    assert.match(
      (await load(JSON.stringify({ base: BASE, grid: { "a=b": [1, 2] } }))).problems.join("\n"),
      /grid\["a=b"\]: the name "a=b" contains "=", which ends a variable's name/,
    );
  });

  it("refuses a job definition and ECS, EKS or node overrides in a sweep's base", async function () {
    const out = (
      await load(
        JSON.stringify({
          base: { ...BASE, jobDefinition: "ecs-def:1", ecsPropertiesOverride: {} },
          grid: { var_a: [1, 2] },
        }),
      )
    ).problems;
    const rule =
      ", but every job runs the stack's single-container job definition (stack output " +
      "jobDefinitionArn); remove";
    assert.deepStrictEqual(out, [
      `jobs/sweep.json:1:82: base.jobDefinition: "jobDefinition" names a job definition of the file's own${rule} "jobDefinition" and put the job's settings in containerOverrides`,
      `jobs/sweep.json:1:110: base.ecsPropertiesOverride: "ecsPropertiesOverride" is for job definitions with ecsProperties${rule} "ecsPropertiesOverride" and put the job's settings in containerOverrides`,
    ]);
  });

  it("refuses a missing rows file and a rows file that is not CSV/TSV", async function () {
    assert.match(
      (await load(JSON.stringify({ base: BASE, rows: "nope.csv" }))).problems[0],
      /rows: file "nope\.csv" not found/,
    );
    assert.match(
      (await load(JSON.stringify({ base: BASE, rows: "x.txt" }), { "x.txt": "a" })).problems[0],
      /must be a \.csv or \.tsv file/,
    );
  });

  it("stops a grid that would expand absurdly before building it", async function () {
    const big = Array.from({ length: 1000 }, (_, i) => i);
    const out = (
      await load(JSON.stringify({ base: BASE, grid: { var_a: big, var_b: [...big, 1000] } }))
    ).problems.join("\n");
    assert.match(
      out,
      /expands to 1,001,000 parameter sets; the limit per file is 1,000,000; split it/,
    );
  });

  describe("CSV and TSV rows", function () {
    it("parses quoted fields and keeps values as strings", function () {
      const r = parseRows("p.csv", 'var_a,save_name\n1,"a, b"\n2,"say ""hi"""\n');
      assert.deepStrictEqual(r.problems, []);
      assert.deepStrictEqual(plain(r.sets), [
        { var_a: "1", save_name: "a, b" },
        { var_a: "2", save_name: 'say "hi"' },
      ]);
    });
    it("reports ragged rows with their line, and bad headers with their column", function () {
      assert.match(
        formatProblem(parseRows("p.csv", "a,b\n1,2\n3\n").problems[0]),
        /^p\.csv:3: invalid CSV: .*line 3/,
      );
      assert.deepStrictEqual(parseRows("p.csv", "a,a\n1,2\n").problems.map(formatProblem), [
        'p.csv:1:3: header "a" appears twice; rename one',
      ]);
      assert.deepStrictEqual(parseRows("p.csv", "a,,b\n1,2,3\n").problems.map(formatProblem), [
        "p.csv:1:3: header column 2 is empty; name it",
      ]);
      assert.match(
        formatProblem(parseRows("p.csv", "a,b\n").problems[0]),
        /no rows under the header/,
      );
    });
    it("a bare CSV file is a sweep named after the file", function () {
      const r = loadRowsSweep("jobs/lr_grid.csv", "var_a,save_name\n1,a\n");
      assert.strictEqual(r.sweep?.jobName, "lr_grid");
      assert.deepStrictEqual(plain(r.sweep?.sets ?? []), [{ var_a: "1", save_name: "a" }]);
      const bad = loadRowsSweep("jobs/lr grid.csv", "var_a\n1\n");
      assert.match(formatProblem(bad.problems[0]), /\(taken from the file name\); rename the file/);
    });
    it("flags the header of a misspelt column", async function () {
      const r = loadRowsSweep("p.tsv", "save_name\tvar_c\na\t1\n");
      const problems = await variableProblems(r.sweep!);
      assert.deepStrictEqual(problems, [
        'p.tsv:1:11: "var_c" is not an option of container/job/script.py (declared: var_a, var_b, save_name); fix the name or add the option to the script',
      ]);
    });
  });
  describe("problems across many sets", function () {
    it("shows the first 10 value problems and counts the rest", async function () {
      const rows = Array.from({ length: 12 }, (_, i) => `a\0${i},r`).join("\n");
      const r = loadRowsSweep("p.csv", `var_a,save_name\n${rows}\n`);
      const problems = await variableProblems(r.sweep!);
      assert.strictEqual(problems.length, 11);
      assert.match(problems[0], /^p\.csv:1:1: set 0: the value of "var_a" contains a NUL byte/);
      assert.match(problems[9], /^p\.csv:1:1: set 9: /);
      assert.strictEqual(problems[10], "p.csv:1:1: ... and 2 more problems in other sets");
    });
    it("names the sets that lack a required option: all of them, or the first five", function () {
      assert.strictEqual(whichSets([0, 1, 2], 3), "any set");
      assert.strictEqual(whichSets([1, 2], 3), "sets 1, 2");
      assert.strictEqual(whichSets([0, 2, 4, 6, 8, 10, 12], 20), "sets 0, 2, 4, 6, 8 and 2 more");
    });
  });
});
