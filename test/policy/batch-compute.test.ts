import {
  batchComputeMinVcpusZero,
  batchComputeNoCustomServiceRole,
} from "../../policy/batch-compute";
import { TYPES } from "../../policy/resources";
import { ACCOUNT, computeEnvironment, fargateComputeEnvironment } from "./fixtures";
import {
  assertHasResourceViolation,
  assertNoResourceViolations,
  resourceArgs,
  runResourcePolicy,
  unknown,
} from "./policy-helpers";
import { strict as assert } from "assert";

const policy = batchComputeMinVcpusZero;
const ce = (props: object) =>
  resourceArgs(TYPES.computeEnvironment, props, { name: "batchpy-dev-ce" });

describe("batch-compute-min-vcpus-zero", () => {
  it("passes the dev stack's EC2 environment, which scales to zero", async () => {
    await assertNoResourceViolations(policy, ce(computeEnvironment()));
  });

  it("reports an EC2 environment with minVcpus 2, naming the resource and the value", async () => {
    const props = computeEnvironment();
    props.computeResources = { ...props.computeResources!, minVcpus: 2 };
    await assertHasResourceViolation(
      policy,
      ce(props),
      "'batchpy-dev-ce'",
      "computeResources.minVcpus is 2",
      "Fix: set computeResources.minVcpus to 0",
    );
  });

  it("reports a SPOT environment with a floor too", async () => {
    const props = computeEnvironment();
    props.computeResources = { ...props.computeResources!, type: "SPOT", minVcpus: 4 };
    await assertHasResourceViolation(policy, ce(props), "minVcpus is 4 in this SPOT environment");
  });

  it("passes an EC2 environment without minVcpus: AWS defaults it to 0", async () => {
    const props = computeEnvironment();
    delete props.computeResources!.minVcpus;
    await assertNoResourceViolations(policy, ce(props));
  });

  it("passes Fargate environments, which have no minimum", async () => {
    await assertNoResourceViolations(policy, ce(fargateComputeEnvironment()));
    const spot = fargateComputeEnvironment();
    spot.computeResources = { ...spot.computeResources!, type: "FARGATE_SPOT" };
    await assertNoResourceViolations(policy, ce(spot));
  });

  it("passes unmanaged environments, whose instances Batch does not launch", async () => {
    await assertNoResourceViolations(policy, ce({ type: "UNMANAGED" }));
  });

  it("reports nothing while minVcpus, the compute type or computeResources is unknown", async () => {
    const minUnknown = computeEnvironment();
    minUnknown.computeResources = { ...minUnknown.computeResources!, minVcpus: unknown() };
    await assertNoResourceViolations(policy, ce(minUnknown));

    const typeUnknown = computeEnvironment();
    typeUnknown.computeResources = {
      ...typeUnknown.computeResources!,
      type: unknown(),
      minVcpus: 2,
    };
    await assertNoResourceViolations(policy, ce(typeUnknown));

    await assertNoResourceViolations(policy, ce({ type: "MANAGED", computeResources: unknown() }));
  });

  it("is not applicable to other resource types", async () => {
    const outcome = await runResourcePolicy(policy, resourceArgs(TYPES.jobQueue, {}));
    assert.match(outcome.notApplicable ?? "", /computeEnvironment/);
  });

  it("reads the number AWS keeps running, whatever the compute type's case", async () => {
    const props = computeEnvironment();
    props.computeResources = { ...props.computeResources!, type: "ec2", minVcpus: 8 };
    await assertHasResourceViolation(policy, ce(props), "minVcpus is 8 in this EC2 environment");
  });
});

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
