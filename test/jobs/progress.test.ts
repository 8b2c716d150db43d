/**
 * The progress bar (jobs/context.ts createProgress): drawn on stderr only when it is a
 * terminal, the output is for humans and there are more than 5 items; its counts, and
 * watch's, printed as every count is (jobs/output/numbers.ts).
 */
import * as assert from "assert";
import { createProgress, type Io } from "../../jobs/context";
import { STATUSES, type Snapshot } from "../../jobs/status";
import { countsLine } from "../../jobs/output/status-print";

function terminal(isTTY: boolean): { io: Io; written: () => string } {
  let out = "";
  const write = (s: string): boolean => ((out += s), true);
  return { io: { stdout: { write }, stderr: { write, isTTY } }, written: () => out };
}

describe("jobs: the progress bar", function () {
  it("draws on a terminal, with the label and the count", function () {
    const t = terminal(true);
    const bar = createProgress(t.io, { total: 10, json: false, label: "submitting" });
    bar.update(3);
    bar.stop();
    assert.match(t.written(), /submitting \[=+-+\] 3\/10/);
  });

  it("prints counts as every other line does: 25,001/25,001", function () {
    const t = terminal(true);
    const bar = createProgress(t.io, { total: 25_001, json: false, label: "jobs" });
    bar.update(25_001, "SUCCEEDED 25,001");
    bar.stop();
    assert.match(t.written(), /jobs \[=+\] 25,001\/25,001 SUCCEEDED 25,001/);
    const counts = Object.fromEntries(STATUSES.map((st) => [st, 0])) as Snapshot["counts"];
    const snapshot = { counts: { ...counts, SUCCEEDED: 25_001 }, done: 25_001, total: 25_001 };
    assert.strictEqual(
      countsLine(snapshot as Snapshot),
      "SUCCEEDED 25,001 (25,001/25,001 done)",
      "watch's live line and its last one, and status's",
    );
  });

  it("writes nothing when stderr is no terminal, with --json, or for 5 items or fewer", function () {
    for (const [isTTY, json, total] of [
      [false, false, 10],
      [true, true, 10],
      [true, false, 5],
    ] as const) {
      const t = terminal(isTTY);
      const bar = createProgress(t.io, { total, json, label: "submitting" });
      bar.update(1);
      bar.stop();
      assert.strictEqual(t.written(), "", `isTTY ${isTTY}, json ${json}, total ${total}`);
    }
  });
});
