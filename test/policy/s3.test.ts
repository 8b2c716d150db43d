import { strict as assert } from "assert";
import type * as aws from "../../components/aws";
import { unknownCheckingProxy } from "@pulumi/policy";
import type { Unwrap } from "@pulumi/pulumi";
import { TYPES } from "../../policy/resources";
import {
  policyDeniesInsecureTransport,
  s3BucketPublicAccessBlocked,
  s3BucketTlsOnly,
} from "../../policy/s3";
import { UNKNOWN } from "../../policy/values";
import {
  BUCKET_ARN,
  BUCKET_NAME,
  bucket,
  bucketPolicy,
  publicAccessBlock,
  tlsOnlyDocument,
  tlsOnlyStatement,
} from "./fixtures";
import {
  StackResourceInput,
  assertHasStackViolation,
  assertNoStackViolations,
  stackArgs,
  unknown,
} from "./policy-helpers";

/** The program's storage as the engine sees it after `pulumi up`: all values known. */
function storage(): StackResourceInput[] {
  return [
    { type: TYPES.bucket, name: "bucket", props: bucket() },
    {
      type: TYPES.bucketPublicAccessBlock,
      name: "public-access-block",
      props: publicAccessBlock(),
      propertyDependencies: { bucket: ["bucket"] },
    },
    {
      type: TYPES.bucketPolicy,
      name: "tls-only",
      props: bucketPolicy(),
      propertyDependencies: { bucket: ["bucket"], policy: ["bucket"] },
    },
  ];
}

/** The same during preview: the bucket's name and ARN are not known yet. */
function storageInPreview(): StackResourceInput[] {
  return [
    {
      type: TYPES.bucket,
      name: "bucket",
      props: { forceDestroy: true, bucket: unknown(), arn: unknown() },
    },
    {
      type: TYPES.bucketPublicAccessBlock,
      name: "public-access-block",
      props: { ...publicAccessBlock(), bucket: unknown() },
      propertyDependencies: { bucket: ["bucket"] },
    },
    {
      type: TYPES.bucketPolicy,
      name: "tls-only",
      props: { bucket: unknown(), policy: unknown() },
      propertyDependencies: { bucket: ["bucket"], policy: ["bucket"] },
    },
  ];
}

function replace(
  resources: StackResourceInput[],
  name: string,
  change: (r: StackResourceInput) => StackResourceInput | undefined,
): StackResourceInput[] {
  return resources.flatMap((r) => {
    if (r.name !== name) {
      return [r];
    }
    const changed = change(r);
    return changed ? [changed] : [];
  });
}

