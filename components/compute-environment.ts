import * as aws from "./aws";
import * as pulumi from "@pulumi/pulumi";
import { lookUpDefaultNetwork } from "./default-vpc";
import { assumeRolePolicyFor } from "./iam";
import {
  COMPUTE_TYPES,
  DEFAULT_INSTANCE_TYPES,
  INSTANCE_TYPE_PATTERN,
  KNOWN_INSTANCE_TYPES,
  isGpuInstanceType,
  type ComputeType,
} from "./instance-types";
import { ec2JobLimits, fargateJobLimits, JobLimits, NamedInstanceSize } from "./job-limits";
import { EC2_CONFIGURATION, imdsBlockUserData, INSTANCE_METADATA_OPTIONS } from "./launch-template";
import { checkIntegerRange, isKnownNumber, ValidationError } from "./validation";

export { COMPUTE_TYPES, DEFAULT_INSTANCE_TYPES, type ComputeType } from "./instance-types";

export const DEFAULT_COMPUTE_TYPE: ComputeType = "EC2";
/** Zero vCPUs when idle: instances exist only while jobs run. */
const DEFAULT_MIN_VCPUS = 0;
export const DEFAULT_MAX_VCPUS = 16;
const DEFAULT_ALLOCATION_STRATEGY: Record<"EC2" | "SPOT", string> = {
  EC2: "BEST_FIT_PROGRESSIVE",
  // Least likely to be interrupted at a low price; needs no spot fleet role.
  SPOT: "SPOT_PRICE_CAPACITY_OPTIMIZED",
};
/**
 * Only these strategies let Batch update an environment in place ("Perform infrastructure
 * updates"); `BEST_FIT` is refused, since changing almost anything would replace it.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/infrastructure-updates.html
 */
const ALLOCATION_STRATEGIES: Record<"EC2" | "SPOT", readonly string[]> = {
  EC2: ["BEST_FIT_PROGRESSIVE"],
  SPOT: ["SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED"],
};
/** Batch's own default for how long running jobs may go on during an infrastructure update. */
const DEFAULT_UPDATE_TIMEOUT_MINUTES = 30;
/** The range the AWS provider accepts for `updatePolicy.jobExecutionTimeoutMinutes`. */
const UPDATE_TIMEOUT_MINUTES_RANGE = { min: 1, max: 360 } as const;

/**
 * The environment's child resource name. It was `<name>-ce` while the environment used a
 * custom service role; the new name is the one-time migration to the service-linked role
 * (see {@link ComputeEnvironment}). Never rename it again: a new name replaces the
 * environment and kills running jobs.
 */
const COMPUTE_ENVIRONMENT_SUFFIX = "compute";

export interface ComputeEnvironmentArgs {
  /**
   * What the environment launches.
   * @default "EC2"
   */
  readonly computeType?: ComputeType;
  /**
   * vCPUs kept running when no job is queued. Anything above 0 is billed around the clock;
   * this component passes the value through unchanged and the policy pack rejects it.
   * Fargate environments have no minimum and must leave it unset or 0.
   * @default 0
   * @see https://docs.aws.amazon.com/batch/latest/userguide/compute_environment_parameters.html
   */
  readonly minVcpus?: number;
  /**
   * Upper bound on vCPUs running at once: the most the environment can cost per hour.
   * @default 16
   */
  readonly maxVcpus?: number;
  /**
   * Exact EC2 instance types (EC2 and SPOT only), e.g. `m5a.large` or, for GPU jobs,
   * `g5.xlarge`. Families (`m5a`) and `optimal` are refused: the job limits and the GPU
   * checks need to know every size Batch may launch.
   * @default ["m5a.large"]
   */
  readonly instanceTypes?: readonly string[];
  /**
   * How Batch picks instances (EC2 and SPOT only). `BEST_FIT` is refused: it rules out
   * in-place updates.
   * @default "BEST_FIT_PROGRESSIVE" for EC2, "SPOT_PRICE_CAPACITY_OPTIMIZED" for SPOT
   */
  readonly allocationStrategy?: string;
  /**
   * Highest spot price as a percentage of the on-demand price (SPOT only).
   * @default - up to the on-demand price
   */
  readonly spotBidPercentage?: number;
  /**
   * GPUs each job asks for. Above 0, every instance type must be a GPU type, and Fargate is
   * refused (it has no GPUs).
   * @default 0
   */
  readonly jobGpus?: number;
  /**
   * Minutes running jobs may go on during an infrastructure update before Batch stops them
   * (`updatePolicy.jobExecutionTimeoutMinutes`, 1–360, what the AWS provider accepts).
   * Jobs are never terminated at once (`terminateJobsOnUpdate` stays false). EC2 and SPOT
   * only: Fargate environments have no infrastructure updates.
   * @default 30
   * @see https://docs.aws.amazon.com/batch/latest/userguide/updating-compute-environments.html
   */
  readonly updateTimeoutMinutes?: number;
  /**
   * VPC for the instances. Give `subnetIds` with it.
   * @default - the account's default VPC
   */
  readonly vpcId?: pulumi.Input<string>;
  /**
   * Subnets for the instances; they need a route to ECR, S3 and CloudWatch Logs.
   * @default - the default VPC's default (public) subnets
   */
  readonly subnetIds?: pulumi.Input<pulumi.Input<string>[]>;
  /** Tags for every resource of the component (not for the instances: see `instanceTags`). */
  readonly tags?: Record<string, string>;
  /**
   * Tags for the instances Batch launches (`computeResources.tags`). Keep them fixed: a
   * change replaces the environment, so user tags do not belong here.
   * @default - none
   */
  readonly instanceTags?: Record<string, string>;
}

