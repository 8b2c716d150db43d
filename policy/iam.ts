/**
 * IAM: the tutorial gives its user `AdministratorAccess` and its job role
 * `AmazonS3FullAccess` (`s3:*` on every bucket). Nothing in a batchpy stack may grant either;
 * the job role is scoped to the stack's bucket instead.
 */
import { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import {
  Statement,
  describeStatement,
  hasEffect,
  isEveryone,
  readStatements,
} from "./iam-documents";
import { ACTION, covers, isWildcardResource } from "./iam-patterns";
import { TYPES, configOf, typeName, validateTypes } from "./resources";
import {
  InvalidJson,
  UNKNOWN,
  Unknown,
  at,
  elements,
  given,
  isUnknown,
  show,
  stringList,
} from "./values";

export interface IamNoAdminAccessArgs {
  /** Managed policies that may not be attached, by name (the last part of the ARN). */
  deniedManagedPolicies: string[];
  /** Actions (or patterns) that may not be allowed on every resource, e.g. "*" or "s3:*". */
  deniedActions: string[];
  /** Actions that let a principal raise its own privileges: denied on any resource. */
  escalationActions: string[];
}

/**
 * AWS managed policies that grant administrator (or every-bucket) access, or the means to
 * take it: IAMFullAccess can attach AdministratorAccess to its own role; PowerUserAccess
 * is every action but IAM's on every resource; the Amplify and Elastic Beanstalk
 * "AdministratorAccess-" variants create roles, put role policies and pass roles.
 */
export const DEFAULT_DENIED_MANAGED_POLICIES: readonly string[] = [
  "AdministratorAccess",
  "AdministratorAccess-Amplify",
  "AdministratorAccess-AWSElasticBeanstalk",
  "AmazonS3FullAccess",
  "IAMFullAccess",
  "PowerUserAccess",
];
/**
 * Denied on every resource. `*:*` is not valid IAM, but it is written, and reads as
 * "everything". Reading, writing or deleting every bucket's objects is AmazonS3FullAccess
 * in all but name; passing or assuming any role is as much as the most privileged role.
 */
export const DEFAULT_DENIED_ACTIONS: readonly string[] = [
  "*",
  "*:*",
  "s3:*",
  "iam:*",
  "sts:*",
  "s3:GetObject",
  "s3:PutObject",
  "s3:DeleteObject",
  "s3:DeleteBucket",
  "s3:PutBucketPolicy",
  "iam:PassRole",
  "sts:AssumeRole",
  "lambda:UpdateFunctionCode",
];
/**
 * Privilege escalation, denied on any resource: each lets a principal rewrite its own (or a
 * more privileged principal's) permissions or credentials. The IAM methods of Rhino Security
 * Labs' list (https://rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation/,
 * as summarised in salesforce/cloudsplaining docs/glossary/privilege-escalation.md), plus the
 * permissions-boundary actions that remove a principal's ceiling.
 */
export const DEFAULT_ESCALATION_ACTIONS: readonly string[] = [
  "iam:CreatePolicyVersion",
  "iam:SetDefaultPolicyVersion",
  "iam:AttachUserPolicy",
  "iam:AttachGroupPolicy",
  "iam:AttachRolePolicy",
  "iam:PutUserPolicy",
  "iam:PutGroupPolicy",
  "iam:PutRolePolicy",
  "iam:CreateAccessKey",
  "iam:CreateLoginProfile",
  "iam:UpdateLoginProfile",
  "iam:AddUserToGroup",
  "iam:UpdateAssumeRolePolicy",
  "iam:PutUserPermissionsBoundary",
  "iam:PutRolePermissionsBoundary",
  "iam:DeleteUserPermissionsBoundary",
  "iam:DeleteRolePermissionsBoundary",
];

/**
 * Where each resource type the policy inspects keeps managed policy ARNs (`arn`: one,
 * `arns`: a list) and permission documents (`policy`; `inlinePolicies` on a role).
 */
const HOLDERS: Readonly<Record<string, { arn?: string; arns?: string; documents?: string }>> = {
  [TYPES.iamRolePolicyAttachment]: { arn: "policyArn" },
  [TYPES.iamUserPolicyAttachment]: { arn: "policyArn" },
  [TYPES.iamGroupPolicyAttachment]: { arn: "policyArn" },
  [TYPES.iamPolicyAttachment]: { arn: "policyArn" },
  // The complete list of a principal's managed policies.
  [TYPES.iamRolePolicyAttachmentsExclusive]: { arns: "policyArns" },
  [TYPES.iamUserPolicyAttachmentsExclusive]: { arns: "policyArns" },
  [TYPES.iamGroupPolicyAttachmentsExclusive]: { arns: "policyArns" },
  [TYPES.iamPolicy]: { documents: "policy" },
  [TYPES.iamRolePolicy]: { documents: "policy" },
  [TYPES.iamUserPolicy]: { documents: "policy" },
  [TYPES.iamGroupPolicy]: { documents: "policy" },
  [TYPES.iamRole]: { arns: "managedPolicyArns", documents: "inlinePolicies" },
};

/** The name of a managed policy from its ARN: `arn:aws:iam::aws:policy/AdministratorAccess`. */
export function managedPolicyName(arn: string): string {
  const slash = arn.lastIndexOf("/");
  return slash >= 0 ? arn.slice(slash + 1) : arn;
}

/**
 * `"s3:get*" (which grants s3:GetObject)`, or just `"s3:*"` when the pattern is the entry;
 * `why` is added to the parenthesis (`, a privilege escalation`).
 */
function grantedAs(pattern: string, entry: string, why = ""): string {
  if (pattern.toLowerCase() === entry.toLowerCase()) {
    return `${show(pattern)}${why ? ` (${entry}${why})` : ""}`;
  }
  return `${show(pattern)} (which grants ${entry}${why})`;
}

/** No action name is empty, so `?*` grants all that `*` does: compare with that. */
function grantsAction(pattern: string, entry: string): boolean {
  return covers(pattern, entry.replace(/^\*/, "?*"), ACTION);
}

/** The statement's `Action` patterns that grant one of `entries`, each with the first. */
function grantedEntries(
  statement: Statement,
  entries: readonly string[],
): { pattern: string; entry: string }[] {
  if (statement.actions === UNKNOWN) {
    return [];
  }
  return statement.actions.flatMap((pattern) => {
    const entry = entries.find((e) => grantsAction(pattern, e));
    return entry === undefined ? [] : [{ pattern, entry }];
  });
}

/** `every action except "s3:*"` when a NotAction leaves one of `entries` granted. */
function notActionLeaves(statement: Statement, entries: readonly string[]): string | undefined {
  const notActions = statement.notActions;
  if (notActions === UNKNOWN || notActions.length === 0) {
    return undefined;
  }
  const left = entries.find((e) => !notActions.some((p) => grantsAction(p, e)));
  return left === undefined
    ? undefined
    : `every action except ${notActions.map(show).join(", ")} (so ${left}`;
}

const ESCALATION = ", a privilege escalation";

/** What one Allow statement grants that the rule forbids. */
function statementGrants(
  statement: Statement,
  deniedActions: readonly string[],
  escalationActions: readonly string[],
): string[] {
  const resources = statement.resources === UNKNOWN ? undefined : statement.resources;
  const wildcard = resources?.find(isWildcardResource);
  const everywhere = statement.notResource || wildcard !== undefined;
  const on = statement.notResource ? "every resource but a few" : show(wildcard);
  const grants: string[] = [];
  const reported = new Set<string>();
  if (everywhere) {
    for (const { pattern, entry } of grantedEntries(statement, deniedActions)) {
      grants.push(`${grantedAs(pattern, entry)} on ${on}`);
      reported.add(pattern);
    }
    if (statement.notActions !== UNKNOWN && statement.notActions.length > 0) {
      // Allow + NotAction grants every action not listed: all but admin in disguise.
      grants.push(`every action except ${statement.notActions.map(show).join(", ")} on ${on}`);
    }
  }
  // Escalation needs no wildcard resource: the principal's own role or policy is enough.
  const where = everywhere ? ` on ${on}` : resources?.length ? ` on ${show(resources[0])}` : "";
  for (const { pattern, entry } of grantedEntries(statement, escalationActions)) {
    if (!reported.has(pattern)) {
      grants.push(`${grantedAs(pattern, entry, ESCALATION)}${where}`);
    }
  }
  const left = everywhere ? undefined : notActionLeaves(statement, escalationActions);
  if (left !== undefined) {
    grants.push(`${left}${ESCALATION})${where}`);
  }
  return grants.map((grant) => `${describeStatement(statement)} allows ${grant}`);
}

/**
 * The grants in a policy document that the rule forbids, described for a message:
 * `statement 0 allows "s3:*" on "arn:aws:s3:::*"`, naming the wildcard resource matched.
 * `deniedActions` count on every resource, `escalationActions` on any. Patterns are matched
 * as IAM matches them (`s3:**`, `s3:Get*`, `iam:Put*` grant what they cover). Statements,
 * or parts of them, unknown during preview are skipped.
 */
export function forbiddenGrants(
  policy: unknown,
  deniedActions: readonly string[],
  escalationActions: readonly string[] = [],
): string[] | InvalidJson {
  const statements = readStatements(policy);
  if (statements === UNKNOWN || statements instanceof InvalidJson) {
    return statements === UNKNOWN ? [] : statements;
  }
  return statements.flatMap((statement) =>
    hasEffect(statement, "Allow") === true
      ? statementGrants(statement, deniedActions, escalationActions)
      : [],
  );
}

/**
 * Condition keys that restrict who may assume a role trusted by everyone: the caller's
 * organization, account or ARN, or the calling resource's.
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
 */
const RESTRICTING_KEYS: readonly string[] = [
  "aws:principalorgid",
  "aws:principalorgpaths",
  "aws:principalaccount",
  "aws:principalarn",
  "aws:sourceaccount",
  "aws:sourcearn",
  "aws:sourceorgid",
  "aws:sourceorgpaths",
];
/** GitHub's OIDC issuer; its `sub` claim names the repository (and branch or environment). */
const GITHUB_OIDC = "token.actions.githubusercontent.com";
const GITHUB_SUB = `${GITHUB_OIDC}:sub`;

/** A text pattern: case-sensitive, `*` spans everything (condition values). */
const TEXT = { caseInsensitive: false, segmented: false } as const;

/**
 * The values a condition gives `key` under operators that must hold for the request to be
 * allowed (not `...IfExists`, `Null` or a negation, which hold when the key is absent or
 * different). `UNKNOWN` while a part is unknown.
 */
function conditionValues(condition: unknown, key: string): string[] | Unknown {
  if (isUnknown(condition)) {
    return UNKNOWN;
  }
  if (condition === null || typeof condition !== "object") {
    return [];
  }
  const values: string[] = [];
  for (const operator of Object.keys(condition)) {
    if (/ifexists$|^null$|not/i.test(operator)) {
      continue;
    }
    const block = at(condition, operator);
    if (block === UNKNOWN) {
      return UNKNOWN;
    }
    if (block === null || typeof block !== "object") {
      continue;
    }
    for (const name of Object.keys(block)) {
      if (name.toLowerCase() === key) {
        const list = stringList(at(block, name));
        if (list === UNKNOWN) {
          return UNKNOWN;
        }
        values.push(...list);
      }
    }
  }
  return values;
}

/** Whether some restricting key is required to equal something narrower than anything. */
function restrictsCaller(condition: unknown): boolean | Unknown {
  let unknown = false;
  for (const key of RESTRICTING_KEYS) {
    const values = conditionValues(condition, key);
    if (values === UNKNOWN) {
      unknown = true;
    } else if (values.length > 0 && !values.some((v) => covers(v, "*", TEXT))) {
      return true;
    }
  }
  return unknown ? UNKNOWN : false;
}

/** Whether a statement trusts GitHub's OIDC issuer without naming the repositories. */
function trustsAnyGitHubRepository(statement: Statement): boolean | Unknown {
  const federated = stringList(at(statement.principal, "Federated"));
  if (federated === UNKNOWN) {
    return UNKNOWN;
  }
  if (!federated.some((f) => f === GITHUB_OIDC || f.endsWith(`/${GITHUB_OIDC}`))) {
    return false;
  }
  const subjects = conditionValues(statement.condition, GITHUB_SUB);
  if (subjects === UNKNOWN) {
    return UNKNOWN;
  }
  // `repo:*` (or `*`) is every repository on GitHub; `repo:org/*` is one organization's.
  return subjects.length === 0 || subjects.some((s) => covers(s, "repo:*", TEXT));
}

/**
 * The statements of a role's trust policy that let anyone assume it: `Principal "*"` or
 * `{"AWS": "*"}` (or an Allow with `NotPrincipal`) with no condition on the caller's
 * organization, account or ARN; GitHub's OIDC provider with no repository in `sub`.
 */
export function publicTrustGrants(policy: unknown): string[] | InvalidJson {
  const statements = readStatements(policy);
  if (statements === UNKNOWN || statements instanceof InvalidJson) {
    return statements === UNKNOWN ? [] : statements;
  }
  return statements.flatMap((statement) => {
    if (hasEffect(statement, "Allow") !== true) {
      return [];
    }
    const who =
      statement.notPrincipal !== undefined
        ? "every principal but those in NotPrincipal"
        : isEveryone(statement.principal) === true
          ? `everyone (Principal ${show(statement.principal)})`
          : undefined;
    if (who !== undefined && restrictsCaller(statement.condition) === false) {
      return [`${describeStatement(statement)} lets ${who} assume the role`];
    }
    if (trustsAnyGitHubRepository(statement) === true) {
      return [
        `${describeStatement(statement)} lets a workflow of any GitHub repository assume the ` +
          `role (no ${GITHUB_SUB} condition naming yours)`,
      ];
    }
    return [];
  });
}

/** The managed policy ARNs a resource attaches, with the property each comes from. */
function attachedArns(args: ResourceValidationArgs): { path: string; arn: unknown }[] {
  const { arn, arns } = HOLDERS[args.type];
  const list = arns === undefined ? [] : elements(at(args.props, arns));
  return [
    ...(arn === undefined ? [] : [{ path: arn, arn: at(args.props, arn) }]),
    ...(list === UNKNOWN ? [] : list.map((value, i) => ({ path: `${arns}[${i}]`, arn: value }))),
  ];
}

/** The permission documents a resource holds (not a role's trust policy). */
function permissionDocuments(args: ResourceValidationArgs): { path: string; policy: unknown }[] {
  const key = HOLDERS[args.type].documents;
  const inline = key === "inlinePolicies" ? elements(at(args.props, key)) : [];
  const documents = [
    ...(key === "policy" ? [{ path: key, policy: at(args.props, key) }] : []),
    ...(inline === UNKNOWN
      ? []
      : inline.map((entry, i) => ({ path: `${key}[${i}].policy`, policy: at(entry, "policy") }))),
  ];
  return documents.filter(({ policy }) => given(policy) && policy !== "");
}

function notJson(what: string, path: string, grants: InvalidJson): string {
  return (
    `${what} has a ${path} that is not valid JSON (${grants.error}), so its grants ` +
    `cannot be checked. Fix: pass JSON.stringify(...) of the policy document.`
  );
}

export const iamNoAdminAccess: ResourceValidationPolicy = {
  name: "iam-no-admin-access",
  description:
    "Checks whether any IAM policy, inline policy or attachment grants AdministratorAccess " +
    "or an equivalent (IAMFullAccess, PowerUserAccess, AmazonS3FullAccess, ...), allows *, " +
    "s3:*, iam:*, object reads/writes or PassRole/AssumeRole on every resource, allows a " +
    "privilege escalation, or whether a role's trust policy lets anyone assume it.",
  remediationSteps:
    "Replace the grant with a policy that lists the actions the principal needs on the " +
    "resources it uses (for the job role: s3:GetObject/PutObject on the stack's bucket), and " +
    "trust only named principals.",
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
        description: 'Actions (IAM patterns) not allowed on every resource ("*", "s3:*", ...).',
      },
      escalationActions: {
        type: "array",
        items: { type: "string" },
        default: [...DEFAULT_ESCALATION_ACTIONS],
        description: "Privilege-escalation actions, not allowed on any resource.",
      },
    },
  },
  validateResource: validateTypes(Object.keys(HOLDERS), (args, reportViolation) => {
    const config = configOf<IamNoAdminAccessArgs>(args, iamNoAdminAccess);
    const what = `${typeName(args.type)} '${args.name}'`;
    const deniedNames = config.deniedManagedPolicies.map((name) => name.toLowerCase());

    for (const { path, arn } of attachedArns(args)) {
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

    for (const { path, policy } of permissionDocuments(args)) {
      const grants = forbiddenGrants(policy, config.deniedActions, config.escalationActions);
      if (grants instanceof InvalidJson) {
        reportViolation(notJson(what, path, grants));
      } else if (grants.length > 0) {
        reportViolation(
          `${what} ${path}: ${grants.join("; ")}. That is administrator (or every-bucket) ` +
            `access, or the means to take it. Fix: list only the actions needed, on the ARNs of the resources used ` +
            `(e.g. s3:GetObject on arn:aws:s3:::<bucket>/inputs/*).`,
        );
      }
    }

    const trust = args.type === TYPES.iamRole ? at(args.props, "assumeRolePolicy") : undefined;
    if (given(trust) && trust !== "") {
      const grants = publicTrustGrants(trust);
      if (grants instanceof InvalidJson) {
        reportViolation(notJson(what, "assumeRolePolicy", grants));
      } else if (grants.length > 0) {
        reportViolation(
          `${what} assumeRolePolicy: ${grants.join("; ")}. Anyone it trusts gets its ` +
            `permissions. Fix: trust a named principal (a service such as ` +
            `ecs-tasks.amazonaws.com, or an account or role ARN), add an aws:PrincipalOrgID or ` +
            `aws:SourceAccount condition, and for GitHub a ${GITHUB_SUB} condition naming ` +
            `the repository.`,
        );
      }
    }
  }),
};
