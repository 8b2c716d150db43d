import { batchComputeNoCustomServiceRole } from "../../policy/batch-compute-service-role";
import { TYPES } from "../../policy/resources";
import { ACCOUNT, computeEnvironment, fargateComputeEnvironment } from "./fixtures";
import {
  assertHasResourceViolation,
  assertNoResourceViolations,
  resourceArgs,
  unknown,
} from "./policy-helpers";

describe("batch-compute-no-custom-service-role", () => {
  const policy = batchComputeNoCustomServiceRole;
  const withRole = (serviceRole: string, base = computeEnvironment()) => ({ ...base, serviceRole });

  it("passes the dev stack's environment, which leaves serviceRole unset", async () => {
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.computeEnvironment, computeEnvironment()),
    );
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.computeEnvironment, fargateComputeEnvironment()),
    );
  });

  it("passes the service-linked role named explicitly", async () => {
    const slr = `arn:aws:iam::${ACCOUNT}:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch`;
    await assertNoResourceViolations(policy, resourceArgs(TYPES.computeEnvironment, withRole(slr)));
  });

  it("reports a custom role, with why it matters and the fix", async () => {
    const role = `arn:aws:iam::${ACCOUNT}:role/batchpy-dev-service-0a1b2c3`;
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.computeEnvironment, withRole(role), { name: "old-ce" }),
      "'old-ce' must not use a custom service role",
      role,
      "kill its running jobs",
      "Fix: leave serviceRole unset",
    );
  });

  it("skips a role ARN not known yet (preview); `pulumi up` decides", async () => {
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.computeEnvironment, withRole(unknown<string>())),
    );
  });

  it("ignores unmanaged environments", async () => {
    const unmanaged = { type: "UNMANAGED", serviceRole: `arn:aws:iam::${ACCOUNT}:role/custom` };
    await assertNoResourceViolations(policy, resourceArgs(TYPES.computeEnvironment, unmanaged));
  });

  it("says why in its description: in-place updates", () => {
    if (
      !/in place/.test(policy.description) ||
      !/AWSServiceRoleForBatch/.test(policy.description)
    ) {
      throw new Error(`description lacks the reason: ${policy.description}`);
    }
  });
});
