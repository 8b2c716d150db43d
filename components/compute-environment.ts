import * as aws from "@pulumi/aws";
import * as awsx from "@pulumi/awsx";
import * as pulumi from "@pulumi/pulumi";
import { assumeRolePolicyFor } from "./iam";
import { checkIntegerRange, isKnownNumber, ValidationError } from "./validation";

/** Where jobs run: EC2 on-demand or spot instances, or Fargate (on-demand or spot). */
export type ComputeType = "EC2" | "SPOT" | "FARGATE" | "FARGATE_SPOT";
export const COMPUTE_TYPES: readonly ComputeType[] = ["EC2", "SPOT", "FARGATE", "FARGATE_SPOT"];

export const DEFAULT_COMPUTE_TYPE: ComputeType = "EC2";
/** Zero vCPUs when idle: instances exist only while jobs run. */
export const DEFAULT_MIN_VCPUS = 0;
export const DEFAULT_MAX_VCPUS = 16;
/** The tutorial's instance type: 2 vCPUs, 8 GiB, AMD. */
export const DEFAULT_INSTANCE_TYPES: readonly string[] = ["m5a.large"];
export const DEFAULT_ALLOCATION_STRATEGY: Record<"EC2" | "SPOT", string> = {
  EC2: "BEST_FIT_PROGRESSIVE",
  // Least likely to be interrupted at a low price; needs no spot fleet role.
  SPOT: "SPOT_PRICE_CAPACITY_OPTIMIZED",
};
const ALLOCATION_STRATEGIES: Record<"EC2" | "SPOT", readonly string[]> = {
  EC2: ["BEST_FIT", "BEST_FIT_PROGRESSIVE"],
  SPOT: ["SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED"],
};

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
   * EC2 instance types (EC2 and SPOT only).
   * @default ["m5a.large"]
   */
  readonly instanceTypes?: readonly string[];
  /**
   * How Batch picks instances (EC2 and SPOT only).
   * @default "BEST_FIT_PROGRESSIVE" for EC2, "SPOT_PRICE_CAPACITY_OPTIMIZED" for SPOT
   */
  readonly allocationStrategy?: string;
  /**
   * Highest spot price as a percentage of the on-demand price (SPOT only).
   * @default - up to the on-demand price
   */
  readonly spotBidPercentage?: number;
  /**
   * VPC for the instances. Give `subnetIds` with it.
   * @default - the account's default VPC
   */
  readonly vpcId?: pulumi.Input<string>;
  /**
   * Subnets for the instances; they need a route to ECR, S3 and CloudWatch Logs.
   * @default - the default VPC's public subnets
   */
  readonly subnetIds?: pulumi.Input<pulumi.Input<string>[]>;
  /** Tags for every resource of the component, and for the instances Batch launches. */
  readonly tags?: Record<string, string>;
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
  if (isFargate(type)) {
    if (args.minVcpus !== undefined && args.minVcpus !== 0) {
      throw new ValidationError(
        `${where} has 'minVcpus' = ${args.minVcpus} with 'computeType' = '${type}'; Fargate has no minimum, leave 'minVcpus' unset.`,
        "minVcpus",
      );
    }
    for (const arg of ["instanceTypes", "allocationStrategy", "spotBidPercentage"] as const) {
      if (args[arg] !== undefined) {
        throw new ValidationError(
          `${where} sets '${arg}' with 'computeType' = '${type}'; '${arg}' applies to EC2 and SPOT only.`,
          arg,
        );
      }
    }
  } else {
    const ec2Type = type as "EC2" | "SPOT";
    if (args.instanceTypes !== undefined && args.instanceTypes.length === 0) {
      throw new ValidationError(
        `${where} has an empty 'instanceTypes'; name at least one type, e.g. ["m5a.large"].`,
        "instanceTypes",
      );
    }
    const strategy = args.allocationStrategy;
    if (strategy !== undefined && !ALLOCATION_STRATEGIES[ec2Type].includes(strategy)) {
      throw new ValidationError(
        `${where} has 'allocationStrategy' = '${strategy}'; with 'computeType' = '${type}' it must be one of ${ALLOCATION_STRATEGIES[ec2Type].join(", ")}.`,
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
  if ((args.vpcId === undefined) !== (args.subnetIds === undefined)) {
    throw new ValidationError(
      `${where} sets only one of 'vpcId' and 'subnetIds'; give both, or neither to use the default VPC.`,
      "vpcId",
    );
  }
}

/**
 * A managed AWS Batch compute environment that scales to zero when idle, with the roles
 * and network it needs: the Batch service role, the ECS instance role and profile (EC2 and
 * SPOT), and a security group that allows outbound traffic only.
 */
export class ComputeEnvironment extends pulumi.ComponentResource {
  public readonly computeEnvironmentArn: pulumi.Output<string>;
  public readonly computeEnvironmentName: pulumi.Output<string>;
  /** What the environment launches; the job definition must match it. */
  public readonly computeType: ComputeType;

  constructor(
    name: string,
    args: ComputeEnvironmentArgs = {},
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("batchpy:compute:ComputeEnvironment", name, {}, opts);
    validateComputeEnvironmentArgs(name, args);
    const parent = { parent: this };
    const type = args.computeType ?? DEFAULT_COMPUTE_TYPE;
    this.computeType = type;

    let vpcId = args.vpcId;
    let subnetIds = args.subnetIds;
    if (vpcId === undefined || subnetIds === undefined) {
      const defaultVpc = new awsx.ec2.DefaultVpc(`${name}-default-vpc`, {}, parent);
      vpcId = defaultVpc.vpcId;
      // Public subnets give instances a route to ECR and S3 without a paid NAT gateway.
      subnetIds = defaultVpc.publicSubnetIds;
    }

    const securityGroup = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        description: "batchpy jobs: outbound only (image pulls, S3, CloudWatch Logs)",
        vpcId,
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
      parent,
    );

    const serviceRole = new aws.iam.Role(
      `${name}-service`,
      {
        description: "Lets AWS Batch manage the compute environment's instances.",
        assumeRolePolicy: JSON.stringify(assumeRolePolicyFor("batch.amazonaws.com")),
        tags: args.tags,
      },
      parent,
    );
    const serviceRoleAttachment = new aws.iam.RolePolicyAttachment(
      `${name}-service-policy`,
      { role: serviceRole.name, policyArn: aws.iam.ManagedPolicy.AWSBatchServiceRole },
      parent,
    );
    // The environment must be deleted before its role loses its policy, or Batch cannot
    // tear it down and it sticks in INVALID.
    const dependsOn: pulumi.Resource[] = [serviceRoleAttachment];

    let computeResources: aws.types.input.batch.ComputeEnvironmentComputeResources;
    if (isFargate(type)) {
      computeResources = {
        type,
        maxVcpus: args.maxVcpus ?? DEFAULT_MAX_VCPUS,
        subnets: subnetIds,
        securityGroupIds: [securityGroup.id],
      };
    } else {
      const instanceRole = new aws.iam.Role(
        `${name}-instance`,
        {
          description: "Lets the ECS agent on Batch instances register and pull images.",
          assumeRolePolicy: JSON.stringify(assumeRolePolicyFor("ec2.amazonaws.com")),
          tags: args.tags,
        },
        parent,
      );
      const instanceRoleAttachment = new aws.iam.RolePolicyAttachment(
        `${name}-instance-policy`,
        {
          role: instanceRole.name,
          policyArn: aws.iam.ManagedPolicy.AmazonEC2ContainerServiceforEC2Role,
        },
        parent,
      );
      const instanceProfile = new aws.iam.InstanceProfile(
        `${name}-instance-profile`,
        { role: instanceRole.name, tags: args.tags },
        parent,
      );
      dependsOn.push(instanceRoleAttachment);
      const ec2Type = type as "EC2" | "SPOT";
      computeResources = {
        type,
        // Passed through unchanged: the policy pack, not this component, rejects a floor.
        minVcpus: args.minVcpus ?? DEFAULT_MIN_VCPUS,
        maxVcpus: args.maxVcpus ?? DEFAULT_MAX_VCPUS,
        instanceTypes: [...(args.instanceTypes ?? DEFAULT_INSTANCE_TYPES)],
        allocationStrategy: args.allocationStrategy ?? DEFAULT_ALLOCATION_STRATEGY[ec2Type],
        bidPercentage: args.spotBidPercentage,
        // Batch wants the instance profile here, not the role (despite the field name).
        instanceRole: instanceProfile.arn,
        subnets: subnetIds,
        securityGroupIds: [securityGroup.id],
        tags: args.tags,
      };
    }

    const computeEnvironment = new aws.batch.ComputeEnvironment(
      `${name}-ce`,
      {
        type: "MANAGED",
        state: "ENABLED",
        serviceRole: serviceRole.arn,
        computeResources,
        tags: args.tags,
      },
      { parent: this, dependsOn },
    );

    this.computeEnvironmentArn = computeEnvironment.arn;
    this.computeEnvironmentName = computeEnvironment.name;
    this.registerOutputs({
      computeEnvironmentArn: this.computeEnvironmentArn,
      computeEnvironmentName: this.computeEnvironmentName,
    });
  }
}
