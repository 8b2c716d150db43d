/**
 * batchpy: everything the AWS Batch Python tutorial clicks together, per stack. Settings
 * come from `Pulumi.<stack>.yaml` (see `components/stack-config.ts` for every key); the
 * exports below are what `npm run jobs:*` reads.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import {
  ComputeEnvironment,
  Image,
  JobDefinition,
  JobQueue,
  JobRoles,
  Storage,
  isFargate,
} from "./components";
import { parseStackConfig } from "./components/stack-config";

const stack = pulumi.getStack();
const name = `batchpy-${stack}`;
const settings = parseStackConfig(pulumi.runtime.allConfig(), process.env, name);
const tags = { Project: "batchpy", Stack: stack, ManagedBy: "pulumi", ...settings.tags };

const storage = new Storage(name, { ...settings.storage, tags });
const roles = new JobRoles(name, { bucketArn: storage.bucketArn, tags });
const image = new Image(name, {
  ...settings.image,
  context: path.join(__dirname, "container"),
  tags,
});
const compute = new ComputeEnvironment(name, { ...settings.compute, tags });
const queue = new JobQueue(name, {
  ...settings.queue,
  computeEnvironments: [compute.computeEnvironmentArn],
  tags,
});
const job = new JobDefinition(name, {
  ...settings.job,
  platform: isFargate(compute.computeType) ? "FARGATE" : "EC2",
  image: image.imageUri,
  bucketName: storage.bucketName,
  jobRoleArn: roles.jobRoleArn,
  executionRoleArn: roles.executionRoleArn,
  region: settings.region,
  tags,
});

export const bucketName = storage.bucketName;
export const jobQueueName = queue.jobQueueName;
export const jobQueueArn = queue.jobQueueArn;
export const jobDefinitionName = job.jobDefinitionName;
export const jobDefinitionArn = job.jobDefinitionArn;
export const imageUri = image.imageUri;
export const logGroupName = job.logGroupName;
export const region = settings.region;
