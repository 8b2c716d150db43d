// Everything the AWS Batch Python tutorial clicks together, from `Pulumi.<stack>.yaml`;
// the exports are what `jobs:*` reads.
import * as pulumi from "@pulumi/pulumi";
import { ComputeEnvironment } from "./components/compute-environment";
import { Image } from "./components/image";
import { JobDefinition } from "./components/job-definition";
import { JobQueue } from "./components/job-queue";
import { JobRoles } from "./components/job-roles";
import { Notifications } from "./components/notifications";
import { parseStackConfig, sendsNotifications } from "./components/stack-config";
import { Storage } from "./components/storage";

const stack = pulumi.getStack();
const name = `batchpy-${stack}`;
const settings = parseStackConfig(pulumi.runtime.allConfig(), process.env, name);
// The only instance tags, fixed: changing those replaces the compute environment.
const baseTags = { Project: "batchpy", Stack: stack, ManagedBy: "pulumi" };
const tags = { ...baseTags, ...settings.tags };

const storage = new Storage(name, { ...settings.storage, tags });
const roles = new JobRoles(name, { bucketArn: storage.bucketArn, tags });
const image = new Image(name, {
  ...settings.image,
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
if (sendsNotifications(settings)) {
  new Notifications(name, { ...settings.notifications, jobQueueArn: queue.jobQueueArn, tags });
}

export const bucketName = storage.bucketName;
export const { jobQueueName, jobQueueArn } = queue;
export const { jobDefinitionName, jobDefinitionArn, logGroupName, jobDefaults } = job;
export const imageUri = image.imageUri;
export const region = settings.region;
export const { computeType, jobLimits } = compute;
