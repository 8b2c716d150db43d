/**
 * `--policy-pack-config`, read as the engine reads it (docs/policy.md); `jobs:submit` reads its
 * bounds from it too.
 */
import Ajv from "ajv";
import { ParseError, parse, printParseErrorCode } from "jsonc-parser";
import { definedOnly } from "../../components/defined";
import {
  BOUND_POLICIES,
  BOUND_SETTING_SCHEMAS,
  COST_CAP_POLICY,
  COST_CAP_SETTING_SCHEMA,
  DEFAULT_BOUNDS,
  PolicyBounds,
} from "../bounds";

const ENFORCEMENT_LEVELS = ["advisory", "mandatory", "remediate", "disabled"] as const;
export type EnforcementLevel = (typeof ENFORCEMENT_LEVELS)[number];

type PolicyConfigEntry = {
  enforcementLevel?: EnforcementLevel;
  properties: Record<string, unknown>;
};
/** Policy name (or "all") → settings. */
export type PolicyPackConfig = Record<string, PolicyConfigEntry>;
export type ReconciledConfig = Record<string, Required<PolicyConfigEntry>>;
/** Draft-07, as the engine's gojsonschema reads it. */
export type JsonSchema = Readonly<Record<string, unknown>>;
export type PolicySummary = {
  readonly name: string;
  readonly enforcementLevel: EnforcementLevel;
  readonly configSchema?: {
    readonly properties: Readonly<Record<string, JsonSchema>>;
    readonly required?: readonly string[];
  };
};

export class PolicyConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
  }
}

function levelOf(value: unknown, where: string): EnforcementLevel {
  if (!ENFORCEMENT_LEVELS.includes(value as EnforcementLevel)) {
    throw new PolicyConfigError([
      `${where}: ${JSON.stringify(value)} is not an enforcement level; use one of ` +
        `${ENFORCEMENT_LEVELS.join(", ")}.`,
    ]);
  }
  return value as EnforcementLevel;
}

/** `"advisory"` or `{ "enforcementLevel": "advisory", ...settings }`. */
function entryOf(value: unknown, where: string): PolicyConfigEntry {
  if (typeof value === "string") {
    return { enforcementLevel: levelOf(value, where), properties: {} };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new PolicyConfigError([
      `${where} is ${JSON.stringify(value)}; give an enforcement level ("advisory") or an ` +
        `object of settings ({"enforcementLevel": "advisory", ...}).`,
    ]);
  }
  const { enforcementLevel: level, ...properties } = value as Record<string, unknown>;
  const enforcementLevel =
    level === undefined ? undefined : levelOf(level, `${where}.enforcementLevel`);
  return { ...definedOnly({ enforcementLevel }), properties };
}

export function parsePolicyPackConfig(text: string, file: string): PolicyPackConfig {
  const errors: ParseError[] = [];
  const document: unknown =
    text.trim() === "" ? {} : parse(text, errors, { disallowComments: true });
  if (errors.length > 0) {
    throw new PolicyConfigError(
      errors.map((e) => {
        const before = text.slice(0, e.offset).split("\n");
        const at = `${file}:${before.length}:${before[before.length - 1].length + 1}`;
        return `${at}: ${printParseErrorCode(e.error)}; the policy config must be JSON (no comments, no trailing commas).`;
      }),
    );
  }
  if (document === null || typeof document !== "object" || Array.isArray(document)) {
    throw new PolicyConfigError([
      `${file}: the policy config must be a JSON object of policy name → level or settings, ` +
        `e.g. {"ecr-scan-on-push": "mandatory"}.`,
    ]);
  }
  return Object.fromEntries(
    Object.entries(document).map(([name, value]) => [name, entryOf(value, `${file}: "${name}"`)]),
  );
}

let ajv: Ajv | undefined;

