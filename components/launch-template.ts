/**
 * What the compute environment's launch template puts on every instance Batch starts: user
 * data that keeps job containers away from the instance role's credentials, and instance
 * metadata options that require IMDSv2. Pure values, so tests read them as the provider does.
 */
import type * as aws from "./aws";

/** The instance metadata service's address. */
const IMDS_ADDRESS = "169.254.169.254";

/**
 * The rule that blocks the metadata service for every process not running as root.
 *
 * Batch runs ECS-EC2 container jobs in **host** network mode, so a container shares the
 * instance's network stack: an IMDS hop limit does not stop it, and neither do the ECS
 * agent's `ECS_AWSVPC_BLOCK_IMDS` (awsvpc) or the `DOCKER-USER` rule (bridge), as AWS notes.
 * The agent and the instance's own services run as root, the job image as uid 10001
 * (container/Dockerfile), so an `owner` match on locally generated packets lets the agent
 * through and drops the job's requests. The job still gets its own role's credentials from
 * the agent's endpoint 169.254.170.2, which this rule does not touch.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/networking-modes-jobs.html
 * @see https://repost.aws/knowledge-center/ecs-container-ec2-metadata
 * @see https://docs.aws.amazon.com/AmazonECS/latest/developerguide/security-iam-roles.html
 */
export const IMDS_BLOCK_RULE = `OUTPUT -d ${IMDS_ADDRESS}/32 -m owner ! --uid-owner 0 -j DROP`;

/** The MIME boundary of the user data; any string that cannot occur in the parts. */
const BOUNDARY = "==BATCHPY-USER-DATA==";

/**
 * The instance user data, as Batch requires it in a launch template: a MIME multi-part
 * archive (Batch merges its own part in). A `cloud-boothook` part runs early on every boot,
 * before Docker and the ECS agent start, so no job ever runs before the rule is in place.
 * `-C` first keeps a reboot from adding the rule twice; `-w` waits for the xtables lock.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/launch-templates.html
 * @see https://cloudinit.readthedocs.io/en/latest/explanation/format.html#cloud-boothook
 */
export function imdsBlockUserData(): string {
  return [
    "MIME-Version: 1.0",
    `Content-Type: multipart/mixed; boundary="${BOUNDARY}"`,
    "",
    `--${BOUNDARY}`,
    'Content-Type: text/cloud-boothook; charset="us-ascii"',
    "",
    "#cloud-boothook",
    "#!/bin/bash",
    "# batchpy: only root (the ECS agent) may reach the instance metadata service; job",
    "# containers run in host network mode as a non-root user and must not get the instance",
    "# role's credentials.",
    "set -eu",
    `iptables -w -C ${IMDS_BLOCK_RULE} 2>/dev/null || iptables -w -I ${IMDS_BLOCK_RULE}`,
    "",
    `--${BOUNDARY}--`,
    "",
  ].join("\n");
}

/**
 * IMDSv2 only (a session token is required, so a forwarded GET cannot read credentials),
 * a hop limit of 1 (it stops bridge-mode containers, not host-mode ones: the user-data rule
 * does that), the IPv6 endpoint off (the rule covers IPv4 only), and no instance tags in
 * the metadata.
 * @see https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-new-instances.html
 */
export const INSTANCE_METADATA_OPTIONS: aws.types.input.ec2.LaunchTemplateMetadataOptions = {
  httpEndpoint: "enabled",
  httpTokens: "required",
  httpPutResponseHopLimit: 1,
  httpProtocolIpv6: "disabled",
  instanceMetadataTags: "disabled",
};

/**
 * The ECS-optimized Amazon Linux 2023 images, one for plain and one for GPU instance types:
 * Batch matches the image type to each instance type it launches, so a stack can switch
 * to or from GPU types without changing `ec2Configuration` (which would replace the
 * environment). AL2 images are being retired; Batch's default was AL2.
 * @see https://docs.aws.amazon.com/batch/latest/APIReference/API_Ec2Configuration.html
 */
export const EC2_CONFIGURATION: aws.types.input.batch.ComputeEnvironmentComputeResourcesEc2Configuration[] =
  [{ imageType: "ECS_AL2023" }, { imageType: "ECS_AL2023_NVIDIA" }];
