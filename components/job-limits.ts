/**
 * The `jobLimits` stack output: how big one job may be and how many GPUs the environment
 * may run at once, so the jobs tool can refuse a job that would wait in RUNNABLE forever.
 */
import {
  InstanceSize,
  LARGEST_FARGATE_SIZE,
  ECS_RESERVED_MEMORY_MIB,
  placeableMemoryMiB,
} from "./instance-types";

/** The biggest single job container the environment can place. */
export interface LargestJob {
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly gpus: number;
}

export interface JobLimits {
  /** The compute environment's maxVcpus. */
  readonly maxVcpus: number;
  /** GPUs the environment may run at once (0 on a non-GPU stack). */
  readonly maxGpus: number;
  readonly largestJob: LargestJob;
  /** What `largestJob` is computed from: the instance types, or `["FARGATE"]`. */
  readonly basis: readonly string[];
}

/** An instance type with its size, as `aws.ec2.getInstanceType` returns it. */
export interface NamedInstanceSize extends InstanceSize {
  readonly name: string;
}

/**
 * Limits of an EC2 or SPOT environment: a job fits on one instance ({@link placeableMemoryMiB})
 * and within `maxVcpus`; with several types, each field is the largest any type allows. Batch
 * counts only vCPUs against `maxVcpus`, so GPUs at once are floor(maxVcpus / vCPUs) × GPUs.
 */
export function ec2JobLimits(types: readonly NamedInstanceSize[], maxVcpus: number): JobLimits {
  if (types.length === 0) {
    throw new Error("ec2JobLimits needs at least one instance type.");
  }
  return {
    maxVcpus,
    maxGpus: Math.max(0, ...types.map((t) => Math.floor(maxVcpus / t.vcpus) * t.gpus)),
    largestJob: {
      // A job asking for more vCPUs than maxVcpus is never started, whatever the type.
      vcpus: Math.min(maxVcpus, Math.max(...types.map((t) => t.vcpus))),
      memoryMiB: Math.max(...types.map((t) => placeableMemoryMiB(t.memoryMiB))),
      gpus: Math.max(...types.map((t) => t.gpus)),
    },
    basis: types.map((t) => t.name),
  };
}

/** Limits of a Fargate environment: its largest size, no GPUs, no agent reservation. */
export function fargateJobLimits(maxVcpus: number): JobLimits {
  return {
    maxVcpus,
    maxGpus: 0,
    largestJob: {
      vcpus: Math.min(LARGEST_FARGATE_SIZE.vcpus, maxVcpus),
      memoryMiB: LARGEST_FARGATE_SIZE.memoryMiB,
      gpus: 0,
    },
    basis: ["FARGATE"],
  };
}

/** Each reason a job of this size can never be placed; empty when it fits or is unsized. */
export function jobTooLarge(
  job: Partial<LargestJob>,
  limits: JobLimits,
): { field: keyof LargestJob; message: string }[] {
  const largest = limits.largestJob;
  const on = `the largest job ${limits.basis.join(", ")} can place has`;
  const reserved =
    limits.basis[0] === "FARGATE"
      ? ""
      : ` (the kernel and the ECS agent's ${ECS_RESERVED_MEMORY_MIB} MiB reservation take the rest)`;
  const found: { field: keyof LargestJob; message: string }[] = [];
  if (job.vcpus !== undefined && job.vcpus > largest.vcpus) {
    found.push({
      field: "vcpus",
      message: `${job.vcpus} vCPUs per job, but ${on} ${largest.vcpus}`,
    });
  }
  if (job.memoryMiB !== undefined && job.memoryMiB > largest.memoryMiB) {
    found.push({
      field: "memoryMiB",
      message: `${job.memoryMiB} MiB per job, but ${on} ${largest.memoryMiB} MiB${reserved}`,
    });
  }
  if (job.gpus !== undefined && job.gpus > largest.gpus) {
    found.push({ field: "gpus", message: `${job.gpus} GPUs per job, but ${on} ${largest.gpus}` });
  }
  return found;
}
