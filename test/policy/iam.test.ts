import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { unknownCheckingProxy } from "@pulumi/policy";
import type * as aws from "../../components/aws";
import {
  DEFAULT_DENIED_ACTIONS,
  DEFAULT_DENIED_MANAGED_POLICIES,
  DEFAULT_ESCALATION_ACTIONS,
  forbiddenGrants,
  iamNoAdminAccess,
  publicTrustGrants,
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
      { Effect: "Allow", Action: "s3:*", Resource: "arn:aws:s3:::batchpy-dev-bucket/inputs/*" },
      { Effect: "Deny", Action: "*", Resource: "*" },
      { Effect: "Allow", Action: "s3:ListAllMyBuckets", Resource: "*" },
      // ECR's login token exists only on "*"; the execution role's managed policy grants it.
      { Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
      { Effect: "Allow", Action: "iam:PassRole", Resource: "arn:aws:iam::1:role/batchpy-job" },
      { Effect: "Allow", Action: "iam:GetRole", Resource: "arn:aws:iam::1:role/batchpy-job" },
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

  it("lists its defaults in the committed example policy config", () => {
    const example = JSON.parse(
      fs.readFileSync(
        path.join(__dirname, "..", "..", "policy", "policy-config.example.json"),
        "utf8",
      ),
    ) as Record<string, unknown>;
    assert.deepEqual(example["iam-no-admin-access"], {
      enforcementLevel: "mandatory",
      deniedManagedPolicies: DEFAULT_DENIED_MANAGED_POLICIES,
      deniedActions: DEFAULT_DENIED_ACTIONS,
      escalationActions: DEFAULT_ESCALATION_ACTIONS,
    });
  });

  it("is not applicable to non-IAM resources", async () => {
    const outcome = await runResourcePolicy(policy, resourceArgs(TYPES.bucket, {}));
    assert.ok(outcome.notApplicable);
  });

  it("names a managed policy by the last part of its ARN's path", async () => {
    const billing = rolePolicyAttachment("arn:aws:iam::aws:policy/job-function/Billing");
    const config = { deniedManagedPolicies: ["Billing"] };
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.iamRolePolicyAttachment, billing, { config }),
      "attaches Billing",
    );
  });

  it("helpers: forbiddenGrants", () => {
    assert.deepEqual(forbiddenGrants(JSON.stringify(jobBucketDocument()), ["s3:*"]), []);
    assert.ok(forbiddenGrants("nope", ["*"]) instanceof InvalidJson);
  });

  describe("evasions: other spellings of a denied grant", () => {
    const doc = (...Statement: object[]) => JSON.stringify({ Version: "2012-10-17", Statement });
    const allow = (Action: unknown, Resource: unknown = "*") => ({
      Effect: "Allow",
      Action,
      Resource,
    });
    const bucket = "arn:aws:s3:::batchpy-dev-bucket";
    /** Each must be reported, with the fragment named; one document per row. */
    const documents: [string, unknown, string][] = [
      [
        "repeated wildcards in a service's actions",
        doc(allow("s3:**")),
        '"s3:**" (which grants s3:*)',
      ],
      ["repeated wildcards for every action", doc(allow("**")), '"**" (which grants *)'],
      ["? and * for every action", doc(allow("?*")), '"?*" (which grants *)'],
      ["?-wildcard in the resource", doc(allow("s3:*", "arn:aws:s3:::?*")), 'on "arn:aws:s3:::?*"'],
      ["?-wildcard objects", doc(allow("s3:*", "arn:aws:s3:::?*/?*")), 'on "arn:aws:s3:::?*/?*"'],
      ["every account by ?", doc(allow("iam:*", "arn:aws:iam::????????????:*")), '"iam:*"'],
      ["iam:* on *", doc(allow("iam:*")), '"iam:*" on "*"'],
      ["IAM in capitals", doc(allow("IAM:*")), '"iam:*" on "*"'],
      ["sts:* on *", doc(allow("sts:*")), '"sts:*"'],
      ["s3:Get* on *", doc(allow("s3:Get*")), '"s3:get*" (which grants s3:GetObject)'],
      ["s3:Put* on *", doc(allow("s3:Put*")), '"s3:put*" (which grants s3:PutObject)'],
      ["s3:Delete* on *", doc(allow("s3:Delete*")), '"s3:delete*" (which grants s3:DeleteObject)'],
      ["s3:*Object on every bucket", doc(allow("s3:*Object", "arn:aws:s3:::*")), "s3:GetObject"],
      [
        "s3:GetObject on every object",
        doc(allow("s3:GetObject", "arn:aws:s3:::*/*")),
        "s3:GetObject",
      ],
      ["s3:Get?bject on *", doc(allow("s3:Get?bject")), "s3:GetObject"],
      ["iam:PassRole on *", doc(allow("iam:PassRole")), '"iam:passrole" on "*"'],
      ["iam:Pass* on *", doc(allow("iam:Pass*")), "iam:PassRole"],
      ["sts:AssumeRole on *", doc(allow("sts:AssumeRole")), '"sts:assumerole" on "*"'],
      [
        "iam:CreatePolicyVersion on a policy",
        doc(allow("iam:CreatePolicyVersion", "arn:aws:iam::1:policy/p")),
        "iam:CreatePolicyVersion, a privilege escalation",
      ],
      [
        "iam:SetDefaultPolicyVersion",
        doc(allow("iam:SetDefaultPolicyVersion", "arn:aws:iam::1:policy/p")),
        "privilege escalation",
      ],
      [
        "iam:AttachRolePolicy on a role",
        doc(allow("iam:AttachRolePolicy", "arn:aws:iam::1:role/job")),
        "iam:AttachRolePolicy, a privilege escalation",
      ],
      [
        "iam:PutRolePolicy on a role",
        doc(allow("iam:PutRolePolicy", "arn:aws:iam::1:role/job")),
        "iam:PutRolePolicy",
      ],
      [
        "iam:Put* on a role",
        doc(allow("iam:Put*", "arn:aws:iam::1:role/job")),
        '"iam:put*" (which grants iam:PutUserPolicy, a privilege escalation) on "arn:aws:iam::1:role/job"',
      ],
      [
        "iam:Attach*Policy",
        doc(allow("iam:Attach*Policy", "arn:aws:iam::1:role/job")),
        "privilege escalation",
      ],
      [
        "iam:CreateAccessKey on users",
        doc(allow("iam:CreateAccessKey", "arn:aws:iam::1:user/*")),
        "iam:CreateAccessKey",
      ],
      [
        "iam:UpdateAssumeRolePolicy",
        doc(allow("iam:UpdateAssumeRolePolicy", "arn:aws:iam::1:role/x")),
        "iam:UpdateAssumeRolePolicy",
      ],
      [
        "escalation with the resource unknown (preview)",
        { Statement: [allow("iam:PutRolePolicy", unknown())] },
        "iam:PutRolePolicy, a privilege escalation",
      ],
      [
        "NotAction on one role leaves escalation allowed",
        doc({ Effect: "Allow", NotAction: "s3:*", Resource: "arn:aws:iam::1:role/x" }),
        'every action except "s3:*"',
      ],
      [
        "NotAction on NotResource",
        doc({ Effect: "Allow", NotAction: "iam:*", NotResource: bucket }),
        "every action except",
      ],
      [
        "a second, scoped statement does not hide the first",
        doc(allow("s3:GetObject", `${bucket}/*`), allow("s3:**")),
        "statement 1",
      ],
      ["an action list with one bad entry", doc(allow(["s3:GetObject", "iam:*"])), '"iam:*"'],
      ["Effect in lower case", doc({ Effect: "allow", Action: "*", Resource: "*" }), '"*" on "*"'],
    ];
    for (const [name, policyDocument, fragment] of documents) {
      it(`reports ${name}`, async () => {
        await assertHasResourceViolation(
          policy,
          resourceArgs(TYPES.iamPolicy, { policy: policyDocument }, { name: "evasive" }),
          "Policy 'evasive' policy:",
          fragment,
        );
      });
    }

    const managed = [...DEFAULT_DENIED_MANAGED_POLICIES, "iamfullaccess"];
    it(`reports attaching ${managed.join(", ")}`, async () => {
      for (const name of managed) {
        await assertHasResourceViolation(
          policy,
          resourceArgs(
            TYPES.iamRolePolicyAttachment,
            rolePolicyAttachment(`arn:aws:iam::aws:policy/${name}`),
          ),
          `attaches ${name}`,
        );
      }
    });

    const trust = (statement: object) =>
      resourceArgs(TYPES.iamRole, { assumeRolePolicy: doc(statement) }, { name: "open" });
    const assume = { Effect: "Allow", Action: "sts:AssumeRole" };
    const trusts: [string, object, string][] = [
      [
        'Principal {"AWS": "*"}',
        { ...assume, Principal: { AWS: "*" } },
        'everyone (Principal {"AWS":"*"})',
      ],
      [
        'Principal {"AWS": ["*"]}',
        { ...assume, Principal: { AWS: ["arn:aws:iam::1:root", "*"] } },
        "everyone",
      ],
      ['Principal "*"', { ...assume, Principal: "*" }, 'everyone (Principal "*")'],
      [
        "an Allow with NotPrincipal",
        { ...assume, NotPrincipal: { AWS: "arn:aws:iam::1:root" } },
        "every principal but",
      ],
      [
        "a condition that restricts nothing",
        { ...assume, Principal: "*", Condition: { Bool: { "aws:SecureTransport": "true" } } },
        "everyone",
      ],
      [
        "an org condition matching every org",
        { ...assume, Principal: "*", Condition: { StringLike: { "aws:PrincipalOrgID": "*" } } },
        "everyone",
      ],
      [
        "an org condition only if it exists",
        {
          ...assume,
          Principal: "*",
          Condition: { StringEqualsIfExists: { "aws:PrincipalOrgID": "o-abc" } },
        },
        "everyone",
      ],
      [
        "GitHub OIDC with no sub condition",
        {
          Effect: "Allow",
          Action: "sts:AssumeRoleWithWebIdentity",
          Principal: {
            Federated: "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com",
          },
          Condition: {
            StringEquals: { "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" },
          },
        },
        "any GitHub repository",
      ],
      [
        "GitHub OIDC with sub repo:*",
        {
          Effect: "Allow",
          Action: "sts:AssumeRoleWithWebIdentity",
          Principal: {
            Federated: "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com",
          },
          Condition: { StringLike: { "token.actions.githubusercontent.com:sub": "repo:*" } },
        },
        "any GitHub repository",
      ],
    ];
    for (const [name, statement, fragment] of trusts) {
      it(`reports a trust policy with ${name}`, async () => {
        await assertHasResourceViolation(
          policy,
          trust(statement),
          "Role 'open' assumeRolePolicy:",
          fragment,
          "Fix:",
        );
      });
    }

    it("passes trust policies that name who may assume the role", async () => {
      const github = "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com";
      for (const statement of [
        { ...assume, Principal: { Service: "ecs-tasks.amazonaws.com" } },
        { ...assume, Principal: { AWS: "arn:aws:iam::123456789012:root" } },
        {
          ...assume,
          Principal: "*",
          Condition: { StringEquals: { "aws:PrincipalOrgID": "o-abc123" } },
        },
        { Effect: "Deny", Action: "sts:AssumeRole", Principal: "*" },
        {
          Effect: "Allow",
          Action: "sts:AssumeRoleWithWebIdentity",
          Principal: { Federated: github },
          Condition: {
            StringLike: { "token.actions.githubusercontent.com:sub": "repo:acme/batchpy:*" },
          },
        },
      ]) {
        await assertNoResourceViolations(policy, trust(statement));
      }
      await assertNoResourceViolations(policy, resourceArgs(TYPES.iamRole, role()));
    });

    it("never reports a trust policy, or a part of it, that is unknown (preview)", async () => {
      await assertNoResourceViolations(
        policy,
        resourceArgs(TYPES.iamRole, { assumeRolePolicy: unknown() }),
      );
      for (const statement of [
        { ...assume, Principal: unknown() },
        { ...assume, Principal: { AWS: unknown() } },
        { ...assume, Principal: "*", Condition: unknown() },
        {
          ...assume,
          Principal: "*",
          Condition: { StringEquals: { "aws:PrincipalOrgID": unknown() } },
        },
        { ...assume, Effect: unknown(), Principal: "*" },
      ]) {
        // A document with an unknown part is an object (a JSON string would be unknown whole).
        const document = { Statement: [statement] };
        assert.deepEqual(
          publicTrustGrants(unknownCheckingProxy(document)),
          [],
          JSON.stringify(statement),
        );
        await assertNoResourceViolations(
          policy,
          resourceArgs(TYPES.iamRole, { assumeRolePolicy: document }),
        );
      }
    });

    it("never reports a permission grant whose deciding part is unknown (preview)", async () => {
      for (const statement of [
        allow(unknown()),
        allow("s3:*", unknown()),
        allow(["s3:*", unknown()]),
        { Effect: unknown(), Action: "*", Resource: "*" },
        { Effect: "Allow", NotAction: unknown(), Resource: "arn:aws:iam::1:role/x" },
      ]) {
        await assertNoResourceViolations(
          policy,
          resourceArgs(TYPES.iamPolicy, {
            policy: { Version: "2012-10-17", Statement: [statement] },
          }),
        );
      }
    });
  });
});
