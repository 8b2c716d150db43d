/**
 * IAM policy documents (identity policies and bucket policies) read statement by statement.
 * A document may be a JSON string or an object (`aws.iam.PolicyDocument`), and any part of
 * it may be unknown during preview.
 */
import {
  InvalidJson,
  UNKNOWN,
  Unknown,
  at,
  elements,
  isUnknown,
  jsonDocument,
  stringList,
} from "./values";

/** One statement of a policy document; a field is `UNKNOWN` while it cannot be known. */
export interface Statement {
  /** Its position in the document, for messages. */
  readonly index: number;
  readonly sid?: string;
  /** "Allow" or "Deny" (as written). */
  readonly effect: string | Unknown | undefined;
  /** `Action`, lower-cased (IAM matches actions case-insensitively); absent → []. */
  readonly actions: string[] | Unknown;
  /** `NotAction`, lower-cased; absent → []. */
  readonly notActions: string[] | Unknown;
  /** `Resource`; absent → []. */
  readonly resources: string[] | Unknown;
  /** Whether the statement uses `NotResource` (everything except the listed resources). */
  readonly notResource: boolean;
  /** `NotResource`; absent → []. */
  readonly notResources: string[] | Unknown;
  readonly principal: unknown;
  /** `NotPrincipal` as written (undefined when absent). */
  readonly notPrincipal: unknown;
  readonly condition: unknown;
}

/** The statements of a policy document, `UNKNOWN` while it is unknown. */
export function readStatements(policy: unknown): Statement[] | Unknown | InvalidJson {
  const document = jsonDocument(policy);
  if (document === UNKNOWN || document instanceof InvalidJson) {
    return document;
  }
  const statements = elements(at(document, "Statement"));
  if (statements === UNKNOWN) {
    return UNKNOWN;
  }
  const lower = (list: string[] | Unknown): string[] | Unknown =>
    list === UNKNOWN ? UNKNOWN : list.map((item) => item.toLowerCase());
  return statements.map((statement, index) => {
    const effect = at(statement, "Effect");
    const sid = at(statement, "Sid");
    return {
      index,
      sid: typeof sid === "string" ? sid : undefined,
      effect: effect === UNKNOWN || typeof effect === "string" ? effect : undefined,
      actions: lower(stringList(at(statement, "Action"))),
      notActions: lower(stringList(at(statement, "NotAction"))),
      resources: stringList(at(statement, "Resource")),
      notResource: at(statement, "NotResource") !== undefined,
      notResources: stringList(at(statement, "NotResource")),
      principal: at(statement, "Principal"),
      notPrincipal: at(statement, "NotPrincipal"),
      condition: at(statement, "Condition"),
    };
  });
}

/** `statement 2 ("DenyInsecureTransport")`, for messages. */
export function describeStatement(statement: Statement): string {
  return `statement ${statement.index}${statement.sid ? ` (${JSON.stringify(statement.sid)})` : ""}`;
}

/** True if `Effect` is the given one; `UNKNOWN` while unknown. */
export function hasEffect(statement: Statement, effect: "Allow" | "Deny"): boolean | Unknown {
  if (statement.effect === UNKNOWN) {
    return UNKNOWN;
  }
  return statement.effect?.toLowerCase() === effect.toLowerCase();
}

/** True for `Principal: "*"` and `Principal: { AWS: "*" }`: everyone. */
export function isEveryone(principal: unknown): boolean | Unknown {
  if (isUnknown(principal)) {
    return UNKNOWN;
  }
  if (principal === "*") {
    return true;
  }
  const aws = stringList(at(principal, "AWS"));
  return aws === UNKNOWN ? UNKNOWN : aws.includes("*");
}
