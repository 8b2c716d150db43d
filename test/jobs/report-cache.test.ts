/**
 * The cache of finished runs' result listings and metrics (jobs/state/report-cache.ts): its keys
 * and entries, and `jobs:report` in-process against the local Batch fake and the in-memory
 * S3 (which counts requests): served for finished runs, never for running ones, rebuilt
 * when its file is damaged. And the metrics lines of the job log, which spare one GetObject
 * per child when their text is what S3 holds.
 */
import { STATE_PREFIX } from "../../components/contract";
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import {
  CACHE_FOLDER,
  CACHE_VERSION,
  cacheFile,
  childrenCacheKey,
  fileCache,
  folderCacheKey,
  formatCacheEntry,
  isRunUnit,
  parseCacheEntry,
  parseChildrenEntry,
} from "../../jobs/state/report-cache";
import { FakeBatch, LIFECYCLE } from "../helpers/fake-batch";
import { MemoryS3 } from "../helpers/fake-s3-memory";
import { FakeCloudWatchLogs } from "../helpers/fake-cloudwatch-logs";
import { METRICS } from "../../components/contract";
import {
  STACK_OUTPUTS,
  awsEnv,
  runJobs,
  setProcessEnv,
  tempDir,
  writeOutputs,
} from "../helpers/jobs-harness";

const done = (jobId: string, status: "SUCCEEDED" | "FAILED" = "SUCCEEDED") => ({
  jobId,
  status,
});

