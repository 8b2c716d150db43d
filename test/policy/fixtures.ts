/**
 * Happy-path resource properties, typed by `@pulumi/aws` 7.x's own `Args` (so a renamed or
 * retyped property fails `tsc`), shaped like what the batchpy program registers. Each
 * function returns a fresh object; a test changes one field.
 */
import type * as aws from "../../components/aws";
import type { Unwrap } from "@pulumi/pulumi";
import { tlsOnlyPolicy } from "../../components/storage";

export type ComputeEnvironmentProps = Unwrap<aws.batch.ComputeEnvironmentArgs>;
export type JobDefinitionProps = Unwrap<aws.batch.JobDefinitionArgs>;
export type JobQueueProps = Unwrap<aws.batch.JobQueueArgs>;
export type BucketProps = Unwrap<aws.s3.BucketArgs>;
export type BucketPublicAccessBlockProps = Unwrap<aws.s3.BucketPublicAccessBlockArgs>;
export type BucketPolicyProps = Unwrap<aws.s3.BucketPolicyArgs>;
export type RepositoryProps = Unwrap<aws.ecr.RepositoryArgs>;
export type RoleProps = Unwrap<aws.iam.RoleArgs>;
export type RolePolicyProps = Unwrap<aws.iam.RolePolicyArgs>;
export type RolePolicyAttachmentProps = Unwrap<aws.iam.RolePolicyAttachmentArgs>;
export type UserPolicyAttachmentProps = Unwrap<aws.iam.UserPolicyAttachmentArgs>;
export type RolePolicyAttachmentsExclusiveProps =
  Unwrap<aws.iam.RolePolicyAttachmentsExclusiveArgs>;
export type PolicyProps = Unwrap<aws.iam.PolicyArgs>;

export const ACCOUNT = "123456789012";
export const JOB_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/batchpy-dev-job-1a2b3c4`;
export const EXECUTION_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/batchpy-dev-execution-5d6e7f8`;
export const CE_ARN = `arn:aws:batch:us-east-1:${ACCOUNT}:compute-environment/batchpy-dev-ce-3012e0c`;
export const BUCKET_NAME = "batchpy-dev-bucket-9f8e7d6";
export const BUCKET_ARN = `arn:aws:s3:::${BUCKET_NAME}`;

/**
 * The dev stack's managed EC2 environment: 0 to 16 vCPUs of m5a.large, no service role
 * (Batch's service-linked role).
 */
export function computeEnvironment(): ComputeEnvironmentProps {
  return {
    type: "MANAGED",
    state: "ENABLED",
    computeResources: {
      type: "EC2",
      minVcpus: 0,
      maxVcpus: 16,
      instanceTypes: ["m5a.large"],
      allocationStrategy: "BEST_FIT_PROGRESSIVE",
      instanceRole: `arn:aws:iam::${ACCOUNT}:instance-profile/batchpy-dev-instance-profile-4d5e6f7`,
      subnets: ["subnet-0pub1a", "subnet-0pub1b"],
      securityGroupIds: ["sg-0123456"],
    },
    tags: { Project: "batchpy" },
  };
}

/** A Fargate environment: no minimum, no instance role. */
export function fargateComputeEnvironment(): ComputeEnvironmentProps {
  return {
    type: "MANAGED",
    computeResources: {
      type: "FARGATE",
      maxVcpus: 16,
      subnets: ["subnet-0pub1a"],
      securityGroupIds: ["sg-0123456"],
    },
  };
}

