/**
 * Roles that job containers assume may neither read nor write the bucket's state prefix: it
 * holds the submission claims that keep `jobs:submit` exactly once across machines, and a
 * job that could rewrite a claim could have its submission sent twice, or never.
 */
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { allowGrants, describeStatement, type Statement } from "./iam-documents";
import { ACTION, RESOURCE, covers, matches } from "./iam-patterns";
import { refersTo } from "./links";
import { TYPES } from "./resources";
import { UNKNOWN, at, elements, given } from "./values";

/**
 * The bucket prefix of the claims: container/contract.json's `bucketPrefixes.state`, copied
 * because the pack ships without the project (test/policy/iam-job-role.test.ts holds the two
 * equal).
 */
export const STATE_PREFIX = "state/";

/** What a claim needs: reading it and writing it. */
const STATE_ACTIONS = ["s3:GetObject", "s3:PutObject"];

/** The principal the Batch job's container (an ECS task) assumes its role as. */
const TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com";

/** Whether a `Resource` pattern matches the state prefix of the bucket it names (or any). */
function coversState(resource: string): boolean {
  const bucket = resource.split("/")[0].replace(/[*?]/g, "b");
  return matches(resource, `${bucket}/${STATE_PREFIX}claims/job/0.json`, RESOURCE);
}

/** What an Allow statement grants on the state prefix, in words; empty when nothing. */
function stateGrants(statement: Statement): string[] {
  const actions = statement.actions === UNKNOWN ? [] : statement.actions;
  const granted = STATE_ACTIONS.filter((a) => actions.some((p) => covers(p, a, ACTION)));
  const resources = statement.resources === UNKNOWN ? [] : statement.resources;
  const where = statement.notResource
    ? ["every resource but NotResource"]
    : resources.filter(coversState);
  return granted.length > 0 && where.length > 0
    ? [`${describeStatement(statement)} allows ${granted.join(" and ")} on ${where.join(", ")}`]
    : [];
}

/** Roles whose trust policy names the ECS tasks service: what job containers assume. */
function taskRoles(resources: readonly PolicyResource[]): PolicyResource[] {
  return resources.filter((r) => {
    const trust = at(r.props, "assumeRolePolicy");
    return r.type === TYPES.iamRole && typeof trust === "string" && trust.includes(TASKS_PRINCIPAL);
  });
}

/** The permission documents a role holds: inline, role policies, attached stack policies. */
function documentsOf(
  role: PolicyResource,
  resources: readonly PolicyResource[],
): { where: string; policy: unknown }[] {
  const inline = elements(at(role.props, "inlinePolicies"));
  const linked = (type: string) =>
    resources.filter((r) => r.type === type && refersTo(r, "role", role) === true);
  const attached = linked(TYPES.iamRolePolicyAttachment).flatMap((a) =>
    resources.filter((p) => p.type === TYPES.iamPolicy && refersTo(a, "policyArn", p) === true),
  );
  return [
    ...(inline === UNKNOWN ? [] : inline).map((e, i) => ({
      where: `inlinePolicies[${i}]`,
      policy: at(e, "policy"),
    })),
    ...linked(TYPES.iamRolePolicy).map((r) => ({
      where: `RolePolicy '${r.name}'`,
      policy: at(r.props, "policy"),
    })),
    ...attached.map((p) => ({ where: `Policy '${p.name}'`, policy: at(p.props, "policy") })),
  ].filter(({ policy }) => given(policy) && policy !== "");
}

export const iamJobRoleNoStateAccess: StackValidationPolicy = {
  name: "iam-job-role-no-state-access",
  description:
    `Checks whether a role that job containers assume (trusted by ${TASKS_PRINCIPAL}) may read ` +
    `or write the bucket's ${STATE_PREFIX} prefix, where jobs:submit keeps the submission ` +
    "claims that make it send each job once.",
  remediationSteps:
    `Scope the role's S3 grants to the prefixes jobs use (inputs, results, logs), never ` +
    `${STATE_PREFIX} or the whole bucket (see components/job-roles.ts).`,
  url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege",
  severity: "high",
  validateStack: (args, reportViolation) => {
    for (const role of taskRoles(args.resources)) {
      for (const { where, policy } of documentsOf(role, args.resources)) {
        const grants = allowGrants(policy, stateGrants);
        if (Array.isArray(grants) && grants.length > 0) {
          reportViolation(
            `Role '${role.name}' (assumed by job containers) ${where}: ${grants.join("; ")}. ` +
              `A job could rewrite the submission claims under ${STATE_PREFIX}. Fix: grant ` +
              `s3:GetObject and s3:PutObject only on the inputs, results and logs prefixes.`,
            role.urn,
          );
        }
      }
    }
  },
};
