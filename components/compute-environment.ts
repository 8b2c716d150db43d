import * as aws from "./aws";
import * as pulumi from "@pulumi/pulumi";
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
import { checkRanges, IntegerRanges, ValidationError } from "./validation";

type Ec2Type = "EC2" | "SPOT";
type FargateType = Exclude<ComputeType, Ec2Type>;

export const DEFAULT_COMPUTE_TYPE: ComputeType = "EC2";
/** Zero vCPUs when idle: instances exist only while jobs run. */
const DEFAULT_MIN_VCPUS = 0;
export const DEFAULT_MAX_VCPUS = 16;
const DEFAULT_ALLOCATION_STRATEGY: Record<Ec2Type, string> = {
  EC2: "BEST_FIT_PROGRESSIVE",
  // Least likely to be interrupted at a low price; needs no spot fleet role.
  SPOT: "SPOT_PRICE_CAPACITY_OPTIMIZED",
};
/**
 * Only these let Batch update an environment in place; with `BEST_FIT` almost any change
 * replaces it. @see https://docs.aws.amazon.com/batch/latest/userguide/infrastructure-updates.html
 */
const ALLOCATION_STRATEGIES: Record<Ec2Type, readonly string[]> = {
  EC2: ["BEST_FIT_PROGRESSIVE"],
  SPOT: ["SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED"],
};
/** Batch's own default for how long running jobs may go on during an infrastructure update. */
const DEFAULT_UPDATE_TIMEOUT_MINUTES = 30;
const RANGES: IntegerRanges<ComputeEnvironmentArgs> = {
  maxVcpus: [1, 100000, "Batch needs room for at least one job"],
  minVcpus: [0, 100000, "vCPUs are whole and not negative"],
  jobGpus: [0, 16, "GPUs are whole; EC2 has at most 16 per instance"],
  updateTimeoutMinutes: [1, 360, "the range AWS Batch's update policy accepts"],
};
const EC2_ONLY = [
  "instanceTypes",
  "allocationStrategy",
  "spotBidPercentage",
  "updateTimeoutMinutes",
] as const;

/**
 * Was `-ce` while the environment used a custom service role; the rename migrated it to the
 * service-linked role. Never rename it again: that replaces the environment and kills its jobs.
 */
const COMPUTE_ENVIRONMENT_SUFFIX = "compute";

export interface ComputeEnvironmentArgs {
  /** What the environment launches. @default "EC2" */
  readonly computeType?: ComputeType;
  /**
   * vCPUs kept running when no job is queued, billed around the clock; passed through
   * unchanged (the policy pack rejects above 0). Fargate has no minimum: leave it unset or 0.
   * @default 0
   * @see https://docs.aws.amazon.com/batch/latest/userguide/compute_environment_parameters.html
   */
  readonly minVcpus?: number;
  /** vCPUs running at once at most: what bounds the hourly cost. @default 16 */
  readonly maxVcpus?: number;
  /**
   * Exact EC2 instance types (EC2 and SPOT only), e.g. `m5a.large` or `g5.xlarge`. Families
   * and `optimal` are refused: the job limits and GPU checks need every size Batch may launch.
   * @default ["m5a.large"]
   */
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
   * Minutes running jobs may go on during an infrastructure update before Batch stops them
   * (1–360; jobs are never terminated at once). EC2 and SPOT only.
   * @default 30
   * @see https://docs.aws.amazon.com/batch/latest/userguide/updating-compute-environments.html
   */
  readonly updateTimeoutMinutes?: number;
  /** VPC for the instances. Give `subnetIds` with it. @default - the account's default VPC */
  readonly vpcId?: pulumi.Input<string>;
  /** Subnets routing to ECR, S3 and CloudWatch Logs. @default - the default VPC's public ones */
  readonly subnetIds?: pulumi.Input<pulumi.Input<string>[]>;
  /** Tags for every resource of the component (not for the instances: see `instanceTags`). */
  readonly tags?: Record<string, string>;
  /** Tags for the instances; keep them fixed: a change replaces the environment. @default - none */
  readonly instanceTags?: Record<string, string>;
}

export function isFargate(type: ComputeType): type is FargateType {
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
  checkRanges(where, args, RANGES);
  const max = args.maxVcpus ?? DEFAULT_MAX_VCPUS;
  if (typeof args.minVcpus === "number" && args.minVcpus > max) {
    throw new ValidationError(
      `${where} has 'minVcpus' = ${args.minVcpus} > 'maxVcpus' = ${max}; 'minVcpus' cannot be greater than 'maxVcpus'.`,
      "minVcpus",
    );
  }
  if (isFargate(type)) {
    checkFargateArgs(where, type, args);
  } else {
    checkEc2Args(where, type, args);
  }
  if ((args.vpcId === undefined) !== (args.subnetIds === undefined)) {
    throw new ValidationError(
      `${where} sets only one of 'vpcId' and 'subnetIds'; give both, or neither to use the default VPC.`,
      "vpcId",
    );
  }
}

function checkFargateArgs(where: string, type: FargateType, args: ComputeEnvironmentArgs): void {
  if (args.minVcpus !== undefined && args.minVcpus !== 0) {
    throw new ValidationError(
      `${where} has 'minVcpus' = ${args.minVcpus} with 'computeType' = '${type}'; Fargate has no minimum, leave 'minVcpus' unset.`,
      "minVcpus",
    );
  }
  const ec2Only = EC2_ONLY.find((arg) => args[arg] !== undefined);
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
  checkGpuTypes(where, types, args.jobGpus ?? 0);
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
  checkRanges(where, args, {
    spotBidPercentage: [1, 100, "a percentage of the on-demand price"],
  });
}

