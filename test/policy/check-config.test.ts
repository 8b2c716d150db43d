import { strict as assert } from "assert";
import {
  PolicyConfigError,
  PolicyPackConfig,
  PolicySummary,
  parsePolicyPackConfig,
  reconcilePolicyPackConfig,
  validateAgainstSchema,
} from "../../policy/check/policy-config";
import * as fs from "fs";
import * as path from "path";
import Ajv from "ajv";
import * as batchCompute from "../../policy/batch-compute";
import * as batchJobDefinition from "../../policy/batch-job-definition";
import * as cost from "../../policy/cost";
import * as ecr from "../../policy/ecr";
import * as iam from "../../policy/iam";
import * as s3 from "../../policy/s3";

const policies: PolicySummary[] = [
  {
    name: "batch-compute-max-vcpus-cap",
    enforcementLevel: "mandatory",
    configSchema: {
      properties: { maxVcpus: { type: "integer", minimum: 1, default: 64 } },
    },
  },
  { name: "ecr-scan-on-push", enforcementLevel: "advisory" },
];

describe("policy:check policy config", () => {
  it("reads levels given as strings and as objects with settings", () => {
    const config = parsePolicyPackConfig(
      JSON.stringify({
        "ecr-scan-on-push": "mandatory",
        "batch-compute-max-vcpus-cap": { enforcementLevel: "advisory", maxVcpus: 8 },
        "batch-job-timeout-required": { maxAttemptDurationSeconds: 3600 },
      }),
      "config.json",
    );
    assert.deepEqual(config, {
      "ecr-scan-on-push": { enforcementLevel: "mandatory", properties: {} },
      "batch-compute-max-vcpus-cap": { enforcementLevel: "advisory", properties: { maxVcpus: 8 } },
      "batch-job-timeout-required": { properties: { maxAttemptDurationSeconds: 3600 } },
    });
  });

  it("names the file, line and column of a JSON error", () => {
    assert.throws(
      () => parsePolicyPackConfig('{\n  "ecr-scan-on-push": "advisory",\n}', "config.json"),
      (err: Error) => err instanceof PolicyConfigError && /config\.json:3:1: /.test(err.message),
    );
  });

  it("refuses an unknown enforcement level, listing the valid ones", () => {
    assert.throws(
      () => parsePolicyPackConfig('{"ecr-scan-on-push": "sometimes"}', "c.json"),
      /"sometimes" is not an enforcement level; use one of advisory, mandatory, remediate, disabled/,
    );
  });

  it("fills schema defaults and each policy's level, then applies the file", () => {
    const { config, warnings } = reconcilePolicyPackConfig(policies, {});
    assert.deepEqual(config, {
      "batch-compute-max-vcpus-cap": {
        enforcementLevel: "mandatory",
        properties: { maxVcpus: 64 },
      },
      "ecr-scan-on-push": { enforcementLevel: "advisory", properties: {} },
    });
    assert.deepEqual(warnings, []);
    const changed = reconcilePolicyPackConfig(policies, {
      "batch-compute-max-vcpus-cap": { properties: { maxVcpus: 8 } },
    });
    assert.deepEqual(changed.config["batch-compute-max-vcpus-cap"], {
      enforcementLevel: "mandatory",
      properties: { maxVcpus: 8 },
    });
  });

  it("applies 'all' to every policy's level, then per-policy settings over it", () => {
    const { config } = reconcilePolicyPackConfig(policies, {
      all: { enforcementLevel: "advisory", properties: {} },
      "ecr-scan-on-push": { enforcementLevel: "disabled", properties: {} },
    });
    assert.equal(config["batch-compute-max-vcpus-cap"].enforcementLevel, "advisory");
    assert.equal(config["ecr-scan-on-push"].enforcementLevel, "disabled");
  });

  it("refuses settings that break the policy's schema, naming policy, key and value", () => {
    assert.throws(
      () =>
        reconcilePolicyPackConfig(
          policies,
          { "batch-compute-max-vcpus-cap": { properties: { maxVcpus: 0 } } },
          "c.json",
        ),
      /c\.json: "batch-compute-max-vcpus-cap": maxVcpus must be >= 1, not 0\./,
    );
  });

  it("warns about, and drops, a policy name the pack does not have", () => {
    const { config, warnings } = reconcilePolicyPackConfig(policies, {
      "ecr-scan-on-pull": { enforcementLevel: "mandatory", properties: {} },
    });
    assert.equal(config["ecr-scan-on-pull"], undefined);
    assert.match(warnings[0], /"ecr-scan-on-pull" is not a policy of this pack/);
  });

  it("keeps a file's names as data: __proto__ and constructor are unknown policies", () => {
    // JSON.parse, unlike an assignment, makes __proto__ an own key.
    const file = JSON.parse(
      '{"__proto__": {"enforcementLevel": "mandatory", "properties": {}},' +
        ' "constructor": {"enforcementLevel": "disabled", "properties": {}}}',
    ) as PolicyPackConfig;
    const { config, warnings } = reconcilePolicyPackConfig(policies, file);
    assert.strictEqual(Object.getPrototypeOf(config), Object.prototype);
    assert.deepEqual(Object.keys(config).sort(), [
      "batch-compute-max-vcpus-cap",
      "ecr-scan-on-push",
    ]);
    assert.strictEqual(warnings.length, 2);
  });

  it("validates the JSON schema keywords policies use", () => {
    assert.deepEqual(validateAgainstSchema({ type: "integer" }, 3, "n"), []);
    assert.deepEqual(validateAgainstSchema({ type: "integer" }, 3.5, "n"), [
      "n must be integer, not 3.5",
    ]);
    assert.deepEqual(validateAgainstSchema({ maximum: 10 }, 11, "n"), ["n must be <= 10, not 11"]);
    assert.deepEqual(
      validateAgainstSchema({ type: "array", items: { type: "string" } }, ["a", 1], "list"),
      ["list[1] must be string, not 1"],
    );
    assert.deepEqual(validateAgainstSchema({ enum: ["a", "b"] }, "c", "e"), [
      'e must be equal to one of the allowed values: "a", "b", not "c"',
    ]);
    assert.deepEqual(
      validateAgainstSchema(
        { type: "object", required: ["x"], additionalProperties: false },
        { y: 1 },
        "",
      ),
      ["x is required", "y is not a setting here"],
    );
  });

  it("accepts the committed example config", () => {
    const file = path.join(__dirname, "..", "..", "policy", "policy-config.example.json");
    const config = parsePolicyPackConfig(fs.readFileSync(file, "utf8"), file);
    assert.equal(config["ecr-scan-on-push"].enforcementLevel, "advisory");
    assert.equal(config["batch-compute-max-vcpus-cap"].properties.maxVcpus, 64);
  });

  it("the pack's own config schemas are valid draft-07 schemas (the check skips that step)", () => {
    const ajv = new Ajv({ strict: true });
    const modules = [batchCompute, batchJobDefinition, cost, ecr, iam, s3];
    const schemas = modules
      .flatMap((m) => Object.values(m as Record<string, unknown>))
      .filter(
        (v): v is { name: string; configSchema: object } =>
          v !== null && typeof v === "object" && "configSchema" in v,
      );
    assert.equal(schemas.length, 6);
    for (const { name, configSchema } of schemas) {
      assert.ok(
        ajv.validateSchema({ type: "object", ...configSchema }),
        `${name}: ${ajv.errorsText(ajv.errors)}`,
      );
      ajv.compile({ type: "object", ...configSchema });
    }
  });
});
