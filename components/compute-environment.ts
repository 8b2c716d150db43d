import * as aws from "./aws";
import * as pulumi from "@pulumi/pulumi";
import { assumeRolePolicyFor } from "./job-roles";
import {
  COMPUTE_TYPES,
  DEFAULT_INSTANCE_TYPES,
  INSTANCE_TYPE_PATTERN,
  KNOWN_INSTANCE_TYPES,
  ec2JobLimits,
  fargateJobLimits,
  isGpuInstanceType,
  type ComputeType,
  type JobLimits,
} from "./instance-types";
import { checkRanges, ValidationError } from "./validation";

type Ec2Type = "EC2" | "SPOT";

export const DEFAULT_COMPUTE_TYPE: ComputeType = "EC2";
export const DEFAULT_MAX_VCPUS = 16;
// Only these let Batch update an environment in place; the last is the default.
// @see https://docs.aws.amazon.com/batch/latest/userguide/infrastructure-updates.html
const ALLOCATION_STRATEGIES: Record<Ec2Type, readonly string[]> = {
  EC2: ["BEST_FIT_PROGRESSIVE"],
  SPOT: ["SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED"],
};

export interface ComputeEnvironmentArgs {
  /** What the environment launches. @default "EC2" */
  readonly computeType?: ComputeType;
  /**
   * vCPUs kept running (and billed) when idle; the policy pack rejects above 0. Fargate: unset.
   * @default 0
   * @see https://docs.aws.amazon.com/batch/latest/userguide/compute_environment_parameters.html
   */
  readonly minVcpus?: number;
  /** vCPUs running at once at most: what bounds the hourly cost. @default 16 */
  readonly maxVcpus?: number;
  /** Exact EC2 types (EC2, SPOT), so job limits are known; no families. @default ["m5a.large"] */
  readonly instanceTypes?: readonly string[];
  /**
   * How Batch picks instances (EC2 and SPOT only); `BEST_FIT` is refused (no in-place updates).
   * @default "BEST_FIT_PROGRESSIVE" for EC2, "SPOT_PRICE_CAPACITY_OPTIMIZED" for SPOT
   */
  readonly allocationStrategy?: string;
  /** Highest spot price, in % of on-demand (SPOT only). @default - the on-demand price */
  readonly spotBidPercentage?: number;
  /** GPUs per job; above 0, every instance type must have GPUs (so not Fargate). @default 0 */
  readonly jobGpus?: number;
  /**
   * Minutes running jobs may go on during an infrastructure update (EC2 and SPOT only).
   * @default 30
   * @see https://docs.aws.amazon.com/batch/latest/userguide/updating-compute-environments.html
   */
  readonly updateTimeoutMinutes?: number;
  /** VPC for the instances. Give `subnetIds` with it. @default - the account's default VPC */
  readonly vpcId?: pulumi.Input<string>;
  /** Subnets routing to ECR, S3 and CloudWatch Logs. @default - the default VPC's public ones */
  readonly subnetIds?: pulumi.Input<pulumi.Input<string>[]>;
  /** Tags for every resource of the component, not for the instances. */
  readonly tags?: Record<string, string>;
  /** Tags for the instances; keep them fixed: a change replaces the environment. @default - none */
  readonly instanceTags?: Record<string, string>;
}

export function isFargate(type: ComputeType): type is "FARGATE" | "FARGATE_SPOT" {
  return type === "FARGATE" || type === "FARGATE_SPOT";
}

