/**
 * The lint rule behind "errors are never swallowed": a catch on a product path must name the
 * error (and no-unused-vars then makes it read it), so it can test and rethrow, or report.
 * ESLint's own no-empty passes a catch that holds only a comment.
 */
import * as assert from "assert";
import * as path from "path";
import { ESLint } from "eslint";

const ROOT = path.resolve(__dirname, "..", "..");

async function ruleIds(code: string, file = "jobs/example.ts"): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return result.messages.map((m) => m.ruleId ?? m.message);
}

describe("lint: no swallowed errors", function () {
  this.timeout(60_000);

  it("refuses a catch that cannot see the error, or does not read it", async function () {
    const swallowing = [
      "try { f(); } catch { /* fine */ }",
      "try { f(); } catch (err) { /* fine */ }",
      "void p.catch(() => undefined);",
      "void p.then((v) => v, () => 0);",
    ];
    for (const code of swallowing) {
      const ids = await ruleIds(
        `declare function f(): void;\ndeclare const p: Promise<number>;\n${code}\n`,
      );
      assert.ok(
        ids.some(
          (id) => id === "no-restricted-syntax" || id === "@typescript-eslint/no-unused-vars",
        ),
        `${code}: ${ids.join(", ")}`,
      );
    }
    const js = await ruleIds("try { f(); } catch { /* fine */ }\n", "bin/example.js");
    assert.deepStrictEqual(js, ["no-restricted-syntax"]);
  });

  it("passes a catch that tests the error and rethrows the rest, and a fulfilled handler", async function () {
    const code = [
      "declare function f(): void;",
      "declare const p: Promise<number>;",
      "try { f(); } catch (err) { if (!(err instanceof SyntaxError)) { throw err; } }",
      "void p.then(() => 1, (err: unknown) => { throw err; });",
      "",
    ].join("\n");
    assert.deepStrictEqual(await ruleIds(code), []);
  });
});
