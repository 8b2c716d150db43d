/** The one sanitiser for printed text that came from a job, a file or AWS. */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import fc from "fast-check";
import { visible, visibleIo } from "../../jobs/output/visible";
import type { OutStream } from "../../jobs/context";

const ROOT = path.resolve(__dirname, "..", "..");

describe("jobs: visible() makes hostile text inert", function () {
  it("escapes terminal control sequences, carriage returns and newlines", function () {
    assert.strictEqual(visible("\x1b]0;owned\x07"), "\\x1b]0;owned\\x07");
    assert.strictEqual(visible("\x1b[31mred"), "\\x1b[31mred");
    assert.strictEqual(visible("ok\rFAIL"), "ok\\rFAIL");
    assert.strictEqual(visible("a\nb\tc"), "a\\nb\\tc");
    assert.strictEqual(visible("\x7f\x9b"), "\\x7f\\x9b");
  });

  it("escapes bidi overrides and lone surrogates, keeps pairs and plain Unicode", function () {
    assert.strictEqual(visible("abc\u202edcba"), "abc\\u202edcba");
    assert.strictEqual(visible("a\ud800b"), "a\\ud800b");
    assert.strictEqual(visible("a\udc00"), "a\\udc00");
    assert.strictEqual(visible("café 😀 λ"), "café 😀 λ");
  });

  it("never lets a control character through, for any string", function () {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        const v = visible(s);
        // eslint-disable-next-line no-control-regex -- control characters must not appear
        assert.doesNotMatch(v, /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
        assert.strictEqual(Buffer.from(v, "utf8").toString("utf8"), v);
      }),
    );
  });

  it("visibleIo shows every line's control characters, keeps the line breaks and raw --json stdout", function () {
    const written = { stdout: "", stderr: "" };
    const sink = (k: keyof typeof written): OutStream => ({
      write: (s: string) => (written[k] += s),
      isTTY: true,
    });
    const raw = { stdout: sink("stdout"), stderr: sink("stderr") };
    const human = visibleIo(raw, false);
    human.stdout.write("a\x1b[31m\nb\rc\n");
    human.stderr.write("\u202e\ud800\n");
    const json = visibleIo(raw, true);
    json.stdout.write('{"m":"\u202e"}\n');
    json.stderr.write("\x1b]0;t\x07\n");
    assert.strictEqual(written.stdout, 'a\\x1b[31m\nb\\rc\n{"m":"\u202e"}\n');
    assert.strictEqual(written.stderr, "\\u202e\\ud800\n\\x1b]0;t\\x07\n");
    assert.strictEqual(human.stderr.isTTY, true);
    assert.strictEqual(human.stderr.raw, raw.stderr, "a progress bar draws on the stream below");
  });

  it("only the entry points write to the process's streams, and only a progress bar below the gate", function () {
    const found = new Map<string, string[]>();
    for (const dir of ["jobs", "bin", path.join("policy", "check")]) {
      for (const rel of fs.readdirSync(path.join(ROOT, dir), { recursive: true }).map(String)) {
        const file = path.join(dir, rel);
        if (!/\.(ts|js)$/.test(file)) {
          continue;
        }
        const code = fs
          .readFileSync(path.join(ROOT, file), "utf8")
          .split("\n")
          .filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l))
          .join("\n");
        const uses = [
          ...(/\bprocess\.(stdout|stderr)\b|\bconsole\.\w+\(/.test(code) ? ["process"] : []),
          ...(/\b(stdout|stderr)\.raw\b/.test(code) ? ["raw"] : []),
        ];
        uses.forEach((u) => found.set(u, [...(found.get(u) ?? []), file]));
      }
    }
    // cli.ts and policy/check/cli.ts hand the commands a gated Io; the pack runner is the
    // pack's own process, whose output the check relays through its gate; register.js
    // prints its own usage and timings.
    assert.deepStrictEqual(found.get("process")?.sort(), [
      path.join("bin", "batchpy.js"),
      path.join("bin", "register.js"),
      path.join("jobs", "cli.ts"),
      path.join("policy", "check", "cli.ts"),
      path.join("policy", "check", "pack-runner.ts"),
    ]);
    assert.deepStrictEqual(found.get("raw"), [path.join("jobs", "context.ts")]);
  });
});
