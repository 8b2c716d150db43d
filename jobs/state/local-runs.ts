/** What `jobs:submit --locally` ran, one JSON line per run in `<local root>/.runs.jsonl`. */
import * as fs from "fs";
import * as path from "path";
import { readIfAny } from "./write-whole";
import { isMissingFile, orFallback } from "../errors";
import { jsonValue } from "../input/json-source";
import { z } from "zod";
import { groupBy } from "../status";
import type { LedgerEntry } from "./ledger";

const LOCAL_RUNS_FILE = ".runs.jsonl";

const localRun = z.object({
  v: z.literal(1),
  run: z.string(),
  job: z.string(),
  index: z.number().optional(),
  /** With the set applied, the tool's own left out. */
  params: z.record(z.string(), z.string()),
  /** When the submit started (the wait for a free slot is its queue time), epoch ms. */
  createdAt: z.number(),
  startedAt: z.number(),
  stoppedAt: z.number(),
  exitCode: z.number().nullable(),
  signal: z.string().nullable(),
  reason: z.string().optional(),
  manifest: z.string().optional(),
  vcpus: z.number().optional(),
  memoryMiB: z.number().optional(),
  gpus: z.number().optional(),
});
export type LocalRunRecord = Readonly<z.infer<typeof localRun>>;

export function listLocal(root: string, dirs: readonly string[]) {
  return dirs.flatMap((dir) =>
    orFallback(
      () => fs.readdirSync(path.join(root, dir), { recursive: true }),
      [],
      isMissingFile,
    ).flatMap((name) => {
      const p = path.join(root, dir, String(name));
      const s = fs.lstatSync(p);
      const key = path.relative(root, p).split(path.sep).join("/");
      return s.isFile() ? [{ key, size: s.size, lastModified: s.mtime }] : [];
    }),
  );
}

/** One write per record: runs finish concurrently. */
export function appendLocalRun(root: string, record: LocalRunRecord): void {
  fs.mkdirSync(root, { recursive: true });
  fs.appendFileSync(path.join(root, LOCAL_RUNS_FILE), `${JSON.stringify(record)}\n`);
}

/** A line torn by a killed run is skipped and counted. */
export function readLocalRuns(root: string): { records: LocalRunRecord[]; skipped: number } {
  const text = readIfAny(path.join(root, LOCAL_RUNS_FILE)) ?? "";
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  const records = lines
    .map((line) => jsonValue(line)?.value)
    .filter((v): v is LocalRunRecord => localRun.safeParse(v).success);
  return { records, skipped: lines.length - records.length };
}

/** A sweep is one array job of its sets, as N_TO_N asks of a parent; a job's set is undefined. */
export interface LocalParent extends LedgerEntry {
  readonly failed: ReadonlySet<number | undefined>;
  readonly manifests: readonly string[];
}

export function latestLocalRuns(records: readonly LocalRunRecord[]): Map<string, LocalParent> {
  return new Map(
    [...groupBy(records, (r) => r.job)].map(([jobName, all]) => {
      const { run } = all[all.length - 1];
      const mine = all.filter((r) => r.run === run);
      const { index } = mine[0];
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

export function entrypointError(output: string): string | undefined {
  const lines = output.split("\n").filter((l) => l.startsWith("run_job: error: "));
  return lines.length > 0 ? lines[lines.length - 1].slice("run_job: error: ".length) : undefined;
}