describe("s3-bucket-public-access-blocked", () => {
  const policy = s3BucketPublicAccessBlocked;

  it("passes the program's bucket with its BucketPublicAccessBlock", async () => {
    await assertNoStackViolations(policy, stackArgs(storage()));
  });

  it("passes during preview, linking the block by dependency while the name is unknown", async () => {
    await assertNoStackViolations(policy, stackArgs(storageInPreview()));
  });

  it("links a block by the bucket's name when no dependency is recorded", async () => {
    const resources = replace(storage(), "public-access-block", (r) => ({
      ...r,
      propertyDependencies: undefined,
    }));
    await assertNoStackViolations(policy, stackArgs(resources));
  });

  it("reports a bucket without a block, naming the bucket and the fix", async () => {
    const resources = replace(storage(), "public-access-block", () => undefined);
    await assertHasStackViolation(
      policy,
      stackArgs(resources),
      "bucket",
      "S3 bucket 'bucket' has no BucketPublicAccessBlock",
      "Fix: add new aws.s3.BucketPublicAccessBlock",
    );
  });

  it("reports a bucket whose only block belongs to another bucket", async () => {
    const resources = replace(storage(), "public-access-block", (r) => ({
      ...r,
      props: publicAccessBlock("some-other-bucket"),
      propertyDependencies: {},
    }));
    await assertHasStackViolation(
      policy,
      stackArgs(resources),
      "bucket",
      "has no BucketPublicAccessBlock",
    );
  });

  it("reports each setting left false or unset on the block", async () => {
    const resources = replace(storage(), "public-access-block", (r) => ({
      ...r,
      props: { ...publicAccessBlock(), blockPublicPolicy: false, restrictPublicBuckets: undefined },
    }));
    await assertHasStackViolation(
      policy,
      stackArgs(resources),
      "public-access-block",
      "blockPublicPolicy = false, restrictPublicBuckets = (not set)",
      "Fix: set blockPublicPolicy, restrictPublicBuckets to true",
    );
  });

  it("reports a public canned ACL on the bucket", async () => {
    const resources = replace(storage(), "bucket", (r) => ({
      ...r,
      props: { ...bucket(), acl: "public-read" },
    }));
    await assertHasStackViolation(policy, stackArgs(resources), "bucket", 'acl "public-read"');
  });

  it("reports a public canned ACL set by a BucketAcl, under its v7 and v6 type names", async () => {
    for (const type of [TYPES.bucketAcl, TYPES.bucketAclV2]) {
      const props: Unwrap<aws.s3.BucketAclArgs> = { bucket: BUCKET_NAME, acl: "public-read" };
      const resources = [...storage(), { type, name: "bucket-acl", props }];
      await assertHasStackViolation(
        policy,
        stackArgs(resources),
        "bucket-acl",
        `BucketAcl 'bucket-acl' sets acl "public-read", which makes the bucket's objects public`,
        "Fix: remove the BucketAcl",
      );
    }
  });

  it("passes a BucketAcl with a private or unknown canned ACL", async () => {
    for (const acl of ["private", "bucket-owner-full-control", unknown<string>()]) {
      const props: Unwrap<aws.s3.BucketAclArgs> = { bucket: BUCKET_NAME, acl };
      const resources = [...storage(), { type: TYPES.bucketAcl, name: "bucket-acl", props }];
      await assertNoStackViolations(policy, stackArgs(resources));
    }
  });

  it("reports nothing while the block's link or a setting is unknown", async () => {
    const unlinked = replace(storageInPreview(), "public-access-block", (r) => ({
      ...r,
      propertyDependencies: undefined,
    }));
    await assertNoStackViolations(policy, stackArgs(unlinked));
    const setting = replace(storage(), "public-access-block", (r) => ({
      ...r,
      props: { ...publicAccessBlock(), blockPublicAcls: unknown() },
    }));
    await assertNoStackViolations(policy, stackArgs(setting));
  });
});

