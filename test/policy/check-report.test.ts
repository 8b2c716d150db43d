import { strict as assert } from "assert";
import { PolicyCheckResult } from "../../policy/check/check";
import { formatJson, formatReport } from "../../policy/check/report";

function result(levels: ("mandatory" | "advisory")[]): PolicyCheckResult {
  return {
    pack: {
      name: "batchpy",
      version: "0.1.0",
      description: "",
      initialConfig: {},
      policies: [
        { name: "batch-compute-min-vcpus-zero", description: "d", enforcementLevel: "mandatory" },
        { name: "ecr-scan-on-push", description: "d", enforcementLevel: "advisory" },
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

describe("policy:check report", () => {
  const context = { stack: "dev", packSource: "local: policy" };

  it("lays violations out like pulumi preview: level, policy, (type: name), message", () => {
    const text = formatReport(result(["mandatory"]), context);
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
    const text = formatReport(result(["advisory", "advisory"]), context);
    assert.match(text, /⚠️ batchpy@v0\.1\.0/);
    assert.match(text, /passed with 2 advisory warnings\./);
    assert.match(formatReport(result([]), context), /✅ batchpy@v0\.1\.0[\s\S]*: passed\./);
  });

  it("prints JSON with the verdict, counts and diagnostics", () => {
    const json = JSON.parse(formatJson(result(["mandatory", "advisory"]), context)) as {
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
});
