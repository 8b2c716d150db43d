// Not the package root, which re-exports every service for `tsc` to read (docs/development.md).
export * as batch from "@pulumi/aws/batch";
export * as cloudwatch from "@pulumi/aws/cloudwatch";
export * as ec2 from "@pulumi/aws/ec2";
export * as ecr from "@pulumi/aws/ecr";
export * as iam from "@pulumi/aws/iam";
export * as s3 from "@pulumi/aws/s3";
export * as sns from "@pulumi/aws/sns";
export { getRegionOutput } from "@pulumi/aws/getRegion";