export function validateComputeEnvironmentArgs(name: string, args: ComputeEnvironmentArgs): void {
  const where = `ComputeEnvironment '${name}'`;
  const type = args.computeType ?? DEFAULT_COMPUTE_TYPE;
  if (!COMPUTE_TYPES.includes(type)) {
    throw new ValidationError(
      `${where} has 'computeType' = '${type}'; it must be one of ${COMPUTE_TYPES.join(", ")}.`,
      "computeType",
    );
  }
  checkRanges(where, args, {
    maxVcpus: [1, 100000, "Batch needs room for at least one job"],
    minVcpus: [0, 100000, "vCPUs are whole and not negative"],
    jobGpus: [0, 16, "GPUs are whole; EC2 has at most 16 per instance"],
    updateTimeoutMinutes: [1, 360, "the range AWS Batch's update policy accepts"],
    spotBidPercentage: [1, 100, "a percentage of the on-demand price"],
  });
  const max = args.maxVcpus ?? DEFAULT_MAX_VCPUS;
  if (typeof args.minVcpus === "number" && args.minVcpus > max) {
    throw new ValidationError(
      `${where} has 'minVcpus' = ${args.minVcpus} > 'maxVcpus' = ${max}; 'minVcpus' cannot be greater than 'maxVcpus'.`,
      "minVcpus",
    );
  }
  if ((args.vpcId === undefined) !== (args.subnetIds === undefined)) {
    throw new ValidationError(
      `${where} sets only one of 'vpcId' and 'subnetIds'; give both, or neither to use the default VPC.`,
      "vpcId",
    );
  }
  if (!isFargate(type)) {
    return checkEc2Args(where, type, args);
  }
  if (args.minVcpus !== undefined && args.minVcpus !== 0) {
    throw new ValidationError(
      `${where} has 'minVcpus' = ${args.minVcpus} with 'computeType' = '${type}'; Fargate has no minimum, leave 'minVcpus' unset.`,
      "minVcpus",
    );
  }
  const ec2Only = (
    ["instanceTypes", "allocationStrategy", "spotBidPercentage", "updateTimeoutMinutes"] as const
  ).find((arg) => args[arg] !== undefined);
  if (ec2Only !== undefined) {
    throw new ValidationError(
      `${where} sets '${ec2Only}' with 'computeType' = '${type}'; '${ec2Only}' applies to EC2 and SPOT only.`,
      ec2Only,
    );
  }
  if ((args.jobGpus ?? 0) > 0) {
    throw new ValidationError(
      `${where} has 'jobGpus' = ${args.jobGpus} with 'computeType' = '${type}'; Fargate has no GPUs. Use computeType EC2 or SPOT with GPU instance types (e.g. g5.xlarge), or set jobGpus to 0.`,
      "jobGpus",
    );
  }
}

function checkEc2Args(where: string, type: Ec2Type, args: ComputeEnvironmentArgs): void {
  const types = args.instanceTypes ?? DEFAULT_INSTANCE_TYPES;
  if (types.length === 0) {
    throw new ValidationError(
      `${where} has an empty 'instanceTypes'; name at least one type, e.g. ["m5a.large"].`,
      "instanceTypes",
    );
  }
  const inexact = types.find((t) => !INSTANCE_TYPE_PATTERN.test(t));
  if (inexact !== undefined) {
    throw new ValidationError(
      `${where} has '${inexact}' in 'instanceTypes'; name exact types such as m5a.large or g5.xlarge, not a family or 'optimal': the largest job and the GPU count depend on every size Batch may launch.`,
      "instanceTypes",
    );
  }
  const gpus = args.jobGpus ?? 0;
  const plain = types.filter((t) => !isGpuInstanceType(t));
  if (gpus > 0 && plain.length > 0) {
    throw new ValidationError(
      `${where} has 'jobGpus' = ${gpus} but 'instanceTypes' includes ${plain.join(", ")}, which have no GPU; a GPU job could never be placed there. Use GPU types only (e.g. g4dn.xlarge, g5.xlarge, g6.xlarge).`,
      "instanceTypes",
    );
  }
  const known = types.map((t) => KNOWN_INSTANCE_TYPES[t]).filter((s) => s !== undefined);
  if (gpus > 0 && known.length === types.length && known.every((s) => s.gpus < gpus)) {
    throw new ValidationError(
      `${where} has 'jobGpus' = ${gpus}, more than any of ${types.join(", ")} has (at most ${Math.max(...known.map((s) => s.gpus))}).`,
      "jobGpus",
    );
  }
  const strategy = args.allocationStrategy;
  if (strategy !== undefined && !ALLOCATION_STRATEGIES[type].includes(strategy)) {
    const why =
      strategy === "BEST_FIT"
        ? " BEST_FIT rules out in-place infrastructure updates: changing instance types, subnets or the launch template would replace the environment and kill running jobs."
        : "";
    throw new ValidationError(
      `${where} has 'allocationStrategy' = '${strategy}'; with 'computeType' = '${type}' it must be one of ${ALLOCATION_STRATEGIES[type].join(", ")}.${why}`,
      "allocationStrategy",
    );
  }
  if (args.spotBidPercentage !== undefined && type !== "SPOT") {
    throw new ValidationError(
      `${where} sets 'spotBidPercentage' with 'computeType' = '${type}'; it applies to SPOT only.`,
      "spotBidPercentage",
    );
  }
}

