/** The cost bound of a submit or dry run, for humans (stderr) or as --json numbers. */
import type { CostBound, SubmissionBound } from "../report/cost-bound";
import { formatBoundUsd, formatNumber } from "./numbers";
import { formatDuration } from "./report-print";
import type { Io } from "./visible";
import { visible } from "./visible";

const LEFT_OUT =
  "time before RUNNING (Batch's attempt timeout counts from RUNNING, so instance start and " +
  "image pull are not bounded by it), instances left idle, EBS volumes, S3 requests and " +
  "storage, CloudWatch Logs and data transfer";

const SHOWN = 20;

export function costJson(cost: CostBound | undefined): object | undefined {
  return cost && { ...cost, leftOut: LEFT_OUT };
}

export function printCostBound(cost: CostBound, io: Io): void {
  const lines = [
    `cost bound: the most the jobs' run time can cost (${cost.basis})`,
    ...cost.submissions.slice(0, SHOWN).map((b) => `  ${submissionLine(b)}`),
    ...(cost.submissions.length > SHOWN
      ? [`  ... and ${formatNumber(cost.submissions.length - SHOWN)} more (--json lists all)`]
      : []),
    `  total: at most ${formatBoundUsd(cost.usd)}` +
      (cost.unpriced > 0
        ? ` for the priced submission(s); ${formatNumber(cost.unpriced)} without a bound (above)`
        : ` for ${formatNumber(cost.submissions.length)} submission(s)`),
    `  left out: ${LEFT_OUT}`,
    `  time: ${timeLine(cost)}`,
  ];
  io.stderr.write(lines.map((l) => `${visible(l)}\n`).join(""));
}

function submissionLine(b: SubmissionBound): string {
  const name = `${b.jobName} (${b.file})`;
  if (b.usd === undefined || b.attempts === undefined || b.timeoutSeconds === undefined) {
    return `${name}: no bound: ${b.noPrice ?? "unknown"}`;
  }
  const runs = b.children * b.attempts;
  const perHour = runs > 0 ? b.usd / ((runs * b.timeoutSeconds) / 3600) : 0;
  const size = `${b.vcpus} vCPU, ${formatNumber(b.memoryMiB ?? 0)} MiB`;
  const on =
    b.instanceType !== undefined
      ? `: the larger of its vCPU and memory shares of ${b.instanceType}, the dearest type that holds it`
      : "";
  return (
    `${name}: ${formatNumber(b.children)} × ${b.attempts} attempt(s) × ` +
    `${formatDuration(b.timeoutSeconds)} × $${perHour.toFixed(4)}/h (${size}${on}) ` +
    `= at most ${formatBoundUsd(b.usd)}`
  );
}

function timeLine(cost: CostBound): string {
  const longest = "the longest job's attempts one after another";
  const width =
    cost.maxVcpus !== undefined
      ? `${cost.vcpuHours.toFixed(1)} vCPU-hours over the compute environment's maxVcpus ` +
        `${formatNumber(cost.maxVcpus)}, or ${longest}`
      : `${longest}; the stack predates its "jobLimits" output, so its maxVcpus is not ` +
        "known: run `pulumi up` to add it";
  return (
    `if every attempt runs to its timeout, the whole takes at least ` +
    `${formatDuration(cost.minHours * 3600)} at full width (${width})`
  );
}
