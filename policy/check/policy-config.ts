/**
 * `--policy-pack-config`, read as the engine reads it (docs/policy.md); `jobs:submit` reads its
 * bounds from it too.
 */
import Ajv, { ErrorObject } from "ajv";
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

type PolicyEntry = { enforcementLevel?: EnforcementLevel; properties: Record<string, unknown> };
/** Policy name (or "all") → settings. */
export type PolicyPackConfig = Record<string, PolicyEntry>;
export type ReconciledConfig = ReturnType<typeof reconcilePolicyPackConfig>["config"];
/** Draft-07, as the engine's gojsonschema reads it. */
export type JsonSchema = Readonly<Record<string, unknown>>;
export type PolicySummary = {
  name: string;
  enforcementLevel: EnforcementLevel;
  configSchema?: { properties: Record<string, JsonSchema>; required?: string[] };
};

export class PolicyConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
  }
}

/** `"advisory"` or `{ "enforcementLevel": "advisory", ...settings }`. */
function entryOf(value: unknown, where: string): PolicyEntry {
  const entry = typeof value === "string" ? { enforcementLevel: value } : value;
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    throw new PolicyConfigError([
      `${where} is ${JSON.stringify(value)}; give an enforcement level ("advisory") or an ` +
        `object of settings ({"enforcementLevel": "advisory", ...}).`,
    ]);
  }
  const { enforcementLevel: level, ...properties } = entry as Pick<PolicyEntry, "enforcementLevel">;
  if (level !== undefined && !ENFORCEMENT_LEVELS.includes(level)) {
    const at = typeof value === "string" ? where : `${where}.enforcementLevel`;
    throw new PolicyConfigError([
      `${at}: ${JSON.stringify(level)} is not an enforcement level; use one of ` +
        `${ENFORCEMENT_LEVELS.join(", ")}.`,
    ]);
  }
  return { ...definedOnly({ enforcementLevel: level }), properties };
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

/** An ajv error as `a[0].b must be ...`, its key under `path`. */
function problem({ keyword, instancePath, params, data, message }: ErrorObject, path: string) {
  const { missingProperty, additionalProperty, allowedValues } = params as Record<string, unknown>;
  const child = keyword === "required" ? missingProperty : additionalProperty;
  const pointer = child === undefined ? instancePath : `${instancePath}/${String(child)}`;
  const key = pointer
    .split("/")
    .slice(1)
    .map((raw) => raw.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((at, p) => (/^\d+$/.test(p) ? `${at}[${p}]` : at ? `${at}.${p}` : p), path);
  if (child !== undefined) {
    return `${key} ${keyword === "required" ? "is required" : "is not a setting here"}`;
  }
  const allowed = Array.isArray(allowedValues)
    ? `: ${allowedValues.map((v) => JSON.stringify(v)).join(", ")}`
    : "";
  const shown = data !== null && typeof data === "object" ? "" : `, not ${JSON.stringify(data)}`;
  return `${key || "the settings"} ${message}${allowed}${shown}`;
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
  return validate(value) ? [] : validate.errors!.map((error) => problem(error, path));
}

/**
 * The user's config over each policy's level and schema defaults ("all" sets every level, a
 * policy's own entry wins). An unknown policy name is only a warning: the engine ignores it too.
 */
export function reconcilePolicyPackConfig(
  policies: readonly PolicySummary[],
  config: PolicyPackConfig,
  source = "the policy config",
) {
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
  let config: ReconciledConfig;
  try {
    config = reconcilePolicyPackConfig(summaries, parsePolicyPackConfig(text, file), file).config;
  } catch (err) {
    if (err instanceof PolicyConfigError) {
      return { bounds: DEFAULT_BOUNDS, problems: [...err.problems] };
    }
    throw err;
  }
  const read = ([setting, name]: [string, string]) => {
    const { properties, enforcementLevel: level } = config[name];
    return [setting, { value: properties[setting] as number, level }] as const;
  };
  const { maxCostUsd: costCap, ...bounds } = Object.fromEntries(policies.map(read));
  const capped = costCap.value === undefined ? {} : { costCap };
  return { bounds: bounds as PolicyBounds, ...capped, problems: [] };
}
