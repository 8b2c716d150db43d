/**
 * `npm run jobs:submit FILE --dry-run` (no `--`): npm keeps --dry-run for itself. The tool
 * refuses such a run before anything is read or sent, and only for flags from that very
 * command line: an .npmrc or an outer `npm run` that sets the same npm_config_* variable
 * does not count. Pure checks first, then real npm processes.
 */
import * as assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
  npmrcKeys,
  swallowedMessage,
  swallowedOptions,
  userArguments,
  type NpmProcess,
  type ToolOption,
} from "../../jobs/input/npm-args";
import { REPO_ROOT, tempDir } from "../helpers/jobs-harness";

const OPTIONS: ToolOption[] = [
  { name: "dry-run", negate: false, takesValue: false },
  { name: "outputs", negate: false, takesValue: true },
  { name: "array", negate: true, takesValue: false },
];
const RUN = {
  npm_lifecycle_event: "jobs:submit",
  npm_lifecycle_script: "ts-node jobs/cli.ts submit",
  npm_command: "run",
  npm_config_local_prefix: "/repo",
  npm_config_userconfig: "/home/u/.npmrc",
  npm_execpath: "/npm/bin/npm-cli.js",
};
const npm = (inherited: Record<string, string> = {}, files: Record<string, string> = {}) =>
  ({
    initialEnv: () => new Map(Object.entries(inherited)),
    readFile: (f: string) => files[f],
  }) satisfies NpmProcess;

