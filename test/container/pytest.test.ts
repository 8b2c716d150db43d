/**
 * The entrypoint's own unit tests (container/tests/, pytest) as part of `npm test`: one
 * pytest process for all of them, which starts and stops its own moto_server on 127.0.0.1.
 * The suite uses no pytest plugin, so the ones installed on the machine (hypothesis',
 * pytest-benchmark's) are not loaded: they would only add to its start.
 */
import * as assert from "assert";
import * as path from "path";
import { REPO_ROOT, baseEnv, explain, runPython } from "../helpers/python";

describe("container: pytest unit tests (container/tests)", function () {
  this.timeout(600_000);

  it("pass", async function () {
    const run = await runPython(
      ["-m", "pytest", "-q", "-p", "no:cacheprovider", path.join("container", "tests")],
      {
        cwd: REPO_ROOT,
        env: baseEnv({ HOME: process.env.HOME ?? "/root", PYTEST_DISABLE_PLUGIN_AUTOLOAD: "1" }),
        timeoutMs: 590_000,
      },
    );
    if (run.code !== 0 && /No module named pytest/.test(run.stderr)) {
      assert.fail(
        `pytest is missing: pip install -r container/requirements-dev.txt\n${run.stderr}`,
      );
    }
    assert.strictEqual(run.code, 0, explain(run));
  });
});
