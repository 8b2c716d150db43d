/**
 * Printing a policy check: a human report laid out like `pulumi preview`'s "Policies"
 * section, and JSON for other tools.
 */
import { PolicyCheckResult, countByLevel } from "./check";
import { Diagnostic } from "./wire";

/** `urn:pulumi:dev::batchpy::parent$aws:s3/bucket:Bucket::name` → type and name. */
export function parseUrn(urn: string): { type: string; name: string } | undefined {
  const parts = urn.split("::");
  if (parts.length < 4 || !parts[0].startsWith("urn:pulumi:")) {
    return undefined;
  }
  const qualifiedType = parts[2];
  return {
    type: qualifiedType.slice(qualifiedType.lastIndexOf("$") + 1),
    name: parts.slice(3).join("::"),
  };
}

function formatDiagnostic(d: Diagnostic): string[] {
  const resource = d.urn ? parseUrn(d.urn) : undefined;
  const where = resource ? `  (${resource.type}: ${resource.name})` : "";
  const lines = [`        - [${d.enforcementLevel}]  ${d.policyName}${where}`];
  for (const line of d.message.split("\n")) {
    lines.push(`          ${line}`);
  }
  return lines;
}

export interface ReportContext {
  readonly stack: string;
  /** How the pack is named in the header, e.g. "local: policy". */
  readonly packSource: string;
  /** Seconds from the start to each event, printed last. */
  readonly timings?: Readonly<Record<string, number>>;
}

/** The human report: the "Policies" block, then a one-line verdict. */
export function formatReport(result: PolicyCheckResult, context: ReportContext): string {
  const { mandatory, advisory } = countByLevel(result.diagnostics);
  const icon = mandatory > 0 ? "❌" : advisory > 0 ? "⚠️" : "✅";
  const lines = [
    "Policies:",
    `    ${icon} ${result.pack.name}@v${result.pack.version} (${context.packSource})`,
  ];
  for (const d of result.diagnostics) {
    lines.push(...formatDiagnostic(d));
  }
  lines.push("");
  const plural = (n: number, word: string, words = `${word}s`) => `${n} ${n === 1 ? word : words}`;
  const verdict =
    mandatory > 0
      ? `failed: ${plural(mandatory, "mandatory violation")}, ${plural(advisory, "advisory warning")}`
      : `passed${advisory > 0 ? ` with ${plural(advisory, "advisory warning")}` : ""}`;
  lines.push(
    `Stack ${context.stack}: ${plural(result.resourcesAnalyzed, "resource")} checked against ` +
      `${plural(result.pack.policies.length, "policy", "policies")}: ${verdict}.`,
  );
  if (context.timings) {
    lines.push(
      `Time: ${Object.entries(context.timings)
        .map(([event, seconds]) => `${event} at ${seconds.toFixed(1)} s`)
        .join(", ")}.`,
    );
  }
  return lines.join("\n");
}

/** The JSON report. */
export function formatJson(result: PolicyCheckResult, context: ReportContext): string {
  const { mandatory, advisory } = countByLevel(result.diagnostics);
  return JSON.stringify(
    {
      stack: context.stack,
      pack: { name: result.pack.name, version: result.pack.version, source: context.packSource },
      passed: mandatory === 0,
      mandatory,
      advisory,
      resourcesAnalyzed: result.resourcesAnalyzed,
      policies: result.pack.policies.map((p) => ({
        name: p.name,
        enforcementLevel: result.config[p.name]?.enforcementLevel ?? p.enforcementLevel,
        config: result.config[p.name]?.properties ?? {},
      })),
      diagnostics: result.diagnostics,
      warnings: result.warnings,
      ...(context.timings ? { timings: context.timings } : {}),
    },
    null,
    2,
  );
}
