/**
 * Printing a policy check: text laid out like `pulumi preview`'s "Policies" section, JSON
 * for other tools, and markdown for a pull request.
 */
import type { PolicyCheckResult } from "./pack";
import { definedOnly } from "../../components/defined";

/** A stack the pack checked; `timings` are seconds from its start to each event. */
interface CheckedStack {
  readonly stack: string;
  readonly result: PolicyCheckResult;
  readonly timings?: Readonly<Record<string, number>>;
}

/** One stack's outcome: its result, or why it could not be checked. */
export type StackVerdict = CheckedStack | { readonly stack: string; readonly error: string };

/** `urn:pulumi:dev::batchpy::parent$aws:s3/bucket:Bucket::name` → type and name. */
export function parseUrn(urn: string): { type: string; name: string } | undefined {
  const parts = urn.split("::");
  if (parts.length < 4 || !parts[0].startsWith("urn:pulumi:")) {
    return undefined;
  }
  return { type: parts[2].slice(parts[2].lastIndexOf("$") + 1), name: parts.slice(3).join("::") };
}

/** What every format says of a stack: its icon and verdict, and its violations by level. */
export function summarize(verdict: StackVerdict) {
  if (!("result" in verdict)) {
    return { icon: "⛔", word: "could not be checked", mandatory: 0, advisory: 0 };
  }
  const { diagnostics } = verdict.result;
  const count = (level: string) => diagnostics.filter((d) => d.enforcementLevel === level).length;
  const [mandatory, advisory] = [count("mandatory"), count("advisory")];
  if (mandatory > 0) {
    return { icon: "❌", word: "failed", mandatory, advisory };
  }
  return { icon: advisory > 0 ? "⚠️" : "✅", word: "passed", mandatory, advisory };
}

const plural = (n: number, word: string, words = `${word}s`) => `${n} ${n === 1 ? word : words}`;

/** The "Policies" block, then a one-line verdict and the timings. */
function textReport(checked: CheckedStack, packSource: string): string {
  const { result, stack, timings } = checked;
  const { icon, mandatory, advisory } = summarize(checked);
  const lines = [
    "Policies:",
    `    ${icon} ${result.pack.name}@v${result.pack.version} (${packSource})`,
  ];
  for (const d of result.diagnostics) {
    const resource = d.urn ? parseUrn(d.urn) : undefined;
    const where = resource ? `  (${resource.type}: ${resource.name})` : "";
    lines.push(`        - [${d.enforcementLevel}]  ${d.policyName}${where}`);
    lines.push(...d.message.split("\n").map((line) => `          ${line}`));
  }
  const verdict =
    mandatory > 0
      ? `failed: ${plural(mandatory, "mandatory violation")}, ${plural(advisory, "advisory warning")}`
      : `passed${advisory > 0 ? ` with ${plural(advisory, "advisory warning")}` : ""}`;
  const policies = plural(result.pack.policies.length, "policy", "policies");
  lines.push(
    "",
    `Stack ${stack}: ${plural(result.resourcesAnalyzed, "resource")} checked against ${policies}: ${verdict}.`,
  );
  if (timings) {
    const events = Object.entries(timings).map(([e, s]) => `${e} at ${s.toFixed(1)} s`);
    lines.push(`Time: ${events.join(", ")}.`);
  }
  return lines.join("\n");
}

function jsonReport(checked: CheckedStack, source: string): object {
  const { stack, result, timings } = checked;
  const { mandatory, advisory } = summarize(checked);
  return {
    stack,
    pack: { name: result.pack.name, version: result.pack.version, source },
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
    ...definedOnly({ timings }),
  };
}

/**
 * Text for one markdown table cell, shown as written: no line breaks, no raw HTML (a
 * `<bucket>` placeholder would vanish as a tag), markdown's punctuation escaped.
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
  const { icon, word } = summarize(verdict);
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
  const header = ["| Policy | Level | Resource | Message |", "| --- | --- | --- | --- |"];
  return [...heading, ...header, ...rows, ""];
}

/** The overall verdict, a summary row per stack, then a table per stack of its violations. */
function markdownReport(verdicts: readonly StackVerdict[], packSource: string): string {
  const icons = verdicts.map((v) => summarize(v).icon);
  const overall = icons.includes("⛔")
    ? "⛔ could not check every stack"
    : icons.includes("❌")
      ? "❌ failed"
      : icons.includes("⚠️")
        ? "⚠️ passed with warnings"
        : "✅ passed";
  const pack = verdicts.flatMap((v) => ("result" in v ? [v.result.pack] : []))[0];
  const about = pack
    ? `\`${pack.name}@v${pack.version}\` (${markdownCell(packSource)}), ${pack.policies.length} policies, `
    : "";
  const lines = [
    `## Policy check: ${overall}`,
    "",
    `${about}run offline against each stack's config. Mandatory violations fail the check.`,
    "",
    "| Stack | Verdict | Mandatory | Advisory | Resources |",
    "| --- | --- | ---: | ---: | ---: |",
  ];
  for (const verdict of verdicts) {
    const { icon, word, mandatory, advisory } = summarize(verdict);
    const counts =
      "result" in verdict
        ? [mandatory, advisory, verdict.result.resourcesAnalyzed]
        : ["–", "–", "–"];
    lines.push(`| ${markdownCell(verdict.stack)} | ${icon} ${word} | ${counts.join(" | ")} |`);
  }
  lines.push("", ...verdicts.flatMap(markdownStack));
  return lines.join("\n").trimEnd() + "\n";
}

/**
 * The verdicts in the format asked for. Without --all-stacks the one stack was checked (a
 * failure to check it is an error instead); with it, JSON passes only if every stack did.
 */
export function formatVerdicts(
  verdicts: readonly StackVerdict[],
  options: { readonly json: boolean; readonly markdown: boolean; readonly allStacks: boolean },
  packSource: string,
): string {
  if (options.markdown) {
    return markdownReport(verdicts, packSource);
  }
  if (!options.json) {
    const text = (v: StackVerdict) =>
      "result" in v
        ? textReport(v, packSource)
        : `Stack ${v.stack}: could not be checked: ${v.error}`;
    return verdicts.map(text).join("\n\n");
  }
  if (!options.allStacks) {
    return JSON.stringify(jsonReport(verdicts[0] as CheckedStack, packSource), null, 2);
  }
  const stacks = verdicts.map((v) =>
    "result" in v ? jsonReport(v, packSource) : { stack: v.stack, passed: false, error: v.error },
  );
  const passed = verdicts.every((v) => summarize(v).word === "passed");
  return JSON.stringify({ passed, stacks }, null, 2);
}
