/**
 * What lets a submit load its Batch half (the AWS SDK) while it waits for Python
 * (jobs/commands/submit.ts): telling a promise that is still pending from one that settled.
 */
import * as assert from "assert";
import { isPending } from "../../jobs/commands/submit";

describe("jobs:submit: loading while Python works", function () {
  it("isPending tells a pending promise from a settled one, fulfilled or rejected", async function () {
    let resolve: (v: string) => void = () => undefined;
    const waiting = new Promise<string>((r) => (resolve = r));
    assert.strictEqual(await isPending(waiting), true);
    resolve("done");
    await waiting;
    assert.strictEqual(await isPending(waiting), false);
    assert.strictEqual(await isPending(Promise.resolve("now")), false);
    const refused = Promise.reject(new Error("no python3"));
    assert.strictEqual(await isPending(refused), false);
    await assert.rejects(refused, /no python3/);
    // A description parsed from the cache settles a few ticks after the CLI asks for it.
    const cached = Promise.resolve("{}").then((text) => JSON.parse(text) as unknown);
    await new Promise((r) => setImmediate(r));
    assert.strictEqual(await isPending(cached), false);
  });
});
