import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { PolicyCheckResult } from "../../policy/check/pack";
import { StackVerdict, formatVerdicts, markdownCell } from "../../policy/check/cli";

/** The markdown report the golden-file test expects; regenerate with UPDATE_GOLDEN=1. */
const GOLDEN = path.join(__dirname, "golden", "check-report.md");

function result(levels: ("mandatory" | "advisory")[]): PolicyCheckResult {
  return {
    pack: {
      name: "batchpy",
      version: "0.1.0",
      policies: [
        { name: "batch-compute-min-vcpus-zero", enforcementLevel: "mandatory" },
        { name: "ecr-scan-on-push", enforcementLevel: "advisory" },
      ],
    },
    config: {},
    warnings: [],
    resourcesAnalyzed: 30,
    diagnostics: levels.map((enforcementLevel) => ({
      policyName: "batch-compute-min-vcpus-zero",
      policyPackName: "batchpy",
      policyPackVersion: "0.1.0",
      description: "Checks whether every compute environment scales to zero.",
      message:
        "Checks whether every compute environment scales to zero.\nCompute environment 'ce' must scale to zero.",
      enforcementLevel,
      urn: "urn:pulumi:dev::batchpy::batchpy:compute:ComputeEnvironment$aws:batch/computeEnvironment:ComputeEnvironment::ce",
    })),
  };
}

const formatReport = (r: PolicyCheckResult) =>
  formatVerdicts([{ stack: "dev", result: r }], { json: false, markdown: false, allStacks: false });
const formatJson = (r: PolicyCheckResult) =>
  formatVerdicts([{ stack: "dev", result: r }], { json: true, markdown: false, allStacks: false });
// The pack's source is the folder as seen from the repository root: "local: policy".
const formatMarkdown = (verdicts: StackVerdict[]) =>
  formatVerdicts(verdicts, { json: false, markdown: true, allStacks: true });
const formatJsonStacks = (verdicts: StackVerdict[]) =>
  formatVerdicts(verdicts, { json: true, markdown: false, allStacks: true });

describe("policy:check report", () => {
  it("lays violations out like pulumi preview: level, policy, (type: name), message", () => {
    const text = formatReport(result(["mandatory"]));
    assert.equal(
      text.split("\n").slice(0, 5).join("\n"),
      [
        "Policies:",
        "    ❌ batchpy@v0.1.0 (local: policy)",
        "        - [mandatory]  batch-compute-min-vcpus-zero  (aws:batch/computeEnvironment:ComputeEnvironment: ce)",
        "          Checks whether every compute environment scales to zero.",
        "          Compute environment 'ce' must scale to zero.",
      ].join("\n"),
    );
    assert.match(
      text,
      /Stack dev: 30 resources checked against 2 policies: failed: 1 mandatory violation, 0 advisory warnings\./,
    );
  });

  it("passes with advisory warnings", () => {
    const text = formatReport(result(["advisory", "advisory"]));
    assert.match(text, /⚠️ batchpy@v0\.1\.0/);
    assert.match(text, /passed with 2 advisory warnings\./);
    assert.match(formatReport(result([])), /✅ batchpy@v0\.1\.0[\s\S]*: passed\./);
  });

  it("prints JSON with the verdict, counts and diagnostics", () => {
    const json = JSON.parse(formatJson(result(["mandatory", "advisory"]))) as {
      passed: boolean;
      mandatory: number;
      advisory: number;
      diagnostics: unknown[];
    };
    assert.equal(json.passed, false);
    assert.equal(json.mandatory, 1);
    assert.equal(json.advisory, 1);
    assert.equal(json.diagnostics.length, 2);
  });

  describe("--markdown", () => {
    const prodResult = (): PolicyCheckResult => {
      const base = result(["mandatory", "advisory"]);
      return {
        ...base,
        diagnostics: [
          base.diagnostics[0],
          {
            ...base.diagnostics[1],
            policyName: "iam-no-admin-access",
            description: "Checks whether any IAM policy grants AdministratorAccess.",
            message:
              "Checks whether any IAM policy grants AdministratorAccess.\n" +
              'Policy \'wide\' policy: statement 0 allows "s3:*" on "*" | and more. ' +
              "Fix: s3:GetObject on arn:aws:s3:::<bucket>/inputs/*.\nSecond line.",
            urn: "urn:pulumi:prod::batchpy::aws:iam/policy:Policy::wide",
          },
          {
            ...base.diagnostics[0],
            policyName: "s3-bucket-tls-only",
            urn: undefined,
            message: "A stack-level finding.",
          },
        ],
      };
    };
    const verdicts = [
      { stack: "dev", result: result([]) },
      { stack: "prod", result: prodResult() },
      { stack: "gpu", result: result(["advisory"]) },
      {
        stack: "broken",
        error:
          "the program failed for stack broken: Stack config 'batchpy:timeoutSeconds': must be an integer from 60 to 1209600.",
      },
    ];

    it("matches the golden file: a summary row per stack, then a table per stack", () => {
      const markdown = formatMarkdown(verdicts);
      if (process.env.UPDATE_GOLDEN) {
        fs.writeFileSync(GOLDEN, markdown);
      }
      assert.equal(markdown, fs.readFileSync(GOLDEN, "utf8"));
    });

    it("keeps each message in its cell: no line breaks, | escaped, no raw HTML", () => {
      assert.equal(
        markdownCell('a | b\nc <bucket> & "s3:*" on "*" my_var `x` [y] ~z \\'),
        'a \\| b<br>c &lt;bucket&gt; &amp; "s3:\\*" on "\\*" my\\_var \\`x\\` \\[y\\] \\~z \\\\',
      );
    });

    it("heads the report with the overall verdict", () => {
      assert.match(formatMarkdown([verdicts[0]]), /^## Policy check: ✅ passed\n/);
      assert.match(formatMarkdown(verdicts.slice(0, 2)), /^## Policy check: ❌ failed\n/);
      assert.match(formatMarkdown([verdicts[2]]), /^## Policy check: ⚠️ passed with warnings\n/);
      assert.match(formatMarkdown(verdicts), /^## Policy check: ⛔ could not check every stack\n/);
    });

    it("prints several stacks as JSON, passed only if every stack passed", () => {
      const json = JSON.parse(formatJsonStacks(verdicts)) as {
        passed: boolean;
        stacks: { stack: string; passed: boolean; error?: string }[];
      };
      assert.equal(json.passed, false);
      assert.deepEqual(
        json.stacks.map((s) => [s.stack, s.passed]),
        [
          ["dev", true],
          ["prod", false],
          ["gpu", true],
          ["broken", false],
        ],
      );
      assert.match(json.stacks[3].error ?? "", /timeoutSeconds/);
      assert.equal(JSON.parse(formatJsonStacks([verdicts[0]])).passed, true);
    });
  });
});
