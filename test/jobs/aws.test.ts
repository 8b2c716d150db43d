/**
 * The SDK clients find local endpoints through the SDK's own conventions
 * (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>): nothing in jobs/ routes requests itself.
 */
import * as assert from "assert";
import * as zlib from "zlib";
import {
  createAwsClients,
  type AwsClients,
  submitFailure,
  submitRetryable,
} from "../../jobs/aws/api";
import { COMMANDS } from "../../jobs/cli";
import { isRetryable, remainingAdvice } from "../../jobs/output/submit-print";
import { FakeBatch } from "../helpers/fake-batch";
import { MemoryS3 } from "../helpers/fake-s3-memory";
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

describe("jobs/aws/api getText: the SDK's GetObject", function () {
  const BUCKET = "text-bucket";
  let s3: MemoryS3;
  let clients: AwsClients;
  let restore: () => void;
  const gets = (): number => s3.requests.get("GetObject") ?? 0;
  const crc32Of = (text: string): string => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE((zlib as unknown as { crc32(d: Buffer): number }).crc32(Buffer.from(text)));
    return b.toString("base64");
  };
  beforeEach(async function () {
    s3 = await MemoryS3.start(BUCKET);
    restore = setProcessEnv(awsEnv({ s3: s3.url }));
    clients = createAwsClients({ region: "us-east-1" });
  });
  afterEach(async function () {
    clients.destroy();
    restore();
    await s3.close();
  });

  it("one request per object, odd keys included", async function () {
    const keys = Array.from({ length: 20 }, (_, i) => `results/s/${i}/metrics.json`);
    keys.push("results/odd name/é+1/(m)!*'.json");
    keys.forEach((k, i) => s3.put(k, `{"i": ${i}}`, crc32Of(`{"i": ${i}}`)));
    const texts = await Promise.all(keys.map((k) => clients.storage.getText(BUCKET, k)));
    assert.deepStrictEqual(
      texts,
      keys.map((_, i) => `{"i": ${i}}`),
    );
    assert.strictEqual(gets(), keys.length);
  });

  it("a server error: the SDK's GetObject retries and reads the object", async function () {
    s3.put("k.json", "{}");
    s3.failGets(1, 500, "InternalError");
    assert.strictEqual(await clients.storage.getText(BUCKET, "k.json"), "{}");
    assert.strictEqual(gets(), 2, "500, then the retry's 200");
  });

  it("the wrong region: S3's redirect reaches the user as the SDK's error, not as empty metrics", async function () {
    s3.put("k.json", "{}");
    s3.failGets(5, 301, "PermanentRedirect");
    await assert.rejects(clients.storage.getText(BUCKET, "k.json"), { name: "PermanentRedirect" });
  });

  it("a damaged object (checksum mismatch) is refused, by the SDK's own check", async function () {
    s3.put("k.json", '{"product": 12}', crc32Of('{"product": 13}'));
    await assert.rejects(clients.storage.getText(BUCKET, "k.json"), /checksum/i);
    assert.strictEqual(gets(), 1);
  });

  it("a missing key is the SDK's NoSuchKey", async function () {
    await assert.rejects(clients.storage.getText(BUCKET, "nope.json"), { name: "NoSuchKey" });
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
    assert.match(
      remainingAdvice([sdk("ServerException", 500)], 3, false),
      /^re-run the same command to submit the remaining 3: /,
    );
    assert.match(
      remainingAdvice([sdk("ClientException", 400)], 3, false),
      /^ClientException: ClientException \(HTTP 400\) is not a failure a re-run fixes/,
    );
  });

  it("the first Ctrl-C says what each command really does", function () {
    const stopping = new Map(COMMANDS.map((c) => [c.name, c.stopping ?? "stopping"]));
    assert.match(stopping.get("submit") ?? "", /requests in flight/);
    for (const c of ["watch", "status", "logs", "results", "cancel"]) {
      assert.doesNotMatch(stopping.get(c) ?? "", /requests in flight|recording/, c);
    }
  });
});
