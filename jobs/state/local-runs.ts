/**
 * What `jobs:submit --locally` ran, for `jobs:report --locally` (Batch keeps this history for
 * cloud jobs): one JSON line per run in `<local root>/.runs.jsonl`, beside results/ and logs/.
 */
import * as fs from "fs";
import * as path from "path";
import { readIfAny, unlessMissing } from "./write-whole";
import type { SourceObject } from "./sync";
import { jsonValue } from "../input/json-source";
import { z } from "zod";
import { groupBy } from "../status";
import type { LedgerEntry } from "./ledger";

const LOCAL_RUNS_FILE = ".runs.jsonl";

export interface LocalRunRecord {
  readonly v: 1;
  /** One id per `jobs:submit --locally`, so `--last` picks the latest. */
  readonly run: string;
  readonly job: string;
  readonly index?: number;
  /** The job's variables with the set applied (the tool's own variables left out). */
  readonly params: Readonly<Record<string, string>>;
  /** When the submit started (the wait for a free slot is its queue time), epoch ms. */
  readonly createdAt: number;
  readonly startedAt: number;
  readonly stoppedAt: number;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The last `run_job: error:` line, or why a step did not run (a parent failed). */
  readonly reason?: string;
  /** An array sweep child's manifest key, for a step that reads the sweep's results later. */
  readonly manifest?: string;
  readonly vcpus?: number;
  readonly memoryMiB?: number;
  readonly gpus?: number;
}

/** Every file under `root/<dir>` (results/, logs/) as a source object with a `/`-separated key. */
export function listLocal(root: string, dirs: readonly string[]): SourceObject[] {
  return dirs.flatMap((dir) =>
    unlessMissing(() => fs.readdirSync(path.join(root, dir), { recursive: true }), []).flatMap(
      (name) => {
        const p = path.join(root, dir, String(name));
        const s = fs.lstatSync(p);
        const key = path.relative(root, p).split(path.sep).join("/");
        return s.isFile() ? [{ key, size: s.size, lastModified: s.mtime }] : [];
      },
    ),
  );
}

/** One write per record: runs finish concurrently. */
export function appendLocalRun(root: string, record: LocalRunRecord): void {
  fs.mkdirSync(root, { recursive: true });
  fs.appendFileSync(path.join(root, LOCAL_RUNS_FILE), `${JSON.stringify(record)}\n`);
}

const readable = z.object({
  v: z.literal(1),
  job: z.string(),
  run: z.string(),
  startedAt: z.number(),
  stoppedAt: z.number(),
  createdAt: z.number(),
  params: z.object({}),
});

/** Every readable record; a line torn by a killed run is skipped and counted. */
export function readLocalRuns(root: string): { records: LocalRunRecord[]; skipped: number } {
  const text = readIfAny(path.join(root, LOCAL_RUNS_FILE)) ?? "";
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  const records = lines
    .map((line) => jsonValue(line)?.value)
    .filter((v): v is LocalRunRecord => readable.safeParse(v).success);
  return { records, skipped: lines.length - records.length };
}

/**
 * What the latest local run of a job or sweep left, for a step a later run depends on: a
 * ledger entry for the dependency check (a sweep as one array job of its sets, what N_TO_N
 * asks of a parent), the set numbers that failed (undefined: a job) and its manifests.
 */
export interface LocalParent extends LedgerEntry {
  readonly failed: ReadonlySet<number | undefined>;
  readonly manifests: readonly string[];
}

/** By job or sweep name, what the latest submit that ran it left. */
export function latestLocalRuns(records: readonly LocalRunRecord[]): Map<string, LocalParent> {
  const last = new Map(records.map((r) => [r.job, r.run]));
  const latest = groupBy(
    records.filter((r) => last.get(r.job) === r.run),
    (r) => r.job,
  );
  return new Map(
    [...latest].map(([jobName, mine]) => {
      const { run, index } = mine[0];
      const parent: LocalParent = {
        v: 1,
        jobName,
        jobId: `local:${run}`,
        run,
        submittedAt: run,
        hash: "",
        ...(index !== undefined ? { kind: "array", arraySize: mine.length } : { kind: "single" }),
        failed: new Set(mine.filter((r) => r.exitCode !== 0).map((r) => r.index)),
        manifests: [...new Set(mine.flatMap((r) => r.manifest ?? []))],
      };
      return [jobName, parent];
    }),
  );
}

/** The entrypoint's last `run_job: error: ...` line in a run's output, without the prefix. */
export function entrypointError(output: string): string | undefined {
  const lines = output.split("\n").filter((l) => l.startsWith("run_job: error: "));
  return lines.length > 0 ? lines[lines.length - 1].slice("run_job: error: ".length) : undefined;
}
