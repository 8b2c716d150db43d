/**
 * Loaded by mocha before any test (.mocharc.json `require`): when `python3` on PATH is a
 * version manager's shim (pyenv's or asdf's `shims/python3`, a shell script that works out
 * the version and then execs the real interpreter), puts that interpreter's folder first on
 * this process's PATH, which every child the tests start inherits. Each `python3` start
 * then costs what the interpreter costs (about 0.1 s CPU here) instead of that plus the
 * shim's shell (about 0.45 s more), and the suite starts hundreds. The interpreter is the
 * one the shim picks in the repository root, so the tests run the same Python as before.
 *
 * Run once per test process tree: mocha's workers inherit the changed PATH, find a real
 * interpreter first and leave it alone.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { onPath } from "./on-path";

const REPO_ROOT = path.resolve(__dirname, "..", "..");

function skipShim(): void {
  if (process.env.PYTHON !== undefined) {
    return; // the tests run the interpreter named there
  }
  const found = onPath("python3");
  if (found === undefined || path.basename(path.dirname(found)) !== "shims") {
    return;
  }
  const run = spawnSync("python3", ["-c", "import sys; print(sys.executable)"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  });
  const real = run.status === 0 ? run.stdout.trim() : "";
  if (real !== "" && path.isAbsolute(real) && path.basename(real).startsWith("python")) {
    const dir = path.dirname(real);
    if (fs.existsSync(path.join(dir, "python3"))) {
      process.env.PATH = `${dir}${path.delimiter}${process.env.PATH ?? ""}`;
    }
  }
}

skipShim();
