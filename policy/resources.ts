/**
 * Type tokens, not `@pulumi/aws`, which is slow to load and type-check. The tests build inputs
 * from its 7.x `Args` types instead.
 */
import { PolicyResource, ResourceValidation } from "@pulumi/policy";
import { UNKNOWN, Unknown, at, keysOf } from "./values";

export const TYPES = {
  computeEnvironment: "aws:batch/computeEnvironment:ComputeEnvironment",
  jobQueue: "aws:batch/jobQueue:JobQueue",
  jobDefinition: "aws:batch/jobDefinition:JobDefinition",
  bucket: "aws:s3/bucket:Bucket",
  /** The `…V2` tokens are v6 names that v7 keeps as aliases. */
  bucketV2: "aws:s3/bucketV2:BucketV2",
  bucketPublicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
  bucketAcl: "aws:s3/bucketAcl:BucketAcl",
  bucketAclV2: "aws:s3/bucketAclV2:BucketAclV2",
  ecrRepository: "aws:ecr/repository:Repository",
  iamRole: "aws:iam/role:Role",
  iamPolicy: "aws:iam/policy:Policy",
  iamRolePolicy: "aws:iam/rolePolicy:RolePolicy",
  iamUserPolicy: "aws:iam/userPolicy:UserPolicy",
  iamGroupPolicy: "aws:iam/groupPolicy:GroupPolicy",
  iamRolePolicyAttachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  iamUserPolicyAttachment: "aws:iam/userPolicyAttachment:UserPolicyAttachment",
  iamGroupPolicyAttachment: "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
  iamPolicyAttachment: "aws:iam/policyAttachment:PolicyAttachment",
  iamRolePolicyAttachmentsExclusive:
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
  iamUserPolicyAttachmentsExclusive:
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive",
  iamGroupPolicyAttachmentsExclusive:
    "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive",
} as const;

export const BUCKET_TYPES: readonly string[] = [TYPES.bucket, TYPES.bucketV2];
export const BUCKET_ACL_TYPES: readonly string[] = [TYPES.bucketAcl, TYPES.bucketAclV2];

/** `validateResourceOfType` by token. */
export function validateTypes(
  types: readonly string[],
  validate: ResourceValidation,
): ResourceValidation {
  return (args, reportViolation) => {
    if (!types.includes(args.type)) {
      args.notApplicable(`Applies only to ${types.join(", ")}.`);
    }
    return validate(args, reportViolation);
  };
}

export function stringListSetting(defaults: readonly string[], description: string) {
  return { type: "array", items: { type: "string" }, default: [...defaults], description } as const;
}

function leaves(value: unknown): (string | Unknown)[] {
  if (value === UNKNOWN || typeof value === "string") {
    return [value];
  }
  // Keys, not `value.map`: the proxy throws on reading an unknown element.
  return keysOf(value).flatMap((key) => leaves(at(value, key)));
}

/**
 * Whether a property refers to `to`: by `propertyDependencies`, which the engine gives even while
 * the value is unknown (preview), or by holding one of `to`'s identifiers once it is known (an ARN
 * ending in `/<name>` counts).
 */
export function refersTo(from: PolicyResource, key: string, to: PolicyResource): boolean | Unknown {
  const dependencies = from.propertyDependencies[key] ?? [];
  if (dependencies.some((dependency) => dependency.urn === to.urn)) {
    return true;
  }
  const ids = ["arn", "name", "bucket", "id"]
    .map((id) => at(to.props, id))
    .filter((id): id is string => typeof id === "string" && id !== "");
  const values = leaves(at(from.props, key));
  const held = (value: string | Unknown) =>
    value !== UNKNOWN && ids.some((id) => value === id || value.endsWith(`/${id}`));
  if (values.some(held)) {
    return true;
  }
  // An unknown value comes from the resources it depends on; with none listed, it could be `to`.
  return values.includes(UNKNOWN) && dependencies.length === 0 ? UNKNOWN : false;
}
