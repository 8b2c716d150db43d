/**
 * vCPUs and GPUs of EC2's NVIDIA GPU types: a policy cannot ask EC2. An unlisted GPU type
 * counts at the densest listed ratio, so it is never undercounted.
 * @see https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html
 */
const GPU_INSTANCE_TYPES: Readonly<Record<string, { vcpus: number; gpus: number }>> = {
  "g4dn.xlarge": { vcpus: 4, gpus: 1 },
  "g4dn.2xlarge": { vcpus: 8, gpus: 1 },
  "g4dn.4xlarge": { vcpus: 16, gpus: 1 },
  "g4dn.8xlarge": { vcpus: 32, gpus: 1 },
  "g4dn.12xlarge": { vcpus: 48, gpus: 4 },
  "g4dn.16xlarge": { vcpus: 64, gpus: 1 },
  "g4dn.metal": { vcpus: 96, gpus: 8 },
  "g5.xlarge": { vcpus: 4, gpus: 1 },
  "g5.2xlarge": { vcpus: 8, gpus: 1 },
  "g5.4xlarge": { vcpus: 16, gpus: 1 },
  "g5.8xlarge": { vcpus: 32, gpus: 1 },
  "g5.12xlarge": { vcpus: 48, gpus: 4 },
  "g5.16xlarge": { vcpus: 64, gpus: 1 },
  "g5.24xlarge": { vcpus: 96, gpus: 4 },
  "g5.48xlarge": { vcpus: 192, gpus: 8 },
  "g6.xlarge": { vcpus: 4, gpus: 1 },
  "g6.2xlarge": { vcpus: 8, gpus: 1 },
  "g6.4xlarge": { vcpus: 16, gpus: 1 },
  "g6.8xlarge": { vcpus: 32, gpus: 1 },
  "g6.12xlarge": { vcpus: 48, gpus: 4 },
  "g6.16xlarge": { vcpus: 64, gpus: 1 },
  "g6.24xlarge": { vcpus: 96, gpus: 4 },
  "g6.48xlarge": { vcpus: 192, gpus: 8 },
  "p3.2xlarge": { vcpus: 8, gpus: 1 },
  "p3.8xlarge": { vcpus: 32, gpus: 4 },
  "p3.16xlarge": { vcpus: 64, gpus: 8 },
  "p4d.24xlarge": { vcpus: 96, gpus: 8 },
  "p5.48xlarge": { vcpus: 192, gpus: 8 },
};

/** The fewest vCPUs per GPU of any listed type. */
const DENSEST_VCPUS_PER_GPU = 4;

/** The most GPUs at once: whole instances of the type packing the most GPUs into `maxVcpus`. */
export function maxGpusAtOnce(
  instanceTypes: readonly string[],
  maxVcpus: number,
): { count: number; why: string } {
  let best = { count: 0, why: "no GPU instance types" };
  // EC2's GPU families are the g… and p… ones.
  for (const type of instanceTypes.filter((name) => /^[gp]\d/.test(name))) {
    const known = GPU_INSTANCE_TYPES[type];
    const count = known
      ? Math.floor(maxVcpus / known.vcpus) * known.gpus
      : Math.floor(maxVcpus / DENSEST_VCPUS_PER_GPU);
    const why = known
      ? `${Math.floor(maxVcpus / known.vcpus)} ${type} with ${known.gpus} GPU${known.gpus === 1 ? "" : "s"} each within maxVcpus ${maxVcpus}`
      : `${type} is not in the pack's GPU table, so up to one GPU per ${DENSEST_VCPUS_PER_GPU} of maxVcpus ${maxVcpus}`;
    if (count > best.count) {
      best = { count, why };
    }
  }
  return best;
}