describe("s3-bucket-tls-only", () => {
  const policy = s3BucketTlsOnly;

  it("passes the program's bucket with its TLS-only bucket policy", async () => {
    await assertNoStackViolations(policy, stackArgs(storage()));
  });

  it("passes during preview, when the policy document is unknown", async () => {
    await assertNoStackViolations(policy, stackArgs(storageInPreview()));
  });

  it("reports a bucket without a bucket policy", async () => {
    const resources = replace(storage(), "tls-only", () => undefined);
    await assertHasStackViolation(
      policy,
      stackArgs(resources),
      "bucket",
      "S3 bucket 'bucket' has no bucket policy",
      "aws:SecureTransport",
    );
  });

  it("reports a bucket policy with no TLS statement, on the bucket policy", async () => {
    const resources = replace(storage(), "tls-only", (r) => ({
      ...r,
      props: {
        bucket: "batchpy-dev-bucket-9f8e7d6",
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Deny", Principal: "*", Action: "s3:DeleteBucket", Resource: BUCKET_ARN },
          ],
        }),
      },
    }));
    await assertHasStackViolation(
      policy,
      stackArgs(resources),
      "tls-only",
      "BucketPolicy 'tls-only' for bucket 'bucket' does not deny requests without TLS",
      "Fix: add",
    );
  });

  it("accepts the policy as an object and the bucket's own policy input", async () => {
    const objectPolicy = replace(storage(), "tls-only", (r) => ({
      ...r,
      props: { bucket: "batchpy-dev-bucket-9f8e7d6", policy: tlsOnlyDocument() },
    }));
    await assertNoStackViolations(policy, stackArgs(objectPolicy));
    const inline = replace(storage(), "tls-only", () => undefined).map((r) =>
      r.name === "bucket"
        ? { ...r, props: { ...bucket(), policy: JSON.stringify(tlsOnlyDocument()) } }
        : r,
    );
    await assertNoStackViolations(policy, stackArgs(inline));
  });

  it("skips, rather than fails, a TLS condition whose list has an unknown item (preview)", async () => {
    // An aws.iam.PolicyDocument object with an Output inside: the engine sends the item as
    // unknown, and the policy sees the list through a proxy that throws when it is read.
    const withCondition = (values: string[]) =>
      replace(storage(), "tls-only", (r) => ({
        ...r,
        props: {
          bucket: BUCKET_NAME,
          policy: {
            Version: "2012-10-17",
            Statement: [
              { ...tlsOnlyStatement(), Condition: { Bool: { "aws:SecureTransport": values } } },
            ],
          },
        },
      }));
    await assertNoStackViolations(policy, stackArgs(withCondition([unknown()])));
    await assertNoStackViolations(policy, stackArgs(withCondition(["false", unknown()])));
    await assertHasStackViolation(
      policy,
      stackArgs(withCondition(["true"])),
      "tls-only",
      "does not deny requests without TLS",
    );
    const proxied = (values: string[]) =>
      unknownCheckingProxy({
        Statement: [
          { ...tlsOnlyStatement(), Condition: { Bool: { "aws:SecureTransport": values } } },
        ],
      });
    assert.equal(policyDeniesInsecureTransport(proxied([unknown()]), BUCKET_ARN), UNKNOWN);
    assert.equal(policyDeniesInsecureTransport(proxied([unknown(), "false"]), BUCKET_ARN), true);
    assert.equal(policyDeniesInsecureTransport(proxied(["true", unknown()]), BUCKET_ARN), UNKNOWN);
  });

  it("policyDeniesInsecureTransport reads the statement's parts", () => {
    const deny = tlsOnlyStatement();
    const arns = BUCKET_ARN;
    const document = (statement: object) => ({ Version: "2012-10-17", Statement: [statement] });
    assert.equal(policyDeniesInsecureTransport(JSON.stringify(tlsOnlyDocument()), arns), true);
    assert.equal(
      policyDeniesInsecureTransport(document({ ...deny, Effect: "Allow" }), arns),
      false,
    );
    const tlsTrue = { ...deny, Condition: { Bool: { "aws:SecureTransport": "true" } } };
    assert.equal(policyDeniesInsecureTransport(document(tlsTrue), arns), false);
    assert.equal(
      policyDeniesInsecureTransport(document({ ...deny, Resource: BUCKET_ARN }), arns),
      false,
    );
    assert.equal(
      policyDeniesInsecureTransport(document({ ...deny, Principal: { AWS: ["*"] } }), arns),
      true,
    );
    assert.equal(policyDeniesInsecureTransport(UNKNOWN, arns), UNKNOWN);
  });

  describe("TLS-deny statements that do not cover this bucket and all its objects", () => {
    const other = "arn:aws:s3:::someone-elses-bucket";
    const withStatements = (...Statement: object[]) =>
      replace(storage(), "tls-only", (r) => ({
        ...r,
        props: {
          bucket: BUCKET_NAME,
          policy: JSON.stringify({ Version: "2012-10-17", Statement }),
        },
      }));
    const deny = (Resource: unknown, extra: object = {}) => ({
      ...tlsOnlyStatement(),
      Resource,
      ...extra,
    });
    const evasions: [string, object[]][] = [
      ["another bucket", [deny([other, `${other}/*`])]],
      ["one prefix of this bucket", [deny([BUCKET_ARN, `${BUCKET_ARN}/inputs/*`])]],
      ["the bucket but no objects", [deny(BUCKET_ARN)]],
      ["the objects but not the bucket", [deny(`${BUCKET_ARN}/*`)]],
      ["a ?-pattern that misses this bucket", [deny(["arn:aws:s3:::?", "arn:aws:s3:::?/*"])]],
      [
        "a bucket-name prefix of another bucket",
        [deny([`${BUCKET_ARN}-logs`, `${BUCKET_ARN}-logs/*`])],
      ],
      [
        "only GetObject denied",
        [deny([BUCKET_ARN, `${BUCKET_ARN}/*`], { Action: "s3:GetObject" })],
      ],
      ["s3:Get* denied", [deny([BUCKET_ARN, `${BUCKET_ARN}/*`], { Action: "s3:Get*" })]],
      [
        "NotResource excluding this bucket's objects",
        [{ ...deny(undefined), NotResource: `${BUCKET_ARN}/*` }],
      ],
      [
        "NotAction excluding S3",
        [{ ...deny([BUCKET_ARN, `${BUCKET_ARN}/*`]), Action: undefined, NotAction: "s3:Put*" }],
      ],
      [
        "a principal that is not everyone",
        [deny([BUCKET_ARN, `${BUCKET_ARN}/*`], { Principal: { AWS: "arn:aws:iam::1:root" } })],
      ],
      ["another partition", [deny(["arn:aws-cn:s3:::batchpy", "arn:aws:s3:::other/*"])]],
    ];
    for (const [name, statements] of evasions) {
      it(`reports a TLS deny covering ${name}`, async () => {
        await assertHasStackViolation(
          policy,
          stackArgs(withStatements(...statements)),
          "tls-only",
          "does not deny requests without TLS to the bucket and all its objects",
          `(${BUCKET_ARN} and ${BUCKET_ARN}/*)`,
        );
      });
    }

    const covering: [string, object[]][] = [
      ["the program's statement", [tlsOnlyStatement()]],
      ["Resource *", [deny("*")]],
      ["every bucket", [deny("arn:aws:s3:::*")]],
      [
        "?-patterns that reach it",
        [deny(["arn:aws:s3:::batchpy-dev-bucket-???????", "arn:aws:s3:::?*/*"])],
      ],
      ["two statements, one each", [deny(BUCKET_ARN), deny(`${BUCKET_ARN}/*`, { Sid: "Objects" })]],
      ["s3:** and S3:* actions", [deny([BUCKET_ARN, `${BUCKET_ARN}/*`], { Action: ["S3:**"] })]],
      [
        "NotResource of another bucket",
        [{ ...deny(undefined), NotResource: [other, `${other}/*`] }],
      ],
      ["NotAction outside S3", [{ ...deny("*"), Action: undefined, NotAction: "iam:*" }]],
    ];
    for (const [name, statements] of covering) {
      it(`passes a TLS deny covering this bucket: ${name}`, async () => {
        await assertNoStackViolations(policy, stackArgs(withStatements(...statements)));
      });
    }

    it("uses the bucket's ARN when known, and never reports while it is unknown", async () => {
      const cn = "arn:aws-cn:s3:::batchpy-cn";
      const inChina = withStatements(deny([cn, `${cn}/*`])).map((r) =>
        r.name === "bucket" ? { ...r, props: { bucket: "batchpy-cn", region: "cn-north-1" } } : r,
      );
      await assertNoStackViolations(policy, stackArgs(inChina));
      const unknownBucket = withStatements(deny([other, `${other}/*`])).map((r) =>
        r.name === "bucket" ? { ...r, props: { bucket: unknown(), arn: unknown() } } : r,
      );
      await assertNoStackViolations(policy, stackArgs(unknownBucket));
      // An unknown part makes a JSON string unknown whole: only an object document has one.
      const unknownResource = replace(storage(), "tls-only", (r) => ({
        ...r,
        props: {
          bucket: BUCKET_NAME,
          policy: { Statement: [deny([unknown(), `${BUCKET_ARN}/*`])] },
        },
      }));
      await assertNoStackViolations(policy, stackArgs(unknownResource));
    });
  });
});
