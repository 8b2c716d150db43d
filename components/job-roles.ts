import * as aws from "./aws";
import * as pulumi from "@pulumi/pulumi";
import { assumeRolePolicyFor, PolicyDocument } from "./iam";
import { BUCKET_PREFIXES } from "./contract";

export interface JobRolesArgs {
  /** ARN of the bucket the jobs read inputs from and write results and logs to. */
  readonly bucketArn: pulumi.Input<string>;
  /** Tags for every resource of the component. */
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/**
 * The job role (what the script may do: read `inputs/` and `results/`, write `results/` and
 * `logs/` of one bucket) and the execution role (what ECS needs: pull the image, write the
 * log stream).
 */
export class JobRoles extends pulumi.ComponentResource {
  /** The role the job's container assumes (the job definition's `jobRoleArn`). */
  public readonly jobRoleArn: pulumi.Output<string>;
  /** The role ECS uses to pull the image and ship logs (the `executionRoleArn`). */
  public readonly executionRoleArn: pulumi.Output<string>;

  constructor(name: string, args: JobRolesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("batchpy:iam:JobRoles", name, {}, opts);
    const parent = { parent: this };

    const assumeRolePolicy = JSON.stringify(assumeRolePolicyFor("ecs-tasks.amazonaws.com"));

    const jobRole = new aws.iam.Role(
      `${name}-job`,
      {
        description: `Assumed by batchpy job containers: read ${BUCKET_PREFIXES.inputs} and ${BUCKET_PREFIXES.results}, write ${BUCKET_PREFIXES.results} and ${BUCKET_PREFIXES.logs}.`,
        assumeRolePolicy,
        tags: args.tags,
      },
      parent,
    );
    new aws.iam.RolePolicy(
      `${name}-job-bucket-access`,
      {
        role: jobRole.id,
        policy: pulumi.output(args.bucketArn).apply((arn) => JSON.stringify(jobBucketPolicy(arn))),
      },
      parent,
    );

    const executionRole = new aws.iam.Role(
      `${name}-execution`,
      {
        description: "Used by ECS to pull the batchpy image and write job logs.",
        assumeRolePolicy,
        tags: args.tags,
      },
      parent,
    );
    new aws.iam.RolePolicyAttachment(
      `${name}-execution-policy`,
      {
        role: executionRole.name,
        policyArn: aws.iam.ManagedPolicy.AmazonECSTaskExecutionRolePolicy,
      },
      parent,
    );

    this.jobRoleArn = jobRole.arn;
    this.executionRoleArn = executionRole.arn;
    this.registerOutputs({ jobRoleArn: this.jobRoleArn, executionRoleArn: this.executionRoleArn });
  }
}

/**
 * Exactly what a job needs of its bucket: list and read `inputs/` (the entrypoint downloads a
 * prefix) and `results/` (a step reads its parents'); logs are write-only.
 */
export function jobBucketPolicy(bucketArn: string): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      // A step reads what the jobs before it wrote ("resultsOf"): every job may read and list
      // results/, nothing else of the bucket (docs/settings.md, "What a job may read").
      {
        Sid: "ReadInputsAndResults",
        Effect: "Allow",
        Action: ["s3:GetObject"],
        Resource: [
          `${bucketArn}/${BUCKET_PREFIXES.inputs}*`,
          `${bucketArn}/${BUCKET_PREFIXES.results}*`,
        ],
      },
      {
        Sid: "ListInputsAndResults",
        Effect: "Allow",
        Action: ["s3:ListBucket"],
        Resource: [bucketArn],
        Condition: {
          StringLike: {
            "s3:prefix": [`${BUCKET_PREFIXES.inputs}*`, `${BUCKET_PREFIXES.results}*`],
          },
        },
      },
      {
        Sid: "WriteResultsAndLogs",
        Effect: "Allow",
        Action: ["s3:PutObject"],
        Resource: [
          `${bucketArn}/${BUCKET_PREFIXES.results}*`,
          `${bucketArn}/${BUCKET_PREFIXES.logs}*`,
        ],
      },
    ],
  };
}
