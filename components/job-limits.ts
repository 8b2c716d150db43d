// The `jobLimits` stack output, so the jobs tool can refuse a job that would wait in RUNNABLE.
import {
  FARGATE_MEMORY_MIB,
  InstanceSize,
  ECS_RESERVED_MEMORY_MIB,
  placeableMemoryMiB,
} from "./instance-types";

export interface JobLimits {
  readonly maxVcpus: number;
  /** GPUs the environment may run at once. */
  readonly maxGpus: number;
  readonly largestJob: InstanceSize;
  /** What `largestJob` is computed from: the instance types, or `["FARGATE"]`. */
  readonly basis: readonly string[];
}

// With several types, each field is the largest any type allows. Batch counts only vCPUs
// against `maxVcpus`.
export function ec2JobLimits(
  types: readonly (InstanceSize & { readonly name: string })[],
  maxVcpus: number,
): JobLimits {
  const largest = (size: (t: InstanceSize) => number) => Math.max(...types.map(size));
  return {
    maxVcpus,
    maxGpus: largest((t) => Math.floor(maxVcpus / t.vcpus) * t.gpus),
    largestJob: {
      // A job asking for more vCPUs than maxVcpus is never started, whatever the type.
      vcpus: largest((t) => Math.min(maxVcpus, t.vcpus)),
      memoryMiB: largest((t) => placeableMemoryMiB(t.memoryMiB)),
      gpus: largest((t) => t.gpus),
    },
    basis: types.map((t) => t.name),
  };
}

export function fargateJobLimits(maxVcpus: number): JobLimits {
  const [vcpus, memory] = [...FARGATE_MEMORY_MIB].at(-1)!;
  const largestJob = { vcpus: Math.min(vcpus, maxVcpus), memoryMiB: memory.at(-1)!, gpus: 0 };
  return { maxVcpus, maxGpus: 0, largestJob, basis: ["FARGATE"] };
}

export function jobTooLarge(
  job: Partial<InstanceSize>,
  limits: JobLimits,
): { field: keyof InstanceSize; message: string }[] {
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
