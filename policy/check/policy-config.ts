/**
 * Policy pack config, handled as the Pulumi engine handles `--policy-pack-config`: each
 * policy's schema defaults, then the pack's own initial config, then the file; "all" sets
 * every policy's level; the result is validated against each policy's `configSchema`
 * before anything is sent to the pack.
 */
import { ParseError, parse, printParseErrorCode } from "jsonc-parser";
import { EnforcementLevel } from "./wire";

export const ENFORCEMENT_LEVELS: readonly EnforcementLevel[] = [
  "advisory",
  "mandatory",
  "remediate",
  "disabled",
];

/** One policy's settings: a level (unset means "keep the current one") and properties. */
export interface PolicyConfigEntry {
  readonly enforcementLevel?: EnforcementLevel;
  readonly properties: Record<string, unknown>;
}

/** Policy name (or "all") → settings. */
export type PolicyPackConfig = Record<string, PolicyConfigEntry>;

/** A JSON schema, as far as policy config schemas use it. */
export interface JsonSchema {
  readonly type?: string | readonly string[];
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly items?: JsonSchema;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly uniqueItems?: boolean;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | JsonSchema;
  readonly default?: unknown;
}

/** What the pack says about a policy (from `GetAnalyzerInfo`). */
export interface PolicySummary {
  readonly name: string;
  readonly description: string;
  readonly enforcementLevel: EnforcementLevel;
  readonly configSchema?: {
    readonly properties: Readonly<Record<string, JsonSchema>>;
    readonly required?: readonly string[];
  };
}

/** A config problem; the message names the file or policy, the key and the fix. */
export class PolicyConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
    this.name = "PolicyConfigError";
  }
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split("\n");
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

function levelOf(value: unknown, where: string): EnforcementLevel {
  if (typeof value !== "string" || !ENFORCEMENT_LEVELS.includes(value as EnforcementLevel)) {
    throw new PolicyConfigError([
      `${where}: ${JSON.stringify(value)} is not an enforcement level; use one of ` +
        `${ENFORCEMENT_LEVELS.join(", ")}.`,
    ]);
  }
  return value as EnforcementLevel;
}

/**
 * Parses a `--policy-pack-config` file: `{ "policy": "advisory" }` or
 * `{ "policy": { "enforcementLevel": "advisory", "setting": 1 } }` per policy.
 */
export function parsePolicyPackConfig(text: string, file: string): PolicyPackConfig {
  if (text.trim() === "") {
    return {};
  }
  const errors: ParseError[] = [];
  const document: unknown = parse(text, errors, {
    allowTrailingComma: false,
    disallowComments: true,
  });
  if (errors.length > 0) {
    throw new PolicyConfigError(
      errors.map(
        (e) =>
          `${file}:${lineAndColumn(text, e.offset)}: ${printParseErrorCode(e.error)}; the ` +
          `policy config must be JSON (no comments, no trailing commas).`,
      ),
    );
  }
  if (document === null || typeof document !== "object" || Array.isArray(document)) {
    throw new PolicyConfigError([
      `${file}: the policy config must be a JSON object of policy name → level or settings, ` +
        `e.g. {"ecr-scan-on-push": "mandatory"}.`,
    ]);
  }
  const config: PolicyPackConfig = {};
  for (const [policy, value] of Object.entries(document)) {
    const where = `${file}: "${policy}"`;
    if (typeof value === "string") {
      config[policy] = { enforcementLevel: levelOf(value, where), properties: {} };
    } else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      const { enforcementLevel, ...properties } = value as Record<string, unknown>;
      config[policy] = {
        ...(enforcementLevel !== undefined
          ? { enforcementLevel: levelOf(enforcementLevel, `${where}.enforcementLevel`) }
          : {}),
        properties,
      };
    } else {
      throw new PolicyConfigError([
        `${where} is ${JSON.stringify(value)}; give an enforcement level ("advisory") or an ` +
          `object of settings ({"enforcementLevel": "advisory", ...}).`,
      ]);
    }
  }
  return config;
}

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "array":
      return Array.isArray(value);
    case "object":
      return value !== null && typeof value === "object" && !Array.isArray(value);
    case "null":
      return value === null;
    default:
      return true;
  }
}