/**
 * A managed environment that scales to zero when idle. No serviceRole: only with its
 * service-linked role does Batch update it in place instead of replacing it (killing its jobs).
 * @see https://docs.aws.amazon.com/batch/latest/userguide/infrastructure-updates.html
 */
export class ComputeEnvironment extends pulumi.ComponentResource {
  public readonly computeEnvironmentArn: pulumi.Output<string>;
  public readonly computeEnvironmentName: pulumi.Output<string>;
  public readonly computeType: ComputeType;
  public readonly jobLimits: pulumi.Output<JobLimits>;

  constructor(
    name: string,
    args: ComputeEnvironmentArgs = {},
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("batchpy:compute:ComputeEnvironment", name, {}, opts);
    validateComputeEnvironmentArgs(name, args);
    const type = (this.computeType = args.computeType ?? DEFAULT_COMPUTE_TYPE);
    const maxVcpus = args.maxVcpus ?? DEFAULT_MAX_VCPUS;
    const ec2 = isFargate(type) ? undefined : this.instances(name, type, args);
    const sizes = (ec2?.computeResources.instanceTypes ?? []).map((instanceType) =>
      aws.ec2.getInstanceTypeOutput({ instanceType }, { parent: this }).apply((t) => ({
        name: instanceType,
        vcpus: t.defaultVcpus,
        memoryMiB: t.memorySize,
        gpus: t.gpuses.reduce((sum, g) => sum + g.count, 0),
      })),
    );
    this.jobLimits = ec2
      ? pulumi.all(sizes).apply((all) => ec2JobLimits(all, maxVcpus))
      : pulumi.output(fargateJobLimits(maxVcpus));

    // Never rename it: that replaces it and kills its jobs.
    const computeEnvironment = new aws.batch.ComputeEnvironment(
      `${name}-compute`,
      {
        type: "MANAGED",
        state: "ENABLED",
        computeResources: { type, maxVcpus, ...this.network(name, args), ...ec2?.computeResources },
        // Fargate has no infrastructure updates.
        updatePolicy: ec2 && {
          jobExecutionTimeoutMinutes: args.updateTimeoutMinutes ?? 30,
          terminateJobsOnUpdate: false,
        },
        tags: args.tags,
      },
      // Deleted before the instance role loses its policy, or Batch cannot tear it down.
      { parent: this, dependsOn: ec2 ? [ec2.roleAttachment] : [] },
    );

    this.computeEnvironmentArn = computeEnvironment.arn;
    this.computeEnvironmentName = computeEnvironment.name;
    this.registerOutputs({
      computeEnvironmentArn: this.computeEnvironmentArn,
      computeEnvironmentName: this.computeEnvironmentName,
      jobLimits: this.jobLimits,
    });
  }

