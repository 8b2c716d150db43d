/**
 * Printing a policy check: a human report laid out like `pulumi preview`'s "Policies"
 * section, and JSON for other tools.
 */
import { PolicyCheckResult, countByLevel } from "./check";
import { Diagnostic } from "./wire";
import { definedOnly } from "../../components/defined";

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
  return JSON.stringify(jsonReport(result, context), null, 2);
}

/** The JSON report as an object. */
function jsonReport(result: PolicyCheckResult, context: ReportContext): object {
  const { mandatory, advisory } = countByLevel(result.diagnostics);
  return {
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
    ...definedOnly({ timings: context.timings || undefined }),
  };
}

/** One stack's outcome in a run over several: its result, or why it could not be checked. */
export type StackVerdict = CheckedStack | { readonly stack: string; readonly error: string };

/** A stack the pack checked. */
export interface CheckedStack {
  readonly stack: string;
  readonly result: PolicyCheckResult;
  /** Seconds from the stack's start to each event. */
  readonly timings?: Timings;
}

type Timings = Readonly<Record<string, number>>;

/** The JSON report of several stacks: `passed` only if every stack passed. */
export function formatJsonStacks(verdicts: readonly StackVerdict[], packSource: string): string {
  return JSON.stringify(
    {
      passed: verdicts.every(
        (v) => "result" in v && countByLevel(v.result.diagnostics).mandatory === 0,
      ),
      stacks: verdicts.map((v) =>
        "result" in v
          ? jsonReport(v.result, { stack: v.stack, packSource, timings: v.timings })
          : { stack: v.stack, passed: false, error: v.error },
      ),
    },
    null,
    2,
  );
}

/**
 * Text for one markdown table cell, shown as written: no line breaks, no raw HTML (an
 * `<bucket>` placeholder would vanish as a tag), and `|`, `*`, `_`, `` ` ``, `[`, `]`, `~`
 * and `\\` escaped (`"s3:*" on "*"` would otherwise turn into emphasis).
 */
export function markdownCell(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/[\\|*_`[\]~]/g, (c) => `\\${c}`)
    .replace(/\r?\n/g, "<br>");
}

/** A verdict's icon and word: ✅ passed, ⚠️ passed (warnings), ❌ failed, ⛔ not checked. */
function verdictOf(verdict: StackVerdict): { icon: string; word: string } {
  if (!("result" in verdict)) {
    return { icon: "⛔", word: "could not be checked" };
  }
  const { mandatory, advisory } = countByLevel(verdict.result.diagnostics);
  if (mandatory > 0) {
    return { icon: "❌", word: "failed" };
  }
  return { icon: advisory > 0 ? "⚠️" : "✅", word: "passed" };
}

/** The violation's own message: the diagnostic's without the policy description before it. */
function ownMessage(d: Diagnostic): string {
  const prefix = `${d.description}\n`;
  return d.description && d.message.startsWith(prefix) ? d.message.slice(prefix.length) : d.message;
}

function markdownStack(verdict: StackVerdict): string[] {
  const { icon, word } = verdictOf(verdict);
  const lines = [`### ${icon} Stack ${markdownCell(verdict.stack)}: ${word}`, ""];
  if (!("result" in verdict)) {
    lines.push(markdownCell(verdict.error), "");
    return lines;
  }
  if (verdict.result.diagnostics.length === 0) {
    lines.push(`No violations in ${verdict.result.resourcesAnalyzed} resources.`, "");
    return lines;
  }
  lines.push("| Policy | Level | Resource | Message |", "| --- | --- | --- | --- |");
  for (const d of verdict.result.diagnostics) {
    const resource = d.urn ? parseUrn(d.urn) : undefined;
    const where = resource
      ? `${markdownCell(resource.name)} (${markdownCell(resource.type)})`
      : "the stack";
    lines.push(
      `| \`${d.policyName}\` | ${d.enforcementLevel} | ${where} | ${markdownCell(ownMessage(d))} |`,
    );
  }
  lines.push("");
  return lines;
}

/**
 * The verdict as markdown for a pull request's job summary or a comment: a heading with the
 * overall verdict, one summary row per stack, then a table per stack of its violations
 * (policy, level, resource, message).
 */
export function formatMarkdown(verdicts: readonly StackVerdict[], packSource: string): string {
  const icons = verdicts.map((v) => verdictOf(v).icon);
  const overall = icons.includes("⛔")
    ? "⛔ could not check every stack"
    : icons.includes("❌")
      ? "❌ failed"
      : icons.includes("⚠️")
        ? "⚠️ passed with warnings"
        : "✅ passed";
  const pack = verdicts.find(
    (v): v is Extract<StackVerdict, { result: PolicyCheckResult }> => "result" in v,
  )?.result.pack;
  const lines = [
    `## Policy check: ${overall}`,
    "",
    `${pack ? `\`${pack.name}@v${pack.version}\` (${markdownCell(packSource)}), ${pack.policies.length} policies, ` : ""}` +
      `run offline against each stack's config. Mandatory violations fail the check.`,
    "",
    "| Stack | Verdict | Mandatory | Advisory | Resources |",
    "| --- | --- | ---: | ---: | ---: |",
  ];
  for (const verdict of verdicts) {
    const { icon, word } = verdictOf(verdict);
    const counts: (number | string)[] = ["–", "–", "–"];
    if ("result" in verdict) {
      const { mandatory, advisory } = countByLevel(verdict.result.diagnostics);
      counts.splice(0, 3, mandatory, advisory, verdict.result.resourcesAnalyzed);
    }
    lines.push(`| ${markdownCell(verdict.stack)} | ${icon} ${word} | ${counts.join(" | ")} |`);
  }
  lines.push("");
  for (const verdict of verdicts) {
    lines.push(...markdownStack(verdict));
  }
  return lines.join("\n").trimEnd() + "\n";
}
