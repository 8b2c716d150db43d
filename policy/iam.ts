/**
 * IAM: the tutorial gives its user `AdministratorAccess` and its job role
 * `AmazonS3FullAccess` (`s3:*` on every bucket). Nothing in a batchpy stack may grant either;
 * the job role is scoped to the stack's bucket instead.
 */
import { ResourceValidationPolicy } from "@pulumi/policy";
import { Statement, describeStatement, hasEffect, readStatements } from "./iam-documents";
import { TYPES, typeName, validateTypes } from "./resources";
import { InvalidJson, UNKNOWN, at, elements, isUnknown, show } from "./values";

export interface IamNoAdminAccessArgs {
  /** Managed policies that may not be attached, by name (the last part of the ARN). */
  deniedManagedPolicies: string[];
  /** Actions that may not be allowed on every resource, e.g. "*" or "s3:*". */
  deniedActions: string[];
}

export const DEFAULT_DENIED_MANAGED_POLICIES: readonly string[] = [
  "AdministratorAccess",
  "AmazonS3FullAccess",
];
/** `*:*` is not valid IAM, but it is written, and reads as "everything". */
export const DEFAULT_DENIED_ACTIONS: readonly string[] = ["*", "*:*", "s3:*"];

/** Resources with a `policyArn` (one managed policy attached). */
const ATTACHMENT_TYPES: readonly string[] = [
  TYPES.iamRolePolicyAttachment,
  TYPES.iamUserPolicyAttachment,
  TYPES.iamGroupPolicyAttachment,
  TYPES.iamPolicyAttachment,
];
/** Resources with `policyArns` (the complete list of a principal's managed policies). */
const EXCLUSIVE_ATTACHMENT_TYPES: readonly string[] = [
  TYPES.iamRolePolicyAttachmentsExclusive,
  TYPES.iamUserPolicyAttachmentsExclusive,
  TYPES.iamGroupPolicyAttachmentsExclusive,
];
/** Resources with a `policy` document. */
const DOCUMENT_TYPES: readonly string[] = [
  TYPES.iamPolicy,
  TYPES.iamRolePolicy,
  TYPES.iamUserPolicy,
  TYPES.iamGroupPolicy,
];
/** Every resource type the policy inspects; a role has managed and inline policies. */
export const IAM_TYPES: readonly string[] = [
  ...ATTACHMENT_TYPES,
  ...EXCLUSIVE_ATTACHMENT_TYPES,
  ...DOCUMENT_TYPES,
  TYPES.iamRole,
];

/** The name of a managed policy from its ARN: `arn:aws:iam::aws:policy/AdministratorAccess`. */
export function managedPolicyName(arn: string): string {
  const slash = arn.lastIndexOf("/");
  return slash >= 0 ? arn.slice(slash + 1) : arn;
}

/** A pattern part that matches anything: only `*` (IAM's `?` is exactly one character). */
const ANYTHING = /^\*+$/;

/**
 * Whether a `Resource` pattern covers every resource of its service (or of every service),
 * with nothing scoping it: `*`; `arn:aws:s3:::*` (every bucket and object), also with `/*`
 * appended (every object of every bucket); `arn:aws:*:*:*:*`; `arn:*:*:*:*:*`; `arn:*`.
 * The partition and the service may be named; the region and the account must be empty or
 * wildcards, and the resource part only wildcards between its `/` and `:`. A pattern that
 * names a bucket, a prefix, a region or an account scopes the grant and is not reported.
 */
export function isWildcardResource(resource: string): boolean {
  if (ANYTHING.test(resource)) {
    return true;
  }
  const parts = resource.split(":");
  if (parts[0].toLowerCase() !== "arn") {
    return false;
  }
  const unscoped = (part: string) => part === "" || ANYTHING.test(part);
  if (parts.length < 6) {
    // A `*` spans colons: `arn:*` is every ARN, `arn:aws:s3:*` every S3 one.
    return (
      parts.length > 1 && ANYTHING.test(parts[parts.length - 1]) && parts.slice(3).every(unscoped)
    );
  }
  const [region, account] = parts.slice(3, 5);
  const pieces = parts.slice(5).join(":").split(/[/:]/);
  return unscoped(region) && unscoped(account) && pieces.every((piece) => ANYTHING.test(piece));
}

/**
 * The grants in a policy document that the rule forbids, described for a message:
 * `statement 0 allows "s3:*" on "arn:aws:s3:::*"`, naming the wildcard resource matched.
 * Statements unknown during preview are skipped.
 */
