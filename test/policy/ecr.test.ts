import { ecrScanOnPush } from "../../policy/ecr";
import { TYPES } from "../../policy/resources";
import { strict as assert } from "assert";
import { repository } from "./fixtures";
import {
  assertHasResourceViolation,
  assertNoResourceViolations,
  resourceArgs,
  unknown,
} from "./policy-helpers";

describe("ecr-scan-on-push", () => {
  const policy = ecrScanOnPush;
  const repo = (props: object) =>
    resourceArgs(TYPES.ecrRepository, props, { name: "batchpy-dev-repo" });

  it("is advisory: a finding needs a person to judge it", () => {
    assert.equal(policy.enforcementLevel, "advisory");
  });

  it("passes the program's repository, which scans on push", async () => {
    await assertNoResourceViolations(policy, repo(repository()));
  });

  it("reports a repository that does not scan, with the value and the fix", async () => {
    await assertHasResourceViolation(
      policy,
      repo({ ...repository(), imageScanningConfiguration: { scanOnPush: false } }),
      "ECR repository 'batchpy-dev-repo' has imageScanningConfiguration.scanOnPush false",
      "Fix: set imageScanningConfiguration: { scanOnPush: true }",
    );
    await assertHasResourceViolation(
      policy,
      repo({ imageTagMutability: "MUTABLE" }),
      "scanOnPush (not set)",
    );
  });

  it("reports nothing while scanOnPush is unknown", async () => {
    await assertNoResourceViolations(
      policy,
      repo({ imageScanningConfiguration: { scanOnPush: unknown() } }),
    );
  });
});
