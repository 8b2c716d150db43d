/**
 * The batchpy policy pack (`pulumi preview --policy-pack policy`, or `npm run policy:check`).
 * Mandatory unless a policy says otherwise; see policy-config.example.json for settings.
 */
import { PolicyPack } from "@pulumi/policy";
import {
  batchComputeMinVcpusZero,
  batchComputeNoCustomServiceRole,
  batchQueueComputeScalesToZero,
} from "./batch-compute";
import { batchJobRoleRequired, batchJobTimeoutRequired } from "./batch-job-definition";
import {
  batchComputeMaxGpusCap,
  batchComputeMaxVcpusCap,
  batchJobRetryAttemptsBounded,
  batchSubmitCostCap,
} from "./cost";
import { ecrScanOnPush } from "./ecr";
import { iamNoAdminAccess } from "./iam";
import { iamJobRoleBucketScope } from "./iam-job-role";
import { s3BucketPublicAccessBlocked, s3BucketTlsOnly } from "./s3";

new PolicyPack("batchpy", {
  description:
    "Guards for batchpy stacks: AWS Batch scales to zero and jobs time out, costs stay " +
    "bounded, the bucket is private and TLS-only, and no IAM grant is administrator-wide.",
  enforcementLevel: "mandatory",
  policies: [
    // The bill
    batchComputeMinVcpusZero,
    batchQueueComputeScalesToZero,
    batchJobTimeoutRequired,
    batchComputeMaxVcpusCap,
    batchComputeMaxGpusCap,
    batchJobRetryAttemptsBounded,
    batchSubmitCostCap, // read by jobs:submit
    batchComputeNoCustomServiceRole, // in-place updates: running jobs survive a change
    // Security
    s3BucketPublicAccessBlocked,
    s3BucketTlsOnly,
    iamNoAdminAccess,
    iamJobRoleBucketScope,
    batchJobRoleRequired,
    ecrScanOnPush, // advisory
  ],
});
