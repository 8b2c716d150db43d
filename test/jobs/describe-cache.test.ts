/**
 * The cached `run_job.py --describe` answer (jobs/input/describe-cache.ts): its key follows every
 * file the answer depends on, and a submit right after an edit of the script's argparse sees
 * the new option (real CLI processes, real python3).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import {
  DESCRIBE_CACHE_ENV,
  declaresTypedOption,
  describeKey,
  readCachedDescribe,
  writeCachedDescribe,
} from "../../jobs/input/describe-cache";
import { parseDescription } from "../../jobs/input/script-options";
import { isTyped } from "../../jobs/input/typed-option";
import {
  REPO_ROOT,
  STACK_OUTPUTS,
  spawnJobs,
  tempDir,
  writeOutputs,
} from "../helpers/jobs-harness";

/** A stand-in repository: the entrypoint's files and a script folder (no Python runs). */
function fakeRepo(dir: string): string {
  const write = (rel: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };
  write("container/run_job.py", "# entry\n");
  write("container/contract.json", "{}\n");
  write("container/batchpy_job/cli.py", "# cli\n");
  write("container/job/script.py", "import argparse\n");
  write("container/job/helpers/opts.py", "# helper\n");
  // The image's build context rules, which the key follows.
  fs.copyFileSync(
    path.join(REPO_ROOT, "container/.dockerignore"),
    path.join(dir, "container/.dockerignore"),
  );
  return dir;
}

