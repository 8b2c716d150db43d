/** IAM policy documents: a JSON string or an object, any part of which may be unknown. */
import {
  InvalidJson,
  UNKNOWN,
  Unknown,
  at,
  elements,
  given,
  jsonDocument,
  keysOf,
  stringList,
} from "./values";

// IAM matches actions case-insensitively.
function lower(list: string[] | Unknown): string[] | Unknown {
  return list === UNKNOWN ? UNKNOWN : list.map((item) => item.toLowerCase());
}

/** A field is `UNKNOWN` while it cannot be known, an absent list `[]`. */
function readStatement(statement: unknown, index: number) {
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
  } as const;
}

export type Statement = ReturnType<typeof readStatement>;

export function readStatements(policy: unknown): Statement[] | Unknown | InvalidJson {
  const document = jsonDocument(policy);
  if (document === UNKNOWN || document instanceof InvalidJson) {
    return document;
  }
  const statements = elements(at(document, "Statement"));
  return statements === UNKNOWN ? UNKNOWN : statements.map(readStatement);
}

/** None while the document is unknown. */
export function allowGrants(policy: unknown, grants: (statement: Statement) => string[]) {
  const statements = readStatements(policy);
  if (statements === UNKNOWN || statements instanceof InvalidJson) {
    return statements === UNKNOWN ? [] : statements;
  }
  return statements.filter((statement) => hasEffect(statement, "Allow") === true).flatMap(grants);
}

export function inlinePolicies(role: unknown): { path: string; policy: unknown }[] {
  const inline = elements(at(role, "inlinePolicies"));
  return (inline === UNKNOWN ? [] : inline).map((entry, i) => ({
    path: `inlinePolicies[${i}]`,
    policy: at(entry, "policy"),
  }));
}

export function hasDocument({ policy }: { policy: unknown }): boolean {
  return given(policy) && policy !== "";
}

/** `key` lower-case: condition keys match case-insensitively. */
export function conditionValues(
  condition: unknown,
  key: string,
  operator: (name: string) => boolean,
): unknown[] | Unknown {
  const blocks = keysOf(condition)
    .filter(operator)
    .map((name) => at(condition, name));
  if (condition === UNKNOWN || blocks.includes(UNKNOWN)) {
    return UNKNOWN;
  }
  return blocks.flatMap((block) =>
    keysOf(block)
      .filter((field) => field.toLowerCase() === key)
      .flatMap((field) => {
        const list = elements(at(block, field));
        return list === UNKNOWN ? [UNKNOWN] : list;
      }),
  );
}

export function describeStatement({ index, sid }: Statement): string {
  return `statement ${index}${sid ? ` (${JSON.stringify(sid)})` : ""}`;
}

export function hasEffect({ effect }: Statement, wanted: "Allow" | "Deny"): boolean | Unknown {
  return effect === UNKNOWN ? UNKNOWN : effect?.toLowerCase() === wanted.toLowerCase();
}

export function isEveryone(principal: unknown): boolean | Unknown {
  const aws = principal === "*" ? ["*"] : stringList(at(principal, "AWS"));
  return principal === UNKNOWN || aws === UNKNOWN ? UNKNOWN : aws.includes("*");
}
