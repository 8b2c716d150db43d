import * as assert from "assert";
import { formatProblem } from "../../jobs/errors";
import { CHUNK_SIZE, chunkRanges } from "../../jobs/input/derived-names";
import { loadJob, type LoadedJob } from "../../jobs/input/job-file";
import { parseJsonDocument } from "../../jobs/input/json-source";
import { buildPlan, mergeEnvironment, requestHash, type Submission } from "../../jobs/input/plan";
import { manifestBody, manifestKey } from "../../jobs/input/manifest";
import type { LoadedSweep, ParameterSet } from "../../jobs/input/sweep";
import { STACK_OUTPUTS } from "../helpers/jobs-harness";

const outputs = { outputs: STACK_OUTPUTS, source: "outputs.json" };

function jobFrom(file: string, value: unknown): LoadedJob {
  const parsed = parseJsonDocument(file, JSON.stringify(value));
  const r = loadJob(parsed.doc!);
  assert.ok(r.job, r.problems.map(formatProblem).join("\n"));
  return r.job;
}

function sweepOf(jobName: string, sets: ParameterSet[]): LoadedSweep {
  return {
    kind: "sweep",
    file: `${jobName}.json`,
    jobName,
    base: {
      containerOverrides: { environment: [{ name: "save_name", value: "r" }] },
      tags: { t: "1" },
    },
    sets,
    consumedFiles: [],
    keySources: new Map(),
    problemAt: (message) => ({ message }),
  };
}

const sets = (n: number): ParameterSet[] =>
  Array.from({ length: n }, (_, i) => new Map([["var_a", String(i)]]));

