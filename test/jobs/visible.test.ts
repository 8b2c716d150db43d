/** The one sanitiser for printed text that came from a job, a file or AWS. */
import * as assert from "assert";
import fc from "fast-check";
import { visible } from "../../jobs/output/visible";

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
});
