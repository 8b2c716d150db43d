import * as assert from "assert";
import {
  ec2JobLimits,
  ECS_RESERVED_MEMORY_MIB,
  fargateJobLimits,
  isGpuInstanceType,
  jobTooLarge,
  KNOWN_INSTANCE_TYPES,
  placeableMemoryMiB,
} from "../../components/instance-types";
import { MOCK_INSTANCE_TYPES } from "../../policy/check/evaluate";

describe("job limits", () => {
  it("takes what the agent registers less its 32 MiB: AWS's m4.large registers 7985 of 8192 MiB", () => {
    assert.strictEqual(ECS_RESERVED_MEMORY_MIB, 32);
    assert.strictEqual(placeableMemoryMiB(8192), 7985 - 32);
    assert.strictEqual(placeableMemoryMiB(16384), 15970 - 32);
  });

  it("takes each field from the largest type, vCPUs capped at maxVcpus, GPUs in whole instances", () => {
    const types = [
      { name: "g5.xlarge", vcpus: 4, memoryMiB: 16384, gpus: 1 },
      { name: "g5.12xlarge", vcpus: 48, memoryMiB: 196608, gpus: 4 },
    ];
    assert.deepStrictEqual(ec2JobLimits(types, 32), {
      maxVcpus: 32,
      // Eight g5.xlarge (8 GPUs) beat no g5.12xlarge at all within 32 vCPUs.
      maxGpus: 8,
      largestJob: { vcpus: 32, memoryMiB: placeableMemoryMiB(196608), gpus: 4 },
      basis: ["g5.xlarge", "g5.12xlarge"],
    });
  });

  it("gives Fargate its largest size, no GPUs, vCPUs capped at maxVcpus", () => {
    assert.deepStrictEqual(fargateJobLimits(8), {
      maxVcpus: 8,
      maxGpus: 0,
      largestJob: { vcpus: 8, memoryMiB: 122880, gpus: 0 },
      basis: ["FARGATE"],
    });
  });

  it("names the field a job exceeds, at the boundary", () => {
    const limits = ec2JobLimits([{ name: "m5a.large", vcpus: 2, memoryMiB: 8192, gpus: 0 }], 16);
    assert.deepStrictEqual(jobTooLarge({ vcpus: 2, memoryMiB: 7953, gpus: 0 }, limits), []);
    assert.strictEqual(
      jobTooLarge({ vcpus: 2, memoryMiB: 7954, gpus: 0 }, limits)[0]?.field,
      "memoryMiB",
    );
    assert.strictEqual(
      jobTooLarge({ vcpus: 3, memoryMiB: 1000, gpus: 0 }, limits)[0]?.field,
      "vcpus",
    );
    assert.strictEqual(
      jobTooLarge({ vcpus: 1, memoryMiB: 1000, gpus: 1 }, limits)[0]?.field,
      "gpus",
    );
    assert.deepStrictEqual(
      jobTooLarge({ vcpus: 3, memoryMiB: 9000 }, limits).map((p) => p.field),
      ["vcpus", "memoryMiB"],
      "every field at fault; a field left out is not checked",
    );
  });

  it("tells GPU families by their first letter (g4dn, g5, p3), not Graviton's trailing g", () => {
    for (const t of ["g4dn.xlarge", "g5.xlarge", "g6e.2xlarge", "p3.2xlarge", "p5.48xlarge"]) {
      assert.ok(isGpuInstanceType(t), t);
    }
    for (const t of ["m5a.large", "m6g.large", "c7g.xlarge", "inf2.xlarge", "trn1.2xlarge"]) {
      assert.ok(!isGpuInstanceType(t), t);
    }
  });

  it("knows the same sizes as the mocked EC2 answers, for every type both list", () => {
    for (const [name, size] of Object.entries(KNOWN_INSTANCE_TYPES)) {
      const ec2 = MOCK_INSTANCE_TYPES[name];
      if (ec2 === undefined) {
        continue;
      }
      assert.deepStrictEqual(
        size,
        {
          vcpus: ec2.defaultVcpus,
          memoryMiB: ec2.memorySize,
          gpus: ec2.gpuses.reduce((n, g) => n + g.count, 0),
        },
        name,
      );
      assert.strictEqual(isGpuInstanceType(name), size.gpus > 0, name);
    }
  });
});
