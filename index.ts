/**
 * batchpy: everything the AWS Batch Python tutorial clicks together, per stack, from
 * `Pulumi.<stack>.yaml` (components/stack-config.ts); the exports are what `jobs:*` reads.
 */
import * as pulumi from "@pulumi/pulumi";
import { ComputeEnvironment } from "./components/compute-environment";
import { Image } from "./components/image";
import { JobDefinition } from "./components/job-definition";
import { JobQueue } from "./components/job-queue";
import { JobRoles } from "./components/job-roles";
import { Notifications } from "./components/notifications";
import { parseStackConfig } from "./components/stack-config";
import { Storage } from "./components/storage";

const stack = pulumi.getStack();
const name = `batchpy-${stack}`;
const settings = parseStackConfig(pulumi.runtime.allConfig(), process.env, name);
// Fixed for the life of the stack: the only instance tags, since changing those replaces the
// compute environment (and kills running jobs).
const baseTags = { Project: "batchpy", Stack: stack, ManagedBy: "pulumi" };
const tags = { ...baseTags, ...settings.tags };

const storage = new Storage(name, { ...settings.storage, tags });
const roles = new JobRoles(name, { bucketArn: storage.bucketArn, tags });
const image = new Image(name, {
  ...settings.image,
  // Relative to this folder, so the image's inputs do not depend on where it is checked out.
  context: "container",
  projectRoot: __dirname,
  tags,
});
const compute = new ComputeEnvironment(name, { ...settings.compute, tags, instanceTags: baseTags });
const queue = new JobQueue(name, {
  ...settings.queue,
  computeEnvironments: [compute.computeEnvironmentArn],
  tags,
});
const job = new JobDefinition(name, {
  ...settings.job,
  image: image.imageUri,
  bucketName: storage.bucketName,
  jobRoleArn: roles.jobRoleArn,
  executionRoleArn: roles.executionRoleArn,
  region: settings.region,
  tags,
});
if (settings.notifications.email !== undefined || settings.notifications.topicArn !== undefined) {
  new Notifications(name, { ...settings.notifications, jobQueueArn: queue.jobQueueArn, tags });
}

export const bucketName = storage.bucketName;
export const jobQueueName = queue.jobQueueName;
export const jobQueueArn = queue.jobQueueArn;
export const jobDefinitionName = job.jobDefinitionName;
export const jobDefinitionArn = job.jobDefinitionArn;
export const imageUri = image.imageUri;
export const logGroupName = job.logGroupName;
export const region = settings.region;
/** EC2, SPOT, FARGATE or FARGATE_SPOT: what the report's cost estimate is priced as. */
export const computeType = compute.computeType;
/** The largest job the compute environment can place, for the jobs tool's checks. */
export const jobLimits = compute.jobLimits;
/** What a request leaves to the job definition (resources, timeout, attempts): the cost bound. */
export const jobDefaults = job.jobDefaults;