describe("jobs/state/report-cache: keys and entries", function () {
  it("keys a folder only once every run writing into it has ended", function () {
    const key = folderCacheKey("s3://b", "sweep", [done("p:0"), done("p:1", "FAILED")]);
    assert.match(key ?? "", /^[0-9a-f]{64}$/);
    for (const status of ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "UNKNOWN"]) {
      assert.strictEqual(
        folderCacheKey("s3://b", "sweep", [done("p:0"), { jobId: "p:1", status } as never]),
        undefined,
        status,
      );
    }
    assert.strictEqual(folderCacheKey("s3://b", "sweep", []), undefined);
  });

  it("changes the key with any run, status, folder or bucket, not with the order of runs", function () {
    const runs = [done("p:0"), done("p:1", "FAILED")];
    const key = folderCacheKey("s3://b", "sweep", runs);
    assert.strictEqual(folderCacheKey("s3://b", "sweep", [...runs].reverse()), key);
    const others = [
      folderCacheKey("s3://b", "sweep", [...runs, done("retry:0")]),
      folderCacheKey("s3://b", "sweep", [done("p:0"), done("p:1")]),
      folderCacheKey("s3://b", "other", runs),
      folderCacheKey("s3://c", "sweep", runs),
    ];
    others.forEach((k) => assert.notStrictEqual(k, key));
    assert.strictEqual(new Set(others).size, others.length);
  });

  it("keys an array job's children only once the parent has ended", function () {
    const key = childrenCacheKey("s3://b", "p", "SUCCEEDED");
    assert.match(key ?? "", /^[0-9a-f]{64}$/);
    assert.notStrictEqual(childrenCacheKey("s3://b", "p", "FAILED"), key);
    assert.notStrictEqual(childrenCacheKey("s3://b", "q", "SUCCEEDED"), key);
    for (const status of ["SUBMITTED", "PENDING", "RUNNING", "UNKNOWN"]) {
      assert.strictEqual(childrenCacheKey("s3://b", "p", status), undefined, status);
    }
  });

  it("reads back children as units, and refuses any that is not one", function () {
    const unit = {
      job: "sw",
      index: 3,
      jobId: "p:3",
      status: "FAILED",
      reason: "Essential container in task exited",
      exitCode: 1,
      attempts: [{ startedAt: 1, stoppedAt: 2 }],
      createdAt: 0,
      startedAt: 1,
      stoppedAt: 2,
      vcpus: 1,
      memoryMiB: 1000,
      params: new Map([
        ["var_a", "3"],
        ["__proto__", "x"],
      ]),
    } as const;
    const parsed = parseChildrenEntry(formatCacheEntry("k", { units: [unit] }), "k");
    assert.deepStrictEqual(parsed, [unit]);
    assert.strictEqual(
      parseChildrenEntry(formatCacheEntry("k", { units: [unit] }), "j"),
      undefined,
    );
    assert.strictEqual(parseChildrenEntry(formatCacheEntry("k", { units: [] }), "k"), undefined);
    const broken: unknown[] = [
      { ...unit, status: "DONE" },
      { ...unit, index: "3" },
      { ...unit, jobId: undefined },
      { ...unit, attempts: [{ startedAt: "1" }] },
      { ...unit, params: { var_a: 3 } },
      { ...unit, exitCode: null },
      null,
    ];
    for (const b of broken) {
      assert.strictEqual(isRunUnit(b), false, JSON.stringify(b));
      const text = JSON.stringify({ v: CACHE_VERSION, key: "k", units: [unit, b] });
      assert.strictEqual(parseChildrenEntry(text, "k"), undefined);
    }
  });

  it("reads back what it wrote, under that key only", function () {
    const entry = {
      objects: [{ key: "results/s/0/metrics.json", size: 14 }],
      metrics: { "results/s/0/metrics.json": '{"product": 0}' },
    };
    const text = formatCacheEntry("k1", entry);
    assert.deepStrictEqual(parseCacheEntry(text, "k1"), entry);
    assert.strictEqual(parseCacheEntry(text, "k2"), undefined);
  });

  it("treats a damaged or foreign entry as absent", function () {
    const whole = { v: CACHE_VERSION, key: "k", objects: [], metrics: {} };
    const bad = [
      "",
      "{",
      "null",
      "[]",
      JSON.stringify({ ...whole, v: CACHE_VERSION + 1 }),
      JSON.stringify({ ...whole, objects: [{ key: "a" }] }),
      JSON.stringify({ ...whole, objects: {} }),
      JSON.stringify({ ...whole, metrics: { a: 1 } }),
      JSON.stringify({ ...whole, metrics: null }),
      JSON.stringify({ ...whole, metrics: ["x"] }),
    ];
    bad.forEach((t) => assert.strictEqual(parseCacheEntry(t, "k"), undefined, t));
    assert.deepStrictEqual(parseCacheEntry(JSON.stringify(whole), "k"), {
      objects: [],
      metrics: {},
    });
  });

  it("keeps one file per bucket and folder, whose newer key replaces the older", function () {
    const dir = tempDir("report-cache");
    try {
      const cache = fileCache(dir, "s3://b");
      const entry = { objects: [], metrics: {} };
      assert.strictEqual(cache.readFolder("s", "k1"), undefined);
      cache.writeFolder("s", "k1", entry);
      cache.writeFolder("s", "k2", entry);
      assert.strictEqual(cache.readFolder("s", "k1"), undefined);
      assert.deepStrictEqual(cache.readFolder("s", "k2"), entry);
      cache.writeFolder("t", "k1", entry);
      assert.deepStrictEqual(
        fs.readdirSync(dir).sort(),
        [cacheFile(dir, "s3://b", "folder", "s"), cacheFile(dir, "s3://b", "folder", "t")]
          .map((f) => path.basename(f))
          .sort(),
      );
      assert.notStrictEqual(
        cacheFile(dir, "s3://c", "folder", "s"),
        cacheFile(dir, "s3://b", "folder", "s"),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface Row {
  name: string;
  status: string;
  metrics: Record<string, number | string>;
  files: { key: string; size: number }[];
}

describe("jobs report with the cache of finished runs", function () {
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
    dir = tempDir("report-cache");
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
  /** The entries beside the ledger (<state>/<stack folder>/report-cache/). */
  const cacheFiles = (): string[] =>
    fs.readdirSync(state).flatMap((stack) => {
      const d = path.join(state, stack, CACHE_FOLDER);
      return fs.existsSync(d) ? fs.readdirSync(d).map((f) => path.join(d, f)) : [];
    });

  it("serves a finished sweep's listing and metrics without reading S3 again", async function () {
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
    // The results folder, and the array job's children.
    assert.strictEqual(cacheFiles().length, 2);
    const describes = batch.count("describejobs");
    const second = await report();
    assert.strictEqual(second.reads, 0);
    // Only the parent, whose status says its children have all ended.
    assert.strictEqual(batch.count("describejobs") - describes, 1);
    assert.deepStrictEqual(second.rows, first.rows);
    const fresh = await report("--refresh");
    assert.strictEqual(fresh.reads, 4);
    assert.strictEqual(batch.count("describejobs") - describes, 3);
    assert.deepStrictEqual(fresh.rows, first.rows);
  });

  it("never serves a running sweep's folder from the cache, and caches it once finished", async function () {
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
    assert.deepStrictEqual(cacheFiles(), []);
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
    assert.strictEqual((await report()).reads, 0);
  });

  it("keeps no children whose parent says it ended while they still run", async function () {
    batch.advanceAll(LIFECYCLE.indexOf("RUNNING"));
    // Not what Batch does (a parent ends once its children have), but if it ever did.
    const [parent] = batch.named("sw");
    parent.status = "FAILED";
    for (let run = 0; run < 2; run++) {
      const describes = batch.count("describejobs");
      const r = await report();
      assert.deepStrictEqual(
        r.rows.map((x) => x.status),
        ["RUNNING", "RUNNING", "RUNNING"],
      );
      assert.strictEqual(batch.count("describejobs") - describes, 2);
    }
    assert.deepStrictEqual(cacheFiles(), []);
  });

  it("ignores a damaged cache file and writes it again", async function () {
    batch.finishAll();
    writeMetrics(10);
    const first = await report();
    const files = cacheFiles();
    assert.strictEqual(files.length, 2);
    const damages = ["", '{"v": 1, "key": "', "[]", '{"v": 1, "key": "x", "units": []}'];
    for (const damage of damages) {
      files.forEach((f) => fs.writeFileSync(f, damage));
      const describes = batch.count("describejobs");
      const again = await report();
      assert.strictEqual(again.reads, 4, JSON.stringify(damage));
      assert.strictEqual(batch.count("describejobs") - describes, 2);
      assert.deepStrictEqual(again.rows, first.rows);
      assert.strictEqual((await report()).reads, 0, "rebuilt");
    }
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
    const r = await report("--refresh");
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
    const r = await report("--refresh");
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
    const r = await jobs("report", "--refresh");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `metrics files read from S3, one request each: FilterLogEvents on ${STACK_OUTPUTS.logGroupName} failed \\(AccessDeniedException`,
      ),
    );
    assert.strictEqual(gets(), 3, "the manifest and both metrics files");
  });

  it("reads the folder again once a new run writes into it", async function () {
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
    // The listing and the metrics files are read again, not served for the new run.
    assert.ok(queued.reads >= 3, String(queued.reads));
    assert.ok(
      queued.rows.some((x) => x.status === "SUBMITTED"),
      JSON.stringify(queued.rows),
    );
  });
});
