/** IAM: nothing in a stack may grant admin or every-bucket access, or the means to take it. */
import { ResourceValidationPolicy } from "@pulumi/policy";
import {
  Statement,
  allowGrants,
  conditionValues,
  describeStatement,
  hasDocument,
  inlinePolicies,
  isEveryone,
} from "./iam-documents";
import { ACTION, covers, isWildcardResource } from "./iam-patterns";
import { TYPES, stringListSetting, validateTypes } from "./resources";
import { InvalidJson, UNKNOWN, Unknown, at, elements, show, stringList } from "./values";

/** IAMFullAccess, say, can attach AdministratorAccess to its own role. */
export const DEFAULT_DENIED_MANAGED_POLICIES: readonly string[] = [
  "AdministratorAccess",
  "AdministratorAccess-Amplify",
  "AdministratorAccess-AWSElasticBeanstalk",
  "AmazonS3FullAccess",
  "IAMFullAccess",
  "PowerUserAccess",
];
/** On every resource, each is admin (or every bucket) in all but name. `*:*` is written too. */
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
 * A principal rewrites its own permissions or credentials (plus removing a permissions boundary).
 * @see https://rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation/
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

/** Where each type keeps managed policy ARNs (one or a list) and permission documents. */
const HOLDERS: Readonly<Record<string, { arns?: string; documents?: string }>> = {
  [TYPES.iamRolePolicyAttachment]: { arns: "policyArn" },
  [TYPES.iamUserPolicyAttachment]: { arns: "policyArn" },
  [TYPES.iamGroupPolicyAttachment]: { arns: "policyArn" },
  [TYPES.iamPolicyAttachment]: { arns: "policyArn" },
  [TYPES.iamRolePolicyAttachmentsExclusive]: { arns: "policyArns" },
  [TYPES.iamUserPolicyAttachmentsExclusive]: { arns: "policyArns" },
  [TYPES.iamGroupPolicyAttachmentsExclusive]: { arns: "policyArns" },
  [TYPES.iamPolicy]: { documents: "policy" },
  [TYPES.iamRolePolicy]: { documents: "policy" },
  [TYPES.iamUserPolicy]: { documents: "policy" },
  [TYPES.iamGroupPolicy]: { documents: "policy" },
  [TYPES.iamRole]: { arns: "managedPolicyArns", documents: "inlinePolicies" },
};

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

const ESCALATION = ", a privilege escalation";

/** `denied` actions on every resource, `escalation` actions on any. */
export function forbiddenGrants(
  policy: unknown,
  denied: readonly string[],
  escalation: readonly string[] = [],
): string[] | InvalidJson {
  return allowGrants(policy, (statement) => {
    const resources = statement.resources === UNKNOWN ? [] : statement.resources;
    const wildcard = resources.find(isWildcardResource);
    const everywhere = statement.notResource || wildcard !== undefined;
    const on = statement.notResource ? "every resource but a few" : show(wildcard);
    // Escalation needs no wildcard resource: the principal's own role or policy is enough.
    const where = everywhere ? ` on ${on}` : resources.length ? ` on ${show(resources[0])}` : "";
    const actions = statement.actions === UNKNOWN ? [] : statement.actions;
    const grants = actions.flatMap((pattern) => {
      const entry = everywhere ? denied.find((e) => grantsAction(pattern, e)) : undefined;
      if (entry !== undefined) {
        return [`${grantedAs(pattern, entry)} on ${on}`];
      }
      const escalates = escalation.find((e) => grantsAction(pattern, e));
      return escalates === undefined
        ? []
        : [`${grantedAs(pattern, escalates, ESCALATION)}${where}`];
    });
    // Allow + NotAction grants every action not listed: all but admin in disguise.
    const notActions = statement.notActions === UNKNOWN ? [] : statement.notActions;
    const allBut = `every action except ${notActions.map(show).join(", ")}`;
    const left = escalation.find((e) => !notActions.some((p) => grantsAction(p, e)));
    if (notActions.length > 0 && everywhere) {
      grants.push(`${allBut} on ${on}`);
    } else if (notActions.length > 0 && left !== undefined) {
      grants.push(`${allBut} (so ${left}${ESCALATION})${where}`);
    }
    return grants.map((grant) => `${describeStatement(statement)} allows ${grant}`);
  });
}

/** @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html */
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
/** Its `sub` claim names the repository (and branch or environment). */
const GITHUB_OIDC = "token.actions.githubusercontent.com";
const GITHUB_SUB = `${GITHUB_OIDC}:sub`;

/** Condition values: case-sensitive, `*` spans everything. */
const TEXT = { caseInsensitive: false, segmented: false } as const;

/** Not under `...IfExists`, `Null` or a negation, which hold when the key is absent or differs. */
function requiredValues(condition: unknown, key: string): string[] | Unknown {
  return stringList(conditionValues(condition, key, (op) => !/ifexists$|^null$|not/i.test(op)));
}

function restrictsCaller(condition: unknown): boolean | Unknown {
  const required = RESTRICTING_KEYS.map((key) => requiredValues(condition, key));
  if (required.some((v) => v !== UNKNOWN && v.length > 0 && !v.some((x) => covers(x, "*", TEXT)))) {
    return true;
  }
  return required.includes(UNKNOWN) ? UNKNOWN : false;
}

