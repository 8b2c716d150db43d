import * as aws from "./aws";
import * as pulumi from "@pulumi/pulumi";
import { BUCKET_PREFIXES } from "./contract";
import { checkRanges } from "./validation";

export interface StorageArgs {
  /** Delete every object on `pulumi destroy`; off for results that outlive it. @default false */
  readonly forceDestroy?: pulumi.Input<boolean>;
  /** Days until objects under `logs/` expire (never results or inputs). @default - kept */
  readonly logExpirationDays?: number;
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export function validateStorageArgs(name: string, args: StorageArgs): void {
  checkRanges(`Storage '${name}'`, args, {
    logExpirationDays: [1, 36500, "S3 lifecycle expiration is a whole number of days"],
  });
}

/** The S3 bucket of a stack's `inputs/`, `results/` and `logs/`: private, encrypted, TLS only. */
export class Storage extends pulumi.ComponentResource {
  public readonly bucketName: pulumi.Output<string>;
  public readonly bucketArn: pulumi.Output<string>;

  constructor(name: string, args: StorageArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super("batchpy:storage:Storage", name, {}, opts);
    validateStorageArgs(name, args);
    const bucket = new aws.s3.Bucket(
      `${name}-bucket`,
      { forceDestroy: args.forceDestroy ?? false, tags: args.tags },
      { parent: this },
    );
    this.lockDown(name, bucket);
    if (args.logExpirationDays !== undefined) {
      new aws.s3.BucketLifecycleConfiguration(
        `${name}-lifecycle`,
        {
          bucket: bucket.id,
          rules: [
            {
              id: "expire-logs",
              status: "Enabled",
              filter: { prefix: BUCKET_PREFIXES.logs },
              expiration: { days: args.logExpirationDays },
            },
          ],
        },
        { parent: this },
      );
    }

    this.bucketName = bucket.bucket;
    this.bucketArn = bucket.arn;
    this.registerOutputs({ bucketName: this.bucketName, bucketArn: this.bucketArn });
  }

  private lockDown(name: string, bucket: aws.s3.Bucket): void {
    const parent = { parent: this };
    const publicAccessBlock = new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access-block`,
      {
        bucket: bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      parent,
    );
    // ACLs off: every object belongs to the bucket owner, whoever wrote it.
    new aws.s3.BucketOwnershipControls(
      `${name}-ownership`,
      { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
      parent,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        bucket: bucket.id,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
      },
      parent,
    );
    new aws.s3.BucketPolicy(
      `${name}-tls-only`,
      { bucket: bucket.id, policy: bucket.arn.apply((arn) => JSON.stringify(tlsOnlyPolicy(arn))) },
      // S3 rejects a bucket policy while Block Public Access is still being applied.
      { parent: this, dependsOn: [publicAccessBlock] },
    );
  }
}

export function tlsOnlyPolicy(bucketArn: string) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny" as const,
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  };
}
