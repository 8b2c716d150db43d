/**
 * Resources and diagnostics as the Analyzer gRPC service carries them
 * (`pulumi/analyzer.proto`), built the way the engine builds them: `Analyze` gets one
 * resource's inputs, `AnalyzeStack` every resource's outputs with its parent and
 * dependencies.
 */
import * as analyzerPb from "@pulumi/pulumi/proto/analyzer_pb";
import { Struct } from "./grpc";
import { definedOnly } from "../../components/defined";

/** One resource to analyze: what the program registered (see evaluate.ts's MockedResource). */
export interface AnalyzedResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  /** The inputs the provider receives; unknown values as the engine's sentinel strings. */
  readonly inputs: Record<string, unknown>;
  /** Inputs plus computed outputs, as `AnalyzeStack` sees them. @default inputs */
  readonly state?: Record<string, unknown>;
  readonly parent?: string;
  readonly dependencies?: readonly string[];
  readonly propertyDependencies?: Readonly<Record<string, readonly string[]>>;
}

export type EnforcementLevel = "advisory" | "mandatory" | "remediate" | "disabled";
type Severity = "low" | "medium" | "high" | "critical";

/** One policy violation, as the pack reported it. */
export interface Diagnostic {
  readonly policyName: string;
  readonly policyPackName: string;
  readonly policyPackVersion: string;
  /** The policy's description. */
  readonly description: string;
  /** The description, a newline, and the violation's own message. */
  readonly message: string;
  readonly enforcementLevel: EnforcementLevel;
  /** The resource the violation is about (the analyzed one if the policy named none). */
  readonly urn?: string;
  readonly severity?: Severity;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A value as protobuf's `Struct` can carry it: `undefined` properties dropped (the engine
 * has no such value), `undefined` list items as null, anything else not JSON refused.
 */
export function toJson(value: unknown, path = "$"): Json | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (value === null || typeof value === "boolean" || typeof value === "string") {
    return value;
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new Error(`${path} is ${value}, which a resource property cannot hold.`);
    }
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((item, i) => toJson(item, `${path}[${i}]`) ?? null);
  }
  if (typeof value === "object") {
    const result: { [key: string]: Json } = {};
    for (const [key, item] of Object.entries(value)) {
      const converted = toJson(item, `${path}.${key}`);
      if (converted !== undefined) {
        result[key] = converted;
      }
    }
    return result;
  }
  throw new Error(`${path} is a ${typeof value}, which a resource property cannot hold.`);
}

function struct(properties: Record<string, unknown>, urn: string): Struct {
  return Struct.fromJavaScript(toJson(properties, urn) as { [key: string]: Json });
}

/** Resource options as the engine sends them; nothing the program sets is mocked beyond parent. */
function resourceOptions(resource: AnalyzedResource): analyzerPb.AnalyzerResourceOptions {
  const options = new analyzerPb.AnalyzerResourceOptions();
  options.setProtect(false);
  options.setIgnorechangesList([]);
  options.setAliasesList([]);
  options.setAdditionalsecretoutputsList([]);
  options.setCustomtimeouts(new analyzerPb.AnalyzerResourceOptions.CustomTimeouts());
  if (resource.parent) {
    options.setParent(resource.parent);
  }
  return options;
}

/** The `Analyze` request for one resource: its inputs. */
export function analyzeRequest(resource: AnalyzedResource): analyzerPb.AnalyzeRequest {
  const request = new analyzerPb.AnalyzeRequest();
  request.setType(resource.type);
  request.setUrn(resource.urn);
  request.setName(resource.name);
  request.setProperties(struct(resource.inputs, resource.urn));
  request.setOptions(resourceOptions(resource));
  return request;
}

/** One resource of an `AnalyzeStack` request: its outputs, parent and dependencies. */
export function analyzerResource(resource: AnalyzedResource): analyzerPb.AnalyzerResource {
  const message = new analyzerPb.AnalyzerResource();
  message.setType(resource.type);
  message.setUrn(resource.urn);
  message.setName(resource.name);
  message.setProperties(struct({ ...resource.inputs, ...resource.state }, resource.urn));
  message.setOptions(resourceOptions(resource));
  if (resource.parent) {
    message.setParent(resource.parent);
  }
  message.setDependenciesList([...(resource.dependencies ?? [])]);
  const dependencies = message.getPropertydependenciesMap();
  for (const [key, urns] of Object.entries(resource.propertyDependencies ?? {})) {
    const entry = new analyzerPb.AnalyzerPropertyDependencies();
    entry.setUrnsList([...urns]);
    dependencies.set(key, entry);
  }
  return message;
}

export function analyzeStackRequest(
  resources: readonly AnalyzedResource[],
): analyzerPb.AnalyzeStackRequest {
  const request = new analyzerPb.AnalyzeStackRequest();
  request.setResourcesList(resources.map(analyzerResource));
  return request;
}

const LEVELS: Record<number, EnforcementLevel> = {
  [analyzerPb.EnforcementLevel.ADVISORY]: "advisory",
  [analyzerPb.EnforcementLevel.MANDATORY]: "mandatory",
  [analyzerPb.EnforcementLevel.REMEDIATE]: "remediate",
  [analyzerPb.EnforcementLevel.DISABLED]: "disabled",
};

export function enforcementLevelName(level: analyzerPb.EnforcementLevel): EnforcementLevel {
  const name = LEVELS[level];
  if (name === undefined) {
    throw new Error(`The policy pack sent an unknown enforcement level ${level}.`);
  }
  return name;
}

export function enforcementLevelValue(level: EnforcementLevel): analyzerPb.EnforcementLevel {
  const entry = Object.entries(LEVELS).find(([, name]) => name === level);
  if (entry === undefined) {
    throw new Error(`Unknown enforcement level '${level}'.`);
  }
  return Number(entry[0]) as analyzerPb.EnforcementLevel;
}

const SEVERITIES: Record<number, Severity | undefined> = {
  [analyzerPb.PolicySeverity.POLICY_SEVERITY_LOW]: "low",
  [analyzerPb.PolicySeverity.POLICY_SEVERITY_MEDIUM]: "medium",
  [analyzerPb.PolicySeverity.POLICY_SEVERITY_HIGH]: "high",
  [analyzerPb.PolicySeverity.POLICY_SEVERITY_CRITICAL]: "critical",
};

/**
 * A diagnostic from an `AnalyzeResponse`. A resource policy that names no URN is about the
 * resource analyzed, as the engine reads it.
 */
export function fromDiagnostic(d: analyzerPb.AnalyzeDiagnostic, analyzedUrn?: string): Diagnostic {
  const urn = d.getUrn() || analyzedUrn;
  const severity = SEVERITIES[d.getSeverity()];
  return {
    policyName: d.getPolicyname(),
    policyPackName: d.getPolicypackname(),
    policyPackVersion: d.getPolicypackversion(),
    description: d.getDescription(),
    message: d.getMessage(),
    enforcementLevel: enforcementLevelName(d.getEnforcementlevel()),
    ...definedOnly({ urn: urn || undefined, severity: severity || undefined }),
  };
}