export function isFargate(type: ComputeType): boolean {
  return type === "FARGATE" || type === "FARGATE_SPOT";
}

/** Checks the plain arguments of a ComputeEnvironment; throws naming the argument. */
export function validateComputeEnvironmentArgs(name: string, args: ComputeEnvironmentArgs): void {
  const where = `ComputeEnvironment '${name}'`;
  const type = args.computeType ?? DEFAULT_COMPUTE_TYPE;
  if (!COMPUTE_TYPES.includes(type)) {
    throw new ValidationError(
      `${where} has 'computeType' = '${type}'; it must be one of ${COMPUTE_TYPES.join(", ")}.`,
      "computeType",
    );
  }
  checkCapacity(where, args);
  checkIntegerRange(
    where,
    "jobGpus",
    args.jobGpus,
    0,
    16,
    "GPUs are whole; EC2 has at most 16 per instance",
  );
  checkIntegerRange(
    where,
    "updateTimeoutMinutes",
    args.updateTimeoutMinutes,
    UPDATE_TIMEOUT_MINUTES_RANGE.min,
    UPDATE_TIMEOUT_MINUTES_RANGE.max,
    "the range AWS Batch's update policy accepts",
  );
  if (isFargate(type)) {
    checkFargateArgs(where, type, args);
  } else {
    checkEc2Args(where, type as "EC2" | "SPOT", args);
  }
  if ((args.vpcId === undefined) !== (args.subnetIds === undefined)) {
    throw new ValidationError(
      `${where} sets only one of 'vpcId' and 'subnetIds'; give both, or neither to use the default VPC.`,
      "vpcId",
    );
  }
}

function checkCapacity(where: string, args: ComputeEnvironmentArgs): void {
  const max = args.maxVcpus ?? DEFAULT_MAX_VCPUS;
  checkIntegerRange(where, "maxVcpus", max, 1, 100000, "Batch needs room for at least one job");
  checkIntegerRange(
    where,
    "minVcpus",
    args.minVcpus,
    0,
    100000,
    "vCPUs are whole and not negative",
  );
  if (isKnownNumber(args.minVcpus) && args.minVcpus > max) {
    throw new ValidationError(
      `${where} has 'minVcpus' = ${args.minVcpus} > 'maxVcpus' = ${max}; 'minVcpus' cannot be greater than 'maxVcpus'.`,
      "minVcpus",
    );
  }
}

function checkFargateArgs(where: string, type: ComputeType, args: ComputeEnvironmentArgs): void {
  if (args.minVcpus !== undefined && args.minVcpus !== 0) {
    throw new ValidationError(
      `${where} has 'minVcpus' = ${args.minVcpus} with 'computeType' = '${type}'; Fargate has no minimum, leave 'minVcpus' unset.`,
      "minVcpus",
    );
  }
  const ec2Only = [
    "instanceTypes",
    "allocationStrategy",
    "spotBidPercentage",
    "updateTimeoutMinutes",
  ] as const;
  for (const arg of ec2Only) {
    if (args[arg] !== undefined) {
      throw new ValidationError(
        `${where} sets '${arg}' with 'computeType' = '${type}'; '${arg}' applies to EC2 and SPOT only.`,
        arg,
      );
    }
  }
  if ((args.jobGpus ?? 0) > 0) {
    throw new ValidationError(
      `${where} has 'jobGpus' = ${args.jobGpus} with 'computeType' = '${type}'; Fargate has no GPUs. Use computeType EC2 or SPOT with GPU instance types (e.g. g5.xlarge), or set jobGpus to 0.`,
      "jobGpus",
    );
  }
}

