import * as aws from "./aws";
import * as pulumi from "@pulumi/pulumi";

/** The account's default VPC and its default subnets (one public subnet per zone). */
export interface DefaultNetwork {
  readonly vpcId: pulumi.Output<string>;
  readonly subnetIds: pulumi.Output<string[]>;
}

/** The message for an account without a default VPC, naming the settings that fix it. */
function noDefaultVpcMessage(where: string, region: string): string {
  return (
    `${where}: the account has no default VPC in ${region} (common under AWS Control Tower), ` +
    `and 'vpcId' and 'subnetIds' are not set. Name a VPC and subnets with a route to ECR, S3 ` +
    `and CloudWatch Logs: in this project \`pulumi config set batchpy:vpcId vpc-0abc…\` and ` +
    `\`pulumi config set --path 'batchpy:subnetIds[0]' subnet-0abc…\` (one line per subnet).`
  );
}

/**
 * Looks the default VPC up with `aws.ec2.getVpcs`, which returns an empty list rather than
 * failing when there is none, so the error can say what to set instead of the provider's
 * raw "no matching EC2 VPC found". Default subnets are public: instances get a route to
 * ECR and S3 without a paid NAT gateway.
 */
export function lookUpDefaultNetwork(where: string, parent: pulumi.Resource): DefaultNetwork {
  const opts = { parent };
  const vpcs = aws.ec2.getVpcsOutput({ filters: [{ name: "is-default", values: ["true"] }] }, opts);
  const region = aws.getRegionOutput({}, opts).region;
  const vpcId = pulumi.all([vpcs.ids, region]).apply(([ids, r]) => {
    if (ids.length === 0) {
      throw new Error(noDefaultVpcMessage(where, r));
    }
    return ids[0];
  });
  const subnets = aws.ec2.getSubnetsOutput(
    {
      filters: [
        { name: "vpc-id", values: [vpcId] },
        { name: "default-for-az", values: ["true"] },
      ],
    },
    opts,
  );
  return { vpcId, subnetIds: subnets.ids };
}