describe("jobs/input/plan: from validated files to SubmitJob requests", function () {
  it("resolves the queue from the stack outputs unless the file sets it, the definition always", function () {
    const { submissions, problems } = buildPlan(
      [jobFrom("a.json", { jobName: "a" }), jobFrom("b.json", { jobName: "b", jobQueue: "other" })],
      { outputs, array: true },
    );
    assert.deepStrictEqual(problems, []);
    assert.strictEqual(submissions[0].request.jobQueue, STACK_OUTPUTS.jobQueueArn);
    assert.strictEqual(submissions[0].request.jobDefinition, STACK_OUTPUTS.jobDefinitionArn);
    assert.strictEqual(submissions[1].request.jobQueue, "other");
    assert.strictEqual(submissions[1].request.jobDefinition, STACK_OUTPUTS.jobDefinitionArn);
  });

  it("reports missing outputs apart from input problems, with the files and the fixes", function () {
    const plan = buildPlan(
      [jobFrom("a.json", { jobName: "a" }), jobFrom("b.json", { jobName: "b", jobQueue: "q" })],
      { outputs: { outputs: { region: "us-east-1" }, source: "outputs.json" }, array: true },
    );
    assert.deepStrictEqual(plan.problems, []);
    assert.strictEqual(
      plan.missingOutputs,
      'stack output "jobQueueArn" (needed by 1 file(s) that leave out jobQueue: a.json) and ' +
        '"jobDefinitionArn" (needed by 2 file(s): a.json, b.json) missing from ' +
        "outputs.json; run `pulumi up` first, or pass --outputs FILE, or set jobQueue in the files",
    );
    const queued = buildPlan(
      [
        jobFrom("a.json", { jobName: "a", jobQueue: "q" }),
        jobFrom("b.json", { jobName: "b", jobQueue: "q" }),
      ],
      { outputs: { outputs: { region: "us-east-1" }, source: "outputs.json" }, array: true },
    );
    assert.strictEqual(
      queued.missingOutputs,
      'stack output "jobDefinitionArn" (needed by 2 file(s): a.json, b.json) missing from ' +
        "outputs.json; run `pulumi up` first, or pass --outputs FILE",
    );
  });

  it("appends BATCHPY_JOB_NAME to the job's environment", function () {
    const { submissions } = buildPlan(
      [jobFrom("a.json", { jobName: "a", containerOverrides: { command: ["x"] } })],
      {
        outputs,
        array: true,
      },
    );
    assert.deepStrictEqual(submissions[0].request.containerOverrides, {
      command: ["x"],
      environment: [{ name: "BATCHPY_JOB_NAME", value: "a" }],
    });
  });

  it("names manifests by content: other sets get another key, the same sets the same", function () {
    const a = manifestBody(sets(3));
    assert.strictEqual(manifestKey("sw", a), manifestKey("sw", manifestBody(sets(3))));
    assert.notStrictEqual(manifestKey("sw", a), manifestKey("sw", manifestBody(sets(4))));
    assert.match(manifestKey("sw", a), /^inputs\/sweeps\/sw-[0-9a-f]{12}\.json$/);
  });

  it("mergeEnvironment replaces names in place and appends new ones", function () {
    assert.deepStrictEqual(
      mergeEnvironment(
        [
          { name: "a", value: "1" },
          { name: "b", value: "2" },
        ],
        new Map([
          ["b", "3"],
          ["c", "4"],
        ]),
      ),
      [
        { name: "a", value: "1" },
        { name: "b", value: "3" },
        { name: "c", value: "4" },
      ],
    );
  });

  it("a sweep of 2 to 10,000 sets is one array job with a manifest", function () {
    const { submissions, problems } = buildPlan([sweepOf("sw", sets(10_000))], {
      outputs,
      array: true,
    });
    assert.deepStrictEqual(problems, []);
    assert.strictEqual(submissions.length, 1);
    const s = submissions[0];
    assert.strictEqual(s.kind, "array");
    assert.deepStrictEqual(s.request.arrayProperties, { size: 10_000 });
    assert.deepStrictEqual(s.request.tags, { t: "1" });
    assert.deepStrictEqual(s.request.containerOverrides?.environment, [
      { name: "save_name", value: "r" },
      { name: "BATCHPY_ARRAY_MANIFEST", value: manifestKey("sw", manifestBody(sets(10_000))) },
      { name: "BATCHPY_JOB_NAME", value: "sw" },
    ]);
    if (s.kind === "array") {
      assert.match(s.manifest.key, /^inputs\/sweeps\/sw-[0-9a-f]{12}\.json$/);
      const manifest = JSON.parse(s.manifest.body) as { version: number; sets: ParameterSet[] };
      assert.strictEqual(manifest.version, 1);
      assert.deepStrictEqual(manifest.sets[9999], { var_a: "9999" });
    }
  });

  it("one job per set carries each set's BATCHPY_* settings", function () {
    const withInputs = {
      ...sweepOf("sw", [
        new Map([["BATCHPY_INPUTS", "a.csv"]]),
        new Map([["BATCHPY_INPUTS", "b.csv"]]),
      ]),
      keySources: new Map([
        ["BATCHPY_INPUTS", (message: string) => ({ file: "p.csv", line: 1, column: 3, message })],
      ]),
    };
    const perSet = buildPlan([withInputs], { outputs, array: false });
    assert.deepStrictEqual(perSet.problems, []);
    assert.deepStrictEqual(
      perSet.submissions.map(
        (x) =>
          x.request.containerOverrides?.environment?.find((v) => v.name === "BATCHPY_INPUTS")
            ?.value,
      ),
      ["a.csv", "b.csv"],
    );
  });

  it("a sweep of one set is an ordinary job (arrays need at least 2 children)", function () {
    const { submissions } = buildPlan([sweepOf("one", sets(1))], { outputs, array: true });
    assert.strictEqual(submissions[0].kind, "single");
    assert.strictEqual(submissions[0].request.arrayProperties, undefined);
    assert.deepStrictEqual(submissions[0].request.containerOverrides?.environment, [
      { name: "save_name", value: "r" },
      { name: "var_a", value: "0" },
      { name: "BATCHPY_JOB_NAME", value: "one" },
    ]);
  });

  describe("sweeps past 10,000 sets: chunks of at most 10,000, set numbers global", function () {
    const plan = (n: number) => buildPlan([sweepOf("big", sets(n))], { outputs, array: true });
    const shape = (n: number) =>
      plan(n).submissions.map((s) => [s.jobName, s.kind, s.arraySize, s.sweep]);
    const manifestOf = (s: Submission) =>
      JSON.parse(s.kind === "array" ? s.manifest.body : "null") as {
        sets: Record<string, string>[];
        indexes?: number[];
      };
    const env = (s: Submission) =>
      Object.fromEntries(
        (s.request.containerOverrides?.environment ?? []).map((v) => [v.name, v.value]),
      );

    it("10,000 sets: one array job, no chunks, no indexes", function () {
      assert.deepStrictEqual(shape(10_000), [["big", "array", 10_000, undefined]]);
      assert.strictEqual(manifestOf(plan(10_000).submissions[0]).indexes, undefined);
    });

    it("10,001 sets: a chunk of 10,000 and a last lone set as a plain job with its number", function () {
      const { submissions, problems } = plan(10_001);
      assert.deepStrictEqual(problems, []);
      assert.deepStrictEqual(shape(10_001), [
        ["big-c0", "array", 10_000, "big"],
        ["big-c1", "single", undefined, "big"],
      ]);
      const lone = submissions[1];
      assert.strictEqual(lone.request.arrayProperties, undefined);
      assert.deepStrictEqual(env(lone), {
        save_name: "r",
        var_a: "10000",
        BATCHPY_SET_INDEX: "10000",
        BATCHPY_JOB_NAME: "big",
      });
      assert.strictEqual(env(submissions[0]).BATCHPY_JOB_NAME, "big");
    });

    it("20,000 sets: two full chunks, each manifest with only its sets and their numbers", function () {
      const { submissions } = plan(20_000);
      assert.deepStrictEqual(shape(20_000), [
        ["big-c0", "array", 10_000, "big"],
        ["big-c1", "array", 10_000, "big"],
      ]);
      const m = manifestOf(submissions[1]);
      assert.strictEqual(m.sets.length, 10_000);
      assert.deepStrictEqual(m.sets[0], { var_a: "10000" });
      assert.strictEqual(m.indexes?.[0], 10_000);
      assert.strictEqual(m.indexes?.[9_999], 19_999);
      assert.deepStrictEqual(manifestOf(submissions[0]).indexes?.slice(0, 2), [0, 1]);
      const keys = submissions.map((s) => env(s).BATCHPY_ARRAY_MANIFEST);
      assert.notStrictEqual(keys[0], keys[1], "a manifest per chunk");
      assert.ok(keys[1].startsWith("inputs/sweeps/big-c1-"), keys[1]);
    });

    it("20,001 sets: two chunks and a lone set 20,000", function () {
      assert.deepStrictEqual(shape(20_001), [
        ["big-c0", "array", 10_000, "big"],
        ["big-c1", "array", 10_000, "big"],
        ["big-c2", "single", undefined, "big"],
      ]);
      assert.strictEqual(env(plan(20_001).submissions[2]).BATCHPY_SET_INDEX, "20000");
      assert.deepStrictEqual(shape(20_002).slice(2), [["big-c2", "array", 2, "big"]]);
    });

    it("chunk and retry names past AWS's 128 characters: the sweep's jobName is named, nothing planned", function () {
      const long = "x".repeat(120);
      const { problems } = buildPlan([sweepOf(long, sets(10_001))], { outputs, array: true });
      assert.deepStrictEqual(problems, [], "x{120}-r999-c1 is 128 characters: allowed");
      const longer = "y".repeat(121);
      const bad = buildPlan([sweepOf(longer, sets(10_001))], { outputs, array: true });
      assert.deepStrictEqual(bad.submissions, []);
      assert.strictEqual(
        formatProblem(bad.problems[0]),
        `${longer}.json: jobName: jobName has 121 characters, but the names derived from it ` +
          `(chunks, jobs per set, retries) reach "<jobName>-r999-c1", 8 more, and AWS allows 128: ` +
          "shorten jobName to at most 120 characters",
      );
      const million = buildPlan([sweepOf("z".repeat(120), new Array<ParameterSet>(1_000_000))], {
        outputs,
        array: true,
      });
      assert.match(
        formatProblem(million.problems[0]),
        /"<jobName>-r999-c99", 9 more.* at most 119/,
      );
    });

    it("--no-array still makes one job per set, past the arguments one call can take", function () {
      const noArray = buildPlan([sweepOf("big", sets(200_001))], { outputs, array: false });
      assert.deepStrictEqual(noArray.problems, []);
      assert.strictEqual(noArray.submissions.length, 200_001);
      assert.strictEqual(noArray.submissions[200_000].jobName, "big-200000");
    });

    it("chunkRanges and CHUNK_SIZE follow AWS's array limit", function () {
      assert.strictEqual(CHUNK_SIZE, 10_000, "AWS Batch array jobs have at most 10,000 children");
      assert.deepStrictEqual(chunkRanges(5, 2), [
        { first: 0, count: 2 },
        { first: 2, count: 2 },
        { first: 4, count: 1 },
      ]);
      assert.deepStrictEqual(chunkRanges(0), []);
    });
  });

  it("--no-array names and their retries must stay within 128 characters", function () {
    const ok = buildPlan([sweepOf("x".repeat(120), sets(20))], { outputs, array: false });
    assert.deepStrictEqual(ok.problems, [], "x{120}-19-r999 is 128 characters: allowed");
    const { problems } = buildPlan([sweepOf("x".repeat(121), sets(20))], { outputs, array: false });
    assert.match(formatProblem(problems[0]), /reach "<jobName>-19-r999", 8 more.* at most 120 /);
  });

  it("a name that could not be retried is refused when first submitted (126-128 characters)", function () {
    for (const n of [126, 127, 128]) {
      const name = "a".repeat(n);
      const job = buildPlan([jobFrom(`${n}.json`, { jobName: name })], { outputs, array: true });
      const sweep = buildPlan([sweepOf(name, sets(4))], { outputs, array: true });
      for (const { problems, submissions } of [job, sweep]) {
        assert.deepStrictEqual(submissions, []);
        assert.match(
          formatProblem(problems[0]),
          new RegExp(
            `^\\S+\\.json: jobName: jobName has ${n} characters, .*reach "<jobName>-r999", 5 more, ` +
              "and AWS allows 128: shorten jobName to at most 123 characters$",
          ),
        );
      }
    }
    const fits = buildPlan([jobFrom("a.json", { jobName: "a".repeat(123) })], {
      outputs,
      array: true,
    });
    assert.deepStrictEqual(fits.problems, []);
  });

  it("refuses names used twice in a run, including generated ones", function () {
    const { problems } = buildPlan(
      [jobFrom("a.json", { jobName: "sw-1" }), sweepOf("sw", sets(3))],
      {
        outputs,
        array: false,
      },
    );
    assert.match(
      formatProblem(problems[0]),
      /job name "sw-1" is used by a\.json and sw\.json; names must be unique/,
    );
  });

  it("hashes requests stably, and the manifest changes the hash", function () {
    const { submissions } = buildPlan([jobFrom("a.json", { jobName: "a" })], {
      outputs,
      array: true,
    });
    const r = submissions[0].request;
    assert.strictEqual(requestHash(r), requestHash(JSON.parse(JSON.stringify(r)) as typeof r));
    assert.notStrictEqual(requestHash(r, "m1"), requestHash(r, "m2"));
  });

  it("without outputs (--locally) queue and definition are not needed", function () {
    const { problems, missingOutputs } = buildPlan([jobFrom("a.json", { jobName: "a" })], {
      array: true,
    });
    assert.deepStrictEqual(problems, []);
    assert.strictEqual(missingOutputs, undefined);
  });
});