describe("jobs: options npm run kept for itself", function () {
  it("finds flags npm took from this command line, with the corrected command", function () {
    const env = { ...RUN, npm_config_dry_run: "true", npm_config_outputs: "true" };
    const argv = ["submit", "f.json", "o.json"];
    const found = swallowedOptions(OPTIONS, argv, env, npm());
    assert.deepStrictEqual(
      found.map((s) => s.flag),
      ["--dry-run", "--outputs"],
    );
    assert.strictEqual(
      swallowedMessage(found, argv, env),
      "npm took --dry-run, --outputs as its own options (npm_config_dry_run, npm_config_outputs), so the " +
        "tool would have run without them; nothing was read or sent. Put -- before the tool's arguments:\n" +
        "  npm run jobs:submit -- f.json o.json --dry-run --outputs <value>\n" +
        "(npm also left the value of each such option among the other arguments: move it back after its option)",
    );
    const negated = swallowedOptions(
      OPTIONS,
      ["submit", "f.json"],
      { ...RUN, npm_config_array: "" },
      npm(),
    );
    assert.deepStrictEqual(
      negated.map((s) => s.flag),
      ["--no-array"],
    );
  });

  it("does not count what came from an .npmrc, an outer npm run, or the tool's own arguments", function () {
    const env = { ...RUN, npm_config_dry_run: "true" };
    const argv = ["submit", "f.json"];
    assert.deepStrictEqual(
      swallowedOptions(OPTIONS, argv, env, npm({ npm_config_dry_run: "true" })),
      [],
    );
    for (const file of ["/repo/.npmrc", "/home/u/.npmrc", "/npm/npmrc"]) {
      assert.deepStrictEqual(
        swallowedOptions(OPTIONS, argv, env, npm({}, { [file]: "; mine\ndry_run = true\n" })),
        [],
        file,
      );
    }
    assert.deepStrictEqual(swallowedOptions(OPTIONS, [...argv, "--dry-run"], env, npm()), []);
    // A flag shows as true (its --no- form as empty): other values came from elsewhere.
    for (const [name, value] of [
      ["dry_run", ""],
      ["dry_run", "false"],
      ["array", "true"],
    ]) {
      assert.deepStrictEqual(
        swallowedOptions(OPTIONS, argv, { ...RUN, [`npm_config_${name}`]: value }, npm()),
        [],
        `${name}=${value}`,
      );
    }
    assert.deepStrictEqual(
      swallowedOptions(OPTIONS, argv, { ...env, npm_command: "exec" }, npm()),
      [],
    );
    assert.deepStrictEqual(
      swallowedOptions(OPTIONS, argv, env, {
        initialEnv: () => undefined,
        readFile: () => undefined,
      }),
      [],
      "without npm's environment (no /proc, as on macOS) nothing is refused",
    );
  });

  it("reads npmrc keys and tells the user's words from the script's", function () {
    assert.deepStrictEqual(
      [...npmrcKeys("# c\n[x]\njson=true\nDry_Run = 1\n\n")],
      ["json", "dry-run"],
    );
    assert.deepStrictEqual(
      userArguments(
        ["submit", "--locally", "jobs/a.json", "x"],
        "ts-node jobs/cli.ts submit --locally jobs/a.json",
      ),
      ["x"],
    );
    assert.deepStrictEqual(userArguments(["status", "a"], undefined), ["status", "a"]);
  });

  describe("with real npm processes", function () {
    let dir: string;
    before(function () {
      dir = tempDir("npm");
      // The package's bin, as the real `jobs:*` scripts run it (its cached fast path).
      const cli = `node ${path.join(REPO_ROOT, "bin", "batchpy.js")} jobs`;
      fs.writeFileSync(
        path.join(dir, "package.json"),
        JSON.stringify({
          name: "npm-args-test",
          version: "1.0.0",
          private: true,
          scripts: {
            "jobs:status": `${cli} status`,
            outer: "npm run jobs:status",
            "policy:check": `node ${path.join(REPO_ROOT, "bin", "batchpy.js")} policy check`,
          },
        }),
      );
    });
    after(function () {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    function npmRun(
      args: string[],
      env: Record<string, string> = {},
    ): Promise<{ code: number; stderr: string }> {
      return new Promise((resolve, reject) => {
        const child = spawn("npm", ["run", "--silent", ...args], {
          cwd: dir,
          env: {
            PATH: process.env.PATH ?? "",
            HOME: dir,
            npm_config_userconfig: path.join(dir, "npmrc"),
            npm_config_update_notifier: "false",
            ...env,
          },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stderr = "";
        // stdout too: with --json the tool's error is JSON on stdout.
        child.stdout.on("data", (b: Buffer) => (stderr += b.toString()));
        child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code: code ?? -1, stderr }));
      });
    }

    it("refuses `npm run jobs:status --json` with exit 2 and the corrected command", async function () {
      fs.writeFileSync(path.join(dir, "npmrc"), "");
      const r = await npmRun(["jobs:status", "--json"]);
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(r.stderr, /error: npm took --json as its own option \(npm_config_json\)/);
      assert.match(r.stderr, /npm run jobs:status -- --json/);
    });

    it("refuses `npm run policy:check --all-stacks`, which would check dev alone", async function () {
      fs.writeFileSync(path.join(dir, "npmrc"), "");
      const r = await npmRun(["policy:check", "--all-stacks"]);
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /^policy:check: npm took --all-stacks as its own option \(npm_config_all_stacks\), so the tool would have run without it; nothing was read or sent\. Put -- before the tool's arguments:\n {2}npm run policy:check -- --all-stacks\n/m,
      );
    });

    it("runs when the same variable comes from an npmrc, an outer npm run, or after --", async function () {
      // Each gets as far as the stack outputs (none here): exit 1, not the refusal.
      fs.writeFileSync(path.join(dir, "npmrc"), "json=true\n");
      const fromRc = await npmRun(["jobs:status"]);
      fs.writeFileSync(path.join(dir, "npmrc"), "");
      const outer = await npmRun(["outer", "--json"]);
      const dashes = await npmRun(["jobs:status", "--", "--json"]);
      for (const [what, r] of [
        ["npmrc", fromRc],
        ["outer", outer],
        ["--", dashes],
      ] as const) {
        assert.strictEqual(r.code, 1, `${what}: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /npm took/, what);
        assert.match(r.stderr, /no stack outputs/, what);
      }
    });
  });
});
