/**
 * The package's bin and its TypeScript loader: `batchpy` dispatches to the jobs tool and
 * the policy check; bin/register.js never runs an edited file as its old code.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { COMMANDS } from "../../jobs/cli";

const ROOT = path.resolve(__dirname, "..", "..");
const BATCHPY = path.join(ROOT, "bin", "batchpy.js");
const REGISTER = path.join(ROOT, "bin", "register.js");

function node(args: readonly string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", HOME: os.tmpdir(), ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("batchpy (the package's bin)", function () {
  it("is the package's bin", function () {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      bin: Record<string, string>;
    };
    assert.deepStrictEqual(pkg.bin, { batchpy: "bin/batchpy.js" });
    assert.match(fs.readFileSync(BATCHPY, "utf8"), /^#!\/usr\/bin\/env node\n/);
    assert.ok((fs.statSync(BATCHPY).mode & 0o111) !== 0, "executable");
  });

  it("names the new option for one renamed because npm run takes the old name (exit 2)", function () {
    const cases: [string[], string][] = [
      [["jobs", "report", "--csv"], "error: --csv: use --write-csv"],
      [["jobs", "submit", "--local=1", "x.json"], "error: --local: use --locally"],
      [["jobs", "logs", "-f", "x"], "error: -f: use --follow"],
      [
        ["policy", "check", "--format", "markdown"],
        "policy:check: --format: use --markdown or --json",
      ],
      [["policy", "check", "-s", "dev"], "policy:check: -s: use --stack"],
    ];
    for (const [argv, start] of cases) {
      const r = node([BATCHPY, ...argv]);
      assert.strictEqual(r.code, 2, argv.join(" "));
      assert.ok(r.stderr.startsWith(start), r.stderr);
      assert.match(
        r.stderr,
        /\(npm run takes \S+ for a setting of its own when it comes before --\)/,
      );
    }
  });

  it("prints its usage for --help, and for no or an unknown command with exit 2", function () {
    const help = node([BATCHPY, "--help"]);
    assert.strictEqual(help.code, 0);
    assert.match(help.stdout, /^Usage: batchpy <group> <command>/);
    for (const argv of [[], ["submit"], ["policy", "lint"]]) {
      const r = node([BATCHPY, ...argv]);
      assert.strictEqual(r.code, 2, argv.join(" "));
      assert.match(r.stderr, /^batchpy: (a command is missing|unknown command ".*")\n\nUsage:/);
      assert.strictEqual(r.stdout, "");
    }
  });

  it("its usage lists every jobs command", function () {
    const help = node([BATCHPY, "--help"]);
    const listed = /batchpy jobs (\S+) …/.exec(help.stdout)?.[1].split("|");
    assert.deepStrictEqual(
      listed,
      COMMANDS.map((c) => c.name),
    );
  });

  it("has retry as a command of its own; submit's --retry-failed says it is deprecated", function () {
    const retry = node([BATCHPY, "jobs", "retry", "--help"]);
    assert.strictEqual(retry.code, 0, retry.stderr);
    assert.match(retry.stdout, /^Usage: batchpy jobs retry \[options\] <names\.\.\.>/);
    assert.match(
      retry.stdout,
      /Submit again only what failed, planned from the files the ledger recorded:\sa\ssweep's failed sets go as one array job, a failed job as <job>-r<n>\./,
    );
    const submit = node([BATCHPY, "jobs", "submit", "--help"]);
    assert.match(
      submit.stdout,
      /--retry-failed +deprecated: the inputs are sweep or job names;\s+use jobs:retry instead/,
    );
  });

  it("runs the jobs tool and the policy check", function () {
    const status = node([BATCHPY, "jobs", "status", "--help"]);
    assert.strictEqual(status.code, 0, status.stderr);
    assert.match(status.stdout, /^Usage: batchpy jobs status \[options\] \[names\.\.\.\]/);
    const bad = node([BATCHPY, "jobs", "status", "--no-such-flag"]);
    assert.strictEqual(bad.code, 2);
    const check = node([BATCHPY, "policy", "check", "--help"]);
    assert.strictEqual(check.code, 0, check.stderr);
    assert.match(check.stdout, /--policy-pack-config <file>/);
  });
});

describe("bin/register.js (the content-keyed transpile cache)", function () {
  let dir: string;
  let cache: string;

  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "batchpy-register-"));
    cache = path.join(dir, "cache");
  });

  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const entries = () =>
    fs.existsSync(cache)
      ? fs.readdirSync(cache).flatMap((d) => fs.readdirSync(path.join(cache, d)))
      : [];

  it("runs an edited file as its new code, even with the same size and time", function () {
    const file = path.join(dir, "answer.ts");
    const run = () => node(["-r", REGISTER, file], { BATCHPY_TS_CACHE: cache });
    fs.writeFileSync(file, 'const answer: string = "one";\nconsole.log(answer);\n');
    const stamp = fs.statSync(file).mtime;
    assert.strictEqual(run().stdout, "one\n");
    assert.strictEqual(run().stdout, "one\n");
    assert.strictEqual(entries().length, 1, "the second run used the cached output");

    fs.writeFileSync(file, 'const answer: string = "two";\nconsole.log(answer);\n');
    fs.utimesSync(file, stamp, stamp);
    assert.strictEqual(run().stdout, "two\n");
    assert.strictEqual(entries().length, 2);
  });

  it("transpiles TypeScript syntax, and reports a syntax error with the file", function () {
    const file = path.join(dir, "types.ts");
    fs.writeFileSync(
      file,
      "interface P { x: number }\nconst p: P = { x: 2 };\nexport enum E { A = 1 }\nconsole.log(p.x + E.A);\n",
    );
    assert.strictEqual(node(["-r", REGISTER, file], { BATCHPY_TS_CACHE: cache }).stdout, "3\n");
    const broken = path.join(dir, "broken.ts");
    fs.writeFileSync(broken, "const = ;\n");
    const r = node(["-r", REGISTER, broken], { BATCHPY_TS_CACHE: cache });
    assert.notStrictEqual(r.code, 0);
    assert.match(
      r.stderr,
      /SyntaxError: .*broken\.ts\(1,7\): error TS1134: Variable declaration expected\./,
    );
    assert.strictEqual(entries().length, 1, "nothing cached for the broken file");
  });
});
