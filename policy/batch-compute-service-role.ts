/** On Batch's service-linked role, a changed compute environment is updated, not replaced. */
import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPES, validateTypes } from "./resources";
import { at } from "./values";

/** The ARN path of Batch's service-linked role; any other role is a custom one. */
const SERVICE_LINKED_ROLE =
  /:role\/aws-service-role\/batch\.amazonaws\.com\/AWSServiceRoleForBatch$/;

export const batchComputeNoCustomServiceRole: ResourceValidationPolicy = {
  name: "batch-compute-no-custom-service-role",
  description:
    "Checks whether every managed AWS Batch compute environment leaves serviceRole unset (or " +
    "names the service-linked role AWSServiceRoleForBatch): AWS Batch updates instance types, " +
    "subnets, security groups, allocation strategy, bid percentage and instance role in place " +
    "only for environments on the service-linked role; with a custom role each such change " +
    "replaces the environment and terminates its running jobs, and the role can never be " +
    "switched in place.",
  remediationSteps:
    "Leave `serviceRole` unset. An existing environment must be replaced once (a new resource " +
    "name), between runs; delete the custom role only after the old environment is gone.",
  url: "https://docs.aws.amazon.com/batch/latest/userguide/infrastructure-updates.html",
  severity: "medium",
  validateResource: validateTypes([TYPES.computeEnvironment], (args, reportViolation) => {
    const environmentType = at(args.props, "type");
    if (typeof environmentType !== "string" || environmentType.toUpperCase() !== "MANAGED") {
      return; // Unmanaged environments: Batch launches and updates nothing.
    }
    // Unset, or not known yet (preview): decided during `pulumi up`.
    const role = at(args.props, "serviceRole");
    if (typeof role !== "string" || role === "" || SERVICE_LINKED_ROLE.test(role)) {
      return;
    }
    reportViolation(
      `Compute environment '${args.name}' must not use a custom service role, but its ` +
        `serviceRole is ${role}: changing its instance types, subnets, security groups, ` +
        `allocation strategy or instance role would replace it and kill its running jobs. ` +
        `Fix: leave serviceRole unset so AWS Batch uses AWSServiceRoleForBatch.`,
    );
  }),
};
