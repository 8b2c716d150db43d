/**
 * What the compute environment's launch template puts on every instance Batch starts: user
 * data that keeps job containers from the instance role's credentials, and IMDSv2 only.
 */
import type * as aws from "./aws";

/**
 * Blocks the instance metadata service for every process not running as root. Batch runs
 * EC2 container jobs in host network mode, so neither a hop limit nor the ECS agent's IMDS
 * blocking stops a container; but the agent runs as root and the job image as uid 10001
 * (container/Dockerfile). Jobs still get their own role from the agent's 169.254.170.2.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/networking-modes-jobs.html
 * @see https://repost.aws/knowledge-center/ecs-container-ec2-metadata
 */
export const IMDS_BLOCK_RULE = "OUTPUT -d 169.254.169.254/32 -m owner ! --uid-owner 0 -j DROP";

const BOUNDARY = "==BATCHPY-USER-DATA==";

/**
 * The user data as Batch requires it: MIME multi-part (Batch merges its own part in). A
 * `cloud-boothook` runs on every boot before Docker and the ECS agent, so no job runs before
 * the rule; `-C` keeps a reboot from adding it twice, `-w` waits for the xtables lock.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/launch-templates.html
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
 * IMDSv2 only (a forwarded GET cannot read credentials), a hop limit of 1 (stops bridge-mode
 * containers; the user data stops host-mode ones), no IPv6 endpoint (the rule is IPv4 only).
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
 * The ECS-optimized AL2023 images for plain and GPU types: Batch picks per instance type, so
 * a stack can switch to or from GPU types without changing this (which replaces the environment).
 * @see https://docs.aws.amazon.com/batch/latest/APIReference/API_Ec2Configuration.html
 */
export const EC2_CONFIGURATION: aws.types.input.batch.ComputeEnvironmentComputeResourcesEc2Configuration[] =
  [{ imageType: "ECS_AL2023" }, { imageType: "ECS_AL2023_NVIDIA" }];
