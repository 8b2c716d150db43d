/**
 * What `jobs:report` reads, in-process against the local Batch fake and the in-memory S3
 * (which counts requests): every report reads afresh, a running sweep's metrics as they
 * change. And the metrics lines of the job log, which spare one GetObject per child when
 * their text is what S3 holds.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { FakeBatch, LIFECYCLE } from "../helpers/fake-batch";
import { MemoryS3 } from "../helpers/fake-s3-memory";
import { FakeCloudWatchLogs } from "../helpers/fake-cloudwatch-logs";
import { METRICS, STATE_PREFIX } from "../../components/contract";
import {
  STACK_OUTPUTS,
  awsEnv,
  runJobs,
  setProcessEnv,
  tempDir,
  writeOutputs,
} from "../helpers/jobs-harness";

interface Row {
  name: string;
  status: string;
  metrics: Record<string, number | string>;
  files: { key: string; size: number }[];
}

describe("jobs report: what it reads", function () {
  let batch: FakeBatch;
  let s3: MemoryS3;
  let logs: FakeCloudWatchLogs;
  let restoreEnv: () => void;
  let dir: string;
  let outputs: string;
  let state: string;

  beforeEach(async function () {
    batch = await FakeBatch.start({
      autoAdvance: false,
      outcome: ({ index }) =>
        index === 2 ? { status: "FAILED", exitCode: 3 } : { status: "SUCCEEDED" },
    });
    s3 = await MemoryS3.start(STACK_OUTPUTS.bucketName);
    logs = await FakeCloudWatchLogs.start();
    logs.createLogGroup(STACK_OUTPUTS.logGroupName);
    restoreEnv = setProcessEnv(awsEnv({ batch: batch.url, s3: s3.url, logs: logs.url }));
    dir = tempDir("report-reads");
    outputs = writeOutputs(dir, STACK_OUTPUTS);
    state = path.join(dir, "state");
    fs.writeFileSync(
      path.join(dir, "sw.json"),
      JSON.stringify({
        jobName: "sw",
        grid: { var_a: [0, 1, 2] },
        base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
      }),
    );
    const r = await jobs("submit", "sw.json");
    assert.strictEqual(r.code, 0, r.stderr);
  });
  afterEach(async function () {
    restoreEnv();
    await batch.close();
    await s3.close();
    await logs.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function jobs(...args: string[]) {
    return runJobs([...args, "--outputs", outputs, "--state-dir", state], { cwd: dir });
  }
  /** Reads of the bucket's data: the stack's claims (jobs/aws/claims.ts) are not the report's. */
  const reads = (...ops: string[]): number =>
    s3.log.filter((r) => ops.includes(r.op) && !r.scope.startsWith(STATE_PREFIX)).length;
  const s3Reads = (): number => reads("ListObjectsV2", "GetObject");
  const writeMetrics = (product: number): void => {
    for (const i of [0, 1]) {
      s3.put(`results/sw/${i}/metrics.json`, JSON.stringify({ product: product + i }));
      s3.put(`results/sw/${i}/r.p`, "pickle");
    }
  };
  /** The report's rows, and how many S3 reads it made. */
  async function report(...extra: string[]): Promise<{ rows: Row[]; reads: number }> {
    const before = s3Reads();
    const r = await jobs("report", "--json", ...extra);
    assert.strictEqual(r.code, 0, r.stderr);
    return { rows: (JSON.parse(r.stdout) as { rows: Row[] }).rows, reads: s3Reads() - before };
  }
  it("reads a finished sweep's children, listing and metrics at every report", async function () {
    batch.finishAll();
    writeMetrics(10);
    const first = await report();
    // One listing, the manifest and two metrics files.
    assert.strictEqual(first.reads, 4);
    assert.deepStrictEqual(
      first.rows.map((r) => [r.name, r.status, r.metrics.product, r.files.length]),
      [
        ["sw[2]", "FAILED", undefined, 0],
        ["sw[0]", "SUCCEEDED", 10, 2],
        ["sw[1]", "SUCCEEDED", 11, 2],
      ],
    );
    const describes = batch.count("describejobs");
    // The parent, then its children; --refresh is accepted and changes nothing.
    for (const extra of [[], ["--refresh"]]) {
      const again = await report(...extra);
      assert.strictEqual(again.reads, 4);
      assert.deepStrictEqual(again.rows, first.rows);
    }
    assert.strictEqual(batch.count("describejobs") - describes, 4);
  });

  it("shows a running sweep's metrics as they change, then the finished ones", async function () {
    batch.advanceAll(LIFECYCLE.indexOf("RUNNING"));
    writeMetrics(10);
    const running = await report();
    assert.deepStrictEqual(
      running.rows.map((r) => [r.status, r.metrics.product]),
      [
        ["RUNNING", 10],
        ["RUNNING", 11],
        ["RUNNING", undefined],
      ],
    );
    writeMetrics(20);
    const later = await report();
    assert.strictEqual(later.reads, 4);
    assert.deepStrictEqual(
      later.rows.map((r) => r.metrics.product),
      [20, 21, undefined],
    );
    batch.finishAll();
    writeMetrics(30);
    const finished = await report();
    assert.deepStrictEqual(
      finished.rows.map((r) => [r.name, r.metrics.product]),
      [
        ["sw[2]", undefined],
        ["sw[0]", 30],
        ["sw[1]", 31],
      ],
    );
  });

  it("shows the children's own status whatever the parent says", async function () {
    batch.advanceAll(LIFECYCLE.indexOf("RUNNING"));
    // Not what Batch does (a parent ends once its children have), but if it ever did.
    const [parent] = batch.named("sw");
    parent.status = "FAILED";
    const r = await report();
    assert.deepStrictEqual(
      r.rows.map((x) => x.status),
      ["RUNNING", "RUNNING", "RUNNING"],
    );
  });

  /** What the entrypoint prints once child `i` has uploaded its metrics.json. */
  const logMetrics = (i: number, text: string, line = METRICS.logLinePrefix + text): void =>
    logs.put(STACK_OUTPUTS.logGroupName, `batchpy/default/child-${i}`, ["6 * 2 = 12", line]);
  const gets = (): number => reads("GetObject");
  const filterCalls = (): number =>
    logs.requests.filter((r) => r.target.endsWith("FilterLogEvents")).length;

  it("takes metrics from the job log's lines, each only when S3's ETag says it is the file", async function () {
    batch.finishAll();
    writeMetrics(10);
    logMetrics(0, JSON.stringify({ product: 10 }));
    // A line whose text is not what S3 holds (a script printing it, say) is not believed.
    logMetrics(1, JSON.stringify({ product: 999 }));
    const r = await report();
    assert.deepStrictEqual(
      r.rows.map((x) => [x.name, x.metrics.product]),
      [
        ["sw[2]", undefined],
        ["sw[0]", 10],
        ["sw[1]", 11],
      ],
    );
    // The manifest and sw[1]'s metrics.json: sw[0]'s came from the log.
    assert.strictEqual(gets(), 2);
    assert.strictEqual(filterCalls(), 1);
  });

  it("reads a JSON-quoted line back to the exact bytes, past empty pages", async function () {
    batch.finishAll();
    const texts = ['{\n  "product": 10\n}\n', '"odd"'];
    texts.forEach((text, i) => {
      s3.put(`results/sw/${i}/metrics.json`, text);
      logMetrics(i, text, METRICS.logLinePrefix + JSON.stringify(text));
    });
    logs.emptyFilterPages = 2;
    const r = await report();
    assert.deepStrictEqual(
      r.rows.map((x) => x.metrics.product),
      [undefined, 10, undefined],
    );
    assert.strictEqual(gets(), 1, "only the manifest");
    assert.strictEqual(filterCalls(), 3);
  });

  it("FilterLogEvents refused: it says so, and reads every metrics file from S3", async function () {
    batch.finishAll();
    writeMetrics(10);
    logMetrics(0, JSON.stringify({ product: 10 }));
    logs.filterError = "AccessDeniedException";
    const r = await jobs("report");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `metrics files read from S3, one request each: FilterLogEvents on ${STACK_OUTPUTS.logGroupName} failed \\(AccessDeniedException`,
      ),
    );
    assert.strictEqual(gets(), 3, "the manifest and both metrics files");
  });

  it("shows a new run writing into a reported sweep's folder", async function () {
    batch.finishAll();
    writeMetrics(10);
    await report();
    // A second submission of the same sweep (as a retry is) writes into the same folder.
    fs.writeFileSync(
      path.join(dir, "sw.json"),
      JSON.stringify({
        jobName: "sw",
        grid: { var_a: [5, 6] },
        base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
      }),
    );
    const r = await jobs("submit", "sw.json", "--force");
    assert.strictEqual(r.code, 0, r.stderr);
    const queued = await report();
    assert.ok(queued.reads >= 3, String(queued.reads));
    assert.ok(
      queued.rows.some((x) => x.status === "SUBMITTED"),
      JSON.stringify(queued.rows),
    );
  });
});
