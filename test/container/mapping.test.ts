/**
 * How run_job turns environment variables into the script's argv, checked by parsing the
 * argv with the script's own argparse parser (test/container/fixtures/echo_args.py).
 */
import * as assert from "assert";
import fc from "fast-check";
import * as path from "path";
import { ECHO_ARGS, FIXTURES, errorLine, harness, mapEcho, stopHarness } from "./harness";

/** The values the tutorial's unquoted `${arg_list}` splits, globs or mangles. */
const HARD_VALUES: Record<string, string> = {
  spaces: "two  words ",
  quotes: `it's "quoted"`,
  dollar: "$HOME ${PATH} $(id)",
  glob: "*.p ?",
  equals: "a=b==c=",
  newline: "line one\nline two\n",
  "leading dash": "-x",
  "leading double dash": "--text",
  "non-ASCII": "naïve 日本語 🚀",
  empty: "",
  backslash: "C:\\temp\\",
  "shell syntax": "; rm -rf / && echo `x` | cat > y",
};

// Every harness() call of this file goes to one python3 process; it ends with the file.
after(stopHarness);

describe("container: environment variables to argv", function () {
  it("passes every hard value as one argv element, byte for byte", async function () {
    const names = Object.keys(HARD_VALUES);
    const results = await mapEcho(names.map((n) => ({ text: HARD_VALUES[n], s: HARD_VALUES[n] })));
    results.forEach((result, i) => {
      const value = HARD_VALUES[names[i]];
      assert.deepStrictEqual(result.error, undefined, names[i]);
      assert.strictEqual(result.args?.text, value, `${names[i]}: --text`);
      assert.strictEqual(result.args?.short, value, `${names[i]}: short option -s`);
      assert.ok(
        result.argv?.includes(`--text=${value}`),
        `${names[i]}: ${JSON.stringify(result.argv)}`,
      );
    });
  });

  it("round-trips any string through value options and repeated (append) options", async function () {
    // Strings biased to the characters argparse and shells treat specially, and arbitrary
    // code points (lone surrogates included): one python process per batch of 60.
    const special = fc.constantFrom(
      "-",
      "--",
      "=",
      " ",
      "$",
      "*",
      "\n",
      "'",
      '"',
      ",",
      "[",
      "@",
      "é",
      "a",
    );
    const value = fc.oneof(
      fc.string({ unit: special, maxLength: 12 }),
      fc.string({ unit: "binary", maxLength: 20 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(value, { minLength: 60, maxLength: 60 }), async (values) => {
        const results = await mapEcho(
          values.map((v) => ({ text: v, "out-name": v, tag: JSON.stringify([v, "x"]) })),
        );
        results.forEach((result, i) => {
          if (values[i] === "--" && result.error !== undefined) {
            // Python < 3.12 argparse drops an attached "--"; run_job refuses it up front.
            errorLine(result, 'holds the value "--"');
            return;
          }
          assert.deepStrictEqual(result.args?.text, values[i]);
          assert.deepStrictEqual(result.args?.out_name, values[i]);
          assert.deepStrictEqual(result.args?.tag, [values[i], "x"]);
        });
      }),
      { numRuns: 6 },
    );
  });

  it("maps true/1/yes to a present flag and false/0/no to an absent one, in any case", async function () {
    const words = ["true", "1", "yes", "TRUE", " Yes ", "false", "0", "no", "False", "NO"];
    const results = await mapEcho(words.map((w) => ({ verbose: w, no_cache: w, color: w })));
    results.forEach((result, i) => {
      const on = ["true", "1", "yes"].includes(words[i].trim().toLowerCase());
      assert.strictEqual(result.args?.verbose, on, `verbose=${JSON.stringify(words[i])}`);
      // store_false: the variable says whether --no_cache is on the command line.
      assert.strictEqual(result.args?.cache, !on, `no_cache=${words[i]}`);
      // BooleanOptionalAction: false passes --no-color rather than leaving the default.
      assert.strictEqual(result.args?.color, on, `color=${words[i]}`);
      assert.ok(!result.argv?.some((a) => a.startsWith("--verbose=")), "a flag never takes =value");
    });
  });

  it("refuses any other flag value, naming the variable and the accepted words", async function () {
    const [result] = await mapEcho([{ verbose: "on" }]);
    const line = errorLine(result, '"verbose"');
    assert.match(
      line,
      /"on" is not a flag value: use one of true, 1, yes \(option on\) or false, 0, no \(option off\)/,
    );
    assert.strictEqual(result.code, 2);
  });

  it("repeats a count option the given number of times", async function () {
    const results = await mapEcho([
      { loud: "3" },
      { loud: "true" },
      { loud: "0" },
      { loud: "many" },
    ]);
    assert.deepStrictEqual(
      results.slice(0, 3).map((r) => r.args?.loud),
      [3, 1, 0],
    );
    errorLine(results[3], "must be a count");
  });

  it("splits list options on commas, keeping items exactly (no trimming)", async function () {
    const results = await mapEcho([
      { items: "a,b,c" },
      { items: "a, b ," },
      { items: JSON.stringify(["a,b", "c d", "x"]) },
      { pair: "3,-4" },
      { maybe: "" },
      { tag: "-a,--b,c=d" },
    ]);
    assert.deepStrictEqual(results[0].args?.items, ["a", "b", "c"]);
    assert.deepStrictEqual(results[1].args?.items, ["a", " b ", ""]);
    assert.deepStrictEqual(results[2].args?.items, ["a,b", "c d", "x"]);
    assert.deepStrictEqual(results[3].args?.pair, [3, -4], "negative numbers are list items");
    assert.deepStrictEqual(results[4].args?.maybe, [], "an empty value is an empty list");
    // action="append" passes --tag=item per item, so items may start with "-".
    assert.deepStrictEqual(results[5].args?.tag, ["-a", "--b", "c=d"]);
  });

  it("refuses lists argparse would misread, before the script runs", async function () {
    const results = await mapEcho([
      { pair: "1" },
      { items: "" },
      { items: "a,-b" },
      { items: "[not json" },
      { items: "[1.5]" },
    ]);
    errorLine(results[0], "has 1 item(s) but --pair takes exactly 2");
    errorLine(results[1], "needs at least one item");
    errorLine(results[2], `has the item "-b", which argparse would read as an option`);
    errorLine(results[3], "is not a JSON array");
    errorLine(results[4], "must be a JSON array of strings or integers");
    results.forEach((r) => assert.strictEqual(r.code, 2));
  });

  it("fails when a required option has no variable, naming the option and the variable", async function () {
    const [result] = await harness([{ op: "map", script: ECHO_ARGS, env: { text: "x" } }]);
    const line = errorLine(result, "--must");
    assert.match(line, /requires --must: set the variable "must"/);
    assert.strictEqual(result.argv, undefined, "no argv: the script must not run");
  });

  it("never maps -h/--help and ignores variables the script does not declare", async function () {
    const [result] = await mapEcho([
      { h: "1", help: "true", version: "1", var_zzz: "1", HOME: "/root", TEXT: "upper" },
    ]);
    assert.deepStrictEqual(result.argv, ["--must=m"]);
  });

  it("accepts the dest as the variable name, and refuses two names with different values", async function () {
    const results = await mapEcho([
      { out_name: "by dest" },
      { "out-name": "a", out_name: "a" },
      { "out-name": "a", out_name: "b" },
    ]);
    assert.strictEqual(results[0].args?.out_name, "by dest");
    assert.strictEqual(results[1].args?.out_name, "a");
    errorLine(results[2], `variables "out-name" and "out_name" both set --out-name`);
  });

  it("describes every option with its variable, flag, kind and requirement", async function () {
    const [desc] = await harness([{ op: "describe", script: ECHO_ARGS }]);
    const options = desc.options as {
      env: string;
      flag: string;
      kind: string;
      required: boolean;
    }[];
    assert.deepStrictEqual(
      options.map((o) => [o.env, o.flag, o.kind, o.required]),
      [
        ["text", "--text", "value", false],
        ["num", "--num", "value", false],
        ["out-name", "--out-name", "value", false],
        ["verbose", "--verbose", "flag", false],
        ["no_cache", "--no_cache", "flag", false],
        ["loud", "--loud", "value", false],
        ["color", "--color", "flag", false],
        ["items", "--items", "list", false],
        ["pair", "--pair", "list", false],
        ["maybe", "--maybe", "list", false],
        ["tag", "--tag", "list", false],
        ["s", "-s", "value", false],
        ["mode", "--mode", "value", false],
        ["must", "--must", "value", true],
      ],
    );
  });

  it("refuses positional arguments and subcommands with the fix in the message", async function () {
    const [positional, subcommands] = await harness([
      { op: "describe", script: path.join(FIXTURES, "positional.py") },
      { op: "describe", script: path.join(FIXTURES, "subcommands.py") },
    ]);
    errorLine(positional, `positional argument "infile"`);
    errorLine(positional, "parser.add_argument('--infile', required=True)");
    errorLine(subcommands, "uses subcommands (add_subparsers)");
  });
});

describe("container: job configuration from the environment", function () {
  it("keys a single job's files by its name and an array child's by its index", async function () {
    const [single, child, fallback, local] = await harness([
      { op: "config", env: { BATCHPY_JOB_NAME: "sweep_1" } },
      { op: "config", env: { BATCHPY_JOB_NAME: "sweep_1", AWS_BATCH_JOB_ARRAY_INDEX: "7" } },
      { op: "config", env: { AWS_BATCH_JOB_ID: "0f1e-2d3c:4", AWS_BATCH_JOB_ARRAY_INDEX: "4" } },
      { op: "config", env: {} },
    ]);
    assert.deepStrictEqual(
      [single.results_prefix, single.log_key],
      ["results/sweep_1/", "logs/sweep_1.log"],
    );
    assert.deepStrictEqual(
      [child.results_prefix, child.log_key],
      ["results/sweep_1/7/", "logs/sweep_1/7.log"],
    );
    // An array child's job id is "<parent id>:<index>": its files go under the parent.
    assert.strictEqual(fallback.results_prefix, "results/0f1e-2d3c/4/");
    assert.strictEqual(local.log_key, "logs/local.log");
  });

  it("refuses names and paths that would escape the bucket layout", async function () {
    const results = await harness([
      { op: "config", env: { BATCHPY_JOB_NAME: "../x" } },
      { op: "config", env: { BATCHPY_INPUTS: "data.csv, ../secret" } },
      { op: "config", env: { BATCHPY_OUTPUT_DIR: "../out" } },
      { op: "config", env: { BATCHPY_ARRAY_MANIFEST: "inputs/sweeps/a.json" } },
    ]);
    errorLine(results[0], "BATCHPY_JOB_NAME");
    errorLine(results[1], `BATCHPY_INPUTS has "../secret"`);
    errorLine(results[2], "BATCHPY_OUTPUT_DIR");
    errorLine(results[3], "AWS_BATCH_JOB_ARRAY_INDEX is not");
  });

  it("selects the array child's set from the manifest and refuses malformed ones", async function () {
    const text = JSON.stringify({ version: 1, sets: [{ var_a: "1" }, { var_a: "2", var_b: "5" }] });
    const results = await harness([
      { op: "manifest", text, index: 1 },
      { op: "manifest", text, index: 2 },
      { op: "manifest", text: JSON.stringify({ version: 1, sets: [{ var_a: 1 }] }), index: 0 },
      { op: "manifest", text: JSON.stringify({ sets: [] }), index: 0 },
      { op: "manifest", text: "{", index: 0 },
    ]);
    assert.deepStrictEqual(results[0].set, { var_a: "2", var_b: "5" });
    errorLine(results[1], "has 2 set(s) but this is array child 2");
    errorLine(results[2], 'sets[0].var_a must be a string (got 1): write "1"');
    errorLine(results[3], '"version": 1');
    errorLine(results[4], "is not JSON");
  });
});
