/**
 * S3: the jobs' bucket is neither public nor reachable over plain HTTP. Stack policies: both
 * settings are resources of their own that point at the bucket.
 */
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { Statement, conditionValues, hasEffect, isEveryone, readStatements } from "./iam-documents";
import { ACTION, RESOURCE, covers, matches } from "./iam-patterns";
import { BUCKET_ACL_TYPES, BUCKET_TYPES, TYPES, refersTo } from "./resources";
import { InvalidJson, UNKNOWN, Unknown, at, given, show } from "./values";

const PUBLIC_ACCESS_SETTINGS = [
  "blockPublicAcls",
  "blockPublicPolicy",
  "ignorePublicAcls",
  "restrictPublicBuckets",
] as const;

const PUBLIC_ACLS: readonly string[] = ["public-read", "public-read-write", "authenticated-read"];

export const s3BucketPublicAccessBlocked: StackValidationPolicy = {
  name: "s3-bucket-public-access-blocked",
  description:
    "Checks whether every S3 bucket has a BucketPublicAccessBlock with blockPublicAcls, " +
    "blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets all true, and whether " +
    "any bucket or BucketAcl sets a public canned ACL.",
  remediationSteps:
    "Add an aws.s3.BucketPublicAccessBlock for the bucket with all four settings true, and " +
    "remove public canned ACLs (buckets are private by default).",
  url: "https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html",
  severity: "critical",
  validateStack: (args, reportViolation) => {
    const buckets = args.resources.filter((r) => BUCKET_TYPES.includes(r.type));
    const blocks = args.resources.filter((r) => r.type === TYPES.bucketPublicAccessBlock);
    for (const block of blocks) {
      const value = (setting: string) => at(block.props, setting);
      const open = PUBLIC_ACCESS_SETTINGS.filter((s) => value(s) !== UNKNOWN && value(s) !== true);
      if (open.length > 0) {
        reportViolation(
          `BucketPublicAccessBlock '${block.name}' leaves public access open: ` +
            `${open.map((setting) => `${setting} = ${show(value(setting))}`).join(", ")}. ` +
            `Fix: set ${open.join(", ")} to true.`,
          block.urn,
        );
      }
    }
    // An ACL in its own resource (aws.s3.BucketAcl) opens the bucket as much as its `acl`.
    const acls = args.resources.filter((r) => BUCKET_ACL_TYPES.includes(r.type));
    for (const resource of [...acls, ...buckets]) {
      const acl = at(resource.props, "acl");
      if (typeof acl === "string" && PUBLIC_ACLS.includes(acl)) {
        reportViolation(
          acls.includes(resource)
            ? `BucketAcl '${resource.name}' sets acl ${show(acl)}, which makes the bucket's ` +
                `objects public. Fix: remove the BucketAcl (buckets are private by default).`
            : `S3 bucket '${resource.name}' has acl ${show(acl)}, which makes its objects ` +
                `public. Fix: remove acl (buckets are private by default).`,
          resource.urn,
        );
      }
    }
    for (const bucket of buckets) {
      if (blocks.every((block) => refersTo(block, "bucket", bucket) === false)) {
        reportViolation(
          `S3 bucket '${bucket.name}' has no BucketPublicAccessBlock, so a bucket policy or ACL ` +
            `could make it public. Fix: add new aws.s3.BucketPublicAccessBlock(..., { bucket: ` +
            `bucket.id, ${PUBLIC_ACCESS_SETTINGS.map((s) => `${s}: true`).join(", ")} }).`,
          bucket.urn,
        );
      }
    }
  },
};

function requiresNoTls(condition: unknown): boolean | Unknown {
  const values = conditionValues(condition, "aws:securetransport", (op) => op === "Bool");
  const plain = (v: unknown) =>
    v === false || (typeof v === "string" && v.toLowerCase() === "false");
  if (values !== UNKNOWN && values.some(plain)) {
    return true;
  }
  return values === UNKNOWN || values.includes(UNKNOWN) ? UNKNOWN : false;
}

/** @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html */
function partitionOf(region: string | undefined): string {
  const prefixes: [string, string][] = [
    ["cn-", "aws-cn"],
    ["us-gov-", "aws-us-gov"],
    ["us-isob-", "aws-iso-b"],
    ["us-isof-", "aws-iso-f"],
    ["eu-isoe-", "aws-iso-e"],
    ["us-iso-", "aws-iso"],
    ["eusc-", "aws-eusc"],
  ];
  return prefixes.find(([prefix]) => region?.startsWith(prefix))?.[1] ?? "aws";
}

function bucketArn(bucket: PolicyResource): string | Unknown {
  const arn = at(bucket.props, "arn");
  if (typeof arn === "string" && arn !== "") {
    return arn;
  }
  const name = at(bucket.props, "bucket");
  const region = at(bucket.props, "region");
  if (arn === UNKNOWN || region === UNKNOWN || typeof name !== "string" || name === "") {
    return UNKNOWN;
  }
  return `arn:${partitionOf(typeof region === "string" ? region : undefined)}:s3:::${name}`;
}

/** By the pattern's text before its first wildcard. */
function mayMatchUnder(pattern: string, prefix: string, caseInsensitive = false): boolean {
  const fold = (text: string) => (caseInsensitive ? text.toLowerCase() : text);
  const literal = fold(pattern.split(/[*?]/)[0]);
  return literal.startsWith(fold(prefix)) || fold(prefix).startsWith(literal);
}

