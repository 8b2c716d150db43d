/**
 * The lean GetObject path for small objects (jobs/aws/lean-get.ts): signed so that a server
 * checking SigV4 accepts it, and handing every answer it cannot vouch for to the SDK's
 * GetObject, whose errors the user then sees as before.
 */
import * as assert from "assert";
import * as zlib from "zlib";
import { S3Client } from "@aws-sdk/client-s3";
import { createAwsClients, type AwsClients } from "../../jobs/aws/api";
import { escapeUriPath } from "@smithy/core/protocols";
import { checksumMatches, leanGetter } from "../../jobs/aws/lean-get";
import { FakeS3, S3RVER_KEY } from "../helpers/fake-s3";
import { MemoryS3 } from "../helpers/fake-s3-memory";
import { awsEnv, setProcessEnv } from "../helpers/jobs-harness";

const BUCKET = "lean-bucket";

function crc32Of(text: string): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE((zlib as unknown as { crc32(d: Buffer): number }).crc32(Buffer.from(text)));
  return b.toString("base64");
}

function clientFor(url: string, region = "us-east-1"): S3Client {
  return new S3Client({
    region,
    endpoint: url,
    forcePathStyle: true,
    credentials: { accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_KEY },
  });
}

describe("jobs/aws/lean-get: pure parts", function () {
  it("escapes each key segment as GetObject's {Key+} path does, keeping slashes", function () {
    assert.strictEqual(
      escapeUriPath("results/sweep/12/metrics.json"),
      "results/sweep/12/metrics.json",
    );
    assert.strictEqual(escapeUriPath("a b/c+d/(x)!*'/é"), "a%20b/c%2Bd/%28x%29%21%2A%27/%C3%A9");
  });

  it("accepts no checksum or a matching CRC32, refuses a wrong one, leaves others to the SDK", function () {
    const body = Buffer.from('{"product": 12}');
    const good = crc32Of(body.toString());
    assert.strictEqual(checksumMatches({}, body), true);
    assert.strictEqual(checksumMatches({ "x-amz-checksum-crc32": good }, body), true);
    assert.strictEqual(checksumMatches({ "x-amz-checksum-crc32": "AAAAAA==" }, body), false);
    assert.strictEqual(checksumMatches({ "x-amz-checksum-crc32": "abcd-3" }, body), true);
    assert.strictEqual(checksumMatches({ "x-amz-checksum-sha256": "x" }, body), undefined);
    assert.strictEqual(checksumMatches({ "x-amz-checksum-crc32c": "x" }, body), undefined);
  });
});

describe("jobs/aws/lean-get: against s3rver, which decodes keys as S3 does", function () {
  let s3: FakeS3;
  let client: S3Client;
  before(async function () {
    s3 = await FakeS3.start(BUCKET);
    client = clientFor(s3.url);
    const clients = createAwsClients({ region: "us-east-1" });
    const restore = setProcessEnv(awsEnv({ s3: s3.url }));
    try {
      await clients.storage.putObject(BUCKET, "results/s/1/metrics.json", '{"a": 1}', "text/plain");
      await clients.storage.putObject(BUCKET, "results/odd name/é+1/m.json", "ok", "text/plain");
    } finally {
      restore();
      clients.destroy();
    }
  });
  after(async function () {
    client.destroy();
    await s3.close();
  });

  it("reads objects itself, odd keys included", async function () {
    const get = await leanGetter(client, BUCKET);
    assert.ok(get !== undefined);
    assert.strictEqual(await get("results/s/1/metrics.json"), '{"a": 1}');
    assert.strictEqual(await get("results/odd name/é+1/m.json"), "ok");
  });

  it("a missing key gives undefined, for the SDK to answer", async function () {
    const get = await leanGetter(client, BUCKET);
    assert.strictEqual(await get?.("results/s/2/metrics.json"), undefined);
  });
});

describe("jobs/aws/api getText: the lean path first, the SDK's GetObject for the rest", function () {
  let s3: MemoryS3;
  let clients: AwsClients;
  let restore: () => void;
  const gets = (): number => s3.requests.get("GetObject") ?? 0;
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

  it("one request per object when the lean path is answered", async function () {
    for (let i = 0; i < 20; i++) {
      s3.put(`results/s/${i}/metrics.json`, `{"i": ${i}}`, crc32Of(`{"i": ${i}}`));
    }
    const texts = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        clients.storage.getText(BUCKET, `results/s/${i}/metrics.json`),
      ),
    );
    assert.deepStrictEqual(
      texts,
      Array.from({ length: 20 }, (_, i) => `{"i": ${i}}`),
    );
    assert.strictEqual(gets(), 20);
  });

  it("a server error: the SDK's GetObject retries and reads the object", async function () {
    s3.put("k.json", "{}");
    s3.failGets(2, 500, "InternalError");
    assert.strictEqual(await clients.storage.getText(BUCKET, "k.json"), "{}");
    assert.strictEqual(gets(), 3, "lean 500, SDK 500, SDK retry 200");
  });

  it("the wrong region: S3's redirect reaches the user as the SDK's error, not as empty metrics", async function () {
    s3.put("k.json", "{}");
    s3.failGets(5, 301, "PermanentRedirect");
    await assert.rejects(clients.storage.getText(BUCKET, "k.json"), { name: "PermanentRedirect" });
  });

  it("a damaged object (checksum mismatch) is refused, by the SDK's own check", async function () {
    s3.put("k.json", '{"product": 12}', crc32Of('{"product": 13}'));
    await assert.rejects(clients.storage.getText(BUCKET, "k.json"), /checksum/i);
    assert.strictEqual(gets(), 2, "the lean path refused it and handed it to the SDK");
  });

  it("its signatures are what S3 checks: right secret read, wrong secret refused", async function () {
    s3.put("results/s/1/metrics.json", '{"a": 1}');
    const right = clientFor(s3.url);
    const wrong = new S3Client({
      region: "us-east-1",
      endpoint: s3.url,
      forcePathStyle: true,
      credentials: { accessKeyId: S3RVER_KEY, secretAccessKey: "not-the-secret" },
    });
    try {
      const key = "results/s/1/metrics.json";
      assert.strictEqual(await (await leanGetter(right, BUCKET))?.(key), '{"a": 1}');
      assert.strictEqual(await (await leanGetter(wrong, BUCKET))?.(key), undefined);
      assert.strictEqual(s3.requests.get("refused"), 1);
    } finally {
      right.destroy();
      wrong.destroy();
    }
  });

  it("a missing key is the SDK's NoSuchKey", async function () {
    await assert.rejects(clients.storage.getText(BUCKET, "nope.json"), { name: "NoSuchKey" });
  });
});
