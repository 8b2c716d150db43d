/**
 * IAM policy documents (identity and bucket policies) read statement by statement: a JSON
 * string or an object (`aws.iam.PolicyDocument`), any part of which may be unknown.
 */
import {
  InvalidJson,
  UNKNOWN,
  Unknown,
  at,
  elements,
  isUnknown,
  jsonDocument,
  keysOf,
  stringList,
} from "./values";

/** IAM matches actions case-insensitively. */
function lower(list: string[] | Unknown): string[] | Unknown {
  return list === UNKNOWN ? UNKNOWN : list.map((item) => item.toLowerCase());
}

/** One statement; a field is `UNKNOWN` while it cannot be known, an absent list `[]`. */
function readStatement(statement: unknown, index: number) {
  const effect = at(statement, "Effect");
  const sid = at(statement, "Sid");
  return {
    /** Its position in the document, for messages. */
    index,
    sid: typeof sid === "string" ? sid : undefined,
    effect: effect === UNKNOWN || typeof effect === "string" ? effect : undefined,
    actions: lower(stringList(at(statement, "Action"))),
    notActions: lower(stringList(at(statement, "NotAction"))),
    resources: stringList(at(statement, "Resource")),
    /** Whether it applies to everything except the `NotResource` list. */
    notResource: at(statement, "NotResource") !== undefined,
    notResources: stringList(at(statement, "NotResource")),
    principal: at(statement, "Principal"),
    notPrincipal: at(statement, "NotPrincipal"),
    condition: at(statement, "Condition"),
  } as const;
}

export type Statement = ReturnType<typeof readStatement>;

/** The statements of a policy document, `UNKNOWN` while it is unknown. */
export function readStatements(policy: unknown): Statement[] | Unknown | InvalidJson {
  const document = jsonDocument(policy);
  if (document === UNKNOWN || document instanceof InvalidJson) {
    return document;
  }
  const statements = elements(at(document, "Statement"));
  return statements === UNKNOWN ? UNKNOWN : statements.map(readStatement);
}

/** What each Allow statement of a document grants (`grants`), none while it is unknown. */
export function allowGrants(
  policy: unknown,
  grants: (statement: Statement) => string[],
): string[] | InvalidJson {
  const statements = readStatements(policy);
  if (statements === UNKNOWN) {
    return [];
  }
  if (statements instanceof InvalidJson) {
    return statements;
  }
  return statements.filter((statement) => hasEffect(statement, "Allow") === true).flatMap(grants);
}

/**
 * The values a condition gives `key` (lower-case; keys match case-insensitively) under the
 * operators `operator` accepts; `UNKNOWN` for a part that is unknown.
 */
export function conditionValues(
  condition: unknown,
  key: string,
  operator: (name: string) => boolean,
): unknown[] | Unknown {
  if (isUnknown(condition)) {
    return UNKNOWN;
  }
  const values: unknown[] = [];
  for (const name of keysOf(condition).filter(operator)) {
    const block = at(condition, name);
    if (block === UNKNOWN) {
      return UNKNOWN;
    }
    for (const field of keysOf(block)) {
      if (field.toLowerCase() === key) {
        const list = elements(at(block, field));
        values.push(...(list === UNKNOWN ? [UNKNOWN] : list));
      }
    }
  }
  return values;
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
