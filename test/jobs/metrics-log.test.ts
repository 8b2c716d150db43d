/**
 * The metrics lines of the job log (jobs/report/rows.ts): what a line carries, the
 * time range searched, and how far FilterLogEvents is paged, against the local CloudWatch
 * Logs server. The Python side prints them (container/tests/test_metrics.py).
 */
import * as assert from "assert";
import { createHash } from "crypto";
import { createAwsClients, type AwsClients } from "../../jobs/aws/api";
import { metricsLineText, searchWindow, textsFromLogs } from "../../jobs/report/sources";
import { METRICS } from "../../components/contract";
import { FakeCloudWatchLogs } from "../helpers/fake-cloudwatch-logs";
import { awsEnv, setProcessEnv } from "../helpers/jobs-harness";

const P = METRICS.logLinePrefix;
const md5Hex = (text: string): string => createHash("md5").update(text, "utf8").digest("hex");

describe("jobs/report/sources: metrics log lines and time range", function () {
  it("a line gives its text as printed, or JSON-unquoted; any other message gives nothing", function () {
    assert.strictEqual(metricsLineText(`${P}{"product": 12}`), '{"product": 12}');
    assert.strictEqual(metricsLineText(P + JSON.stringify('{\n"a": 1}\n')), '{\n"a": 1}\n');
    assert.strictEqual(metricsLineText(`${P}"unterminated`), undefined);
    assert.strictEqual(metricsLineText("6 * 2 = 12"), undefined);
    assert.strictEqual(metricsLineText(`x ${P}{}`), undefined);
  });

  it("searches from the first creation to the last stop, five minutes either side", function () {
    const now = 10_000_000;
    const w = searchWindow(
      [
        { createdAt: 1_000_000, startedAt: 2_000_000, stoppedAt: 3_000_000 },
        { createdAt: 1_500_000, startedAt: 2_500_000, stoppedAt: 4_000_000 },
      ],
      now,
    );
    assert.deepStrictEqual(w, { startTime: 1_000_000 - 300_000, endTime: 4_000_000 + 300_000 });
    // A run still going: up to now, with the same slack (the local clock may be behind).
    assert.strictEqual(searchWindow([{ createdAt: 9_900_000 }], now).endTime, now + 300_000);
  });

  it("takes the window of a 1,000,000-set sweep (more runs than a call can take as arguments)", function () {
    const runs = Array.from({ length: 1_000_000 }, (_, i) => ({
      createdAt: 2_000_000 - i,
      stoppedAt: 3_000_000 + i,
    }));
    assert.deepStrictEqual(searchWindow(runs, 10_000_000), {
      startTime: 2_000_000 - 999_999 - 300_000,
      endTime: 3_000_000 + 999_999 + 300_000,
    });
  });
});

describe("jobs/report/sources: metrics log FilterLogEvents paging", function () {
  const GROUP = "/aws/batch/test";
  let logs: FakeCloudWatchLogs;
  let clients: AwsClients;
  let restore: () => void;
  const window = { startTime: 0, endTime: Date.now() + 60_000 };
  beforeEach(async function () {
    logs = await FakeCloudWatchLogs.start();
    logs.filterPageSize = 1;
    restore = setProcessEnv(awsEnv({ logs: logs.url }));
    clients = createAwsClients({ region: "us-east-1" });
  });
  afterEach(async function () {
    clients.destroy();
    restore();
    await logs.close();
  });

  it("stops as soon as every ETag has its text", async function () {
    const texts = ['{"a": 1}', '{"a": 2}', '{"a": 3}'];
    texts.forEach((t, i) => logs.put(GROUP, `s${i}`, [`${P}${t}`], 1000 + i));
    const wanted = new Set(texts.slice(0, 2).map(md5Hex));
    const r = await textsFromLogs(clients.logs, GROUP, window, wanted);
    assert.deepStrictEqual([...r.texts.values()], texts.slice(0, 2));
    assert.strictEqual(
      logs.requests.length,
      2,
      "one event per page here, and the third page is not asked for",
    );
  });

  it("matches a line by MD5 as S3's ETag is: hex of the UTF-8 bytes", async function () {
    logs.put(GROUP, "s", [`${P}é`, `${P}`]);
    const etags = ["66ddcd97cfdeabb2f6fb8a999b4bc76f", "d41d8cd98f00b204e9800998ecf8427e"];
    const r = await textsFromLogs(clients.logs, GROUP, window, new Set(etags));
    assert.deepStrictEqual(
      etags.map((e) => r.texts.get(e)),
      ["é", ""],
    );
  });

  it("gives up after 100 pages, leaving the rest to S3", async function () {
    logs.put(GROUP, "s", [`${P}{}`]);
    logs.emptyFilterPages = 150;
    const r = await textsFromLogs(clients.logs, GROUP, window, new Set([md5Hex("{}")]));
    assert.strictEqual(r.texts.size, 0);
    assert.strictEqual(logs.requests.length, 100);
  });

  it("asks for the exact phrase within the window", async function () {
    logs.put(GROUP, "s", [`${P}{}`], 5_000);
    await textsFromLogs(clients.logs, GROUP, { startTime: 1, endTime: 2 }, new Set(["x"]));
    const body = logs.requests[0].body;
    assert.deepStrictEqual(
      [body.filterPattern, body.startTime, body.endTime],
      [`"${P.trim()}"`, 1, 2],
    );
  });
});