/** Problems with `value` against `schema`, each naming `path`. */
export function validateAgainstSchema(schema: JsonSchema, value: unknown, path: string): string[] {
  const show = JSON.stringify(value);
  if (schema.type !== undefined) {
    const types = typeof schema.type === "string" ? [schema.type] : schema.type;
    if (!types.some((type) => typeMatches(type, value))) {
      return [`${path} must be ${types.join(" or ")}, not ${show}`];
    }
  }
  const problems: string[] = [];
  if (schema.enum !== undefined && !schema.enum.some((e) => JSON.stringify(e) === show)) {
    problems.push(
      `${path} must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}, not ${show}`,
    );
  }
  if (schema.const !== undefined && JSON.stringify(schema.const) !== show) {
    problems.push(`${path} must be ${JSON.stringify(schema.const)}, not ${show}`);
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) {
      problems.push(`${path} must be at least ${schema.minimum}, not ${show}`);
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
      problems.push(`${path} must be at most ${schema.maximum}, not ${show}`);
    }
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) {
      problems.push(`${path} must be more than ${schema.exclusiveMinimum}, not ${show}`);
    }
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) {
      problems.push(`${path} must be less than ${schema.exclusiveMaximum}, not ${show}`);
    }
  }
  if (typeof value === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      problems.push(`${path} must have at least ${schema.minLength} characters`);
    }
    if (schema.maxLength !== undefined && value.length > schema.maxLength) {
      problems.push(`${path} must have at most ${schema.maxLength} characters`);
    }
    if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
      problems.push(`${path} must match /${schema.pattern}/, not ${show}`);
    }
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      problems.push(`${path} must have at least ${schema.minItems} items`);
    }
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      problems.push(`${path} must have at most ${schema.maxItems} items`);
    }
    if (schema.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) {
      problems.push(`${path} must not repeat an item`);
    }
    const items = schema.items;
    if (items !== undefined) {
      value.forEach((item, i) =>
        problems.push(...validateAgainstSchema(items, item, `${path}[${i}]`)),
      );
    }
  }
  if (typeMatches("object", value)) {
    problems.push(...validateObject(schema, value as Record<string, unknown>, path));
  }
  return problems;
}

function validateObject(
  schema: JsonSchema,
  value: Record<string, unknown>,
  path: string,
): string[] {
  const problems: string[] = [];
  const at = (key: string) => (path === "" ? key : `${path}.${key}`);
  for (const key of schema.required ?? []) {
    if (!(key in value)) {
      problems.push(`${at(key)} is required`);
    }
  }
  for (const [key, item] of Object.entries(value)) {
    const property = schema.properties?.[key];
    if (property !== undefined) {
      problems.push(...validateAgainstSchema(property, item, at(key)));
    } else if (schema.additionalProperties === false) {
      problems.push(`${at(key)} is not a setting here`);
    } else if (typeof schema.additionalProperties === "object") {
      problems.push(...validateAgainstSchema(schema.additionalProperties, item, at(key)));
    }
  }
  return problems;
}

/** The config the pack gets: every policy with a level and its properties. */
export type ReconciledConfig = Record<
  string,
  { readonly enforcementLevel: EnforcementLevel; readonly properties: Record<string, unknown> }
>;

function apply(result: ReconciledConfig, config: PolicyPackConfig): void {
  const all = config.all?.enforcementLevel;
  if (all !== undefined) {
    for (const name of Object.keys(result)) {
      result[name] = { ...result[name], enforcementLevel: all };
    }
  }
  for (const [name, given] of Object.entries(config)) {
    if (name === "all") {
      continue;
    }
    const current = result[name] ?? { enforcementLevel: "advisory", properties: {} };
    result[name] = {
      enforcementLevel: given.enforcementLevel ?? current.enforcementLevel,
      properties: { ...current.properties, ...given.properties },
    };
  }
}

/**
 * Schema defaults, then the pack's initial config, then the user's; every policy's result
 * checked against its schema. Throws a {@link PolicyConfigError} listing every problem.
 * A name the pack does not know is only a warning: the engine ignores it too.
 */
export function reconcilePolicyPackConfig(
  policies: readonly PolicySummary[],
  initialConfig: PolicyPackConfig,
  config: PolicyPackConfig,
  source = "the policy config",
): { config: ReconciledConfig; warnings: string[] } {
  const result: ReconciledConfig = {};
  for (const policy of policies) {
    const properties: Record<string, unknown> = {};
    for (const [key, schema] of Object.entries(policy.configSchema?.properties ?? {})) {
      if (schema.default !== undefined) {
        properties[key] = schema.default;
      }
    }
    result[policy.name] = { enforcementLevel: policy.enforcementLevel, properties };
  }
  apply(result, initialConfig);
  apply(result, config);

  const warnings: string[] = [];
  const known = new Set(policies.map((p) => p.name));
  for (const name of Object.keys(config)) {
    if (name !== "all" && !known.has(name)) {
      delete result[name];
      warnings.push(
        `${source}: "${name}" is not a policy of this pack; the pack has ` +
          `${[...known].join(", ")}; its settings are ignored.`,
      );
    }
  }
  const problems: string[] = [];
  for (const policy of policies) {
    const schema = policy.configSchema;
    if (schema === undefined) {
      continue;
    }
    const objectSchema: JsonSchema = { type: "object", ...schema };
    for (const problem of validateAgainstSchema(objectSchema, result[policy.name].properties, "")) {
      problems.push(`${source}: "${policy.name}": ${problem}.`);
    }
  }
  if (problems.length > 0) {
    throw new PolicyConfigError(problems);
  }
  return { config: result, warnings };
}
