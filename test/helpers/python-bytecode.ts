/**
 * Compiles container/batchpy_job to bytecode once before the tests. They start python3 with
 * it hundreds of times, with PYTHONDONTWRITEBYTECODE set (`baseEnv`, and often the
 * machine's environment), so without this every start compiles the package again; a
 * start still reads bytecode that exists. Python checks it against the source, so an
 * edited module is compiled afresh; `__pycache__` is ignored by git and by the image's
 * build context.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { PYTHON, REPO_ROOT } from "./python";

/** Mocha runs it once, in its main process, before the workers start (test/parallel.mocharc.js). */
export function mochaGlobalSetup(): void {
  // A failure (no python3, a syntax error) shows in the tests that run the package.
  spawnSync(PYTHON, ["-m", "compileall", "-q", path.join(REPO_ROOT, "container", "batchpy_job")], {
    stdio: "ignore",
  });
}
