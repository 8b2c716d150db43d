/**
 * The image definition, checked statically (no Docker engine on this machine): a pinned
 * small base, nothing installed, a non-root user, cache-friendly layers, a tight context.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT, explain, runPython } from "../helpers/python";

const CONTAINER = path.join(REPO_ROOT, "container");

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(" ") };
    });
}

describe("container: image definition", function () {
  const dockerfile = instructions(fs.readFileSync(path.join(CONTAINER, "Dockerfile"), "utf8"));
  const ops = dockerfile.map((i) => i.op);

  it("builds from one pinned slim Python base, never a floating tag", function () {
    const from = dockerfile.filter((i) => i.op === "FROM");
    assert.strictEqual(from.length, 1);
    assert.match(from[0].args, /^python:\d+\.\d+\.\d+-alpine\d+\.\d+(@sha256:[0-9a-f]{64})?$/);
  });

  it("installs nothing: the entrypoint needs only the standard library", async function () {
    for (const run of dockerfile.filter((i) => i.op === "RUN")) {
      assert.doesNotMatch(run.args, /\b(pip|apk add|apt-get)\b/, run.args);
    }
    // Every module run_job.py imports is in this Python's standard library.
    const check = await runPython([
      "-c",
      [
        "import ast, sys",
        "tree = ast.parse(open(sys.argv[1], encoding='utf-8').read())",
        "names = {a.name.split('.')[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}",
        "names |= {n.module.split('.')[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}",
        "print(sorted(names - set(sys.stdlib_module_names) - {'__future__'}))",
      ].join("\n"),
      path.join(CONTAINER, "run_job.py"),
    ]);
    assert.strictEqual(check.stdout.trim(), "[]", explain(check));
  });

  it("runs as a numeric non-root user set after every RUN", function () {
    const user = dockerfile.filter((i) => i.op === "USER");
    assert.strictEqual(user.length, 1);
    assert.match(user[0].args, /^[1-9]\d*(:[1-9]\d*)?$/);
    assert.ok(ops.lastIndexOf("RUN") < ops.indexOf("USER"));
  });

  it("copies the entrypoint before the script, so a script edit rebuilds one layer", function () {
    const copies = dockerfile.filter((i) => i.op === "COPY").map((i) => i.args);
    assert.deepStrictEqual(copies, ["run_job.py /app/run_job.py", "script.py /app/script.py"]);
    assert.ok(ops.indexOf("RUN") < ops.indexOf("COPY"), "system setup is cached above the files");
  });

  it("starts the entrypoint exactly as the job definition's command does", function () {
    const cmd = dockerfile.filter((i) => i.op === "CMD");
    assert.deepStrictEqual(
      cmd.map((c) => JSON.parse(c.args) as string[]),
      [["python3", "/app/run_job.py"]],
    );
    assert.ok(!ops.includes("ENTRYPOINT"), "an ENTRYPOINT would prepend itself to the command");
  });

  it("sends only the copied files as build context", function () {
    const lines = fs
      .readFileSync(path.join(CONTAINER, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    assert.deepStrictEqual(lines, ["*", "!run_job.py", "!script.py"]);
  });
});