/** `/a/0/b` and a child key as `a[0].b.child` under `path`. */
function keyPath(path: string, pointer: string, child?: unknown): string {
  const parts = [...pointer.split("/").slice(1), ...(child === undefined ? [] : [String(child)])];
  return parts
    .map((raw) => raw.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce(
      (at, part) => (/^\d+$/.test(part) ? `${at}[${part}]` : at ? `${at}.${part}` : part),
      path,
    );
}

export function validateAgainstSchema(schema: JsonSchema, value: unknown, path: string): string[] {
  // Unknown keywords ignored, as gojsonschema does. Validating the schemas themselves is most
  // of ajv's start-up cost: a test checks the pack's instead.
  ajv ??= new Ajv({
    allErrors: true,
    useDefaults: true,
    verbose: true,
    strict: false,
    validateSchema: false,
    logger: false,
  });
  const validate = ajv.compile(schema);
  return validate(value)
    ? []
    : (validate.errors ?? []).map((error) => {
        const params = error.params as Record<string, unknown>;
        if (error.keyword === "required") {
          return `${keyPath(path, error.instancePath, params.missingProperty)} is required`;
        }
        if (error.keyword === "additionalProperties") {
          return `${keyPath(path, error.instancePath, params.additionalProperty)} is not a setting here`;
        }
        const { allowedValues } = params as { allowedValues?: unknown[] };
        const allowed = allowedValues
          ? `: ${allowedValues.map((v) => JSON.stringify(v)).join(", ")}`
          : "";
        const data: unknown = error.data;
        const shown =
          data !== null && typeof data === "object" ? "" : `, not ${JSON.stringify(data)}`;
        const key = keyPath(path, error.instancePath) || "the settings";
        return `${key} ${error.message ?? `breaks ${error.keyword}`}${allowed}${shown}`;
      });
}

/**
 * The user's config over each policy's level and schema defaults ("all" sets every level, a
 * policy's own entry wins). An unknown policy name is only a warning: the engine ignores it too.
 */
export function reconcilePolicyPackConfig(
  policies: readonly PolicySummary[],
  config: PolicyPackConfig,
  source = "the policy config",
): { config: ReconciledConfig; warnings: string[] } {
  // Names are the user's: read through a Map, never as keys of a plain object.
  const given = new Map(Object.entries(config));
  const all = given.get("all")?.enforcementLevel;
  const problems: string[] = [];
  const result = policies.map(({ name, enforcementLevel, configSchema }) => {
    const mine = given.get(name);
    const properties = { ...mine?.properties };
    if (configSchema !== undefined) {
      // Validating fills in the schema's defaults (ajv's useDefaults).
      const found = validateAgainstSchema({ type: "object", ...configSchema }, properties, "");
      problems.push(...found.map((problem) => `${source}: "${name}": ${problem}.`));
    }
    const level = mine?.enforcementLevel ?? all ?? enforcementLevel;
    return [name, { enforcementLevel: level, properties }] as const;
  });
  if (problems.length > 0) {
    throw new PolicyConfigError(problems);
  }
  const known = policies.map((p) => p.name);
  const warnings = [...given.keys()]
    .filter((name) => name !== "all" && !known.includes(name))
    .map(
      (name) =>
        `${source}: "${name}" is not a policy of this pack; the pack has ${known.join(", ")}; its settings are ignored.`,
    );
  return { config: Object.fromEntries(result), warnings };
}

export type PolicyCostCap = { readonly value: number; readonly level: EnforcementLevel };

/** The bounds a `--policy-pack-config` file sets for `jobs:submit`, read as for the pack. */
export function boundsFromPolicyConfig(
  text: string,
  file: string,
): { bounds: PolicyBounds; costCap?: PolicyCostCap; problems: string[] } {
  const settings = { ...BOUND_SETTING_SCHEMAS, maxCostUsd: COST_CAP_SETTING_SCHEMA };
  const policies = Object.entries({ ...BOUND_POLICIES, maxCostUsd: COST_CAP_POLICY });
  const summaries = policies.map(([setting, name]): PolicySummary => ({
    name,
    // Mandatory, as the pack declares every policy it does not say otherwise of.
    enforcementLevel: "mandatory",
    configSchema: { properties: { [setting]: settings[setting as keyof typeof settings] } },
  }));
  try {
    const { config } = reconcilePolicyPackConfig(
      summaries,
      parsePolicyPackConfig(text, file),
      file,
    );
    const read = Object.fromEntries(
      policies.map(([setting, name]) => [
        setting,
        { value: config[name].properties[setting] as number, level: config[name].enforcementLevel },
      ]),
    );
    const { maxCostUsd: costCap, ...bounds } = read;
    return {
      bounds: bounds as PolicyBounds,
      ...definedOnly({ costCap: costCap.value === undefined ? undefined : costCap }),
      problems: [],
    };
  } catch (err) {
    if (err instanceof PolicyConfigError) {
      return { bounds: DEFAULT_BOUNDS, problems: [...err.problems] };
    }
    throw err;
  }
}
