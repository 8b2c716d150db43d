import * as assert from "assert";
import { JobRoles, jobBucketPolicy } from "../../components/job-roles";
import { json, mockRun, ofType, single } from "../helpers/pulumi";

const BUCKET = "arn:aws:s3:::data";

describe("JobRoles", () => {
  it("lets the job read inputs/ and results/ and write results/ and logs/ of its bucket, nothing more", async () => {
    const { resources, outputs } = await mockRun(() => {
      const roles = new JobRoles("r", { bucketArn: BUCKET });
      return { jobRoleArn: roles.jobRoleArn, executionRoleArn: roles.executionRoleArn };
    });
    const component = single(resources, "batchpy:iam:JobRoles");
    const roles = ofType(resources, "aws:iam/role:Role");
    assert.deepStrictEqual(roles.map((r) => r.name).sort(), ["r-execution", "r-job"]);
    for (const role of roles) {
      assert.strictEqual(role.parent, component.urn);
      assert.deepStrictEqual(json(role.inputs.assumeRolePolicy), {
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Principal: { Service: "ecs-tasks.amazonaws.com" },
            Action: "sts:AssumeRole",
          },
        ],
      });
    }
    const inline = single(resources, "aws:iam/rolePolicy:RolePolicy");
    assert.strictEqual(inline.inputs.role, roles.find((r) => r.name === "r-job")?.id);
    const statements = json<{ Statement: { Action: string[]; Resource: string[] }[] }>(
      inline.inputs.policy,
    ).Statement;
    assert.deepStrictEqual(
      statements.map((s) => [s.Action, s.Resource]),
      [
        [["s3:GetObject"], [`${BUCKET}/inputs/*`, `${BUCKET}/results/*`]],
        [["s3:ListBucket"], [BUCKET]],
        [["s3:PutObject"], [`${BUCKET}/results/*`, `${BUCKET}/logs/*`]],
      ],
    );
    assert.ok(
      !JSON.stringify(statements).includes('"s3:*"') &&
        !/"Resource":\["\*"\]/.test(JSON.stringify(statements)),
      "no wildcard action or resource",
    );
    const attachment = single(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment");
    assert.strictEqual(attachment.inputs.role, roles.find((r) => r.name === "r-execution")?.id);
    assert.strictEqual(
      attachment.inputs.policyArn,
      "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
    );
    assert.ok(
      ofType(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").every(
        (a) => !String(a.inputs.policyArn).includes("AmazonS3FullAccess"),
      ),
    );
    assert.match(String(outputs.jobRoleArn), /^arn:aws:iam::123456789012:role\/r-job/);
  });

  it("limits listing to the inputs/ and results/ prefixes", () => {
    const conditions = jobBucketPolicy(BUCKET).Statement.flatMap((s) =>
      typeof s !== "string" && s.Sid?.startsWith("List") ? [s.Condition] : [],
    );
    assert.deepStrictEqual(conditions, [
      { StringLike: { "s3:prefix": ["inputs/*", "results/*"] } },
    ]);
  });
});