function checkEc2Args(where: string, type: "EC2" | "SPOT", args: ComputeEnvironmentArgs): void {
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
  if ((args.jobGpus ?? 0) > 0) {
    const plain = types.filter((t) => !isGpuInstanceType(t));
    if (plain.length > 0) {
      throw new ValidationError(
        `${where} has 'jobGpus' = ${args.jobGpus} but 'instanceTypes' includes ${plain.join(", ")}, which have no GPU; a GPU job could never be placed there. Use GPU types only (e.g. g4dn.xlarge, g5.xlarge, g6.xlarge).`,
        "instanceTypes",
      );
    }
    const known = types.map((t) => KNOWN_INSTANCE_TYPES[t]).filter((s) => s !== undefined);
    if (known.length === types.length && known.every((s) => s.gpus < (args.jobGpus ?? 0))) {
      throw new ValidationError(
        `${where} has 'jobGpus' = ${args.jobGpus}, more than any of ${types.join(", ")} has (at most ${Math.max(...known.map((s) => s.gpus))}).`,
        "jobGpus",
      );
    }
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
  if (args.spotBidPercentage !== undefined) {
    if (type !== "SPOT") {
      throw new ValidationError(
        `${where} sets 'spotBidPercentage' with 'computeType' = '${type}'; it applies to SPOT only.`,
        "spotBidPercentage",
      );
    }
    checkIntegerRange(
      where,
      "spotBidPercentage",
      args.spotBidPercentage,
      1,
      100,
      "a percentage of the on-demand price",
    );
  }
}

/** Where instances and Fargate tasks run: subnets, and the security group they get. */
interface OutboundNetwork {
  readonly subnets: pulumi.Input<pulumi.Input<string>[]>;
  readonly securityGroupIds: pulumi.Output<string>[];
}

/**
 * A managed AWS Batch compute environment that scales to zero when idle, with what it needs:
 * for EC2 and SPOT the ECS instance role and profile and a launch template (IMDSv2 only,
 * metadata blocked for job containers), and a security group that allows outbound traffic
 * only.
 *
 * No service role: Batch then uses its service-linked role `AWSServiceRoleForBatch`, the
 * only way it updates instance types, subnets, security groups, the allocation strategy,
 * bid percentage or instance role in place ("Perform infrastructure updates"); with a
 * custom role each of those changes replaces the environment and kills its running jobs.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/infrastructure-updates.html
 */
export class ComputeEnvironment extends pulumi.ComponentResource {
  public readonly computeEnvironmentArn: pulumi.Output<string>;
  public readonly computeEnvironmentName: pulumi.Output<string>;
  /** What the environment launches; the job definition must match it. */
  public readonly computeType: ComputeType;
  /** The largest job the environment can place and the GPUs it may run at once. */
  public readonly jobLimits: pulumi.Output<JobLimits>;

  constructor(
    name: string,
    args: ComputeEnvironmentArgs = {},
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("batchpy:compute:ComputeEnvironment", name, {}, opts);
    validateComputeEnvironmentArgs(name, args);
    const type = args.computeType ?? DEFAULT_COMPUTE_TYPE;
    this.computeType = type;
    const maxVcpus = args.maxVcpus ?? DEFAULT_MAX_VCPUS;

    const network = this.outboundOnlyNetwork(name, args);
    const common = { maxVcpus, ...network };
    const placement = isFargate(type)
      ? {
          computeResources: { type, ...common },
          dependsOn: [],
          jobLimits: pulumi.output(fargateJobLimits(maxVcpus)),
        }
      : this.instancePlacement(name, type as "EC2" | "SPOT", args, common);
    this.jobLimits = placement.jobLimits;

    const computeEnvironment = new aws.batch.ComputeEnvironment(
      `${name}-${COMPUTE_ENVIRONMENT_SUFFIX}`,
      {
        type: "MANAGED",
        state: "ENABLED",
        // No serviceRole: Batch uses AWSServiceRoleForBatch (see the class comment).
        computeResources: placement.computeResources,
        // Infrastructure updates, and so an update policy, exist for EC2 and SPOT only;
        // Fargate updates subnets and security groups without stopping jobs.
        updatePolicy: isFargate(type)
          ? undefined
          : {
              jobExecutionTimeoutMinutes:
                args.updateTimeoutMinutes ?? DEFAULT_UPDATE_TIMEOUT_MINUTES,
              terminateJobsOnUpdate: false,
            },
        tags: args.tags,
      },
      // Deleted before the instance role loses its policy, or Batch cannot tear it down.
      { parent: this, dependsOn: placement.dependsOn },
    );

    this.computeEnvironmentArn = computeEnvironment.arn;
    this.computeEnvironmentName = computeEnvironment.name;
    this.registerOutputs({
      computeEnvironmentArn: this.computeEnvironmentArn,
      computeEnvironmentName: this.computeEnvironmentName,
      jobLimits: this.jobLimits,
    });
  }

  /** The subnets (config's, or the default VPC's) and a security group allowing egress only. */
  private outboundOnlyNetwork(name: string, args: ComputeEnvironmentArgs): OutboundNetwork {
    const network =
      args.vpcId !== undefined && args.subnetIds !== undefined
        ? { vpcId: args.vpcId, subnetIds: args.subnetIds }
        : lookUpDefaultNetwork(`ComputeEnvironment '${name}'`, this);
    const securityGroup = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        description: "batchpy jobs: outbound only (image pulls, S3, CloudWatch Logs)",
        vpcId: network.vpcId,
        egress: [
          {
            protocol: "-1",
            fromPort: 0,
            toPort: 0,
            cidrBlocks: ["0.0.0.0/0"],
            ipv6CidrBlocks: ["::/0"],
          },
        ],
        tags: args.tags,
      },
      { parent: this },
    );
    return { subnets: network.subnetIds, securityGroupIds: [securityGroup.id] };
  }

  /**
   * EC2 and SPOT: the instance role, profile and launch template, the compute resources
   * that launch instances from them, and the job limits of the instance types.
   */
  private instancePlacement(
    name: string,
    type: "EC2" | "SPOT",
    args: ComputeEnvironmentArgs,
    common: { maxVcpus: number } & OutboundNetwork,
  ): {
    computeResources: aws.types.input.batch.ComputeEnvironmentComputeResources;
    dependsOn: pulumi.Resource[];
    jobLimits: pulumi.Output<JobLimits>;
  } {
    const instances = this.instanceResources(name, args);
    const computeResources = {
      type,
      ...common,
      // Passed through unchanged: the policy pack, not this component, rejects a floor.
      minVcpus: args.minVcpus ?? DEFAULT_MIN_VCPUS,
      instanceTypes: [...(args.instanceTypes ?? DEFAULT_INSTANCE_TYPES)],
      allocationStrategy: args.allocationStrategy ?? DEFAULT_ALLOCATION_STRATEGY[type],
      bidPercentage: args.spotBidPercentage,
      // Batch wants the instance profile here, not the role (despite the field name).
      instanceRole: instances.profileArn,
      // Both force a new environment in the provider, even with the service-linked role:
      // they are fixed here, set once by the migration that introduced them.
      launchTemplate: { launchTemplateId: instances.launchTemplateId, version: "$Latest" },
      ec2Configurations: EC2_CONFIGURATION,
      // Fixed: a change to computeResources.tags replaces the environment.
      tags: args.instanceTags,
    };
    const jobLimits = instanceTypeLimits(
      args.instanceTypes ?? DEFAULT_INSTANCE_TYPES,
      common.maxVcpus,
      this,
    );
    return { computeResources, dependsOn: [instances.roleAttachment], jobLimits };
  }

  /**
   * The ECS instance role (only the managed policy the ECS agent needs: register, poll,
   * pull from ECR, write logs), its instance profile, and the launch template.
   * @see https://docs.aws.amazon.com/batch/latest/userguide/instance_IAM_role.html
   */
  private instanceResources(name: string, args: ComputeEnvironmentArgs) {
    const parent = { parent: this };
    const role = new aws.iam.Role(
      `${name}-instance`,
      {
        description: "Lets the ECS agent on Batch instances register and pull images.",
        assumeRolePolicy: JSON.stringify(assumeRolePolicyFor("ec2.amazonaws.com")),
        tags: args.tags,
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
      { role: role.name, tags: args.tags },
      parent,
    );
    const launchTemplate = new aws.ec2.LaunchTemplate(
      `${name}-launch-template`,
      {
        description: "batchpy instances: IMDSv2 only, metadata blocked for job containers",
        userData: Buffer.from(imdsBlockUserData()).toString("base64"),
        metadataOptions: INSTANCE_METADATA_OPTIONS,
        tags: args.tags,
      },
      parent,
    );
    return { roleAttachment, profileArn: profile.arn, launchTemplateId: launchTemplate.id };
  }
}

/**
 * The job limits of an EC2 or SPOT environment, from each instance type's size as EC2
 * reports it at deploy time (`aws.ec2.getInstanceType`).
 */
function instanceTypeLimits(
  types: readonly string[],
  maxVcpus: number,
  parent: pulumi.Resource,
): pulumi.Output<JobLimits> {
  const sizes = types.map((instanceType) =>
    aws.ec2.getInstanceTypeOutput({ instanceType }, { parent }).apply((t): NamedInstanceSize => ({
      name: instanceType,
      vcpus: t.defaultVcpus,
      memoryMiB: t.memorySize,
      gpus: t.gpuses.reduce((sum, g) => sum + g.count, 0),
    })),
  );
  return pulumi.all(sizes).apply((all) => ec2JobLimits(all, maxVcpus));
}
