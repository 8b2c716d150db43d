import { strict as assert } from "assert";
import fc from "fast-check";
import { ACTION, RESOURCE, covers, isWildcardResource, matches } from "../../policy/iam-patterns";

describe("IAM wildcard patterns", () => {
  it("match actions as IAM does: * any run, ? one character, case-insensitively", () => {
    const cases: [string, string, boolean][] = [
      ["s3:*", "s3:GetObject", true],
      ["s3:**", "s3:GetObject", true],
      ["S3:GET*", "s3:getobject", true],
      ["s3:Get?bject", "s3:GetObject", true],
      ["s3:Get?", "s3:GetObject", false],
      ["s3:*Object", "s3:PutObject", true],
      ["s3:Get*", "s3:PutObject", false],
      ["iam:Put*Policy", "iam:PutRolePolicy", true],
      ["*", "iam:PassRole", true],
      ["?*", "iam:PassRole", true],
      ["s3:GetObject", "s3:GetObjectAcl", false],
    ];
    for (const [pattern, action, expected] of cases) {
      assert.equal(matches(pattern, action, ACTION), expected, `${pattern} vs ${action}`);
    }
  });

  it("tell whether one pattern grants everything another stands for", () => {
    const cases: [string, string, boolean][] = [
      ["s3:**", "s3:*", true],
      ["**", "*", true],
      ["*?*", "?*", true],
      ["?*", "*?", true],
      ["*", "s3:*", true],
      ["s3:*", "*", false],
      ["s3:G*", "s3:Get*", true],
      ["s3:Get*", "s3:G*", false],
      ["s3:Get?*", "s3:Get*", false],
      ["iam:*", "iam:PassRole", true],
      ["iam:Pass*", "iam:*", false],
      ["*?", "*a", true],
      ["?*", "*a*", true],
      ["*a*", "?a*", true],
      ["a*a", "a*", false],
      ["?*", "*", false], // `*` also matches the empty name
    ];
    for (const [pattern, granted, expected] of cases) {
      assert.equal(covers(pattern, granted, ACTION), expected, `${pattern} ⊇ ${granted}`);
    }
  });

  it("keep a resource * inside its ARN segment unless it ends the segment", () => {
    assert.ok(matches("arn:aws:s3:::*", "arn:aws:s3:::bucket/key:with:colons", RESOURCE));
    assert.ok(matches("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b", RESOURCE));
    assert.ok(!matches("arn:aws:s3:::b*t/x", "arn:aws:s3:::b:t/x", RESOURCE));
    assert.ok(!matches("arn:aws:s3:::Bucket", "arn:aws:s3:::bucket", RESOURCE), "case-sensitive");
    assert.ok(covers("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/*", RESOURCE));
    assert.ok(!covers("arn:aws:s3:::bucket/inputs/*", "arn:aws:s3:::bucket/*", RESOURCE));
    assert.ok(covers("arn:aws:s3:::?*", "arn:aws:s3:::bucket/*", RESOURCE));
  });

  it("is exact: agrees with trying every name up to 5 characters (patterns up to 3)", () => {
    const patterns = [""];
    const names = [""];
    for (let length = 1; length <= 5; length++) {
      const grow = (list: string[], chars: string[]) =>
        list.filter((x) => x.length === length - 1).flatMap((x) => chars.map((c) => x + c));
      if (length <= 3) {
        patterns.push(...grow(patterns, ["a", ":", "*", "?"]));
      }
      names.push(...grow(names, ["a", ":", "c"]));
    }
    for (const kind of [ACTION, RESOURCE]) {
      const matched = new Map(
        patterns.map((p) => [p, new Set(names.filter((n) => matches(p, n, kind)))]),
      );
      const wrong: string[] = [];
      for (const p of patterns) {
        for (const g of patterns) {
          const brute = [...(matched.get(g) ?? [])].every((n) => matched.get(p)?.has(n));
          if (covers(p, g, kind) !== brute) {
            wrong.push(`${JSON.stringify(p)} ⊇ ${JSON.stringify(g)}: ${brute}`);
          }
        }
      }
      assert.deepEqual(wrong.slice(0, 5), [], kind.segmented ? "resources" : "actions");
    }
  });

  it("never claims a pattern covers a name it does not match (property)", () => {
    const alphabet = fc.constantFrom("a", "b", ":", "*", "?");
    const pattern = fc.array(alphabet, { maxLength: 6 }).map((cs) => cs.join(""));
    const fill = fc.array(fc.constantFrom("a", "b", ":", "c"), { maxLength: 3 });
    fc.assert(
      fc.property(
        pattern,
        pattern,
        fc.array(fill, { minLength: 8, maxLength: 8 }),
        (p, g, fills) => {
          fc.pre(covers(p, g, ACTION));
          // Any concrete name `g` matches, `p` must match: fill g's wildcards at random.
          let k = 0;
          const name = g.replace(/[*?]/g, (w) => {
            const chars = fills[k++ % fills.length];
            return w === "?" ? (chars[0] ?? "c") : chars.join("");
          });
          return matches(p, name, ACTION);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("isWildcardResource tells unscoped patterns from scoped ones", () => {
    const everything = [
      "*",
      "**",
      "?*",
      "*?",
      "arn:aws:s3:::*",
      "arn:aws:s3:::?*",
      "arn:aws:s3:::*?",
      "arn:aws:s3:::*/*",
      "arn:aws:s3:::?*/?*",
      "arn:aws:*:*:*:*",
      "arn:*:*:*:*:*",
      "arn:aws-cn:s3:::*",
      "arn:aws:iam::*:*",
      "arn:aws:iam::????????????:*",
      "arn:aws:s3:::*:*",
      "arn:aws:s3::*",
      "arn:aws:*",
      "arn:*",
      "arn:?*",
    ];
    const scoped = [
      "arn:aws:s3:::batchpy-dev-bucket/*",
      "arn:aws:s3:::batchpy-dev-bucket",
      "arn:aws:s3:::*-logs/*",
      "arn:aws:s3:::*/inputs/*",
      "arn:aws:iam::123456789012:role/*",
      "arn:aws:s3:us-east-1:*:*",
      "arn:aws:*:*:123456789012:*",
      "arn:aws:s3:::",
      "arn:aws",
      "?",
      "???",
      "arn:aws:s3:::???",
      "batchpy-dev-bucket",
    ];
    assert.deepEqual(
      everything.filter((r) => !isWildcardResource(r)),
      [],
      "every resource",
    );
    assert.deepEqual(
      scoped.filter((r) => isWildcardResource(r)),
      [],
      "scoped",
    );
  });
});
