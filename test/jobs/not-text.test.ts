/**
 * Strings that are not text: JSON can write half of a UTF-16 surrogate pair (`"a\ud800b"`),
 * which no process argument, variable or log can carry. Every key and string of a job or
 * sweep file is checked where the file is read, located, before anything runs.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { formatProblem } from "../../jobs/errors";
import { parseJsonDocument } from "../../jobs/input/json-source";
import { runJobs, tempDir } from "../helpers/jobs-harness";

const HALF =
  "half of a UTF-16 surrogate pair, which is not a character and cannot be encoded as UTF-8; " +
  "remove it, or write the whole pair (such as \\ud83d\\ude00)";

describe("jobs/input/json-source: strings that are not text", function () {
  it("locates every lone surrogate, in keys and values at any depth, with file, line and column", function () {
    const text = [
      "{",
      '  "jobName": "j\\udfff",',
      '  "tags": { "k\\ud800": "v", "ok": "\\ude00\\ud83d" },',
      '  "containerOverrides": { "environment": [{ "name": "var_a", "value": "a\\ud800b" }] }',
      "}",
    ].join("\n");
    const parsed = parseJsonDocument("x.json", text);
    assert.ok(parsed.doc !== undefined, "still parsed, so the file's other problems show too");
    assert.deepStrictEqual(parsed.problems.map(formatProblem), [
      `x.json:2:14: jobName: the value "j\\udfff" holds \\udfff, ${HALF}`,
      `x.json:3:13: tags["k\\ud800"]: the key "k\\ud800" holds \\ud800, ${HALF}`,
      `x.json:3:35: tags.ok: the value "\\ude00\\ud83d" holds \\ude00, ${HALF}`,
      `x.json:4:71: containerOverrides.environment[0].value: the value "a\\ud800b" holds \\ud800, ${HALF}`,
    ]);
  });

  it("passes whole pairs, an escaped backslash before u, and text without escapes", function () {
    for (const value of ["\\ud83d\\ude00", "\\\\ud800", "😀", "\\u00e9t\\u00e9", "\\uFFFD"]) {
      const parsed = parseJsonDocument("x.json", `{"v": "${value}"}`);
      assert.deepStrictEqual(parsed.problems, [], value);
    }
  });
});

describe("jobs:submit: a lone surrogate is refused before anything runs", function () {
  let dir: string;
  beforeEach(function () {
    dir = tempDir("not-text");
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a job value, a sweep's value and name, with every other problem, and runs nothing", async function () {
    fs.writeFileSync(
      path.join(dir, "job.json"),
      [
        "{",
        '  "jobName": "j\\ud800",',
        '  "containerOverrides": {',
        '    "environment": [',
        '      { "name": "var_a", "value": "six" },',
        '      { "name": "save_name", "value": "a\\ud800b" }',
        "    ]",
        "  }",
        "}",
        "",
      ].join("\n"),
    );
    fs.writeFileSync(
      path.join(dir, "sweep.json"),
      ["{", '  "grid": { "var_a": ["1", "x\\udc00"], "save_name": ["s"] }', "}", ""].join("\n"),
    );
    const run = await runJobs(["submit", "--locally", "--local-root", "bucket", "."], {
      describe: "real",
      cwd: dir,
    });
    assert.strictEqual(run.code, 2, run.stderr);
    // Two messages of other checks quote the name itself: only their start is held here,
    // however the printer shows the half pair.
    const expected = [
      `error: job.json:2:14: jobName: the value "j\\ud800" holds \\ud800, ${HALF}`,
      /^error: job\.json:2:14: jobName: job name "j.+" may contain only letters, digits, "-" and "_"/,
      'error: job.json:5:35: containerOverrides.environment[0].value: "six" is not a valid int for --var_a (type=int)',
      `error: job.json:6:39: containerOverrides.environment[1].value: the value "a\\ud800b" holds \\ud800, ${HALF}`,
      /^error: sweep\.json:2:13: grid\.var_a: set 1: "x.+" is not a valid int for --var_a \(type=int\)$/,
      `error: sweep.json:2:28: grid.var_a[1]: the value "x\\udc00" holds \\udc00, ${HALF}`,
      "6 problem(s) found; nothing was submitted or changed",
      "",
    ];
    const lines = run.stderr.split("\n");
    assert.strictEqual(lines.length, expected.length, run.stderr);
    expected.forEach((e, i) =>
      typeof e === "string" ? assert.strictEqual(lines[i], e) : assert.match(lines[i], e),
    );
    assert.doesNotMatch(run.stderr, /Traceback|internal error/);
    assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["job.json", "sweep.json"], "nothing ran");
  });
});