  // The default VPC's subnets are public (no paid NAT gateway); getVpcs (not getVpc) returns
  // an empty list, so the error can say what to set instead of "no matching EC2 VPC found".
  private network(name: string, args: ComputeEnvironmentArgs) {
    let { vpcId, subnetIds } = args;
    if (vpcId === undefined || subnetIds === undefined) {
      const opts = { parent: this };
      const filters = [{ name: "is-default", values: ["true"] }];
      const vpcs = aws.ec2.getVpcsOutput({ filters }, opts);
      const id = pulumi.all([vpcs.ids, aws.getRegionOutput({}, opts).region]).apply(([ids, r]) => {
        if (ids.length === 0) {
          throw new Error(
            `ComputeEnvironment '${name}': the account has no default VPC in ${r} (common under AWS Control Tower), ` +
              `and 'vpcId' and 'subnetIds' are not set. Name a VPC and subnets with a route to ECR, S3 ` +
              `and CloudWatch Logs: in this project \`pulumi config set batchpy:vpcId vpc-0abc…\` and ` +
              `\`pulumi config set --path 'batchpy:subnetIds[0]' subnet-0abc…\` (one line per subnet).`,
          );
        }
        return ids[0];
      });
      const subnetFilters = [
        { name: "vpc-id", values: [id] },
        { name: "default-for-az", values: ["true"] },
      ];
      [vpcId, subnetIds] = [id, aws.ec2.getSubnetsOutput({ filters: subnetFilters }, opts).ids];
    }
    const anywhere = { cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] };
    const securityGroup = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        description: "batchpy jobs: outbound only (image pulls, S3, CloudWatch Logs)",
        vpcId,
        egress: [{ protocol: "-1", fromPort: 0, toPort: 0, ...anywhere }],
        tags: args.tags,
      },
      { parent: this },
    );
    return { subnets: subnetIds, securityGroupIds: [securityGroup.id] };
  }

  // @see https://docs.aws.amazon.com/batch/latest/userguide/instance_IAM_role.html
  private instances(name: string, type: Ec2Type, args: ComputeEnvironmentArgs) {
    const [parent, tags] = [{ parent: this }, args.tags];
    const role = new aws.iam.Role(
      `${name}-instance`,
      {
        description: "Lets the ECS agent on Batch instances register and pull images.",
        assumeRolePolicy: JSON.stringify(assumeRolePolicyFor("ec2.amazonaws.com")),
        tags,
      },
      parent,
    );
    const roleAttachment = new aws.iam.RolePolicyAttachment(
      `${name}-instance-policy`,
      { role: role.name, policyArn: aws.iam.ManagedPolicy.AmazonEC2ContainerServiceforEC2Role },
      parent,
    );
    const profile = new aws.iam.InstanceProfile(
      `${name}-instance-profile`,
      { role: role.name, tags },
      parent,
    );
    const launchTemplate = new aws.ec2.LaunchTemplate(
      `${name}-launch-template`,
      {
        description: "batchpy instances: IMDSv2 only, metadata blocked for job containers",
        userData: Buffer.from(IMDS_BLOCK_USER_DATA).toString("base64"),
        // Tokens required: a forwarded GET cannot read credentials. Hop limit 1 stops
        // bridge-mode containers (the user data stops host-mode ones); no IPv6 endpoint, as the
        // rule is IPv4 only.
        // @see https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-new-instances.html
        metadataOptions: {
          httpEndpoint: "enabled",
          httpTokens: "required",
          httpPutResponseHopLimit: 1,
          httpProtocolIpv6: "disabled",
          instanceMetadataTags: "disabled",
        },
        tags,
      },
      parent,
    );
    const computeResources = {
      minVcpus: args.minVcpus ?? 0,
      instanceTypes: [...(args.instanceTypes ?? DEFAULT_INSTANCE_TYPES)],
      allocationStrategy: args.allocationStrategy ?? ALLOCATION_STRATEGIES[type].at(-1),
      bidPercentage: args.spotBidPercentage,
      // Batch wants the instance profile here, not the role (despite the field name).
      instanceRole: profile.arn,
      // Both force a new environment, even with the service-linked role: keep them fixed.
      launchTemplate: { launchTemplateId: launchTemplate.id, version: "$Latest" },
      ec2Configurations: EC2_CONFIGURATION,
      // Fixed: a change to computeResources.tags replaces the environment.
      tags: args.instanceTags,
    };
    return { roleAttachment, computeResources };
  }
}

/**
 * Blocks IMDS for all but root (the ECS agent): Batch runs EC2 jobs in host network mode, where
 * no hop limit stops them; the image runs as a non-root user (container/Dockerfile). Jobs still
 * get their own role from the ECS agent's 169.254.170.2.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/networking-modes-jobs.html
 * @see https://repost.aws/knowledge-center/ecs-container-ec2-metadata
 */
export const IMDS_BLOCK_RULE = "OUTPUT -d 169.254.169.254/32 -m owner ! --uid-owner 0 -j DROP";

/**
 * MIME multi-part, as Batch requires; a boothook runs on every boot before Docker and the agent.
 * `-C` keeps a reboot from adding the rule twice; `-w` waits for the xtables lock.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/launch-templates.html
 */
export const IMDS_BLOCK_USER_DATA = `MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="==BATCHPY-USER-DATA=="

--==BATCHPY-USER-DATA==
Content-Type: text/cloud-boothook; charset="us-ascii"

#cloud-boothook
#!/bin/bash
# batchpy: only root (the ECS agent) may reach the instance metadata service; job
# containers run in host network mode as a non-root user and must not get the instance
# role's credentials.
set -eu
iptables -w -C ${IMDS_BLOCK_RULE} 2>/dev/null || iptables -w -I ${IMDS_BLOCK_RULE}

--==BATCHPY-USER-DATA==--
`;

/**
 * Both images, so a switch to or from GPU types leaves this (a replacement) unchanged.
 * @see https://docs.aws.amazon.com/batch/latest/APIReference/API_Ec2Configuration.html
 */
export const EC2_CONFIGURATION = [{ imageType: "ECS_AL2023" }, { imageType: "ECS_AL2023_NVIDIA" }];