export function forbiddenGrants(
  policy: unknown,
  deniedActions: readonly string[],
): string[] | InvalidJson {
  const statements = readStatements(policy);
  if (statements === UNKNOWN || statements instanceof InvalidJson) {
    return statements === UNKNOWN ? [] : statements;
  }
  const denied = deniedActions.map((action) => action.toLowerCase());
  return statements.flatMap((statement: Statement) => {
    if (hasEffect(statement, "Allow") !== true || statement.resources === UNKNOWN) {
      return [];
    }
    const wildcard = statement.resources.find(isWildcardResource);
    if (!statement.notResource && wildcard === undefined) {
      return [];
    }
    const on = statement.notResource ? "every resource but a few" : show(wildcard);
    const found: string[] = [];
    if (statement.actions !== UNKNOWN) {
      for (const action of statement.actions.filter((a) => denied.includes(a))) {
        found.push(`${describeStatement(statement)} allows ${show(action)} on ${on}`);
      }
    }
    if (statement.notActions !== UNKNOWN && statement.notActions.length > 0) {
      // Allow + NotAction grants every action not listed: all but admin in disguise.
      found.push(
        `${describeStatement(statement)} allows every action except ` +
          `${statement.notActions.map(show).join(", ")} on ${on}`,
      );
    }
    return found;
  });
}

export const iamNoAdminAccess: ResourceValidationPolicy = {
  name: "iam-no-admin-access",
  description:
    "Checks whether any IAM policy, inline policy or attachment grants AdministratorAccess, " +
    "AmazonS3FullAccess, or allows *, *:* or s3:* on every resource.",
  remediationSteps:
    "Replace the grant with a policy that lists the actions the principal needs on the " +
    "resources it uses (for the job role: s3:GetObject/PutObject on the stack's bucket).",
  url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege",
  severity: "critical",
  configSchema: {
    properties: {
      deniedManagedPolicies: {
        type: "array",
        items: { type: "string" },
        default: [...DEFAULT_DENIED_MANAGED_POLICIES],
        description: "Managed policies that may not be attached, by name.",
      },
      deniedActions: {
        type: "array",
        items: { type: "string" },
        default: [...DEFAULT_DENIED_ACTIONS],
        description: 'Actions that may not be allowed on every resource ("*", "s3:*", ...).',
      },
    },
  },
  validateResource: validateTypes(IAM_TYPES, (args, reportViolation) => {
    const config = {
      deniedManagedPolicies: [...DEFAULT_DENIED_MANAGED_POLICIES],
      deniedActions: [...DEFAULT_DENIED_ACTIONS],
      ...args.getConfig<Partial<IamNoAdminAccessArgs>>(),
    };
    const what = `${typeName(args.type)} '${args.name}'`;
    const deniedNames = config.deniedManagedPolicies.map((name) => name.toLowerCase());

    const arns: { path: string; arn: unknown }[] = [];
    if (ATTACHMENT_TYPES.includes(args.type)) {
      arns.push({ path: "policyArn", arn: at(args.props, "policyArn") });
    }
    const listKey = args.type === TYPES.iamRole ? "managedPolicyArns" : "policyArns";
    if (EXCLUSIVE_ATTACHMENT_TYPES.includes(args.type) || args.type === TYPES.iamRole) {
      const list = elements(at(args.props, listKey));
      if (list !== UNKNOWN) {
        list.forEach((arn, i) => arns.push({ path: `${listKey}[${i}]`, arn }));
      }
    }
    for (const { path, arn } of arns) {
      if (typeof arn === "string" && !isUnknown(arn)) {
        const name = managedPolicyName(arn);
        if (deniedNames.includes(name.toLowerCase())) {
          reportViolation(
            `${what} attaches ${name} (${path} = ${show(arn)}), which grants far more than a ` +
              `batchpy stack needs. Fix: remove the attachment and grant only the actions ` +
              `needed on the resources used (see the job role's bucket-scoped policy).`,
          );
        }
      }
    }

    const documents: { path: string; policy: unknown }[] = [];
    if (DOCUMENT_TYPES.includes(args.type)) {
      documents.push({ path: "policy", policy: at(args.props, "policy") });
    }
    if (args.type === TYPES.iamRole) {
      const inline = elements(at(args.props, "inlinePolicies"));
      if (inline !== UNKNOWN) {
        inline.forEach((entry, i) =>
          documents.push({ path: `inlinePolicies[${i}].policy`, policy: at(entry, "policy") }),
        );
      }
    }
    for (const { path, policy } of documents) {
      if (policy === undefined || policy === null || policy === "") {
        continue;
      }
      const grants = forbiddenGrants(policy, config.deniedActions);
      if (grants instanceof InvalidJson) {
        reportViolation(
          `${what} has a ${path} that is not valid JSON (${grants.error}), so its grants ` +
            `cannot be checked. Fix: pass JSON.stringify(...) of the policy document.`,
        );
      } else if (grants.length > 0) {
        reportViolation(
          `${what} ${path}: ${grants.join("; ")}. That is administrator (or every-bucket) ` +
            `access. Fix: list only the actions needed, on the ARNs of the resources used ` +
            `(e.g. s3:GetObject on arn:aws:s3:::<bucket>/inputs/*).`,
        );
      }
    }
  }),
};