function coversEveryS3Action(statement: Statement): boolean | Unknown {
  if (statement.actions === UNKNOWN || statement.notActions === UNKNOWN) {
    return UNKNOWN;
  }
  if (statement.notActions.length > 0) {
    // Deny + NotAction denies every action not listed: all of S3 unless one is S3's.
    return !statement.notActions.some((p) => mayMatchUnder(p, "s3:", true));
  }
  return statement.actions.some((action) => covers(action, "s3:*", ACTION));
}

type Coverage = { readonly bucket: boolean; readonly objects: boolean };

function coverage(statement: Statement, arn: string): Coverage | Unknown {
  const patterns = statement.notResource ? statement.notResources : statement.resources;
  if (patterns === UNKNOWN) {
    return UNKNOWN;
  }
  const bucket = patterns.some((p) => matches(p, arn, RESOURCE));
  if (statement.notResource) {
    // Everything but the listed resources: this bucket unless a listed pattern reaches it.
    return { bucket: !bucket, objects: !patterns.some((p) => mayMatchUnder(p, `${arn}/`)) };
  }
  return { bucket, objects: patterns.some((p) => covers(p, `${arn}/*`, RESOURCE)) };
}

function deniesInsecureTransport(statement: Statement, arn: string): Coverage | false | Unknown {
  const checks: (boolean | Unknown)[] = [
    hasEffect(statement, "Deny"),
    isEveryone(statement.principal),
    coversEveryS3Action(statement),
    requiresNoTls(statement.condition),
  ];
  if (checks.includes(false)) {
    return false;
  }
  const covered = coverage(statement, arn);
  if (covered !== UNKNOWN && !covered.bucket && !covered.objects) {
    return false;
  }
  return checks.includes(UNKNOWN) || covered === UNKNOWN ? UNKNOWN : covered;
}

/** The bucket and its objects may be covered by different statements. */
export function policyDeniesInsecureTransport(policy: unknown, arn: string | Unknown) {
  const statements = readStatements(policy);
  if (statements === UNKNOWN || statements instanceof InvalidJson || arn === UNKNOWN) {
    return statements instanceof InvalidJson ? statements : UNKNOWN;
  }
  const verdicts = statements.map((statement) => deniesInsecureTransport(statement, arn));
  const covered = verdicts.filter((v): v is Coverage => v !== false && v !== UNKNOWN);
  if (covered.some((v) => v.bucket) && covered.some((v) => v.objects)) {
    return true;
  }
  return verdicts.includes(UNKNOWN) ? UNKNOWN : false;
}

const TLS_ONLY_STATEMENT =
  `{ Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [bucketArn, \`\${bucketArn}/*\`], ` +
  `Condition: { Bool: { "aws:SecureTransport": "false" } } }`;

export const s3BucketTlsOnly: StackValidationPolicy = {
  name: "s3-bucket-tls-only",
  description:
    "Checks whether every S3 bucket has a bucket policy that denies requests not made over " +
    "TLS (aws:SecureTransport false).",
  remediationSteps: `Add an aws.s3.BucketPolicy for the bucket with the statement ${TLS_ONLY_STATEMENT}.`,
  url: "https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html",
  severity: "high",
  validateStack: (args, reportViolation) => {
    const buckets = args.resources.filter((r) => BUCKET_TYPES.includes(r.type));
    const bucketPolicies = args.resources.filter((r) => r.type === TYPES.bucketPolicy);
    for (const bucket of buckets) {
      const links = bucketPolicies.map((policy) => refersTo(policy, "bucket", bucket));
      const found = bucketPolicies.filter((_, i) => links[i] === true);
      // A bucket's own (deprecated) `policy` input counts as a bucket policy too.
      const inline = at(bucket.props, "policy");
      const owners = given(inline) && inline !== "" ? [bucket, ...found] : found;
      const documents = owners.map((owner) => ({ owner, policy: at(owner.props, "policy") }));
      if (documents.length === 0) {
        if (!links.includes(UNKNOWN)) {
          reportViolation(
            `S3 bucket '${bucket.name}' has no bucket policy, so it accepts plain-HTTP requests. ` +
              `Fix: add an aws.s3.BucketPolicy for it with ${TLS_ONLY_STATEMENT}.`,
            bucket.urn,
          );
        }
        continue;
      }
      const arn = bucketArn(bucket);
      const verdicts = documents.map(({ policy }) => policyDeniesInsecureTransport(policy, arn));
      if (verdicts.includes(true) || verdicts.includes(UNKNOWN)) {
        continue;
      }
      documents.forEach(({ owner }, i) => {
        const verdict = verdicts[i];
        const what =
          owner === bucket ? `S3 bucket '${bucket.name}' policy` : `BucketPolicy '${owner.name}'`;
        reportViolation(
          verdict instanceof InvalidJson
            ? `${what} is not valid JSON (${verdict.error}). Fix: pass JSON.stringify(...) of ` +
                `a policy document that includes ${TLS_ONLY_STATEMENT}.`
            : `${what} for bucket '${bucket.name}' does not deny requests without TLS to the ` +
                `bucket and all its objects (${String(arn)} and ${String(arn)}/*), ` +
                `so data can travel in clear text. Fix: add ${TLS_ONLY_STATEMENT}.`,
          owner.urn,
        );
      });
    }
  },
};
