import * as assert from "assert";
import { runPool } from "../../jobs/aws/pool";

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("jobs/aws/pool: bounded concurrency", function () {
  it("never has more than `concurrency` tasks in flight and keeps input order", async function () {
    let inFlight = 0;
    let peak = 0;
    const out = await runPool(
      Array.from({ length: 50 }, (_, i) => i),
      async (i) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await tick(i % 3);
        inFlight--;
        return i * 2;
      },
      { concurrency: 7 },
    );
    assert.strictEqual(peak, 7);
    assert.deepStrictEqual(
      out.values,
      Array.from({ length: 50 }, (_, i) => i * 2),
    );
  });

  it("stopOnError starts nothing new after a failure; running tasks finish", async function () {
    const started: number[] = [];
    const out = await runPool(
      Array.from({ length: 20 }, (_, i) => i),
      async (i) => {
        started.push(i);
        await tick(1);
        if (i === 3) {
          throw new Error("boom");
        }
        return i;
      },
      { concurrency: 2, stopOnError: true },
    );
    assert.ok(started.length <= 5, `started ${started.length}`);
    assert.deepStrictEqual(
      out.failed.map((f) => f.item),
      [3],
    );
    assert.ok(out.notRun.includes(19));
  });

  it("an aborted signal stops new work (Ctrl-C)", async function () {
    const controller = new AbortController();
    const out = await runPool(
      Array.from({ length: 10 }, (_, i) => i),
      async (i) => {
        if (i === 1) {
          controller.abort();
        }
        return i;
      },
      { concurrency: 1, signal: controller.signal },
    );
    assert.deepStrictEqual(out.values, [0, 1]);
    assert.deepStrictEqual(out.notRun, [2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("refuses a concurrency below 1", async function () {
    await assert.rejects(
      runPool([1], async (i) => i, { concurrency: 0 }),
      /positive integer/,
    );
  });
});