/** A GPU job needs every instance type to have a GPU, and enough of them where known. */
function checkGpuTypes(where: string, types: readonly string[], gpus: number): void {
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
}

/**
 * A managed Batch compute environment that scales to zero when idle. No service role: only
 * with its service-linked role does Batch update instance types, subnets and the like in
 * place; with a custom one each such change replaces the environment and kills its jobs.
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
    const type = (this.computeType = args.computeType ?? DEFAULT_COMPUTE_TYPE);
    const maxVcpus = args.maxVcpus ?? DEFAULT_MAX_VCPUS;
    const network =
      args.vpcId !== undefined && args.subnetIds !== undefined
        ? { vpcId: args.vpcId, subnetIds: args.subnetIds }
        : defaultNetwork(`ComputeEnvironment '${name}'`, this);
    const ec2 = isFargate(type) ? undefined : { type, ...this.instanceResources(name, args.tags) };
    this.jobLimits =
      ec2 === undefined
        ? pulumi.output(fargateJobLimits(maxVcpus))
        : instanceTypeLimits(args.instanceTypes ?? DEFAULT_INSTANCE_TYPES, maxVcpus, this);

    const computeEnvironment = new aws.batch.ComputeEnvironment(
      `${name}-${COMPUTE_ENVIRONMENT_SUFFIX}`,
      {
        type: "MANAGED",
        state: "ENABLED",
        // No serviceRole: Batch uses AWSServiceRoleForBatch (see the class comment).
        computeResources: {
          type,
          maxVcpus,
          subnets: network.subnetIds,
          securityGroupIds: [this.outboundOnlySecurityGroup(name, network.vpcId, args.tags).id],
          ...(ec2 && ec2ComputeResources(ec2, args)),
        },
        // Fargate has no infrastructure updates, so no update policy.
        updatePolicy: ec2 && {
          jobExecutionTimeoutMinutes: args.updateTimeoutMinutes ?? DEFAULT_UPDATE_TIMEOUT_MINUTES,
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

  /** Jobs reach out (image pulls, S3, CloudWatch Logs); nothing reaches in. */
  private outboundOnlySecurityGroup(
    name: string,
    vpcId: pulumi.Input<string>,
    tags: ComputeEnvironmentArgs["tags"],
  ): aws.ec2.SecurityGroup {
    const anywhere = { cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] };
    return new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        description: "batchpy jobs: outbound only (image pulls, S3, CloudWatch Logs)",
        vpcId,
        egress: [{ protocol: "-1", fromPort: 0, toPort: 0, ...anywhere }],
        tags,
      },
      { parent: this },
    );
  }

  /**
   * The ECS instance role (only the ECS agent's managed policy), its profile, and the
   * launch template. @see https://docs.aws.amazon.com/batch/latest/userguide/instance_IAM_role.html
   */
  private instanceResources(name: string, tags: ComputeEnvironmentArgs["tags"]) {
    const parent = { parent: this };
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
        userData: Buffer.from(imdsBlockUserData()).toString("base64"),
        metadataOptions: INSTANCE_METADATA_OPTIONS,
        tags,
      },
      parent,
    );
    return { roleAttachment, profileArn: profile.arn, launchTemplateId: launchTemplate.id };
  }
}

/** The `computeResources` fields only EC2 and SPOT environments have. */
function ec2ComputeResources(
  instances: {
    type: Ec2Type;
    profileArn: pulumi.Output<string>;
    launchTemplateId: pulumi.Output<string>;
  },
  args: ComputeEnvironmentArgs,
) {
  return {
    minVcpus: args.minVcpus ?? DEFAULT_MIN_VCPUS,
    instanceTypes: [...(args.instanceTypes ?? DEFAULT_INSTANCE_TYPES)],
    allocationStrategy: args.allocationStrategy ?? DEFAULT_ALLOCATION_STRATEGY[instances.type],
    bidPercentage: args.spotBidPercentage,
    // Batch wants the instance profile here, not the role (despite the field name).
    instanceRole: instances.profileArn,
    // Both force a new environment, even with the service-linked role: keep them fixed.
    launchTemplate: { launchTemplateId: instances.launchTemplateId, version: "$Latest" },
    ec2Configurations: EC2_CONFIGURATION,
    // Fixed: a change to computeResources.tags replaces the environment.
    tags: args.instanceTags,
  };
}

/**
 * The default VPC and its default subnets (public: instances reach ECR and S3 without a paid
 * NAT gateway). `getVpcs` returns an empty list rather than failing, so the error can say
 * what to set instead of the provider's "no matching EC2 VPC found".
 */
function defaultNetwork(where: string, parent: pulumi.Resource) {
  const opts = { parent };
  const vpcs = aws.ec2.getVpcsOutput({ filters: [{ name: "is-default", values: ["true"] }] }, opts);
  const region = aws.getRegionOutput({}, opts).region;
  const vpcId = pulumi.all([vpcs.ids, region]).apply(([ids, r]) => {
    if (ids.length === 0) {
      throw new Error(
        `${where}: the account has no default VPC in ${r} (common under AWS Control Tower), ` +
          `and 'vpcId' and 'subnetIds' are not set. Name a VPC and subnets with a route to ECR, S3 ` +
          `and CloudWatch Logs: in this project \`pulumi config set batchpy:vpcId vpc-0abc…\` and ` +
          `\`pulumi config set --path 'batchpy:subnetIds[0]' subnet-0abc…\` (one line per subnet).`,
      );
    }
    return ids[0];
  });
  const filters = [
    { name: "vpc-id", values: [vpcId] },
    { name: "default-for-az", values: ["true"] },
  ];
  return { vpcId, subnetIds: aws.ec2.getSubnetsOutput({ filters }, opts).ids };
}

/** An EC2 or SPOT environment's job limits, from each type's size as EC2 reports it. */
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
