import { strict as assert } from "assert";
import type * as aws from "@pulumi/aws";
import {
  forbiddenGrants,
  iamNoAdminAccess,
  isWildcardResource,
  managedPolicyName,
} from "../../policy/iam";
import { TYPES } from "../../policy/resources";
import { InvalidJson } from "../../policy/values";
import { jobBucketDocument, role, rolePolicy, rolePolicyAttachment } from "./fixtures";
import {
  assertHasResourceViolation,
  assertNoResourceViolations,
  resourceArgs,
  runResourcePolicy,
  unknown,
} from "./policy-helpers";

const policy = iamNoAdminAccess;
const ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess";
const S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess";

describe("iam-no-admin-access", () => {
  it("passes the program's attachments and the job role's bucket-scoped policy", async () => {
    for (const arn of [
      "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
      "arn:aws:iam::aws:policy/service-role/AWSBatchServiceRole",
      "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
    ]) {
      await assertNoResourceViolations(
        policy,
        resourceArgs(TYPES.iamRolePolicyAttachment, rolePolicyAttachment(arn)),
      );
    }
    await assertNoResourceViolations(policy, resourceArgs(TYPES.iamRolePolicy, rolePolicy()));
    await assertNoResourceViolations(policy, resourceArgs(TYPES.iamRole, role()));
  });

  it("reports the tutorial user's AdministratorAccess attachment", async () => {
    await assertHasResourceViolation(
      policy,
      resourceArgs(
        TYPES.iamUserPolicyAttachment,
        { user: "batch-tutorial", policyArn: ADMIN },
        { name: "tutorial-admin" },
      ),
      "UserPolicyAttachment 'tutorial-admin' attaches AdministratorAccess",
      `policyArn = "${ADMIN}"`,
      "Fix:",
    );
  });

  it("reports the tutorial role's AmazonS3FullAccess, on every attachment kind", async () => {
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.iamRolePolicyAttachment, rolePolicyAttachment(S3_FULL)),
      "attaches AmazonS3FullAccess",
    );
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.iamRolePolicyAttachmentsExclusive, {
        roleName: "job",
        policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess", S3_FULL],
      }),
      "policyArns[1]",
    );
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.iamRole, { ...role(), managedPolicyArns: [ADMIN] }),
      "managedPolicyArns[0]",
    );
  });

  it("reports a document allowing s3:* on *, naming the statement", async () => {
    const document: aws.iam.PolicyDocument = {
      Version: "2012-10-17",
      Statement: [{ Sid: "Everything", Effect: "Allow", Action: ["s3:*"], Resource: "*" }],
    };
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.iamRolePolicy, rolePolicy(document), { name: "job-bucket-access" }),
      'RolePolicy \'job-bucket-access\' policy: statement 0 ("Everything") allows "s3:*" on "*"',
    );
  });

  it("reports *, *:* and NotAction grants on every resource, in any policy resource", async () => {
    for (const statement of [
      { Effect: "Allow", Action: "*", Resource: "*" },
      { Effect: "Allow", Action: "*:*", Resource: ["*"] },
      { Effect: "Allow", Action: "S3:*", Resource: "arn:aws:s3:::*" },
      { Effect: "Allow", NotAction: "iam:*", Resource: "*" },
    ]) {
      const policyDocument = JSON.stringify({ Version: "2012-10-17", Statement: [statement] });
      await assertHasResourceViolation(
        policy,
        resourceArgs(TYPES.iamPolicy, { policy: policyDocument }),
        "allows",
      );
    }
  });

  it("reports every-resource and every-object wildcards, naming the resource matched", async () => {
    for (const resource of [
      "arn:aws:s3:::*/*",
      "arn:aws:*:*:*:*",
      "arn:*:*:*:*:*",
      "arn:aws:s3:*:*:*",
      "arn:*",
    ]) {
      const policyDocument = JSON.stringify({
        Statement: [
          {
            Effect: "Allow",
            Action: "s3:*",
            Resource: ["arn:aws:s3:::batchpy-dev-bucket/*", resource],
          },
        ],
      });
      await assertHasResourceViolation(
        policy,
        resourceArgs(TYPES.iamPolicy, { policy: policyDocument }, { name: "wide" }),
        `Policy 'wide' policy: statement 0 allows "s3:*" on ${JSON.stringify(resource)}.`,
      );
    }
  });

  it("isWildcardResource tells unscoped patterns from scoped ones", () => {
    const everything = [
      "*",
      "**",
      "arn:aws:s3:::*",
      "arn:aws:s3:::*/*",
      "arn:aws:*:*:*:*",
      "arn:*:*:*:*:*",
      "arn:aws-cn:s3:::*",
      "arn:aws:iam::*:*",
      "arn:aws:s3:::*:*",
      "arn:aws:s3::*",
      "arn:aws:*",
      "arn:*",
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

  it("reports an inline policy of a role", async () => {
    const inline = JSON.stringify({ Statement: { Effect: "Allow", Action: "*", Resource: "*" } });
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.iamRole, { ...role(), inlinePolicies: [{ name: "all", policy: inline }] }),
      "inlinePolicies[0].policy",
    );
  });

  it("passes scoped and denying statements", async () => {
    for (const statement of [
      { Effect: "Allow", Action: "s3:*", Resource: "arn:aws:s3:::batchpy-dev-bucket/*" },
      { Effect: "Deny", Action: "*", Resource: "*" },
      { Effect: "Allow", Action: "s3:GetObject", Resource: "*" },
    ]) {
      const policyDocument = JSON.stringify({ Statement: [statement] });
      await assertNoResourceViolations(
        policy,
        resourceArgs(TYPES.iamPolicy, { policy: policyDocument }),
      );
    }
  });

  it("takes the denied policies and actions from the policy config", async () => {
    const config = { deniedManagedPolicies: ["PowerUserAccess"], deniedActions: ["iam:*"] };
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.iamRolePolicyAttachment, rolePolicyAttachment(ADMIN), { config }),
    );
    await assertHasResourceViolation(
      policy,
      resourceArgs(
        TYPES.iamRolePolicyAttachment,
        rolePolicyAttachment("arn:aws:iam::aws:policy/PowerUserAccess"),
        { config },
      ),
      "PowerUserAccess",
    );
    const iamAll = JSON.stringify({
      Statement: [{ Effect: "Allow", Action: "iam:*", Resource: "*" }],
    });
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.iamPolicy, { policy: iamAll }, { config }),
      '"iam:*"',
    );
  });

  it("reports a policy document that is not JSON", async () => {
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.iamRolePolicy, { role: "r", policy: "{Statement:" }),
      "not valid JSON",
    );
  });

  it("reports nothing while an ARN, a document or a statement part is unknown", async () => {
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.iamRolePolicyAttachment, rolePolicyAttachment(unknown())),
    );
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.iamRolePolicy, rolePolicy(unknown())),
    );
    const partly = JSON.stringify({
      Statement: [{ Effect: "Allow", Action: "s3:*", Resource: unknown() }],
    });
    await assertNoResourceViolations(policy, resourceArgs(TYPES.iamPolicy, { policy: partly }));
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.iamRole, {
        ...role(),
        managedPolicyArns: unknown(),
        inlinePolicies: unknown(),
      }),
    );
  });

  it("is not applicable to non-IAM resources", async () => {
    const outcome = await runResourcePolicy(policy, resourceArgs(TYPES.bucket, {}));
    assert.ok(outcome.notApplicable);
  });

  it("helpers: managedPolicyName and forbiddenGrants", () => {
    assert.equal(managedPolicyName("arn:aws:iam::aws:policy/job-function/Billing"), "Billing");
    assert.deepEqual(forbiddenGrants(JSON.stringify(jobBucketDocument()), ["s3:*"]), []);
    assert.ok(forbiddenGrants("nope", ["*"]) instanceof InvalidJson);
  });
});
