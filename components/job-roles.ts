import * as aws from "./aws";
import * as pulumi from "@pulumi/pulumi";
import { BUCKET_PREFIXES } from "./contract";

const { inputs, results, logs } = BUCKET_PREFIXES;

export function assumeRolePolicyFor(service: string) {
  return {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
  };
}

export interface JobRolesArgs {
  readonly bucketArn: pulumi.Input<string>;
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** The job role (what the script may do) and the execution role (what ECS needs). */
export class JobRoles extends pulumi.ComponentResource {
  public readonly jobRoleArn: pulumi.Output<string>;
  public readonly executionRoleArn: pulumi.Output<string>;

  constructor(name: string, args: JobRolesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("batchpy:iam:JobRoles", name, {}, opts);
    const parent = { parent: this };
    const role = (suffix: string, description: string) =>
      new aws.iam.Role(
        `${name}-${suffix}`,
        {
          description,
          assumeRolePolicy: JSON.stringify(assumeRolePolicyFor("ecs-tasks.amazonaws.com")),
          tags: args.tags,
        },
        parent,
      );
    const jobRole = role(
      "job",
      `Assumed by batchpy job containers: read ${inputs} and ${results}, write ${results} and ${logs}.`,
    );
    new aws.iam.RolePolicy(
      `${name}-job-bucket-access`,
      {
        role: jobRole.id,
        policy: pulumi.output(args.bucketArn).apply((arn) => JSON.stringify(jobBucketPolicy(arn))),
      },
      parent,
    );
    const executionRole = role(
      "execution",
      "Used by ECS to pull the batchpy image and write job logs.",
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

// Lists and reads results/ for a step's "resultsOf" (docs/settings.md); logs are write-only.
export function jobBucketPolicy(bucketArn: string) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ReadInputsAndResults",
        Effect: "Allow",
        Action: ["s3:GetObject"],
        Resource: [`${bucketArn}/${inputs}*`, `${bucketArn}/${results}*`],
      },
      {
        Sid: "ListInputsAndResults",
        Effect: "Allow",
        Action: ["s3:ListBucket"],
        Resource: [bucketArn],
        Condition: { StringLike: { "s3:prefix": [`${inputs}*`, `${results}*`] } },
      },
      {
        Sid: "WriteResultsAndLogs",
        Effect: "Allow",
        Action: ["s3:PutObject"],
        Resource: [`${bucketArn}/${results}*`, `${bucketArn}/${logs}*`],
      },
    ],
  };
}