describe("jobs: the cached script description", function () {
  let dir: string;
  beforeEach(() => (dir = tempDir("describe-cache")));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("has a new key when the script, a module beside it, the entrypoint or PYTHON* changes", function () {
    const repoRoot = fakeRepo(dir);
    const env = { PATH: process.env.PATH ?? "" };
    const key = (): string | undefined => describeKey({ repoRoot, env });
    const first = key();
    assert.ok(first !== undefined && /^[0-9a-f]{64}$/.test(first));
    assert.strictEqual(key(), first, "same files, same key");
    const seen = new Set([first]);
    const changes: [string, () => void][] = [
      ["script", () => fs.appendFileSync(path.join(repoRoot, "container/job/script.py"), "#\n")],
      [
        "helper module in a subfolder",
        () => fs.appendFileSync(path.join(repoRoot, "container/job/helpers/opts.py"), "#\n"),
      ],
      [
        "new module beside the script",
        () => fs.writeFileSync(path.join(repoRoot, "container/job/argparse.py"), ""),
      ],
      [
        "entrypoint package",
        () => fs.appendFileSync(path.join(repoRoot, "container/batchpy_job/cli.py"), "#\n"),
      ],
      ["run_job.py", () => fs.appendFileSync(path.join(repoRoot, "container/run_job.py"), "#\n")],
      [
        "contract.json",
        () => fs.writeFileSync(path.join(repoRoot, "container/contract.json"), '{"a":1}'),
      ],
    ];
    for (const [what, change] of changes) {
      change();
      const k = key();
      assert.ok(k !== undefined && !seen.has(k), `${what}: the key must change`);
      seen.add(k);
    }
    const withPath = describeKey({ repoRoot, env: { ...env, PYTHONPATH: "/elsewhere" } });
    assert.ok(withPath !== undefined && !seen.has(withPath), "PYTHONPATH is in the key");
    // Python's byproducts are not the script's code.
    const before = key();
    fs.mkdirSync(path.join(repoRoot, "container/job/__pycache__"));
    fs.writeFileSync(path.join(repoRoot, "container/job/__pycache__/script.cpython-311.pyc"), "x");
    assert.strictEqual(key(), before);
  });

  it("is not cached without python3 on PATH", function () {
    const repoRoot = fakeRepo(dir);
    assert.strictEqual(describeKey({ repoRoot, env: { PATH: dir } }), undefined);
  });

  it("follows the folder of a --script-file outside container/job/", function () {
    const repoRoot = fakeRepo(dir);
    const env = { PATH: process.env.PATH ?? "" };
    const script = path.join(dir, "elsewhere", "script.py");
    fs.mkdirSync(path.dirname(script));
    fs.writeFileSync(script, "import argparse\n");
    const first = describeKey({ repoRoot, script, env });
    fs.writeFileSync(path.join(dir, "elsewhere", "helper.py"), "");
    const second = describeKey({ repoRoot, script, env });
    assert.ok(first !== undefined && second !== undefined && first !== second);
    assert.notStrictEqual(describeKey({ repoRoot, env }), first, "the script's path is in the key");
  });

  it("an entry counts only while the interpreter that answered is the same file", function () {
    const python = path.join(dir, "python3.99");
    fs.writeFileSync(python, "interpreter");
    const output = JSON.stringify({ script: "script.py", options: [], python });
    const cache = path.join(dir, "cache");
    writeCachedDescribe(cache, "k", output);
    assert.strictEqual(readCachedDescribe(cache, "k")?.output, output);
    assert.strictEqual(readCachedDescribe(cache, "k")?.interpreter.path, python);
    fs.appendFileSync(python, " upgraded");
    assert.strictEqual(readCachedDescribe(cache, "k"), undefined);
    // An answer that names no interpreter is not kept.
    writeCachedDescribe(cache, "n", JSON.stringify({ script: "script.py", options: [] }));
    assert.strictEqual(readCachedDescribe(cache, "n"), undefined);
  });

  it("tells from the raw answer whether the values check is needed, as the parsed description would", function () {
    const option = (extra: Record<string, unknown>) => ({
      env: "var_a",
      flag: "--var_a",
      kind: "value",
      required: false,
      ...extra,
    });
    const answer = (...options: Record<string, unknown>[]) =>
      JSON.stringify({ script: "script.py", options, python: "/usr/bin/python3" });
    const cases: [string, boolean][] = [
      [answer(option({ type: "int" })), true],
      [answer(option({ type: "str", choices: ["a", "b"] })), true],
      [answer(option({ type: "str" }), option({ type: null }), option({})), false],
      [answer(option({ type: null, choices: null })), false],
      [answer(), false],
    ];
    for (const [output, typed] of cases) {
      assert.strictEqual(declaresTypedOption(output), typed, output);
      const parsed = parseDescription(output, "test");
      assert.strictEqual(parsed.options.some(isTyped), typed, `parsed: ${output}`);
    }
    for (const notAnAnswer of ['{"script": "s', "null", "[]", '{"options": {"type": "int"}}']) {
      assert.strictEqual(declaresTypedOption(notAnAnswer), false, notAnAnswer);
    }
  });

  it("a submit right after the script's argparse was edited sees the new option; a damaged entry is ignored", async function () {
    this.timeout(120_000);
    const cache = path.join(dir, "cache");
    const scriptDir = path.join(dir, "script");
    fs.mkdirSync(scriptDir);
    const script = path.join(scriptDir, "script.py");
    const original = fs.readFileSync(path.join(REPO_ROOT, "container/job/script.py"), "utf8");
    fs.writeFileSync(script, original);
    const outputs = writeOutputs(dir, STACK_OUTPUTS);
    fs.writeFileSync(
      path.join(dir, "job.json"),
      JSON.stringify({
        jobName: "edited",
        containerOverrides: {
          environment: [
            { name: "save_name", value: "r" },
            { name: "var_c", value: "7" },
          ],
        },
      }),
    );
    const submit = () =>
      spawnJobs(
        ["submit", "job.json", "--dry-run", "--outputs", outputs, "--script-file", script],
        { [DESCRIBE_CACHE_ENV]: cache },
        dir,
      ).done;

    const before = await submit();
    assert.strictEqual(before.code, 2, before.stderr);
    assert.match(before.stderr, /"var_c" is not an option of .*script\.py/);
    assert.strictEqual(fs.readdirSync(cache).length, 1, "the description was kept");

    fs.writeFileSync(
      script,
      original.replace(
        '    parser.add_argument("--var_b"',
        '    parser.add_argument("--var_c", type=int, default=0)\n    parser.add_argument("--var_b"',
      ),
    );
    const after = await submit();
    assert.strictEqual(after.code, 0, after.stderr);
    assert.strictEqual(fs.readdirSync(cache).length, 2, "a new entry for the edited script");

    // A typed value is still checked by the script's own int with a cached description.
    const job = JSON.parse(fs.readFileSync(path.join(dir, "job.json"), "utf8")) as {
      containerOverrides: { environment: { name: string; value: string }[] };
    };
    job.containerOverrides.environment[1].value = "seven";
    fs.writeFileSync(path.join(dir, "job.json"), JSON.stringify(job));
    const typed = await submit();
    assert.strictEqual(typed.code, 2, typed.stderr);
    assert.match(typed.stderr, /"seven" is not a valid int for --var_c/);

    for (const f of fs.readdirSync(cache)) {
      fs.writeFileSync(path.join(cache, f), '{"script": "script.py", "opt');
    }
    const damaged = await submit();
    assert.strictEqual(damaged.code, 2, damaged.stderr);
    assert.match(damaged.stderr, /"seven" is not a valid int for --var_c/);
    assert.doesNotMatch(damaged.stderr, /cached/);
    const repaired = fs.readdirSync(cache).map((f) => fs.readFileSync(path.join(cache, f), "utf8"));
    assert.ok(
      repaired.some((t) => t.startsWith('{"output"') && t.includes('\\"var_c\\"')),
      "kept again",
    );

    // An entry whose answer declares a typed option (so the values check starts at once) but
    // is no valid description: that check is dropped and Python is asked again.
    const current = fs
      .readdirSync(cache)
      .map((f) => path.join(cache, f))
      .filter((f) => fs.readFileSync(f, "utf8").startsWith('{"output"'));
    assert.strictEqual(current.length, 1, "the entry just kept");
    const entry = JSON.parse(fs.readFileSync(current[0], "utf8")) as { output: string };
    const output = JSON.parse(entry.output) as { options: { kind: string }[] };
    output.options.forEach((o) => (o.kind = "bogus"));
    fs.writeFileSync(current[0], JSON.stringify({ ...entry, output: JSON.stringify(output) }));
    const invalid = await submit();
    assert.strictEqual(invalid.code, 2, invalid.stderr);
    assert.match(invalid.stderr, /"seven" is not a valid int for --var_c/);
    assert.doesNotMatch(invalid.stderr, /cached|bogus/);
    assert.doesNotMatch(
      fs.readFileSync(current[0], "utf8"),
      /bogus/,
      "replaced by the live answer",
    );
  });
});
