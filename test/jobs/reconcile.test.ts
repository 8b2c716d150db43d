import * as assert from "assert";
import type { IntentLine } from "../../jobs/state/ledger";
import { verdict, withToken } from "../../jobs/aws/exactly-once";
import { TOKEN_TAG } from "../../jobs/input/plan";

const intent: IntentLine = {
  v: 1,
  type: "intent",
  jobName: "a",
  token: "t",
  hash: "h",
  jobQueue: "q",
  kind: "single",
  run: "r",
  at: "2026-01-01T00:00:00.000Z",
};
const at = Date.parse(intent.at);

describe("jobs/aws/exactly-once: deciding on a lost submission", function () {
  it("adopts the oldest job with the token and reports the others", function () {
    const v = verdict(intent, [{ jobId: "1" }, { jobId: "2" }] as never, at, 1000, 100);
    assert.deepStrictEqual(v, { kind: "found", job: { jobId: "1" }, extra: [{ jobId: "2" }] });
  });

  it("a missing job counts as never created only once the wait and the request timeout have passed", function () {
    assert.deepStrictEqual(verdict(intent, undefined, at + 329_999, 300_000, 30_000), {
      kind: "wait",
      deadline: at + 330_000,
    });
    assert.deepStrictEqual(verdict(intent, [], at + 330_000, 300_000, 30_000), { kind: "absent" });
  });

  it("adds the token to the file's own tags without changing the request", function () {
    const request = { jobName: "a", jobQueue: "q", jobDefinition: "d", tags: { team: "x" } };
    assert.deepStrictEqual(withToken(request, "t").tags, { team: "x", [TOKEN_TAG]: "t" });
    assert.deepStrictEqual(request.tags, { team: "x" });
  });
});
