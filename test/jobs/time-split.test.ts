/**
 * Where the time went: the pure split of an attempt's wait (hand-worked), ECS's DescribeTasks
 * in calls of 100, and jobs:report / jobs:status --json against the local Batch and ECS
 * fakes, with what was read kept beside the ledger, as docs/jobs.md shows it.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { parse as parseCsv } from "csv-parse/sync";
import { createAwsClients } from "../../jobs/aws/api";
import {
  FORGOTTEN,
  attemptTimes,
  clusterOf,
  splitWait,
  type AttemptTime,
} from "../../jobs/report/time-split";
import { FakeEcs } from "../helpers/fake-ecs";
import {
  REPO_ROOT,
  awsEnv,
  setProcessEnv,
  useLocalAws,
  writeJobFiles,
} from "../helpers/jobs-harness";

const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);
const at = (s: number): number => T0 + s * 1000;

describe("where an attempt's time went", function () {
  it("splits an EC2 wait that launched an instance: placement until the pull, pull, start", function () {
    const task = { createdAt: at(100), pullStartedAt: at(102), pullStoppedAt: at(150) };
    assert.deepStrictEqual(splitWait(at(0), at(155), task), {
      placementSeconds: 102,
      pullSeconds: 48,
      startSeconds: 5,
    });
  });

  it("splits a Fargate wait: provisioning before the pull counts as placement", function () {
    const task = { createdAt: at(3), pullStartedAt: at(40), pullStoppedAt: at(70) };
    assert.deepStrictEqual(splitWait(at(0), at(73), task), {
      placementSeconds: 40,
      pullSeconds: 30,
      startSeconds: 3,
    });
  });

  it("without pull times, splits at the task's creation; without any, not at all", function () {
    assert.deepStrictEqual(splitWait(at(0), at(64), { createdAt: at(60) }), {
      placementSeconds: 60,
      startSeconds: 4,
    });
    assert.deepStrictEqual(splitWait(at(0), at(64), { startedAt: at(63) }), {});
    assert.deepStrictEqual(splitWait(at(0), undefined, { createdAt: at(60) }), {});
    assert.deepStrictEqual(splitWait(at(0), at(64), { missing: true }), {});
  });

  it("keeps the parts within Batch's wait when the clocks disagree", function () {
    // ECS saw the task before Batch's submit time, and the pull end after RUNNING.
    const task = { createdAt: at(-2), pullStartedAt: at(-1), pullStoppedAt: at(12) };
    assert.deepStrictEqual(splitWait(at(0), at(10), task), {
      placementSeconds: 0,
      pullSeconds: 10,
      startSeconds: 0,
    });
  });

  it("times each attempt from the end of the one before; a forgotten task says so", function () {
    const times = attemptTimes(at(0), [
      {
        startedAt: at(60),
        stoppedAt: at(360),
        taskArn: "arn:aws:ecs:us-east-1:1:task/c/a",
        task: { createdAt: at(50), pullStartedAt: at(51), pullStoppedAt: at(58) },
      },
      { startedAt: at(400), stoppedAt: at(1000), task: { missing: true } },
    ]);
    assert.deepStrictEqual(times, [
      {
        startedAt: at(60),
        stoppedAt: at(360),
        taskArn: "arn:aws:ecs:us-east-1:1:task/c/a",
        toRunningSeconds: 60,
        runningSeconds: 300,
        placementSeconds: 51,
        pullSeconds: 7,
        startSeconds: 2,
      },
      {
        startedAt: at(400),
        stoppedAt: at(1000),
        toRunningSeconds: 40,
        runningSeconds: 600,
        noSplit: FORGOTTEN,
      },
    ]);
  });

  it("reads the cluster from the long task ARN; the short one names none", function () {
    assert.strictEqual(
      clusterOf("arn:aws:ecs:us-east-1:123456789012:task/ce_Batch_1a2b/0f9e8d"),
      "ce_Batch_1a2b",
    );
    assert.strictEqual(clusterOf("arn:aws:ecs:us-east-1:123456789012:task/0f9e8d"), undefined);
  });
});

describe("ecs:DescribeTasks", function () {
  it("asks for 100 tasks per call and lists those ECS no longer knows", async function () {
    const ecs = await FakeEcs.start();
    const restore = setProcessEnv(awsEnv({ ecs: ecs.url }));
    const clients = createAwsClients({ region: "us-east-1" });
    try {
      const arns = Array.from({ length: 250 }, (_, i) => `arn:aws:ecs:us-east-1:1:task/c/t${i}`);
      arns.slice(0, 200).forEach((a) => ecs.tasks.set(a, { createdAt: at(1), startedAt: at(9) }));
      const read = await clients.ecs.describeTasks("c", arns);
      assert.deepStrictEqual(
        ecs.requests.map((r) => r.tasks.length).sort((a, b) => a - b),
        [50, 100, 100],
      );
      assert.strictEqual(read.tasks.length, 200);
      assert.strictEqual(read.tasks[0].createdAt?.getTime(), at(1));
      assert.deepStrictEqual(read.missing, arns.slice(200));
    } finally {
      clients.destroy();
      restore();
      await ecs.close();
    }
  });
});

interface TimedRow {
  name: string;
  attempts: AttemptTime[];
}

describe("jobs:report and jobs:status --json: where the time went", function () {
  const aws = useLocalAws("time", { batch: {} });

  /**
   * job-0000 and job-0001 ran: submitted at T, RUNNING 200 s later, for 300 s. ECS still
   * knows job-0000's task (placed at 100 s, image pulled 110-170 s); job-0001's it forgot.
   */
  async function twoJobs(): Promise<void> {
    aws.batch.ecsCluster = "batchpy-ce_Batch_1a2b";
    writeJobFiles(`${aws.dir}/jobs`, 2);
    const r = await aws.jobs(["submit", "jobs"]);
    assert.strictEqual(r.code, 0, r.stderr);
    aws.batch.finishAll();
    for (const name of ["job-0000", "job-0001"]) {
      const job = aws.findJob(name);
      job.startedAt = job.createdAt + 200_000;
      job.stoppedAt = job.createdAt + 500_000;
    }
    const job = aws.findJob("job-0000");
    aws.ecs.tasks.set(aws.batch.taskArnOf(job.jobId, 0), {
      createdAt: job.createdAt + 100_000,
      pullStartedAt: job.createdAt + 110_000,
      pullStoppedAt: job.createdAt + 170_000,
      startedAt: job.createdAt + 199_000,
      stoppedAt: job.createdAt + 500_000,
    });
  }

  const EXPECTED = {
    toRunningSeconds: 200,
    runningSeconds: 300,
    placementSeconds: 110,
    pullSeconds: 60,
    startSeconds: 30,
  };

  /** The figures only: times and ARNs are the fake's. */
  function figures(a: object): Record<string, unknown> {
    return Object.fromEntries(
      Object.entries(a).filter(([k]) => !["startedAt", "stoppedAt", "taskArn"].includes(k)),
    );
  }

  function timesOf(rows: TimedRow[], name: string): Record<string, unknown> {
    const a = rows.find((r) => r.name === name)?.attempts[0];
    assert.ok(a, `${name} has an attempt`);
    return figures(a);
  }

  /** docs/jobs.md's "Where the time went": its table and its attempt. */
  function documented(): { table: string; attempt: object } {
    const text = fs.readFileSync(path.join(REPO_ROOT, "docs", "jobs.md"), "utf8");
    const section = text.slice(text.indexOf("### Where the time went"));
    const table = /\n```\n(STATUS [^`]*)```/.exec(section)?.[1] ?? "";
    const json = /```json\n([^`]*)```/.exec(section)?.[1] ?? "{}";
    return { table, attempt: JSON.parse(json) as object };
  }

  it("shows each attempt's split in --json, the CSV and the table, and keeps it once read", async function () {
    await twoJobs();
    const first = await aws.jobs(["report", "--json"]);
    assert.strictEqual(first.code, 0, first.stderr);
    const rows = (JSON.parse(first.stdout) as { rows: TimedRow[] }).rows;
    assert.deepStrictEqual(timesOf(rows, "job-0000"), EXPECTED);
    assert.deepStrictEqual(timesOf(rows, "job-0001"), {
      toRunningSeconds: 200,
      runningSeconds: 300,
      noSplit: FORGOTTEN,
    });
    assert.strictEqual(aws.ecs.requests.length, 1);
    assert.ok(fs.existsSync(path.join(path.dirname(aws.ledgerFile()), "ecs-tasks.json")));

    // ECS has forgotten both now: the report still splits job-0000 and asks nothing.
    aws.ecs.tasks.clear();
    const again = await aws.jobs(["report", "--write-csv", "r.csv"]);
    assert.strictEqual(again.code, 0, again.stderr);
    assert.strictEqual(aws.ecs.requests.length, 1);
    // The docs show these figures, as this report prints them.
    const docs = documented();
    assert.deepStrictEqual(figures(docs.attempt), EXPECTED);
    const words = (line: string | undefined): string[] => (line ?? "").trim().split(/\s+/);
    const [docsHeader, docsRow] = docs.table.split("\n");
    assert.deepStrictEqual(words(docsHeader), words(again.stdout.split("\n")[0]));
    const row = again.stdout.split("\n").find((l) => l.includes("job-0000"));
    assert.deepStrictEqual(words(row).slice(5, 10), words(docsRow).slice(5, 10));
    assert.deepStrictEqual(words(row).slice(5, 10), ["5m00s", "3m20s", "1m50s", "1m00s", "30s"]);
    const csv = parseCsv(fs.readFileSync(path.join(aws.dir, "r.csv")), { columns: true }) as Record<
      string,
      string
    >[];
    const line = csv.find((r) => r.name === "job-0000");
    assert.deepStrictEqual(
      [line?.placementSeconds, line?.pullSeconds, line?.startSeconds],
      ["110", "60", "30"],
    );
    assert.strictEqual(csv.find((r) => r.name === "job-0001")?.pullSeconds, "");
  });

  it("a damaged store only costs asking ECS again", async function () {
    await twoJobs();
    const store = path.join(path.dirname(aws.ledgerFile()), "ecs-tasks.json");
    fs.mkdirSync(path.dirname(store), { recursive: true });
    fs.writeFileSync(store, '{"tasks": {"x": ');
    const r = await aws.jobs(["report", "--json"]);
    assert.strictEqual(r.code, 0, r.stderr);
    const rows = (JSON.parse(r.stdout) as { rows: TimedRow[] }).rows;
    assert.deepStrictEqual(timesOf(rows, "job-0000"), EXPECTED);
    assert.strictEqual(aws.ecs.requests.length, 1);
    const kept = JSON.parse(fs.readFileSync(store, "utf8")) as { tasks: object };
    assert.strictEqual(Object.keys(kept.tasks).length, 2);
  });

  it("jobs:status --json gives a single job's attempts, split where ECS knows the task", async function () {
    await twoJobs();
    const r = await aws.jobs(["status", "--json"]);
    const jobs = (JSON.parse(r.stdout) as { jobs: (TimedRow & { jobName: string })[] }).jobs;
    const named = jobs.map((j) => ({ ...j, name: j.jobName }));
    assert.deepStrictEqual(timesOf(named, "job-0000"), EXPECTED);
    assert.strictEqual(timesOf(named, "job-0001").noSplit, FORGOTTEN);
  });

  it("names ecs:DescribeTasks when the credentials may not call it, and shows the rest", async function () {
    await twoJobs();
    aws.ecs.denied = true;
    const r = await aws.jobs(["report", "--json"]);
    assert.strictEqual(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { rows: TimedRow[]; warnings: string[] };
    assert.deepStrictEqual(timesOf(doc.rows, "job-0000"), {
      toRunningSeconds: 200,
      runningSeconds: 300,
    });
    assert.match(
      doc.warnings.join("\n"),
      /placement, image pull and start not shown: these credentials may not call ecs:DescribeTasks \(AccessDeniedException/,
    );
    const status = await aws.jobs(["status", "--json"]);
    const unavailable = (JSON.parse(status.stdout) as { unavailable: { call: string }[] })
      .unavailable;
    assert.deepStrictEqual(
      unavailable.map((u) => u.call),
      ["ecs:DescribeTasks"],
    );
  });
});