/** The `containerProperties` document the program builds (see components/job-definition.ts). */
export function containerProperties(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    image: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/batchpy-dev-repo@sha256:abc123`,
    command: ["python3", "/app/run_job.py"],
    jobRoleArn: JOB_ROLE_ARN,
    executionRoleArn: EXECUTION_ROLE_ARN,
    resourceRequirements: [
      { type: "VCPU", value: "1" },
      { type: "MEMORY", value: "1000" },
    ],
    environment: [{ name: "BATCHPY_BUCKET", value: BUCKET_NAME }],
    ...overrides,
  });
}

/** The dev stack's container job definition: 60 s timeout, 3 attempts on host failure. */
export function jobDefinition(): JobDefinitionProps {
  return {
    type: "container",
    platformCapabilities: ["EC2"],
    containerProperties: containerProperties(),
    timeout: { attemptDurationSeconds: 60 },
    retryStrategy: {
      attempts: 3,
      evaluateOnExits: [
        { onStatusReason: "Host EC2*", action: "RETRY" },
        { onReason: "*", action: "EXIT" },
      ],
    },
    propagateTags: true,
  };
}

/** A multi-node job definition (`nodeProperties` is a JSON string). */
export function multiNodeJobDefinition(nodeRangeProperties?: unknown[]): JobDefinitionProps {
  return {
    type: "multinode",
    nodeProperties: JSON.stringify({
      mainNode: 0,
      numNodes: 2,
      nodeRangeProperties: nodeRangeProperties ?? [
        {
          targetNodes: "0:",
          container: {
            image: "python:3.11-slim",
            command: ["python3", "/app/run_job.py"],
            jobRoleArn: JOB_ROLE_ARN,
            resourceRequirements: [{ type: "VCPU", value: "2" }],
          },
        },
      ],
    }),
    timeout: { attemptDurationSeconds: 3600 },
  };
}

/** An ECS-properties job definition (`ecsProperties` is a JSON string). */
export function ecsJobDefinition(taskProperties?: unknown[]): JobDefinitionProps {
  return {
    type: "container",
    platformCapabilities: ["FARGATE"],
    ecsProperties: JSON.stringify({
      taskProperties: taskProperties ?? [
        {
          taskRoleArn: JOB_ROLE_ARN,
          executionRoleArn: EXECUTION_ROLE_ARN,
          containers: [{ name: "main", image: "python:3.11-slim", essential: true }],
        },
      ],
    }),
    timeout: { attemptDurationSeconds: 600 },
  };
}

/** An EKS job definition (`eksProperties` is an object in aws 7.x). */
export function eksJobDefinition(serviceAccountName?: string): JobDefinitionProps {
  return {
    type: "container",
    eksProperties: {
      podProperties: {
        serviceAccountName,
        containers: [{ image: "python:3.11-slim", commands: ["python3", "/app/run_job.py"] }],
      },
    },
    timeout: { attemptDurationSeconds: 600 },
  };
}

/** The dev stack's queue, pointing at the compute environment by ARN. */
export function jobQueue(computeEnvironment: string = CE_ARN): JobQueueProps {
  return {
    state: "ENABLED",
    priority: 1,
    computeEnvironmentOrders: [{ computeEnvironment, order: 0 }],
  };
}

export function bucket(): BucketProps {
  return { bucket: BUCKET_NAME, forceDestroy: true };
}

export function publicAccessBlock(bucketName: string = BUCKET_NAME): BucketPublicAccessBlockProps {
  return {
    bucket: bucketName,
    blockPublicAcls: true,
    blockPublicPolicy: true,
    ignorePublicAcls: true,
    restrictPublicBuckets: true,
  };
}

/** The statement of the program's TLS-only bucket policy (see components/storage.ts). */
export function tlsOnlyStatement(bucketArn: string = BUCKET_ARN): aws.iam.PolicyStatement {
  return tlsOnlyPolicy(bucketArn).Statement[0];
}

export function tlsOnlyDocument(bucketArn: string = BUCKET_ARN): aws.iam.PolicyDocument {
  return { Version: "2012-10-17", Statement: [tlsOnlyStatement(bucketArn)] };
}

export function bucketPolicy(bucketName: string = BUCKET_NAME): BucketPolicyProps {
  return { bucket: bucketName, policy: JSON.stringify(tlsOnlyDocument()) };
}

export function repository(): RepositoryProps {
  return { imageScanningConfiguration: { scanOnPush: true }, imageTagMutability: "MUTABLE" };
}

/** The job role's bucket-scoped policy (see components/job-roles.ts). */
export function jobBucketDocument(bucketArn: string = BUCKET_ARN): aws.iam.PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Action: ["s3:GetObject"], Resource: [`${bucketArn}/inputs/*`] },
      {
        Effect: "Allow",
        Action: ["s3:ListBucket"],
        Resource: [bucketArn],
        Condition: { StringLike: { "s3:prefix": ["inputs/*"] } },
      },
      {
        Effect: "Allow",
        Action: ["s3:PutObject"],
        Resource: [`${bucketArn}/results/*`, `${bucketArn}/logs/*`],
      },
      { Effect: "Allow", Action: ["s3:GetObject"], Resource: [`${bucketArn}/results/*`] },
      {
        Effect: "Allow",
        Action: ["s3:ListBucket"],
        Resource: [bucketArn],
        Condition: { StringLike: { "s3:prefix": ["results/*"] } },
      },
    ],
  };
}

export function rolePolicy(
  document: aws.iam.PolicyDocument = jobBucketDocument(),
): RolePolicyProps {
  return { role: "batchpy-dev-job-1a2b3c4", policy: JSON.stringify(document) };
}

export function rolePolicyAttachment(policyArn: string): RolePolicyAttachmentProps {
  return { role: "batchpy-dev-execution-5d6e7f8", policyArn };
}

export function role(): RoleProps {
  return {
    assumeRolePolicy: JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { Service: "ecs-tasks.amazonaws.com" },
          Action: "sts:AssumeRole",
        },
      ],
    }),
  };
}
