/**
 * Printing a policy check: a human report laid out like `pulumi preview`'s "Policies"
 * section, JSON for other tools, and markdown for a pull request.
 */
import type { Diagnostic, PolicyCheckResult } from "./pack";
import { definedOnly } from "../../components/defined";

/** Seconds from a stack's start to each event, printed last. */
type Timings = Readonly<Record<string, number>>;

/** A stack the pack checked. */
export interface CheckedStack {
  readonly stack: string;
  readonly result: PolicyCheckResult;
  readonly timings?: Timings;
}

/** One stack's outcome in a run over several: its result, or why it could not be checked. */
export type StackVerdict = CheckedStack | { readonly stack: string; readonly error: string };

/** The number of diagnostics at each level that blocks or warns. */
export function countByLevel(diagnostics: readonly Diagnostic[]): {
  mandatory: number;
  advisory: number;
} {
  const count = (level: string) => diagnostics.filter((d) => d.enforcementLevel === level).length;
  return { mandatory: count("mandatory"), advisory: count("advisory") };
}

/** `urn:pulumi:dev::batchpy::parent$aws:s3/bucket:Bucket::name` → type and name. */
export function parseUrn(urn: string): { type: string; name: string } | undefined {
  const parts = urn.split("::");
  if (parts.length < 4 || !parts[0].startsWith("urn:pulumi:")) {
    return undefined;
  }
  return { type: parts[2].slice(parts[2].lastIndexOf("$") + 1), name: parts.slice(3).join("::") };
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

/** The human report: the "Policies" block, then a one-line verdict and the timings. */
export function formatReport(result: PolicyCheckResult, context: ReportContext): string {
  const { mandatory, advisory } = countByLevel(result.diagnostics);
  const { icon } = verdictOf({ stack: context.stack, result });
  const lines = [
    "Policies:",
    `    ${icon} ${result.pack.name}@v${result.pack.version} (${context.packSource})`,
  ];
  for (const d of result.diagnostics) {
    const resource = d.urn ? parseUrn(d.urn) : undefined;
    const where = resource ? `  (${resource.type}: ${resource.name})` : "";
    lines.push(`        - [${d.enforcementLevel}]  ${d.policyName}${where}`);
    lines.push(...d.message.split("\n").map((line) => `          ${line}`));
  }
  const plural = (n: number, word: string, words = `${word}s`) => `${n} ${n === 1 ? word : words}`;
  const verdict =
    mandatory > 0
      ? `failed: ${plural(mandatory, "mandatory violation")}, ${plural(advisory, "advisory warning")}`
      : `passed${advisory > 0 ? ` with ${plural(advisory, "advisory warning")}` : ""}`;
  lines.push(
    "",
    `Stack ${context.stack}: ${plural(result.resourcesAnalyzed, "resource")} checked against ` +
      `${plural(result.pack.policies.length, "policy", "policies")}: ${verdict}.`,
  );
  if (context.timings) {
    const events = Object.entries(context.timings).map(([e, s]) => `${e} at ${s.toFixed(1)} s`);
    lines.push(`Time: ${events.join(", ")}.`);
  }
  return lines.join("\n");
}

export interface ReportContext {
  readonly stack: string;
  /** How the pack is named in the header, e.g. "local: policy". */
  readonly packSource: string;
  readonly timings?: Timings;
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
    ...definedOnly({ timings: context.timings }),
  };
}

/** The JSON report of one stack. */
export function formatJson(result: PolicyCheckResult, context: ReportContext): string {
  return JSON.stringify(jsonReport(result, context), null, 2);
}

/** The JSON report of several stacks: `passed` only if every stack passed. */
export function formatJsonStacks(verdicts: readonly StackVerdict[], packSource: string): string {
  const stacks = verdicts.map((v) =>
    "result" in v
      ? jsonReport(v.result, { stack: v.stack, packSource, timings: v.timings })
      : { stack: v.stack, passed: false, error: v.error },
  );
  return JSON.stringify(
    { passed: verdicts.every((v) => verdictOf(v).word === "passed"), stacks },
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

/** One stack's heading and its table of violations (policy, level, resource, message). */
function markdownStack(verdict: StackVerdict): string[] {
  const { icon, word } = verdictOf(verdict);
  const heading = [`### ${icon} Stack ${markdownCell(verdict.stack)}: ${word}`, ""];
  if (!("result" in verdict)) {
    return [...heading, markdownCell(verdict.error), ""];
  }
  const { diagnostics, resourcesAnalyzed } = verdict.result;
  if (diagnostics.length === 0) {
    return [...heading, `No violations in ${resourcesAnalyzed} resources.`, ""];
  }
  const rows = diagnostics.map((d) => {
    const resource = d.urn ? parseUrn(d.urn) : undefined;
    const where = resource
      ? `${markdownCell(resource.name)} (${markdownCell(resource.type)})`
      : "the stack";
    // The violation's own message, without the policy's description before it.
    const prefix = `${d.description}\n`;
    const own =
      d.description && d.message.startsWith(prefix) ? d.message.slice(prefix.length) : d.message;
    return `| \`${d.policyName}\` | ${d.enforcementLevel} | ${where} | ${markdownCell(own)} |`;
  });
  return [
    ...heading,
    "| Policy | Level | Resource | Message |",
    "| --- | --- | --- | --- |",
    ...rows,
    "",
  ];
}

/**
 * The verdict as markdown for a pull request's job summary or a comment: a heading with the
 * overall verdict, one summary row per stack, then a table per stack of its violations.
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
  const pack = verdicts.flatMap((v) => ("result" in v ? [v.result.pack] : []))[0];
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
  lines.push("", ...verdicts.flatMap(markdownStack));
  return lines.join("\n").trimEnd() + "\n";
}

/**
 * The verdicts in the format asked for. One stack without --all-stacks is always a checked
 * one (a failure to check it is reported as an error instead).
 */
export function formatVerdicts(
  verdicts: readonly StackVerdict[],
  options: { readonly format: "text" | "json" | "markdown"; readonly allStacks: boolean },
  packSource: string,
): string {
  if (options.format === "markdown") {
    return formatMarkdown(verdicts, packSource);
  }
  if (options.format === "json") {
    if (!options.allStacks) {
      const [{ stack, result, timings }] = verdicts as CheckedStack[];
      return formatJson(result, { stack, packSource, timings });
    }
    return formatJsonStacks(verdicts, packSource);
  }
  return verdicts
    .map((v) =>
      "result" in v
        ? formatReport(v.result, { stack: v.stack, packSource, timings: v.timings })
        : `Stack ${v.stack}: could not be checked: ${v.error}`,
    )
    .join("\n\n");
}
