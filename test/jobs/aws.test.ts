/**
 * The SDK clients find local endpoints through the SDK's own conventions
 * (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>): nothing in jobs/ routes requests itself.
 */
import * as assert from "assert";
import { createAwsClients, submitFailure, submitRetryable } from "../../jobs/aws/api";
import { STOPPING } from "../../jobs/cli";
import { isRetryable } from "../../jobs/errors";
import { remainingAdvice } from "../../jobs/output/submit-print";
import { FakeBatch } from "../helpers/fake-batch";
import { awsEnv, setProcessEnv } from "../helpers/jobs-harness";

describe("jobs/aws/api: SDK v3 clients", function () {
  let batch: FakeBatch;
  let restore: (() => void) | undefined;
  beforeEach(async function () {
    batch = await FakeBatch.start();
  });
  afterEach(async function () {
    restore?.();
    await batch.close();
  });

  for (const variable of ["AWS_ENDPOINT_URL_BATCH", "AWS_ENDPOINT_URL"]) {
    it(`honours ${variable}`, async function () {
      const env = awsEnv({});
      restore = setProcessEnv({ ...env, [variable]: batch.url });
      const clients = createAwsClients({ region: "eu-west-1" });
      try {
        const res = await clients.batch.submitJob({
          jobName: "a",
          jobQueue: "q",
          jobDefinition: "d",
        });
        assert.match(res.jobId, /^[0-9a-f-]{36}$/);
        assert.strictEqual(batch.count("submitjob"), 1);
      } finally {
        clients.destroy();
      }
    });
  }

  it("surfaces service errors with their name and status", async function () {
    restore = setProcessEnv(awsEnv({ batch: batch.url }));
    const clients = createAwsClients({ region: "us-east-1" });
    try {
      await assert.rejects(
        clients.batch.submitJob({ jobName: "bad name", jobQueue: "q", jobDefinition: "d" }),
        (e: Error) =>
          e.name === "ClientException" && /Job name bad name is invalid/.test(e.message),
      );
    } finally {
      clients.destroy();
    }
  });

  it("describes any number of jobs, 100 per call, and lists array children across pages", async function () {
    restore = setProcessEnv(awsEnv({ batch: batch.url }));
    const clients = createAwsClients({ region: "us-east-1" });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 150; i++) {
        ids.push(
          (await clients.batch.submitJob({ jobName: `j${i}`, jobQueue: "q", jobDefinition: "d" }))
            .jobId,
        );
      }
      const arr = await clients.batch.submitJob({
        jobName: "arr",
        jobQueue: "q",
        jobDefinition: "d",
        arrayProperties: { size: 250 },
      });
      const details = await clients.batch.describeJobs(ids);
      assert.strictEqual(details.length, 150);
      assert.strictEqual(batch.count("describejobs"), 2);
      // Each DescribeJobs call moved every job a step: the children exist and are RUNNABLE.
      const children = await clients.batch.listArrayChildren(arr.jobId, "RUNNABLE");
      assert.strictEqual(children.length, 250);
      assert.strictEqual(batch.count("listjobs"), 3, "the fake's 100-job pages, followed");
      assert.deepStrictEqual(
        batch.requests
          .filter((r) => r.operation === "listjobs")
          .map((r) => {
            const b = r.body as { jobStatus?: string; maxResults?: number };
            return [b.jobStatus, b.maxResults];
          }),
        [
          ["RUNNABLE", 1000],
          ["RUNNABLE", 1000],
          ["RUNNABLE", 1000],
        ],
        "always a status (without one ListJobs lists only RUNNING jobs) and 1,000 per page",
      );
      assert.deepStrictEqual(await clients.batch.listArrayChildren(arr.jobId, "RUNNING"), []);
    } finally {
      clients.destroy();
    }
  });

  it("SubmitJob is retried by the SDK after throttling only, never after a lost answer", async function () {
    restore = setProcessEnv(awsEnv({ batch: batch.url }));
    const clients = createAwsClients({ region: "us-east-1", submitTimeoutMs: 300 });
    const req = { jobName: "a", jobQueue: "q", jobDefinition: "d" };
    try {
      batch.throttleNext(2);
      await clients.batch.submitJob(req);
      assert.strictEqual(batch.count("submitjob"), 3, "two 429s, then accepted");
      for (const fault of ["error500", "drop", "hang"] as const) {
        const before = batch.count("submitjob");
        batch.faultNextSubmits(1, fault);
        await assert.rejects(clients.batch.submitJob(req), (e: unknown) => {
          assert.strictEqual(submitFailure(e), "unknown", fault);
          return true;
        });
        assert.strictEqual(batch.count("submitjob") - before, 1, `${fault}: sent once`);
      }
      batch.failSubmitsAfter(0, 400, "ClientException");
      await assert.rejects(
        clients.batch.submitJob(req),
        (e: unknown) => submitFailure(e) === "refused",
      );
      // Other calls keep the adaptive retry of every transient failure.
      batch.failSubmitsAfter(undefined);
      batch.throttleNext(1, "describejobs");
      assert.deepStrictEqual(await clients.batch.describeJobs([]), []);
    } finally {
      clients.destroy();
    }
    assert.strictEqual(
      submitRetryable({
        errorType: "TRANSIENT",
        error: Object.assign(new Error("x"), { code: "ECONNREFUSED" }),
      }),
      true,
    );
    assert.strictEqual(
      submitRetryable({
        errorType: "TRANSIENT",
        error: Object.assign(new Error("x"), { code: "ECONNRESET" }),
      }),
      false,
    );
    assert.strictEqual(
      submitRetryable({ errorType: "SERVER_ERROR", error: new Error("x") }),
      false,
    );
  });

  it("lists a queue's jobs by exact name across pages, whatever their status", async function () {
    restore = setProcessEnv(awsEnv({ batch: batch.url }));
    const clients = createAwsClients({ region: "us-east-1" });
    try {
      const queue = "arn:aws:batch:us-east-1:123456789012:job-queue/q";
      for (let i = 0; i < 130; i++) {
        await clients.batch.submitJob({
          jobName: i % 2 === 0 ? "same" : "SAME",
          jobQueue: queue,
          jobDefinition: "d",
        });
      }
      await clients.batch.submitJob({ jobName: "same", jobQueue: "other", jobDefinition: "d" });
      batch.advanceAll(2);
      const found = await clients.batch.listJobsByName("q", "same");
      assert.strictEqual(
        found.length,
        65,
        "the JOB_NAME filter is case-insensitive; the tool is not",
      );
      assert.strictEqual(batch.count("listjobs"), 2, "130 matches, 100 per page");
      const body = batch.requests.find((r) => r.operation === "listjobs")?.body as Record<
        string,
        unknown
      >;
      assert.deepStrictEqual(body.filters, [{ name: "JOB_NAME", values: ["same"] }]);
      assert.strictEqual(body.maxResults, 100);
    } finally {
      clients.destroy();
    }
  });
});

