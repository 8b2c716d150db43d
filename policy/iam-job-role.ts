/**
 * What a role job containers assume may do to the bucket's objects. Never the submission claims
 * (`state/`): a job that could rewrite one could have a submission sent twice, or never. Other
 * roles (a submitter's) are `iam-no-admin-access`'s.
 */
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import {
  allowGrants,
  describeStatement,
  hasDocument,
  inlinePolicies,
  type Statement,
} from "./iam-documents";
import { ACTION, covers, isWildcardResource } from "./iam-patterns";
import { TYPES, stringListSetting, refersTo } from "./resources";
import { UNKNOWN, at } from "./values";

/** container/contract.json's `bucketPrefixes`, copied: the pack ships without the project. */
export const DEFAULT_READABLE_PREFIXES: readonly string[] = ["inputs/", "results/"];
export const DEFAULT_WRITABLE_PREFIXES: readonly string[] = ["results/", "logs/"];

type BucketScope = Record<"readablePrefixes" | "writablePrefixes", string[]>;

const S3_ARN = /^arn:[^:]*:s3:::([^/]*)(?:\/(.*))?$/s;

function outside(resource: string, prefixes: readonly string[]): boolean {
  if (isWildcardResource(resource)) {
    return true;
  }
  const match = S3_ARN.exec(resource);
  if (match === null) {
    return false;
  }
  const [, bucket, key] = match;
  // A wildcard in the bucket part spans buckets, and at its end every key as well.
  return /[*?]/.test(bucket) || (key !== undefined && !prefixes.some((p) => key.startsWith(p)));
}

function grantsBeyond(statement: Statement, scope: BucketScope): string[] {
  const actions = statement.actions === UNKNOWN ? [] : statement.actions;
  const resources = statement.resources === UNKNOWN ? [] : statement.resources;
  const scoped: [string, readonly string[]][] = [
    ["s3:GetObject", scope.readablePrefixes],
    ["s3:PutObject", scope.writablePrefixes],
  ];
  return scoped.flatMap(([action, prefixes]) => {
    const where = statement.notResource
      ? ["every resource but NotResource"]
      : resources.filter((r) => outside(r, prefixes));
    return actions.some((p) => covers(p, action, ACTION)) && where.length > 0
      ? [`${describeStatement(statement)} allows ${action} on ${where.join(", ")}`]
      : [];
  });
}

/** A Batch job's container is an ECS task. */
const TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com";

function documentsOf(role: PolicyResource, resources: readonly PolicyResource[]) {
  const linked = (type: string, key: string, to: PolicyResource) =>
    resources.filter((r) => r.type === type && refersTo(r, key, to) === true);
  const attached = linked(TYPES.iamRolePolicyAttachment, "role", role).flatMap((a) =>
    resources.filter((p) => p.type === TYPES.iamPolicy && refersTo(a, "policyArn", p) === true),
  );
  return [
    ...inlinePolicies(role.props),
    ...linked(TYPES.iamRolePolicy, "role", role).map((r) => ({
      path: `RolePolicy '${r.name}'`,
      policy: at(r.props, "policy"),
    })),
    ...attached.map((p) => ({ path: `Policy '${p.name}'`, policy: at(p.props, "policy") })),
  ].filter(hasDocument);
}

export const iamJobRoleBucketScope: StackValidationPolicy = {
  name: "iam-job-role-bucket-scope",
  description:
    `Checks whether a role that job containers assume (trusted by ${TASKS_PRINCIPAL}) may read ` +
    "a bucket's objects outside inputs/ and results/, or write them outside results/ and " +
    "logs/: other jobs' logs, or the submission claims that make jobs:submit send each job once.",
  remediationSteps:
    "Scope the role's S3 grants to the prefixes jobs use: s3:GetObject on inputs/* and " +
    "results/*, s3:PutObject on results/* and logs/* (see components/job-roles.ts).",
  url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege",
  severity: "high",
  configSchema: {
    properties: {
      readablePrefixes: stringListSetting(
        DEFAULT_READABLE_PREFIXES,
        "Key prefixes under which a job may read a bucket's objects (s3:GetObject).",
      ),
      writablePrefixes: stringListSetting(
        DEFAULT_WRITABLE_PREFIXES,
        "Key prefixes under which a job may write a bucket's objects (s3:PutObject).",
      ),
    },
  },
  validateStack: (args, reportViolation) => {
    const scope = args.getConfig<BucketScope>();
    const arns = (prefixes: string[]) =>
      prefixes.map((prefix) => `arn:aws:s3:::<bucket>/${prefix}*`).join(" and ");
    const fix =
      `Fix: grant s3:GetObject only on ${arns(scope.readablePrefixes)}, ` +
      `s3:PutObject only on ${arns(scope.writablePrefixes)}.`;
    const roles = args.resources.filter((r) => {
      const trust = at(r.props, "assumeRolePolicy");
      return (
        r.type === TYPES.iamRole && typeof trust === "string" && trust.includes(TASKS_PRINCIPAL)
      );
    });
    for (const role of roles) {
      for (const { path, policy } of documentsOf(role, args.resources)) {
        const grants = allowGrants(policy, (statement) => grantsBeyond(statement, scope));
        if (Array.isArray(grants) && grants.length > 0) {
          reportViolation(
            `Role '${role.name}' (assumed by job containers) ${path}: ${grants.join("; ")}. ` +
              `A job could read other jobs' logs, or rewrite the submission claims. ${fix}`,
            role.urn,
          );
        }
      }
    }
  },
};
