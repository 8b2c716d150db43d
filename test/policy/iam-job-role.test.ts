import type * as aws from "../../components/aws";
import * as assert from "assert";
import { STATE_PREFIX as CONTRACT_STATE_PREFIX } from "../../components/contract";
import { STATE_PREFIX, iamJobRoleNoStateAccess } from "../../policy/iam-job-role";
import { TYPES } from "../../policy/resources";
import { BUCKET_ARN, jobBucketDocument, role, rolePolicy } from "./fixtures";
import {
  type StackResourceInput,
  assertHasStackViolation,
  assertNoStackViolations,
  stackArgs,
} from "./policy-helpers";

const policy = iamJobRoleNoStateAccess;

/** The program's job role with its bucket policy, linked by dependency. */
function jobRole(document = jobBucketDocument()): StackResourceInput[] {
  return [
    { type: TYPES.iamRole, name: "job", props: role() },
    {
      type: TYPES.iamRolePolicy,
      name: "job-bucket-access",
      props: rolePolicy(document),
      propertyDependencies: { role: ["job"] },
    },
  ];
}

const wholeBucket = (action: string): aws.iam.PolicyDocument => ({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: [action], Resource: [`${BUCKET_ARN}/*`] }],
});

describe("iam-job-role-no-state-access", () => {
  it("guards the contract's state prefix", () => {
    assert.strictEqual(STATE_PREFIX, CONTRACT_STATE_PREFIX);
  });

  it("passes the program's job role: inputs, results and logs only", async () => {
    await assertNoStackViolations(policy, stackArgs(jobRole()));
  });

  it("refuses a job role that may write or read the whole bucket", async () => {
    await assertHasStackViolation(
      policy,
      stackArgs(jobRole(wholeBucket("s3:PutObject"))),
      "job",
      "Role 'job' (assumed by job containers) RolePolicy 'job-bucket-access'",
      `allows s3:PutObject on ${BUCKET_ARN}/*`,
      "rewrite the submission claims under state/",
    );
    await assertHasStackViolation(
      policy,
      stackArgs(jobRole(wholeBucket("s3:Get*"))),
      "job",
      "allows s3:GetObject on",
    );
  });

  it("refuses an inline grant of s3:* on every resource", async () => {
    const inline = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }],
    });
    const props = { ...role(), inlinePolicies: [{ name: "all", policy: inline }] };
    await assertHasStackViolation(
      policy,
      stackArgs([{ type: TYPES.iamRole, name: "job", props }]),
      "job",
      "inlinePolicies[0]: ",
      "allows s3:GetObject and s3:PutObject on *",
    );
  });

  it("leaves roles job containers do not assume alone (a submitter's role)", async () => {
    const resources = jobRole(wholeBucket("s3:PutObject"));
    const ci = {
      assumeRolePolicy: JSON.stringify({
        Statement: [
          {
            Effect: "Allow",
            Principal: { AWS: "arn:aws:iam::123456789012:root" },
            Action: "sts:AssumeRole",
          },
        ],
      }),
    };
    await assertNoStackViolations(
      policy,
      stackArgs([{ ...resources[0], props: ci }, resources[1]]),
    );
  });
});
