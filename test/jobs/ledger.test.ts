import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as fc from "fast-check";
import { FatalError } from "../../jobs/errors";
import {
  Ledger,
  checkedLedgerPath,
  latestByName,
  ledgerPath,
  openIntents,
  parseLedger,
  stackFolderName,
  type IntentLine,
  type LedgerEntry,
} from "../../jobs/state/ledger";
import { tempDir } from "../helpers/jobs-harness";

function entry(jobName: string, jobId: string, run = "r1"): LedgerEntry {
  return {
    v: 1,
    jobName,
    jobId,
    kind: "single",
    hash: "h",
    run,
    submittedAt: "2026-01-01T00:00:00Z",
  };
}

describe("jobs/state/ledger: the per-stack submissions ledger", function () {
  let dir: string;
  beforeEach(function () {
    dir = tempDir("ledger");
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps stack names with slashes inside the state folder", function () {
    assert.strictEqual(
      ledgerPath("/s", "org/proj/dev"),
      path.join("/s", "org%2Fproj%2Fdev", "submissions.jsonl"),
    );
    assert.strictEqual(
      ledgerPath("/s", "my_stack-2.x"),
      path.join("/s", "my_stack-2.x", "submissions.jsonl"),
    );
  });

  it("gives a/b, a_b, . and .. four different folders inside the state folder", function () {
    const folders = ["a/b", "a_b", ".", "..", "a%2Fb", ""].map((s) =>
      path.dirname(ledgerPath("/s", s)),
    );
    assert.strictEqual(new Set(folders).size, folders.length, folders.join(" "));
    for (const f of folders) {
      assert.strictEqual(path.dirname(f), "/s", `${f} is directly inside the state folder`);
      assert.ok(![".", ".."].includes(path.basename(f)), f);
    }
  });

  it("is one-to-one for any stack reference (property)", function () {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), (a, b) => {
        fc.pre(a !== b);
        return stackFolderName(a) !== stackFolderName(b);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (a) => {
        const name = stackFolderName(a);
        return /^[A-Za-z0-9._%-]+$/.test(name) && name !== "." && name !== "..";
      }),
    );
  });

  it("refuses to start an empty ledger beside an older version's folder of the same stack", function () {
    fs.mkdirSync(path.join(dir, "org_proj_dev"));
    fs.writeFileSync(path.join(dir, "org_proj_dev", "submissions.jsonl"), "");
    assert.throws(
      () => checkedLedgerPath(dir, "org/proj/dev"),
      (err: Error) =>
        err instanceof FatalError && /mv '.*org_proj_dev' '.*org%2Fproj%2Fdev'/.test(err.message),
    );
    assert.strictEqual(checkedLedgerPath(dir, "org_proj_dev"), ledgerPath(dir, "org_proj_dev"));
    fs.mkdirSync(path.join(dir, "org%2Fproj%2Fdev"));
    fs.writeFileSync(path.join(dir, "org%2Fproj%2Fdev", "submissions.jsonl"), "");
    assert.strictEqual(checkedLedgerPath(dir, "org/proj/dev"), ledgerPath(dir, "org/proj/dev"));
  });

  it("skips a torn last line left by a crash, with a warning", function () {
    const text = `${JSON.stringify(entry("a", "1"))}\n${JSON.stringify(entry("b", "2")).slice(0, 20)}`;
    const { entries, warnings } = parseLedger(text, "l.jsonl");
    assert.deepStrictEqual(
      entries.map((e) => e.jobName),
      ["a"],
    );
    assert.deepStrictEqual(warnings, [
      "l.jsonl:2: skipped an unreadable line (cut short by an interrupted run)",
    ]);
  });

  it("appends on a fresh line after a torn one, so the next entry stays readable", function () {
    const file = path.join(dir, "dev", "submissions.jsonl");
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, `${JSON.stringify(entry("a", "1"))}\n{"v":1,"jobNa`);
    const ledger = Ledger.open(file);
    assert.strictEqual(ledger.entries.length, 1);
    ledger.append(entry("b", "2"));
    ledger.close();
    const again = Ledger.open(file);
    assert.deepStrictEqual(
      again.entries.map((e) => e.jobName),
      ["a", "b"],
    );
    assert.strictEqual(again.warnings.length, 1);
  });

  it("a missing ledger is empty; appends create it", function () {
    const file = path.join(dir, "new", "submissions.jsonl");
    const ledger = Ledger.open(file);
    assert.deepStrictEqual(ledger.entries, []);
    ledger.append(entry("a", "1"));
    ledger.append(entry("b", "2"));
    ledger.close();
    assert.strictEqual(fs.readFileSync(file, "utf8").split("\n").length, 3);
  });

  it("openForAppend creates the folder and file up front, and fails on a folder it cannot create", function () {
    const file = path.join(dir, "deep", "er", "submissions.jsonl");
    const ledger = Ledger.open(file);
    ledger.openForAppend();
    ledger.openForAppend();
    assert.strictEqual(fs.readFileSync(file, "utf8"), "", "exists, empty");
    ledger.append(entry("a", "1"));
    ledger.close();
    assert.strictEqual(Ledger.open(file).entries.length, 1);

    fs.writeFileSync(path.join(dir, "plain-file"), "");
    const blocked = Ledger.open(path.join(dir, "plain-file", "s", "submissions.jsonl"));
    assert.deepStrictEqual(blocked.entries, [], "reads as empty");
    assert.throws(() => blocked.openForAppend(), /ENOTDIR|EEXIST/);
    fs.mkdirSync(path.join(dir, "a-dir", "submissions.jsonl"), { recursive: true });
    assert.throws(
      () => Ledger.open(path.join(dir, "a-dir", "submissions.jsonl")),
      /cannot read the ledger .*submissions\.jsonl \(.*EISDIR.*\); fix the file or its permissions, or pass --state-dir DIR/,
    );
  });

  it("the latest entry per name wins (a forced resubmission)", function () {
    const latest = latestByName([entry("a", "1"), entry("b", "2"), entry("a", "3", "r2")]);
    assert.strictEqual(latest.get("a")?.jobId, "3");
    assert.strictEqual(latest.size, 2);
  });

  function intent(jobName: string, token: string, at = "2026-01-01T00:00:00Z"): IntentLine {
    return {
      v: 1,
      type: "intent",
      jobName,
      token,
      hash: "h",
      jobQueue: "q",
      kind: "single",
      run: "r",
      at,
    };
  }

  it("an intent is open until an entry with its token or a closing line follows", function () {
    const lines = [
      intent("a", "t1"),
      intent("b", "t2"),
      intent("c", "t3"),
      { ...entry("a", "1"), token: "t1" },
      { v: 1, type: "closed", jobName: "b", token: "t2", reason: "r", at: "x" },
      intent("c", "t3", "2026-01-01T00:05:00Z"),
      entry("d", "4"),
    ];
    const parsed = parseLedger(lines.map((l) => JSON.stringify(l)).join("\n"));
    assert.deepStrictEqual(parsed.warnings, []);
    assert.deepStrictEqual(
      parsed.entries.map((e) => e.jobName),
      ["a", "d"],
      "intents and closing lines are not entries",
    );
    assert.deepStrictEqual(openIntents(parsed), [intent("c", "t3", "2026-01-01T00:05:00Z")]);
  });

  it("concurrent intents all reach the file", async function () {
    const file = path.join(dir, "s", "submissions.jsonl");
    const ledger = Ledger.open(file);
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => ledger.recordIntent(intent(`j${i}`, `t${i}`))),
    );
    ledger.close();
    assert.strictEqual(Ledger.open(file).openIntents().length, 50);
  });
});
