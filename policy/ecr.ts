/** ECR scans the job image on push. Advisory: a finding needs a person to judge it. */
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
    if (scanOnPush !== UNKNOWN && scanOnPush !== true) {
      reportViolation(
        `ECR repository '${args.name}' has imageScanningConfiguration.scanOnPush ` +
          `${show(scanOnPush)}, so pushed images are not scanned for known vulnerabilities. ` +
          `Fix: set imageScanningConfiguration: { scanOnPush: true } (an account-wide enhanced ` +
          `scanning configuration also covers it; then disable this policy).`,
      );
    }
  }),
};
