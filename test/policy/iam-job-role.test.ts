import type * as aws from "../../components/aws";
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { BUCKET_PREFIXES } from "../../components/contract";
import {
  DEFAULT_READABLE_PREFIXES,
  DEFAULT_WRITABLE_PREFIXES,
  iamJobRoleBucketScope,
} from "../../policy/iam-job-role";
import { TYPES } from "../../policy/resources";
import { BUCKET_ARN, jobBucketDocument, role, rolePolicy } from "./fixtures";
import {
  type StackResourceInput,
  assertHasStackViolation,
  assertNoStackViolations,
  stackArgs,
} from "./policy-helpers";

const policy = iamJobRoleBucketScope;

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

describe("iam-job-role-bucket-scope", () => {
  it("reads and writes the contract's prefixes by default, as the example config lists", () => {
    const { inputs, results, logs } = BUCKET_PREFIXES;
    assert.deepStrictEqual(DEFAULT_READABLE_PREFIXES, [inputs, results]);
    assert.deepStrictEqual(DEFAULT_WRITABLE_PREFIXES, [results, logs]);
    const example = JSON.parse(
      fs.readFileSync(path.join(__dirname, "../../policy/policy-config.example.json"), "utf8"),
    ) as Record<string, unknown>;
    assert.deepStrictEqual(example["iam-job-role-bucket-scope"], {
      enforcementLevel: "mandatory",
      readablePrefixes: DEFAULT_READABLE_PREFIXES,
      writablePrefixes: DEFAULT_WRITABLE_PREFIXES,
    });
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
      "rewrite the submission claims",
      "Fix: grant s3:GetObject only on arn:aws:s3:::<bucket>/inputs/* and arn:aws:s3:::<bucket>/results/*, s3:PutObject only on arn:aws:s3:::<bucket>/results/* and arn:aws:s3:::<bucket>/logs/*.",
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
      "statement 0 allows s3:GetObject on *; statement 0 allows s3:PutObject on *",
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

  const reads = (Action: string, ...Resource: string[]): aws.iam.PolicyDocument => ({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: [Action], Resource }],
  });
  it("passes reads of inputs/ and results/ (and their sub-folders), writes of results/ and logs/", async () => {
    for (const key of ["inputs/*", "results/*", "results/grid_sweep/*", "inputs/data.csv"]) {
      await assertNoStackViolations(
        policy,
        stackArgs(jobRole(reads("s3:GetObject", `${BUCKET_ARN}/${key}`))),
      );
    }
    const writes = reads("s3:PutObject", `${BUCKET_ARN}/results/*`, `${BUCKET_ARN}/logs/*`);
    await assertNoStackViolations(policy, stackArgs(jobRole(writes)));
  });
  const wider: [string, aws.iam.PolicyDocument, string][] = [
    ["the whole bucket", reads("s3:GetObject", `${BUCKET_ARN}/*`), `${BUCKET_ARN}/*`],
    ["logs/", reads("s3:GetObject", `${BUCKET_ARN}/logs/*`), "logs/*"],
    ["a prefix of results", reads("s3:GetObject", `${BUCKET_ARN}/res*`), "res*"],
    ["every bucket's results/", reads("s3:GetObject", "arn:aws:s3:::*/results/*"), "*/results"],
    ["buckets by a wildcard", reads("s3:GetObject", "arn:aws:s3:::batchpy-*"), "batchpy-*"],
    ["the claims, by a wildcard action", reads("s3:Get*", `${BUCKET_ARN}/state/*`), "state/*"],
    ["writes to the claims", reads("s3:PutObject", `${BUCKET_ARN}/state/*`), "state/*"],
    ["writes to inputs/", reads("s3:PutObject", `${BUCKET_ARN}/inputs/*`), "inputs/*"],
  ];
  for (const [name, document, fragment] of wider) {
    it(`reports ${name}`, async () => {
      await assertHasStackViolation(
        policy,
        stackArgs(jobRole(document)),
        "job",
        "RolePolicy 'job-bucket-access': statement 0 allows",
        fragment,
      );
    });
  }
  it("takes the prefixes from the policy config", async () => {
    await assertHasStackViolation(
      policy,
      stackArgs(jobRole(), { readablePrefixes: ["inputs/"] }),
      "job",
      `allows s3:GetObject on ${BUCKET_ARN}/results/*`,
    );
  });
});