describe("jobs/errors: which failures a re-run can fix", function () {
  it("throttling, network and server errors yes; ClientException and bad input no", function () {
    const sdk = (name: string, status?: number) =>
      Object.assign(new Error(name), {
        name,
        ...(status !== undefined ? { $metadata: { httpStatusCode: status } } : {}),
      });
    assert.strictEqual(isRetryable(sdk("TooManyRequestsException", 429)), true);
    assert.strictEqual(isRetryable(sdk("ServerException", 500)), true);
    assert.strictEqual(isRetryable(sdk("ServiceUnavailable", 503)), true);
    assert.strictEqual(
      isRetryable(Object.assign(new Error("reset"), { code: "ECONNRESET" })),
      true,
    );
    assert.strictEqual(isRetryable(sdk("TimeoutError")), true);
    assert.strictEqual(isRetryable(sdk("ClientException", 400)), false);
    assert.strictEqual(isRetryable(sdk("AccessDeniedException", 403)), false);
    assert.strictEqual(isRetryable(new Error("plain")), false);
    const outcome = (reason: unknown) => ({ status: "rejected" as const, reason });
    assert.match(
      remainingAdvice([outcome(sdk("ServerException", 500))], 3, false),
      /^re-run the same command to submit the remaining 3: /,
    );
    assert.match(
      remainingAdvice([outcome(sdk("ClientException", 400))], 3, false),
      /^ClientException: ClientException \(HTTP 400\) is not a failure a re-run fixes/,
    );
  });

  it("the first Ctrl-C says what each command really does", function () {
    assert.match(STOPPING.submit, /requests in flight/);
    for (const c of ["watch", "status", "logs", "results", "cancel"]) {
      assert.doesNotMatch(STOPPING[c], /requests in flight|recording/, c);
    }
  });
});
