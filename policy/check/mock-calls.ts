/**
 * What the mocked AWS provider answers when the program calls a data source (an `invoke`):
 * shaped like the real provider's results, for the account the mocks deploy into. The
 * instance sizes are EC2's DescribeInstanceTypes figures, kept here independently of the
 * program's own table so that a test compares the program against another source.
 */

/** A data-source call the program makes: its token and inputs. */
export interface MockCall {
  readonly token: string;
  readonly inputs: Record<string, unknown>;
}

/** A `GetInstanceTypeGpus` entry. */
interface Gpu {
  count: number;
  manufacturer: string;
  memorySize: number;
  name: string;
}

const A10G: Gpu = { count: 1, manufacturer: "NVIDIA", memorySize: 24576, name: "A10G" };
const T4: Gpu = { count: 1, manufacturer: "NVIDIA", memorySize: 16384, name: "T4" };
const L4: Gpu = { count: 1, manufacturer: "NVIDIA", memorySize: 23034, name: "L4" };
const V100: Gpu = { count: 1, manufacturer: "NVIDIA", memorySize: 16384, name: "V100" };

/** DescribeInstanceTypes: default vCPUs, `MemoryInfo.SizeInMiB`, `GpuInfo.Gpus`. */
export const MOCK_INSTANCE_TYPES: Readonly<
  Record<string, { defaultVcpus: number; memorySize: number; gpuses: Gpu[] }>
> = {
  "m5a.large": { defaultVcpus: 2, memorySize: 8192, gpuses: [] },
  "m5a.xlarge": { defaultVcpus: 4, memorySize: 16384, gpuses: [] },
  "m5a.2xlarge": { defaultVcpus: 8, memorySize: 32768, gpuses: [] },
  "m5.large": { defaultVcpus: 2, memorySize: 8192, gpuses: [] },
  "c5.large": { defaultVcpus: 2, memorySize: 4096, gpuses: [] },
  "c6i.4xlarge": { defaultVcpus: 16, memorySize: 32768, gpuses: [] },
  "r5.large": { defaultVcpus: 2, memorySize: 16384, gpuses: [] },
  "g4dn.xlarge": { defaultVcpus: 4, memorySize: 16384, gpuses: [T4] },
  "g5.xlarge": { defaultVcpus: 4, memorySize: 16384, gpuses: [A10G] },
  "g5.2xlarge": { defaultVcpus: 8, memorySize: 32768, gpuses: [A10G] },
  "g5.12xlarge": { defaultVcpus: 48, memorySize: 196608, gpuses: [{ ...A10G, count: 4 }] },
  "g6.xlarge": { defaultVcpus: 4, memorySize: 16384, gpuses: [L4] },
  "p3.2xlarge": { defaultVcpus: 8, memorySize: 62464, gpuses: [V100] },
};

/** The default VPC and its default subnets the mocked account has. */
const MOCK_DEFAULT_VPC = {
  vpcId: "vpc-0defa017",
  subnetIds: ["subnet-0pub1a", "subnet-0pub1b"],
} as const;

/**
 * The mocked provider's answer to a call, or throws as the provider would (an unknown
 * instance type) or because the program made a call the mocks do not know.
 */
export function mockCall(
  call: MockCall,
  region: string,
  accountId: string,
): Record<string, unknown> {
  switch (call.token) {
    case "aws:index/getRegion:getRegion":
      return { id: region, name: region, region, endpoint: `ec2.${region}.amazonaws.com` };
    case "aws:ec2/getVpcs:getVpcs":
      return { id: region, ids: [MOCK_DEFAULT_VPC.vpcId], filters: call.inputs.filters };
    case "aws:ec2/getSubnets:getSubnets":
      return { id: region, ids: [...MOCK_DEFAULT_VPC.subnetIds], filters: call.inputs.filters };
    case "aws:ec2/getInstanceType:getInstanceType": {
      const instanceType = String(call.inputs.instanceType);
      const size = MOCK_INSTANCE_TYPES[instanceType];
      if (size === undefined) {
        throw new Error(
          `reading EC2 Instance Type (${instanceType}): InvalidInstanceType: The following supplied instance types do not exist: [${instanceType}]`,
        );
      }
      return { id: instanceType, instanceType, ...size };
    }
    case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
      return {
        id: region,
        registryId: call.inputs.registryId ?? accountId,
        userName: "AWS",
        password: "mock-ecr-password",
        authorizationToken: Buffer.from("AWS:mock-ecr-password").toString("base64"),
        proxyEndpoint: `https://${accountId}.dkr.ecr.${region}.amazonaws.com`,
        expiresAt: "2099-01-01T00:00:00Z",
      };
    default:
      throw new Error(`The program made an unexpected provider call: ${call.token}`);
  }
}