function trustsAnyGitHubRepository(statement: Statement): boolean {
  const federated = stringList(at(statement.principal, "Federated"));
  const github = (f: string) => f === GITHUB_OIDC || f.endsWith(`/${GITHUB_OIDC}`);
  if (federated === UNKNOWN || !federated.some(github)) {
    return false;
  }
  const subjects = requiredValues(statement.condition, GITHUB_SUB);
  // `repo:*` (or `*`) is every repository on GitHub; `repo:org/*` is one organization's.
  return (
    subjects !== UNKNOWN &&
    (subjects.length === 0 || subjects.some((s) => covers(s, "repo:*", TEXT)))
  );
}

export function publicTrustGrants(policy: unknown): string[] | InvalidJson {
  return allowGrants(policy, (statement) => {
    const who =
      statement.notPrincipal !== undefined
        ? "every principal but those in NotPrincipal"
        : isEveryone(statement.principal) === true
          ? `everyone (Principal ${show(statement.principal)})`
          : undefined;
    if (who !== undefined && restrictsCaller(statement.condition) === false) {
      return [`${describeStatement(statement)} lets ${who} assume the role`];
    }
    if (trustsAnyGitHubRepository(statement)) {
      return [
        `${describeStatement(statement)} lets a workflow of any GitHub repository assume the ` +
          `role (no ${GITHUB_SUB} condition naming yours)`,
      ];
    }
    return [];
  });
}

const ADMIN_CONSEQUENCE =
  `That is administrator (or every-bucket) access, or the means to take it. Fix: list only ` +
  `the actions needed, on the ARNs of the resources used (e.g. s3:GetObject on ` +
  `arn:aws:s3:::<bucket>/inputs/*).`;
const TRUST_CONSEQUENCE =
  `Anyone it trusts gets its permissions. Fix: trust a named principal (a service such as ` +
  `ecs-tasks.amazonaws.com, or an account or role ARN), add an aws:PrincipalOrgID or ` +
  `aws:SourceAccount condition, and for GitHub a ${GITHUB_SUB} condition naming the repository.`;

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
      deniedManagedPolicies: stringListSetting(
        DEFAULT_DENIED_MANAGED_POLICIES,
        "Managed policies that may not be attached, by name.",
      ),
      deniedActions: stringListSetting(
        DEFAULT_DENIED_ACTIONS,
        'Actions (IAM patterns) not allowed on every resource ("*", "s3:*", ...).',
      ),
      escalationActions: stringListSetting(
        DEFAULT_ESCALATION_ACTIONS,
        "Privilege-escalation actions, not allowed on any resource.",
      ),
    },
  },
  validateResource: validateTypes(Object.keys(HOLDERS), (args, reportViolation) => {
    type Lists = "deniedManagedPolicies" | "deniedActions" | "escalationActions";
    const config = args.getConfig<Record<Lists, string[]>>();
    const what = `${args.type.split(":").pop()} '${args.name}'`;
    const deniedNames = config.deniedManagedPolicies.map((name) => name.toLowerCase());
    const { arns: key, documents } = HOLDERS[args.type];
    const value = key === undefined ? undefined : at(args.props, key);
    const arns = elements(value);
    for (const [i, arn] of (arns === UNKNOWN ? [] : arns).entries()) {
      // `elements` reads one ARN (`policyArn`) as a list of one.
      const path = Array.isArray(value) ? `${key}[${i}]` : key;
      const name = typeof arn === "string" ? arn.slice(arn.lastIndexOf("/") + 1) : undefined;
      if (name !== undefined && deniedNames.includes(name.toLowerCase())) {
        reportViolation(
          `${what} attaches ${name} (${path} = ${show(arn)}), which grants far more than a ` +
            `batchpy stack needs. Fix: remove the attachment and grant only the actions ` +
            `needed on the resources used (see the job role's bucket-scoped policy).`,
        );
      }
    }
    const report = (path: string, grants: string[] | InvalidJson, consequence: string) => {
      if (grants instanceof InvalidJson) {
        reportViolation(
          `${what} has a ${path} that is not valid JSON (${grants.error}), so its grants ` +
            `cannot be checked. Fix: pass JSON.stringify(...) of the policy document.`,
        );
      } else if (grants.length > 0) {
        reportViolation(`${what} ${path}: ${grants.join("; ")}. ${consequence}`);
      }
    };
    const permissions =
      documents === "policy"
        ? [{ path: "policy", policy: at(args.props, "policy") }]
        : inlinePolicies(args.props).map((p) => ({ ...p, path: `${p.path}.policy` }));
    for (const { path, policy } of permissions.filter(hasDocument)) {
      const grants = forbiddenGrants(policy, config.deniedActions, config.escalationActions);
      report(path, grants, ADMIN_CONSEQUENCE);
    }
    const trust = args.type === TYPES.iamRole ? at(args.props, "assumeRolePolicy") : undefined;
    if (hasDocument({ policy: trust })) {
      report("assumeRolePolicy", publicTrustGrants(trust), TRUST_CONSEQUENCE);
    }
  }),
};
