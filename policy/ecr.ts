/**
 * ECR: the job image is built from container/ and pulled by every job. Scanning it on push
 * shows known vulnerabilities in the base image before a job runs it. Advisory: a finding
 * needs a person to judge it, and the scan costs nothing to turn on.
 */
import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPES, validateTypes } from "./resources";
import { UNKNOWN, at, show } from "./values";

export const ecrScanOnPush: ResourceValidationPolicy = {
  name: "ecr-scan-on-push",
  description:
    "Checks whether every ECR repository scans images on push " +
    "(imageScanningConfiguration.scanOnPush true).",
  enforcementLevel: "advisory",
  remediationSteps: "Set `imageScanningConfiguration: { scanOnPush: true }` on the repository.",
  url: "https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-basic.html",
  severity: "low",
  validateResource: validateTypes([TYPES.ecrRepository], (args, reportViolation) => {
    const scanOnPush = at(args.props, "imageScanningConfiguration", "scanOnPush");
    if (scanOnPush === UNKNOWN || scanOnPush === true) {
      return;
    }
    reportViolation(
      `ECR repository '${args.name}' has imageScanningConfiguration.scanOnPush ` +
        `${show(scanOnPush)}, so pushed images are not scanned for known vulnerabilities. ` +
        `Fix: set imageScanningConfiguration: { scanOnPush: true } (an account-wide enhanced ` +
        `scanning configuration also covers it; then disable this policy).`,
    );
  }),
};
