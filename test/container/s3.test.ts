/**
 * run_job.py's S3 access (boto3) over real HTTP: s3rver on 127.0.0.1 stands in for S3, and a small
 * proxy in front of it injects the failures S3 produces (503 SlowDown, dropped connections,
 * 403 AccessDenied). Objects are put and read back with the AWS SDK, as jobs/ does.
 *
 * s3rver 3.7 checks the access key id, the date and the shape of a SigV4 Authorization
 * header but not the signature itself; botocore signs (its own tests cover the signature).
 * Multipart uploads, checksums and credential refresh: container/tests/ (pytest, moto).
 */
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import * as assert from "assert";
import * as http from "http";
import * as path from "path";
import S3rver from "s3rver";
import { closeServer, listenOnLoopback } from "../helpers/http-server";
import { PythonResult, explain, makeTempDir, removeDir, runEntrypoint } from "../helpers/python";
import { FIXTURES } from "./harness";

const WORKER = path.join(FIXTURES, "worker.py");
const BUCKET = "batchpy-test";
const ROLE_TOKEN = "role-session-token";
const AUTH_TOKEN = "container-authorization-token";

type Fault = "forward" | "503" | "reset" | "403";

interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

describe("container: run_job.py against S3 over HTTP (s3rver)", function () {
  let s3rver: S3rver;
  let s3rverDir: string;
  let s3rverUrl: string;
  let s3: S3Client;
  let proxy: http.Server;
  let proxyUrl: string;
  let credentials: http.Server;
  let credentialsUrl: string;
  const credentialRequests: http.IncomingHttpHeaders[] = [];
  /** What the proxy does with each request; tests replace it. */
  let fault: (req: http.IncomingMessage) => Fault = () => "forward";
  let seen: SeenRequest[] = [];

  before(async function () {
    s3rverDir = makeTempDir("s3rver");
    s3rver = new S3rver({
      address: "127.0.0.1",
      port: 0,
      silent: true,
      directory: s3rverDir,
      configureBuckets: [{ name: BUCKET }],
    });
    const address = await s3rver.run();
    s3rverUrl = `http://127.0.0.1:${address.port}`;
    s3 = new S3Client({
      endpoint: s3rverUrl,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
      // s3rver predates the SDK's default CRC checksums and aws-chunked uploads.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });

    proxy = http.createServer((req, res) => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
      const action = fault(req);
      if (action === "reset") {
        req.socket.destroy();
        return;
      }
      if (action === "503" || action === "403") {
        const [status, code] = action === "503" ? [503, "SlowDown"] : [403, "AccessDenied"];
        req.resume();
        res.writeHead(status, { "content-type": "application/xml" });
        res.end(`<Error><Code>${code}</Code><Message>injected ${code}</Message></Error>`);
        return;
      }
      const upstream = http.request(
        `${s3rverUrl}${req.url}`,
        { method: req.method, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      req.pipe(upstream);
    });
    proxyUrl = await listenOnLoopback(proxy);

    // What ECS serves at AWS_CONTAINER_CREDENTIALS_FULL_URI for a job role.
    credentials = http.createServer((req, res) => {
      credentialRequests.push(req.headers);
      if (req.headers.authorization !== AUTH_TOKEN) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          AccessKeyId: "S3RVER",
          SecretAccessKey: "S3RVER",
          Token: ROLE_TOKEN,
          Expiration: new Date(Date.now() + 3600_000).toISOString(),
        }),
      );
    });
    credentialsUrl = `${await listenOnLoopback(credentials)}/v2/credentials/test`;
  });

  after(async function () {
    s3.destroy();
    await closeServer(proxy);
    await closeServer(credentials);
    await s3rver.close();
    removeDir(s3rverDir);
  });

  beforeEach(function () {
    fault = () => "forward";
    seen = [];
  });

  function s3Env(job: string, extra: Record<string, string>): Record<string, string> {
    return {
      BATCHPY_BUCKET: BUCKET,
      BATCHPY_JOB_NAME: job,
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL_S3: s3rverUrl,
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      ...extra,
    };
  }

  async function put(key: string, body: string): Promise<void> {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  }

  async function get(key: string): Promise<string> {
    const res = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return (await res.Body?.transformToString("utf8")) ?? "";
  }

  async function keys(prefix: string): Promise<string[]> {
    const res = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
    return (res.Contents ?? []).map((o) => o.Key ?? "").sort();
  }

  function retries(run: PythonResult): string[] {
    return run.stderr.split("\n").filter((l) => l.includes("retrying in"));
  }

  it("downloads inputs (a key and a prefix), uploads new or changed files and the log", async function () {
    await put("inputs/data.txt", "data");
    await put("inputs/models/a.txt", "A");
    await put("inputs/models/sub/b.txt", "B");
    const run = await runEntrypoint(
      s3Env("s3job", {
        BATCHPY_INPUTS: "data.txt,models/",
        show: "data.txt,models/sub/b.txt",
        append: "models/a.txt=+",
        write: "out/naïve result #1.txt=R",
      }),
      ["--script", WORKER],
    );
    assert.strictEqual(run.code, 0, explain(run));
    assert.match(run.stdout, /worker: data\.txt: data\nworker: models\/sub\/b\.txt: B\n/);
    assert.deepStrictEqual(await keys("results/s3job/"), [
      "results/s3job/models/a.txt",
      "results/s3job/out/naïve result #1.txt",
    ]);
    assert.strictEqual(await get("results/s3job/models/a.txt"), "A+");
    assert.strictEqual(await get("results/s3job/out/naïve result #1.txt"), "R");
    const log = await get("logs/s3job.log");
    assert.match(log, /worker: to stdout\n/);
    assert.match(log, /worker: to stderr\n/);
    assert.deepStrictEqual(retries(run), []);
  });

  it("signs with the job role's credentials from the container credentials endpoint", async function () {
    const env = s3Env("role", {
      AWS_ENDPOINT_URL_S3: proxyUrl,
      AWS_CONTAINER_CREDENTIALS_FULL_URI: credentialsUrl,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: AUTH_TOKEN,
      write: "r.txt=R",
    });
    delete env.AWS_ACCESS_KEY_ID;
    delete env.AWS_SECRET_ACCESS_KEY;
    const run = await runEntrypoint(env, ["--script", WORKER]);
    assert.strictEqual(run.code, 0, explain(run));
    assert.strictEqual(await get("results/role/r.txt"), "R");
    assert.ok(credentialRequests.length >= 1, "the credentials endpoint was asked");
    const puts = seen.filter((r) => r.method === "PUT");
    assert.deepStrictEqual(
      puts.map((r) => r.url),
      [`/${BUCKET}/results/role/r.txt`, `/${BUCKET}/logs/role.log`],
    );
    for (const req of puts) {
      assert.strictEqual(req.headers["x-amz-security-token"], ROLE_TOKEN);
      // Signed by botocore: the role's key, and the session token among the signed headers.
      assert.match(
        String(req.headers.authorization),
        /^AWS4-HMAC-SHA256 Credential=S3RVER\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=[a-z0-9;-]*\bhost;[a-z0-9;-]*x-amz-security-token\b[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
      );
    }
  });

  it("retries a 503 SlowDown and a dropped connection, then succeeds", async function () {
    const plan: Fault[] = ["503", "reset"];
    fault = (req) =>
      req.method === "PUT" && plan.length > 0 ? (plan.shift() as Fault) : "forward";
    const run = await runEntrypoint(
      s3Env("flaky", { AWS_ENDPOINT_URL_S3: proxyUrl, write: "r.txt=R" }),
      ["--script", WORKER],
    );
    assert.strictEqual(run.code, 0, explain(run));
    assert.strictEqual(await get("results/flaky/r.txt"), "R");
    const lines = retries(run);
    assert.strictEqual(lines.length, 2, explain(run));
    assert.match(lines[0], /PUT s3:\/\/batchpy-test\/results\/flaky\/r\.txt: HTTP 503 SlowDown/);
    assert.match(
      lines[1],
      /(ConnectionResetError|RemoteDisconnected|BrokenPipeError).*attempt 3 of 8/,
    );
  });

  it("retries a 503 on download too", async function () {
    await put("inputs/once.txt", "once");
    let failed = false;
    fault = (req) => {
      if (req.method === "GET" && !failed) {
        failed = true;
        return "503";
      }
      return "forward";
    };
    const run = await runEntrypoint(
      s3Env("flakyin", {
        AWS_ENDPOINT_URL_S3: proxyUrl,
        BATCHPY_INPUTS: "once.txt",
        show: "once.txt",
      }),
      ["--script", WORKER],
    );
    assert.strictEqual(run.code, 0, explain(run));
    assert.match(run.stdout, /worker: once\.txt: once\n/);
    assert.strictEqual(retries(run).length, 1);
  });

  it("fails with 74 and one clear line when S3 refuses a result, still uploading the log", async function () {
    fault = (req) => (req.method === "PUT" && req.url?.includes("/results/") ? "403" : "forward");
    const run = await runEntrypoint(
      s3Env("denied", { AWS_ENDPOINT_URL_S3: proxyUrl, write: "r.txt=R" }),
      ["--script", WORKER],
    );
    assert.strictEqual(run.code, 74, explain(run));
    const errors = run.stderr.split("\n").filter((l) => l.startsWith("run_job: error:"));
    assert.deepStrictEqual(errors, [
      "run_job: error: could not upload result r.txt to s3://batchpy-test/results/denied/r.txt: " +
        "HTTP 403 AccessDenied: injected AccessDenied (check that the job role allows " +
        "s3:PutObject on this key)",
    ]);
    assert.deepStrictEqual(retries(run), [], "a 403 is not retried");
    assert.match(await get("logs/denied.log"), /worker: to stdout/);
  });

  it("gives up after BATCHPY_S3_MAX_ATTEMPTS and fails with 74", async function () {
    fault = (req) => (req.method === "PUT" ? "503" : "forward");
    const run = await runEntrypoint(
      s3Env("down", {
        AWS_ENDPOINT_URL_S3: proxyUrl,
        BATCHPY_S3_MAX_ATTEMPTS: "2",
        write: "r.txt=R",
      }),
      ["--script", WORKER],
    );
    assert.strictEqual(run.code, 74, explain(run));
    assert.match(run.stderr, /run_job: error: could not upload the log .*gave up after 2 attempts/);
    assert.strictEqual(seen.filter((r) => r.method === "PUT").length, 4, "2 files x 2 attempts");
  });

  it("fails with 66 when an input does not exist, before the script runs, and stores why", async function () {
    const run = await runEntrypoint(s3Env("noinput", { BATCHPY_INPUTS: "absent.csv" }), [
      "--script",
      WORKER,
    ]);
    assert.strictEqual(run.code, 66, explain(run));
    const why =
      /run_job: error: could not download input s3:\/\/batchpy-test\/inputs\/absent\.csv: HTTP 404 NoSuchKey/;
    assert.match(run.stderr, why);
    assert.ok(!run.stdout.includes("worker: to stdout"));
    assert.match(await get("logs/noinput.log"), why);
  });

  it("skips a result whose file name is not UTF-8 with a warning, and uploads the rest and the log", async function () {
    const run = await runEntrypoint(
      s3Env("oddname", { "write-latin1": "bad\u00ff.txt=X", write: "good.txt=G" }),
      ["--script", WORKER],
    );
    assert.strictEqual(run.code, 0, explain(run));
    assert.match(
      run.stderr,
      /run_job: warning: result file "bad\\xff\.txt" not uploaded: its name is not valid UTF-8/,
    );
    assert.deepStrictEqual(await keys("results/oddname/"), ["results/oddname/good.txt"]);
    assert.match(await get("logs/oddname.log"), /worker: to stdout/);
  });

  /** What S3 does for a role without s3:ListBucket on the whole bucket: a GET (or HEAD) is refused. */
  const refuseObjectGets = (req: http.IncomingMessage): Fault =>
    (req.method === "GET" || req.method === "HEAD") && !req.url?.includes("list-type=")
      ? "403"
      : "forward";

  it("says 'no such object' when S3 answers 403 for an input key that a LIST shows is absent", async function () {
    fault = refuseObjectGets;
    const run = await runEntrypoint(
      s3Env("typo", { AWS_ENDPOINT_URL_S3: proxyUrl, BATCHPY_INPUTS: "dta.csv" }),
      ["--script", WORKER],
    );
    assert.strictEqual(run.code, 66, explain(run));
    assert.match(
      run.stderr,
      /run_job: error: could not download input s3:\/\/batchpy-test\/inputs\/dta\.csv: no such object inputs\/dta\.csv \(S3 answers 403 for a missing key when the job role may not list the whole bucket\): upload it first, or check the key/,
    );
    assert.ok(
      seen.some((r) => r.url.includes("list-type=2") && r.url.includes("prefix=inputs%2Fdta.csv")),
      "the key was listed",
    );
    assert.ok(!run.stdout.includes("worker: to stdout"));
  });

  it("keeps the permission hint when S3 answers 403 for an input key that exists", async function () {
    await put("inputs/secret.csv", "s");
    fault = refuseObjectGets;
    const run = await runEntrypoint(
      s3Env("denied-in", { AWS_ENDPOINT_URL_S3: proxyUrl, BATCHPY_INPUTS: "secret.csv" }),
      ["--script", WORKER],
    );
    assert.strictEqual(run.code, 66, explain(run));
    assert.match(
      run.stderr,
      /inputs\/secret\.csv: HTTP 403 AccessDenied: injected AccessDenied \(check that the job role allows s3:GetObject\/s3:ListBucket on this key\)/,
    );
  });
});
