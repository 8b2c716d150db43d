import * as assert from "assert";
import {
  attemptJobId,
  attemptsOf,
  coverOf,
  isRetryEntry,
  supersededAttempts,
  type Cover,
} from "../../jobs/state/attempts";
import type { JobDetail } from "../../jobs/aws/api";
import type { LedgerEntry } from "../../jobs/state/ledger";
import { leaveOut, summarize, type Snapshot } from "../../jobs/status";
import { retriedLine } from "../../jobs/output/watch-print";

const entry = (
  jobName: string,
  at: string,
  opts: { of?: string; arraySize?: number } = {},
): LedgerEntry => ({
  v: 1,
  jobName,
  jobId: `id-${jobName}`,
  kind: opts.arraySize !== undefined ? "array" : "single",
  ...(opts.arraySize !== undefined ? { arraySize: opts.arraySize } : {}),
  ...(opts.of !== undefined ? { of: opts.of } : {}),
  hash: "h",
  run: at,
  submittedAt: at,
});

/** big: chunks c0 (10,000) and c1 (one set, a plain job); r1 reran 5 and 10,000; r2 reran 5. */
const big = [
  entry("big-c0", "1", { of: "big", arraySize: 10_000 }),
  entry("big-c1", "1", { of: "big" }),
  entry("big-r1", "2", { of: "big", arraySize: 2 }),
  entry("big-r2", "3", { of: "big" }),
];
const bigCovers = new Map<string, Cover>(
  big.map((e) => [
    e.jobId,
    coverOf(
      e,
      e.jobName === "big-r1"
        ? { indexes: [5, 10_000] }
        : e.jobName === "big-r2"
          ? { setIndex: 5 }
          : {},
    ) as Cover,
  ]),
);

describe("jobs/attempts: which run is each set's latest", function () {
  it("tells retries from chunks and first runs", function () {
    assert.deepStrictEqual(big.map(isRetryEntry), [false, false, true, true]);
    assert.strictEqual(isRetryEntry(entry("big-r1-c0", "2", { of: "big", arraySize: 2 })), true);
    assert.strictEqual(isRetryEntry(entry("big-rerun", "2")), false, "no of: a job of its own");
  });

  it("covers: chunks by their numbers, retries by manifest indexes or BATCHPY_SET_INDEX", function () {
    assert.deepStrictEqual(
      big.map((e) => bigCovers.get(e.jobId)),
      // Set number to the array child that runs it (none for a plain job).
      [
        new Map(Array.from({ length: 10_000 }, (_, i) => [i, i])),
        new Map([[10_000, undefined]]),
        new Map([
          [5, 0],
          [10_000, 1],
        ]),
        new Map([[5, undefined]]),
      ],
    );
    assert.strictEqual(coverOf(big[2], undefined), undefined, "a retry's sets must be read first");
    const job = new Map([["", undefined]]);
    assert.deepStrictEqual(coverOf(entry("job", "1"), {}), job);
    assert.deepStrictEqual(coverOf(entry("job-r1", "2", { of: "job" }), {}), job);
  });

  it("lists a set's runs first to latest, with the child that ran it", function () {
    const runs = (set: number) =>
      attemptsOf(big, bigCovers, "big", set).map((a) => attemptJobId(a));
    assert.deepStrictEqual(runs(5), ["id-big-c0:5", "id-big-r1:0", "id-big-r2"]);
    assert.deepStrictEqual(runs(10_000), ["id-big-c1", "id-big-r1:1"]);
    assert.deepStrictEqual(runs(9_999), ["id-big-c0:9999"]);
    assert.deepStrictEqual(runs(10_001), []);
    // Submission order, not ledger order, decides which is latest.
    assert.deepStrictEqual(attemptsOf([...big].reverse(), bigCovers, "big", 5).map(attemptJobId), [
      "id-big-c0:5",
      "id-big-r1:0",
      "id-big-r2",
    ]);
  });

  it("finds the runs a retry replaced, only among the runs in view", function () {
    const all = supersededAttempts(big, bigCovers);
    assert.deepStrictEqual(all.attempts.map(attemptJobId).sort(), [
      "id-big-c0:5",
      "id-big-c1",
      "id-big-r1:0",
    ]);
    assert.deepStrictEqual([all.sets, all.jobs], [2, 0]);
    // Only the latest retry in view (as with --last): nothing it replaced is counted.
    assert.deepStrictEqual(supersededAttempts(big.slice(3), bigCovers).attempts, []);
    const jobs = [entry("job", "1"), entry("job-r1", "2", { of: "job" })];
    const jobCovers = new Map(jobs.map((e) => [e.jobId, coverOf(e, {}) as Cover]));
    const solo = supersededAttempts(jobs, jobCovers);
    assert.deepStrictEqual(
      [solo.attempts.map(attemptJobId), solo.sets, solo.jobs],
      [["id-job"], 0, 1],
    );
    assert.deepStrictEqual(supersededAttempts(big.slice(0, 2), bigCovers).attempts, []);
  });
});

describe("jobs/status leaveOut and the retried line", function () {
  const snapshot = (): Snapshot =>
    summarize(
      [entry("sw", "1", { arraySize: 4 }), entry("sw-r1", "2", { of: "sw", arraySize: 2 })],
      new Map<string, JobDetail>([
        [
          "id-sw",
          {
            jobId: "id-sw",
            jobName: "sw",
            status: "FAILED",
            arrayProperties: { size: 4, statusSummary: { SUCCEEDED: 2, FAILED: 2 } },
          } as unknown as JobDetail,
        ],
        [
          "id-sw-r1",
          {
            jobId: "id-sw-r1",
            jobName: "sw-r1",
            status: "SUCCEEDED",
            arrayProperties: { size: 2, statusSummary: { SUCCEEDED: 2 } },
          } as unknown as JobDetail,
        ],
      ]),
    );

  it("counts each set once: the replaced runs leave the counts, the rows stay", function () {
    const s = snapshot();
    assert.deepStrictEqual([s.total, s.counts.FAILED], [6, 2]);
    const folded = leaveOut(s, [{ status: "FAILED" }, { status: "FAILED" }], { sets: 2, jobs: 0 });
    assert.deepStrictEqual(
      [folded.counts.SUCCEEDED, folded.counts.FAILED, folded.total, folded.done],
      [4, 0, 4, 4],
    );
    assert.strictEqual(folded.allTerminal, true);
    assert.deepStrictEqual(folded.retried, { sets: 2, jobs: 0, runs: 2 });
    assert.strictEqual(folded.jobs.length, 2);
    // A replaced run Batch no longer returns was a failed one: jobs:retry reran only those.
    assert.strictEqual(leaveOut(s, [{ status: undefined }], { sets: 1, jobs: 0 }).counts.FAILED, 1);
    assert.strictEqual(leaveOut(s, [], { sets: 0, jobs: 0 }), s, "nothing retried: unchanged");
  });

  it("says what was retried", function () {
    assert.strictEqual(
      retriedLine({ sets: 2, jobs: 1, runs: 3 }),
      "2 sets and 1 job retried: each counted once, by its latest run (3 earlier runs left out)",
    );
    assert.strictEqual(
      retriedLine({ sets: 1, jobs: 0, runs: 1 }),
      "1 set retried: each counted once, by its latest run (1 earlier run left out)",
    );
  });
});
