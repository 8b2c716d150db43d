/**
 * Policy pack config, handled as the Pulumi engine handles `--policy-pack-config`: each
 * policy's schema defaults, then the pack's own initial config, then the file; "all" sets
 * every policy's level; the result is validated against each policy's `configSchema`
 * before anything is sent to the pack.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import { ParseError, parse, printParseErrorCode } from "jsonc-parser";
import { definedOnly } from "../../components/defined";
import {
  BOUND_POLICIES,
  BOUND_SETTING_SCHEMAS,
  BoundName,
  DEFAULT_BOUNDS,
  PolicyBounds,
} from "../bounds";
import { EnforcementLevel } from "./wire";

const ENFORCEMENT_LEVELS: readonly EnforcementLevel[] = [
  "advisory",
  "mandatory",
  "remediate",
  "disabled",
];

/** One policy's settings: a level (unset means "keep the current one") and properties. */
interface PolicyConfigEntry {
  readonly enforcementLevel?: EnforcementLevel;
  readonly properties: Record<string, unknown>;
}

/** Policy name (or "all") → settings. */
export type PolicyPackConfig = Record<string, PolicyConfigEntry>;

/**
 * A JSON schema (draft-07, as the engine's gojsonschema reads it): the pack sends each
 * policy's `configSchema` over gRPC, so nothing is known about its keywords here.
 */
export type JsonSchema = Readonly<Record<string, unknown>>;

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
        ...definedOnly({
          enforcementLevel:
            enforcementLevel === undefined
              ? undefined
              : levelOf(enforcementLevel, `${where}.enforcementLevel`),
        }),
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

/** One ajv instance and each schema compiled once, made on first use. */
let schemaValidator: { ajv: Ajv; compiled: Map<string, ValidateFunction> } | undefined;

/** The ajv instance, made the first time (`policy:check` makes it while the pack process starts). */
export function loadSchemaValidator(): { ajv: Ajv; compiled: Map<string, ValidateFunction> } {
  if (schemaValidator === undefined) {
    schemaValidator = {
      // Every problem, not just the first; keywords ajv does not know are ignored, as the
      // engine's gojsonschema ignores them. The schemas themselves are not checked against
      // the draft-07 meta-schema (compiling it is most of ajv's start-up cost); the pack's
      // own schemas are, in test/policy/check-config.test.ts.
      ajv: new Ajv({ allErrors: true, strict: false, validateSchema: false, logger: false }),
      compiled: new Map(),
    };
  }
  return schemaValidator;
}

function compiled(schema: JsonSchema): ValidateFunction {
  const { ajv, compiled: cache } = loadSchemaValidator();
  const key = JSON.stringify(schema);
  let validate = cache.get(key);
  if (validate === undefined) {
    validate = ajv.compile(schema);
    cache.set(key, validate);
  }
  return validate;
}

/** `/a/0/b` (a JSON pointer) as `a[0].b`, under `path`. */
function keyPath(path: string, pointer: string, child?: string): string {
  const parts = pointer === "" ? [] : pointer.slice(1).split("/");
  if (child !== undefined) {
    parts.push(child);
  }
  return parts.reduce((at, raw) => {
    const part = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (/^\d+$/.test(part)) {
      return `${at}[${part}]`;
    }
    return at === "" ? part : `${at}.${part}`;
  }, path);
}

/** One ajv error as a sentence naming the key, the rule and the value. */
function describeError(error: ErrorObject, value: unknown, path: string): string {
  const params = error.params as Record<string, unknown>;
  if (error.keyword === "required") {
    return `${keyPath(path, error.instancePath, String(params.missingProperty))} is required`;
  }
  if (error.keyword === "additionalProperties") {
    return `${keyPath(path, error.instancePath, String(params.additionalProperty))} is not a setting here`;
  }
  const key = keyPath(path, error.instancePath) || "the settings";
  const allowed = Array.isArray(params.allowedValues)
    ? `: ${params.allowedValues.map((v) => JSON.stringify(v)).join(", ")}`
    : "";
  const shown = value !== null && typeof value === "object" ? "" : `, not ${JSON.stringify(value)}`;
  return `${key} ${error.message ?? `breaks ${error.keyword}`}${allowed}${shown}`;
}

/** The value at a JSON pointer of `root`. */
function valueAt(root: unknown, pointer: string): unknown {
  if (pointer === "") {
    return root;
  }
  return pointer
    .slice(1)
    .split("/")
    .reduce<unknown>(
      (at, raw) =>
        at !== null && typeof at === "object"
          ? (at as Record<string, unknown>)[raw.replace(/~1/g, "/").replace(/~0/g, "~")]
          : undefined,
      root,
    );
}

/** Problems with `value` against `schema` (with ajv), each naming the key under `path`. */
export function validateAgainstSchema(schema: JsonSchema, value: unknown, path: string): string[] {
  const validate = compiled(schema);
  if (validate(value)) {
    return [];
  }
  return (validate.errors ?? []).map((error) =>
    describeError(error, valueAt(value, error.instancePath), path),
  );
}

/**
 * Problems with one policy's settings against its `configSchema`, as the engine checks them:
 * the schema as an object schema of those properties (and required keys), every problem
 * naming the source, the policy, the key and the rule.
 */
function settingsProblems(
  policy: string,
  configSchema: NonNullable<PolicySummary["configSchema"]>,
  properties: Record<string, unknown>,
  source: string,
): string[] {
  return validateAgainstSchema({ type: "object", ...configSchema }, properties, "").map(
    (problem) => `${source}: "${policy}": ${problem}.`,
  );
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
  const problems = policies.flatMap((policy) =>
    policy.configSchema === undefined
      ? []
      : settingsProblems(policy.name, policy.configSchema, result[policy.name].properties, source),
  );
  if (problems.length > 0) {
    throw new PolicyConfigError(problems);
  }
  return { config: result, warnings };
}

/**
 * The bounds a `--policy-pack-config` file sets for `jobs:submit` over the pack's defaults:
 * the file read as {@link parsePolicyPackConfig} reads it for `policy:check`, each bound
 * policy's settings checked against the schema that policy declares, "all" for every level.
 * Returns the problems instead of throwing, each naming the file, the policy, the key and
 * the rule.
 */
export function boundsFromPolicyConfig(
  text: string,
  file: string,
): { bounds: PolicyBounds; problems: string[] } {
  let config: PolicyPackConfig;
  try {
    config = parsePolicyPackConfig(text, file);
  } catch (err) {
    if (err instanceof PolicyConfigError) {
      return { bounds: DEFAULT_BOUNDS, problems: [...err.problems] };
    }
    throw err;
  }
  const problems: string[] = [];
  const bounds = { ...DEFAULT_BOUNDS };
  for (const [name, policy] of Object.entries(BOUND_POLICIES) as [BoundName, string][]) {
    const given = config[policy];
    const properties = given?.properties ?? {};
    const found = settingsProblems(
      policy,
      { properties: { [name]: BOUND_SETTING_SCHEMAS[name] } },
      properties,
      file,
    );
    problems.push(...found);
    const value = properties[name];
    bounds[name] = {
      value: found.length === 0 && typeof value === "number" ? value : DEFAULT_BOUNDS[name].value,
      level: given?.enforcementLevel ?? config.all?.enforcementLevel ?? DEFAULT_BOUNDS[name].level,
    };
  }
  return { bounds, problems };
}
