import * as assert from "assert";
import { Storage, tlsOnlyPolicy, validateStorageArgs } from "../../components/storage";
import { json, mockRun, ofType, single } from "../helpers/pulumi";

describe("Storage", () => {
  it("creates a private, encrypted, TLS-only bucket parented to the component", async () => {
    const { resources, outputs } = await mockRun(() => {
      const storage = new Storage("s", { forceDestroy: true });
      return { bucketName: storage.bucketName, bucketArn: storage.bucketArn };
    });
    const component = single(resources, "batchpy:storage:Storage");
    for (const r of resources.filter((r) => r !== component)) {
      assert.strictEqual(r.parent, component.urn, `${r.urn} is not parented to the component`);
    }
    const bucket = single(resources, "aws:s3/bucket:Bucket");
    assert.strictEqual(bucket.name, "s-bucket");
    assert.strictEqual(bucket.inputs.forceDestroy, true);
    assert.deepStrictEqual(
      single(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs,
      {
        bucket: bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
    );
    assert.deepStrictEqual(
      single(
        resources,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      ).inputs.rules,
      [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
    );
    assert.deepStrictEqual(
      single(resources, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
        .rule as object,
      { objectOwnership: "BucketOwnerEnforced" },
    );
    const policy = single(resources, "aws:s3/bucketPolicy:BucketPolicy");
    assert.deepStrictEqual(json(policy.inputs.policy), tlsOnlyPolicy(`arn:aws:s3:::${bucket.id}`));
    assert.ok(
      policy.dependencies.some((urn) => urn.endsWith("::s-public-access-block")),
      "the bucket policy waits for Block Public Access",
    );
    assert.strictEqual(outputs.bucketName, bucket.id);
    assert.strictEqual(
      ofType(resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").length,
      0,
    );
  });

  it("keeps objects on destroy unless told otherwise", async () => {
    const { resources } = await mockRun(() => {
      new Storage("s");
      return {};
    });
    assert.strictEqual(single(resources, "aws:s3/bucket:Bucket").inputs.forceDestroy, false);
  });

  it("expires logs/ only, after the configured days", async () => {
    const { resources } = await mockRun(() => {
      new Storage("s", { logExpirationDays: 30 });
      return {};
    });
    const rules = single(
      resources,
      "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    ).inputs.rules;
    assert.deepStrictEqual(rules, [
      {
        id: "expire-logs",
        status: "Enabled",
        filter: { prefix: "logs/" },
        expiration: { days: 30 },
      },
    ]);
  });

  it("denies every non-TLS request to the bucket and its objects", () => {
    const statement = tlsOnlyPolicy("arn:aws:s3:::b").Statement[0];
    assert.deepStrictEqual(statement, {
      Sid: "DenyInsecureTransport",
      Effect: "Deny",
      Principal: "*",
      Action: "s3:*",
      Resource: ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    });
  });

  it("rejects a log expiry that is not a whole number of days", () => {
    assert.throws(
      () => validateStorageArgs("s", { logExpirationDays: 0 }),
      /Storage 's' has 'logExpirationDays' = 0; 'logExpirationDays' must be an integer from 1 to 36500/,
    );
  });
});
