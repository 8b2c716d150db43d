import * as assert from "assert";
import * as path from "path";
import {
  localPathFor,
  matchesPrefix,
  needsCopy,
  planSync,
  prefixesFor,
} from "../../jobs/commands/results";

const at = (iso: string): Date => new Date(iso);

describe("jobs/commands/results: aws s3 sync decisions", function () {
  it("copies missing files, size changes and newer sources; skips the rest", function () {
    const src = { key: "results/a/x.p", size: 10, lastModified: at("2026-01-01T00:00:10Z") };
    assert.ok(needsCopy(src, undefined));
    assert.ok(needsCopy(src, { size: 11, mtimeMs: Date.parse("2026-01-01T00:00:20Z") }));
    assert.ok(needsCopy(src, { size: 10, mtimeMs: Date.parse("2026-01-01T00:00:09Z") }));
    // Same second (S3 has second resolution): unchanged.
    assert.ok(!needsCopy(src, { size: 10, mtimeMs: Date.parse("2026-01-01T00:00:10.900Z") }));
  });

  it("never writes outside the destination", function () {
    assert.strictEqual(localPathFor("/out", "results/../../etc/passwd"), undefined);
    assert.strictEqual(localPathFor("/out", "/abs"), undefined);
    assert.strictEqual(localPathFor("/out", "results/a/"), undefined);
    assert.strictEqual(
      localPathFor("/out", "results/a/b.p"),
      path.join("/out", "results", "a", "b.p"),
    );
  });

  it("plans copies against local files", function () {
    const plan = planSync(
      [
        { key: "results/a/1.p", size: 1, lastModified: at("2026-01-01T00:00:00Z") },
        { key: "logs/a.log", size: 5, lastModified: at("2026-01-01T00:00:00Z") },
        { key: "logs/../x", size: 5, lastModified: at("2026-01-01T00:00:00Z") },
      ],
      "/out",
      (f) =>
        f.endsWith("a.log") ? { size: 5, mtimeMs: Date.parse("2026-01-01T00:00:00Z") } : undefined,
    );
    assert.deepStrictEqual(
      plan.copy.map((c) => c.source.key),
      ["results/a/1.p"],
    );
    assert.strictEqual(plan.unchanged, 1);
    assert.deepStrictEqual(plan.skipped, ["logs/../x"]);
  });

  it("selects a job's results and logs, array children included, and nothing else", function () {
    const prefixes = prefixesFor(["a"]);
    const keep = (k: string): boolean => prefixes.some((p) => matchesPrefix(k, p));
    assert.ok(keep("results/a/x.p"));
    assert.ok(keep("results/a/3/x.p"));
    assert.ok(keep("logs/a.log"));
    assert.ok(keep("logs/a/3.log"));
    assert.ok(!keep("results/ab/x.p"));
    assert.ok(!keep("logs/a.log2"));
    assert.deepStrictEqual(prefixesFor([]), ["results/", "logs/"]);
  });
});
