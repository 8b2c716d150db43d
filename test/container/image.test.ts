/**
 * The image definition, checked statically (no Docker engine on this machine): a pinned
 * glibc base, pinned packages installed without a cache, the user's packages in a layer of
 * their own before the user's code, a non-root user, a tight build context.
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

/** Requirement lines of a requirements file, comments and blanks dropped. */
function requirements(file: string): string[] {
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter((l) => l !== "");
}

describe("container: image definition", function () {
  const dockerfile = instructions(fs.readFileSync(path.join(CONTAINER, "Dockerfile"), "utf8"));
  const ops = dockerfile.map((i) => i.op);
  const index = (op: string, needle: string): number =>
    dockerfile.findIndex((i) => i.op === op && i.args.includes(needle));

  it("builds from one pinned Debian slim (glibc) Python base, never a floating tag", function () {
    const from = dockerfile.filter((i) => i.op === "FROM");
    assert.strictEqual(from.length, 1);
    assert.match(from[0].args, /^python:\d+\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?$/);
  });

  it("pins every package of the entrypoint exactly, boto3 among them", function () {
    const pins = requirements(path.join(CONTAINER, "requirements.txt"));
    assert.ok(
      pins.some((p) => /^boto3==\d+\.\d+\.\d+$/.test(p)),
      pins.join(", "),
    );
    for (const pin of pins) {
      assert.match(pin, /^[A-Za-z0-9_.-]+==[A-Za-z0-9_.]+$/, `not an exact pin: ${pin}`);
    }
  });

  it("installs only the two requirement files, with pip and without a cache", function () {
    const runs = dockerfile.filter((i) => i.op === "RUN" && /\bpip\b/.test(i.args));
    assert.deepStrictEqual(
      runs.map((r) => r.args.split(" && ")[0]),
      [
        "pip install --no-cache-dir -r /app/requirements.txt",
        "pip install --no-cache-dir -r /app/job/requirements.txt",
      ],
    );
    for (const run of dockerfile.filter((i) => i.op === "RUN")) {
      assert.doesNotMatch(run.args, /\b(apk add|apt-get)\b/, run.args);
    }
  });

  it("installs the user's packages in their own layer, before any code is copied", function () {
    const userReqCopy = index("COPY", "job/requirements.txt /app/job/requirements.txt");
    const userInstall = index("RUN", "-r /app/job/requirements.txt");
    const entrypointInstall = index("RUN", "-r /app/requirements.txt");
    const entrypointCopy = index("COPY", "batchpy_job/");
    const userCode = index("COPY", "job/ /app/job/");
    assert.ok(entrypointInstall >= 0 && userReqCopy >= 0 && userInstall >= 0, ops.join(" "));
    assert.ok(entrypointInstall < userReqCopy, "the entrypoint's packages change least often");
    assert.ok(userReqCopy < userInstall, "the requirements file is copied, then installed");
    assert.ok(userInstall < entrypointCopy, "code is copied after every install");
    assert.ok(entrypointCopy < userCode, "the user's code is the last layer");
    assert.strictEqual(userCode, ops.lastIndexOf("COPY"));
  });

  it("runs as a numeric non-root user set after every RUN", function () {
    const user = dockerfile.filter((i) => i.op === "USER");
    assert.strictEqual(user.length, 1);
    assert.match(user[0].args, /^[1-9]\d*(:[1-9]\d*)?$/);
    assert.ok(ops.lastIndexOf("RUN") < ops.indexOf("USER"));
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
    assert.deepStrictEqual(lines, [
      "*",
      "!requirements.txt",
      "!contract.json",
      "!run_job.py",
      "!batchpy_job/",
      "!job/",
      "**/__pycache__",
      "**/*.pyc",
    ]);
  });

  it("imports only the standard library and the pinned packages", async function () {
    const pinned = requirements(path.join(CONTAINER, "requirements.txt")).map((p) =>
      p.split("==")[0].toLowerCase(),
    );
    const check = await runPython([
      "-c",
      [
        "import ast, glob, json, sys",
        "names = set()",
        "for f in glob.glob(sys.argv[1] + '/batchpy_job/*.py') + [sys.argv[1] + '/run_job.py']:",
        "    tree = ast.parse(open(f, encoding='utf-8').read())",
        "    names |= {a.name.split('.')[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}",
        "    names |= {n.module.split('.')[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}",
        "print(json.dumps(sorted(names - set(sys.stdlib_module_names) - {'__future__', 'batchpy_job'})))",
      ].join("\n"),
      CONTAINER,
    ]);
    assert.strictEqual(check.code, 0, explain(check));
    for (const name of JSON.parse(check.stdout) as string[]) {
      assert.ok(pinned.includes(name), `${name} is imported but not pinned in requirements.txt`);
    }
  });
});
