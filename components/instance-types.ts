// Instance and Fargate sizes known before the deploy, so stack config can refuse an impossible
// job, and the job limits they give; no imports.

export const COMPUTE_TYPES = ["EC2", "SPOT", "FARGATE", "FARGATE_SPOT"] as const;
export type ComputeType = (typeof COMPUTE_TYPES)[number];

export const DEFAULT_INSTANCE_TYPES: readonly string[] = ["m5a.large"];

export interface InstanceSize {
  readonly vcpus: number;
  /** Installed memory (`MemoryInfo.SizeInMiB`). */
  readonly memoryMiB: number;
  readonly gpus: number;
}

/**
 * Common types as DescribeInstanceTypes reports them (others are looked up at deploy time);
 * every type `jobs:report` prices. @see https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html
 */
export const KNOWN_INSTANCE_TYPES: Readonly<Record<string, InstanceSize>> = {
  "m5a.large": { vcpus: 2, memoryMiB: 8192, gpus: 0 },
  "m5a.xlarge": { vcpus: 4, memoryMiB: 16384, gpus: 0 },
  "m5a.2xlarge": { vcpus: 8, memoryMiB: 32768, gpus: 0 },
  "m5.large": { vcpus: 2, memoryMiB: 8192, gpus: 0 },
  "m5.xlarge": { vcpus: 4, memoryMiB: 16384, gpus: 0 },
  "m5.2xlarge": { vcpus: 8, memoryMiB: 32768, gpus: 0 },
  "c5.large": { vcpus: 2, memoryMiB: 4096, gpus: 0 },
  "c5.xlarge": { vcpus: 4, memoryMiB: 8192, gpus: 0 },
  "c6i.large": { vcpus: 2, memoryMiB: 4096, gpus: 0 },
  "c7i.large": { vcpus: 2, memoryMiB: 4096, gpus: 0 },
  "m6i.large": { vcpus: 2, memoryMiB: 8192, gpus: 0 },
  "m7i.large": { vcpus: 2, memoryMiB: 8192, gpus: 0 },
  "t3.medium": { vcpus: 2, memoryMiB: 4096, gpus: 0 },
  "r5.large": { vcpus: 2, memoryMiB: 16384, gpus: 0 },
  "g4dn.xlarge": { vcpus: 4, memoryMiB: 16384, gpus: 1 },
  "g4dn.2xlarge": { vcpus: 8, memoryMiB: 32768, gpus: 1 },
  "g5.xlarge": { vcpus: 4, memoryMiB: 16384, gpus: 1 },
  "g5.2xlarge": { vcpus: 8, memoryMiB: 32768, gpus: 1 },
  "g5.12xlarge": { vcpus: 48, memoryMiB: 196608, gpus: 4 },
  "g6.xlarge": { vcpus: 4, memoryMiB: 16384, gpus: 1 },
  "p3.2xlarge": { vcpus: 8, memoryMiB: 62464, gpus: 1 },
};

export const INSTANCE_TYPE_PATTERN = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;

// Graviton's `g` ends the family (m6g), a GPU family's starts it (g5).
// @see https://docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html
export function isGpuInstanceType(type: string): boolean {
  return /^[gp]\d/.test(type);
}

// @see https://docs.aws.amazon.com/batch/latest/userguide/ecs-reserved-memory.html
export const ECS_RESERVED_MEMORY_MIB = 32;

// AWS's m4.large example. @see https://docs.aws.amazon.com/batch/latest/userguide/memory-management.html
const REGISTERED_MEMORY_RATIO = 7985 / 8192;

// An estimate: the exact figure depends on the kernel.
export function placeableMemoryMiB(installedMiB: number): number {
  return Math.floor(installedMiB * REGISTERED_MEMORY_RATIO) - ECS_RESERVED_MEMORY_MIB;
}

const range = (from: number, to: number, step: number) =>
  Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step);

// @see https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html
// @see https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
export const FARGATE_MEMORY_MIB: ReadonlyMap<number, readonly number[]> = new Map([
  [0.25, [512, 1024, 2048]],
  [0.5, range(1024, 4096, 1024)],
  [1, range(2048, 8192, 1024)],
  [2, range(4096, 16384, 1024)],
  [4, range(8192, 30720, 1024)],
  [8, range(16384, 61440, 4096)],
  [16, range(32768, 122880, 8192)],
]);

/** The `jobLimits` stack output, so the jobs tool can refuse a job that would wait in RUNNABLE. */
export type JobLimits = ReturnType<typeof ec2JobLimits>;

// With several types, each field is the largest any type allows. Batch counts only vCPUs
// against `maxVcpus`.
export function ec2JobLimits(
  types: readonly (InstanceSize & { readonly name: string })[],
  maxVcpus: number,
) {
  const largest = (size: (t: InstanceSize) => number) => Math.max(...types.map(size));
  return {
    maxVcpus,
    // GPUs the environment may run at once.
    maxGpus: largest((t) => Math.floor(maxVcpus / t.vcpus) * t.gpus),
    largestJob: {
      // A job asking for more vCPUs than maxVcpus is never started, whatever the type.
      vcpus: largest((t) => Math.min(maxVcpus, t.vcpus)),
      memoryMiB: largest((t) => placeableMemoryMiB(t.memoryMiB)),
      gpus: largest((t) => t.gpus),
    },
    // What `largestJob` is computed from: the instance types, or `["FARGATE"]`.
    basis: types.map((t) => t.name),
  };
}

export function fargateJobLimits(maxVcpus: number): JobLimits {
  const [vcpus, memory] = [...FARGATE_MEMORY_MIB].at(-1)!;
  const largestJob = { vcpus: Math.min(vcpus, maxVcpus), memoryMiB: memory.at(-1)!, gpus: 0 };
  return { maxVcpus, maxGpus: 0, largestJob, basis: ["FARGATE"] };
}

export function jobTooLarge(job: Partial<InstanceSize>, limits: JobLimits) {
  const on = `the largest job ${limits.basis.join(", ")} can place has`;
  const reserved =
    limits.basis[0] === "FARGATE"
      ? ""
      : ` (the kernel and the ECS agent's ${ECS_RESERVED_MEMORY_MIB} MiB reservation take the rest)`;
  const units = { vcpus: ["vCPUs", ""], memoryMiB: ["MiB", ` MiB${reserved}`], gpus: ["GPUs", ""] };
  return (["vcpus", "memoryMiB", "gpus"] as const).flatMap((field) => {
    const [asked, most] = [job[field], limits.largestJob[field]];
    const [unit, after] = units[field];
    return asked !== undefined && asked > most
      ? [{ field, message: `${asked} ${unit} per job, but ${on} ${most}${after}` }]
      : [];
  });
}
