/**
 * Tests inject crashes and short waits through the context they build
 * (test/helpers/cli-with-faults.ts), never through the environment: no file outside the
 * tests reads a variable only the tests use, so nothing a user sets can reach a test switch.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import contract from "../../container/contract.json";
import { REPO_ROOT } from "../helpers/python";

/** Not scanned: the tests, what git ignores, and the guide that tells how tests inject faults. */
const SKIPPED = new Set(
  [
    "test",
    "container/tests",
    "docs/development.md",
    "node_modules",
    ".git",
    "dist",
    ".batchpy",
  ].map((p) => path.join(REPO_ROOT, p)),
);
/** The host's variables, which tests read too. */
const HOST = new Set(["PATH", "HOME"]);
/** The prefix a test-only variable of this project would take; no product file may name one. */
const TEST_PREFIX = "BATCHPY_TEST";

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (SKIPPED.has(full) || e.name === "__pycache__") {
      return [];
    }
    return e.isDirectory() ? files(full) : e.isFile() ? [full] : [];
  });
}

/** Every variable the tests read from their environment, the host's aside. */
function testOnlyVariables(): string[] {
  const names = new Set<string>();
  const read = /process\.env(?:\.([A-Z][A-Z0-9_]*)|\[\s*["'`]([A-Z][A-Z0-9_]*)["'`]\s*\])/g;
  const testFiles = fs.readdirSync(path.join(REPO_ROOT, "test"), { recursive: true });
  for (const f of testFiles.map(String).filter((f) => /\.(ts|js)$/.test(f))) {
    for (const m of fs.readFileSync(path.join(REPO_ROOT, "test", f), "utf8").matchAll(read)) {
      names.add(m[1] ?? m[2]);
    }
  }
  return [...names].filter((n) => !HOST.has(n)).sort();
}

/** Where `text` reads one of `names` (TypeScript, JavaScript or Python) or names the prefix. */
function reads(text: string, names: readonly string[]): string[] {
  const found = names.filter((n) =>
    new RegExp(
      `(env|environ)\\s*(\\.\\s*${n}\\b|\\[\\s*["'\`]${n}["'\`]|\\.get\\(\\s*["']${n}["'])` +
        `|getenv\\(\\s*["']${n}["']`,
    ).test(text),
  );
  return text.includes(TEST_PREFIX) ? [...found, `${TEST_PREFIX}*`] : found;
}

describe("contract: no test switch outside the tests", function () {
  const testOnly = testOnlyVariables();

  it("finds the variables only the tests read", function () {
    assert.ok(testOnly.includes("UPDATE_GOLDEN"), testOnly.join(", "));
    assert.ok(!testOnly.includes("PATH"));
  });

  it("no file outside test/ reads one, or names a BATCHPY_TEST* variable", function () {
    const offences = files(REPO_ROOT).flatMap((file) => {
      const text = fs.readFileSync(file, "utf8");
      return text.includes("\0")
        ? []
        : reads(text, testOnly).map((n) => `${path.relative(REPO_ROOT, file)}: ${n}`);
    });
    assert.deepStrictEqual(offences, []);
  });

  it("the contract holds no test variable", function () {
    const contractNames = Object.keys(contract.variables);
    assert.deepStrictEqual(
      contractNames.filter((n) => testOnly.includes(n) || n.startsWith(TEST_PREFIX)),
      [],
    );
  });

  it("catches each way of reading one (the checker itself)", function () {
    const names = ["UPDATE_GOLDEN", "PYTHON"];
    for (const code of [
      "const x = process.env.UPDATE_GOLDEN;",
      "const x = env['UPDATE_GOLDEN'];",
      'x = os.environ.get("PYTHON")',
      'x = os.environ["PYTHON"]',
      'x = os.getenv("PYTHON")',
    ]) {
      assert.strictEqual(reads(code, names).length, 1, code);
    }
    assert.deepStrictEqual(reads(`env[VARS.x]; "BATCHPY_TEST_HOOKS"`, names), ["BATCHPY_TEST*"]);
    assert.deepStrictEqual(reads(`k.startsWith("PYTHON"); env.PYTHONPATH`, names), []);
  });
});
