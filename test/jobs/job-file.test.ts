import * as assert from "assert";
import * as fc from "fast-check";
import { formatProblem, type Problem } from "../../jobs/errors";
import { JOB_NAME_PATTERN } from "../../components/contract";
import { checkJobName, loadJob, type LoadedJob } from "../../jobs/input/job-file";
import { suggest } from "../../components/validation";
import { parseTree, type Node, type ParseError } from "jsonc-parser";
import {
  MAX_JSON_DEPTH,
  lineColumnAt,
  parseJsonDocument,
  tooDeepAt,
} from "../../jobs/input/json-source";
import { parseDescription } from "../../jobs/input/variables";
import { checkVariables } from "../../jobs/input/variables";
import { SCRIPT_DESCRIPTION, checkAgainst } from "../helpers/jobs-harness";

const CHECK = checkAgainst(SCRIPT_DESCRIPTION);

/** Parses and validates `text` as jobs/x.json; returns every problem as one string each. */
async function check(text: string, file = "jobs/x.json"): Promise<string[]> {
  const parsed = parseJsonDocument(file, text);
  if (parsed.doc === undefined) {
    return parsed.problems.map(formatProblem);
  }
  const loaded = loadJob(parsed.doc);
  const problems: Problem[] = [...loaded.problems];
  if (loaded.job !== undefined) {
    problems.push(...(await checkVariables([loaded.job], SCRIPT_DESCRIPTION, CHECK)).problems);
  }
  return problems.map(formatProblem);
}

function job(env: { name: string; value: string }[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify(
    { jobName: "j", containerOverrides: { environment: env }, ...extra },
    null,
    2,
  );
}

const SAVE = { name: "save_name", value: "out" };

/** JSON text whose objects often repeat a key, written plainly or escaped ("\\u0061"). */
function jsonText(): fc.Arbitrary<string> {
  const key = fc.constantFrom('"a"', '"\\u0061"', '"b"', '"a\\""', '"\\"a"', '""');
  const space = fc.constantFrom("", " ", "\n  ");
  const { value } = fc.letrec<{ value: string }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom("1", "null", '"a"', '"{\\"a\\": 1}"', "[]", "{}"),
      fc
        .array(fc.tuple(key, space, tie("value")), { maxLength: 4 })
        .map((props) => `{${props.map(([k, sp, v]) => `${sp}${k}:${sp}${v}`).join(",")}}`),
      fc.array(tie("value"), { maxLength: 4 }).map((items) => `[${items.join(", ")}]`),
    ),
  }));
  return value;
}

/** A syntax tree as text, without its parent links (cycles). */
function withoutParents(node: Node | undefined): string {
  return JSON.stringify(node, (k, v: unknown) => (k === "parent" ? undefined : v));
}

/** Whether any object of `text` (valid JSON) repeats a key, read from jsonc-parser's tree. */
function treeHasDuplicateKey(text: string): boolean {
  const walk = (node: Node | undefined): boolean => {
    if (node === undefined) {
      return false;
    }
    if (node.type === "object") {
      const keys = (node.children ?? []).map((p) => String(p.children?.[0]?.value));
      if (new Set(keys).size !== keys.length) {
        return true;
      }
      return (node.children ?? []).some((p) => walk(p.children?.[1]));
    }
    return (node.children ?? []).some(walk);
  };
  return walk(parseTree(text, [], { disallowComments: true }));
}

describe("jobs/input/job-file: submit-job JSON files", function () {
  describe("JSON errors carry file, line and column", function () {
    it("reports a missing comma where it is", async function () {
      assert.deepStrictEqual(await check('{\n  "jobName": "a"\n  "jobQueue": "q"\n}'), [
        'jobs/x.json:3:3: invalid JSON: expected ","',
      ]);
    });
    it("refuses comments and trailing commas, which the AWS CLI also refuses", async function () {
      assert.match(
        (await check('{\n  // note\n  "jobName": "a"\n}'))[0],
        /^jobs\/x\.json:2:3: invalid JSON: comments are not allowed/,
      );
      assert.match(
        (await check('{\n  "jobName": "a",\n}'))[0],
        /^jobs\/x\.json:3:1: invalid JSON: expected a property name/,
      );
    });
    it("names a byte order mark and an empty file", async function () {
      assert.deepStrictEqual(await check('\uFEFF{"jobName": "a"}'), [
        "jobs/x.json:1:1: remove the UTF-8 byte order mark (BOM)",
      ]);
      assert.match((await check(""))[0], /jobs\/x\.json:1:1: invalid JSON/);
    });
    it("reports duplicate keys, which JSON.parse would silently merge", async function () {
      assert.deepStrictEqual(await check('{\n  "jobName": "a",\n  "jobName": "b"\n}'), [
        'jobs/x.json:3:3: jobName: duplicate key "jobName"; JSON keeps only the last one, so remove one of them',
      ]);
      // Beside a syntax error, and never from the quotes of a comment.
      assert.deepStrictEqual(
        await check('{\n  // "a": 1, "a": 2\n  "jobName": "a",\n  /* "b" "b" */ "jobName": "b"\n}'),
        [
          "jobs/x.json:2:3: invalid JSON: comments are not allowed in JSON",
          "jobs/x.json:4:3: invalid JSON: comments are not allowed in JSON",
          'jobs/x.json:4:17: jobName: duplicate key "jobName"; JSON keeps only the last one, so remove one of them',
        ],
      );
    });
    it("finds a repeated key as the syntax tree does, escaped or not, at any depth (property)", function () {
      const hasDuplicateKey = (text: string): boolean =>
        parseJsonDocument("f.json", text).problems.some((p) => p.message.startsWith("duplicate"));
      fc.assert(
        fc.property(jsonText(), (text) => hasDuplicateKey(text) === treeHasDuplicateKey(text)),
        { numRuns: 500 },
      );
      assert.strictEqual(hasDuplicateKey('{"a": 1, "\\u0061": 2}'), true);
      assert.strictEqual(hasDuplicateKey('{"a": {"a": 1}, "b": ["a", "a"], "c": "a"}'), false);
      assert.strictEqual(hasDuplicateKey('[{"a": 1}, {"a": 2}]'), false);
      assert.strictEqual(hasDuplicateKey('{"x": [{}, {"k\\"": 1, "k\\"": 2}]}'), true);
    });
    it("whatever JSON.parse accepts, the located parser accepts with the same value (property)", function () {
      const strictTree = (text: string) => {
        const errors: ParseError[] = [];
        const root = parseTree(text, errors, {
          disallowComments: true,
          allowTrailingComma: false,
          allowEmptyContent: false,
        });
        return { root, errors };
      };
      const texts = fc.oneof(
        jsonText(),
        fc.json(),
        fc.string({
          unit: fc.constantFrom("{", "}", "[", "]", '"', ":", ",", " ", "1", "a", "\\"),
        }),
      );
      fc.assert(
        fc.property(texts, (text) => {
          const parsed = parseJsonDocument("f.json", text);
          let valid = true;
          try {
            JSON.parse(text);
          } catch (err) {
            if (!(err instanceof SyntaxError)) {
              throw err;
            }
            valid = false;
          }
          if (!valid || treeHasDuplicateKey(text)) {
            return parsed.doc === undefined && parsed.problems.length > 0;
          }
          const tree = strictTree(text);
          return (
            parsed.problems.length === 0 &&
            tree.errors.length === 0 &&
            JSON.stringify(parsed.doc?.value) === JSON.stringify(JSON.parse(text)) &&
            withoutParents(parsed.doc?.root) === withoutParents(tree.root)
          );
        }),
        { numRuns: 500 },
      );
    });
    it("lineColumnAt counts lines and columns from 1", function () {
      assert.deepStrictEqual(lineColumnAt("ab\ncd", 0), { line: 1, column: 1 });
      assert.deepStrictEqual(lineColumnAt("ab\ncd", 4), { line: 2, column: 2 });
    });
    it("lineColumnAt agrees with counting newlines, for any text and offset (property)", function () {
      fc.assert(
        fc.property(
          fc.string({ unit: fc.constantFrom("a", "\n", "\r", "é") }),
          fc.nat(),
          (text, n) => {
            const offset = n % (text.length + 1);
            const before = text.slice(0, offset).split("\n");
            return (
              JSON.stringify(lineColumnAt(text, offset)) ===
              JSON.stringify({ line: before.length, column: before[before.length - 1].length + 1 })
            );
          },
        ),
      );
    });
    it("names the file and the place when arrays nest too deep, instead of overflowing the stack", async function () {
      const deep = `{"containerOverrides": ${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
      assert.deepStrictEqual(await check(deep), [
        `jobs/x.json:1:${23 + MAX_JSON_DEPTH}: arrays and objects are nested more than ${MAX_JSON_DEPTH} levels deep here; a job or sweep file needs fewer than 10: check for unbalanced brackets`,
      ]);
      // Brackets inside strings do not count; 64 levels still parse.
      const fine = `${"[".repeat(MAX_JSON_DEPTH - 1)}"[[[{\\"["${"]".repeat(MAX_JSON_DEPTH - 1)}`;
      assert.strictEqual(parseJsonDocument("f.json", fine).problems.length, 0);
      assert.strictEqual(tooDeepAt(fine), -1);
    });
    it("refuses a NUL byte in a variable, which no process can be given", async function () {
      assert.deepStrictEqual(await check(job([SAVE, { name: "var_a", value: "1\u00002" }])), [
        'jobs/x.json:11:18: containerOverrides.environment[1].value: the value of "var_a" contains a NUL byte (at character 2), which no environment variable or argument can hold; remove it',
      ]);
      assert.match(
        (await check(job([SAVE, { name: "VAR\u0000", value: "1" }])))[0],
        /environment\[1\]\.name: the name "VAR\\u0000" contains a NUL byte/,
      );
    });
  });

  describe("unknown and mistyped fields", function () {
    it("names an unknown field and suggests the real one", async function () {
      assert.deepStrictEqual(
        await check(JSON.stringify({ jobName: "j", containerOverides: {} }, null, 2)),
        [
          'jobs/x.json:3:3: containerOverides: unknown field "containerOverides"; did you mean "containerOverrides"?',
        ],
      );
      const nested = await check(job([SAVE], { retryStrategy: { attemps: 2 } }));
      assert.deepStrictEqual(nested, [
        'jobs/x.json:12:5: retryStrategy.attemps: unknown field "attemps"; did you mean "attempts"?',
      ]);
    });
    it("lists the allowed fields when nothing is close", async function () {
      assert.match(
        (await check('{"jobName": "j", "timeout": {"zzz": 1}}'))[0],
        /unknown field "zzz"; allowed here: attemptDurationSeconds/,
      );
    });
    it("says how to fix a number where a string belongs, and the reverse", async function () {
      assert.deepStrictEqual(
        await check(job([{ name: "var_a", value: 3 as unknown as string }, SAVE])),
        [
          'jobs/x.json:7:18: containerOverrides.environment[0].value: expected string, got number 3; write it in quotes: "3"',
        ],
      );
      assert.deepStrictEqual(
        await check('{"jobName": "j", "containerOverrides": {"vcpus": "2"}}'),
        [
          'jobs/x.json:1:50: containerOverrides.vcpus: expected number, got the string "2"; write it without quotes: 2',
        ],
      );
    });
    it("checks enums and ranges of SubmitJob fields", async function () {
      const problems = await check(
        JSON.stringify({
          jobName: "j",
          dependsOn: [{ jobId: "x", type: "ALL" }],
          arrayProperties: { size: 1 },
          timeout: { attemptDurationSeconds: 30 },
          retryStrategy: { attempts: 11 },
          schedulingPriorityOverride: -1,
          containerOverrides: { resourceRequirements: [{ type: "CPU", value: "1" }] },
        }),
      );
      const text = problems.join("\n");
      assert.match(
        text,
        /dependsOn\[0\]\.type: the string "ALL" is not allowed; use one of "N_TO_N", "SEQUENTIAL"/,
      );
      assert.match(text, /arrayProperties\.size: number 1 is out of range; must be at least 2/);
      assert.match(
        text,
        /timeout\.attemptDurationSeconds: number 30 is out of range; must be at least 60/,
      );
      assert.match(text, /retryStrategy\.attempts: number 11 is out of range; must be at most 10/);
      assert.match(
        text,
        /schedulingPriorityOverride: number -1 is out of range; must be at least 0/,
      );
      assert.match(
        text,
        /resourceRequirements\[0\]\.type: the string "CPU" is not allowed; use one of "GPU", "MEMORY", "VCPU"/,
      );
    });
    it("accepts every SubmitJob field", async function () {
      const full = {
        jobName: "full",
        jobQueue: "q",
        shareIdentifier: "team-a",
        schedulingPriorityOverride: 10,
        arrayProperties: { size: 4 },
        dependsOn: [{ jobId: "11111111-2222-3333-4444-555555555555", type: "N_TO_N" }],
        parameters: { p: "v" },
        containerOverrides: {
          command: ["python3", "/app/run_job.py"],
          environment: [SAVE],
          resourceRequirements: [{ type: "VCPU", value: "2" }],
          instanceType: "m5.large",
        },
        retryStrategy: { attempts: 3, evaluateOnExit: [{ onExitCode: "137", action: "retry" }] },
        propagateTags: true,
        timeout: { attemptDurationSeconds: 3600 },
        tags: { project: "x" },
        consumableResourcePropertiesOverride: {
          consumableResourceList: [{ consumableResource: "r", quantity: 1 }],
        },
      };
      assert.deepStrictEqual(await check(JSON.stringify(full)), []);
      const parsed = parseJsonDocument("f.json", JSON.stringify(full));
      const loaded = loadJob(parsed.doc!).job as LoadedJob;
      // The API takes either case; the request carries the SDK's upper case.
      assert.strictEqual(loaded.fields.retryStrategy?.evaluateOnExit?.[0].action, "RETRY");
    });
    it("refuses a job definition of the file's own and the overrides only such definitions take", async function () {
      const problems = await check(
        JSON.stringify(
          {
            jobName: "j",
            jobDefinition: "d:1",
            containerOverrides: { environment: [SAVE] },
            ecsPropertiesOverride: { taskProperties: [] },
            eksPropertiesOverride: {},
            nodeOverrides: { numNodes: 2 },
          },
          null,
          2,
        ),
      );
      const rule =
        ", but every job runs the stack's single-container job definition (stack output " +
        "jobDefinitionArn); remove";
      assert.deepStrictEqual(problems, [
        `jobs/x.json:3:3: jobDefinition: "jobDefinition" names a job definition of the file's own${rule} "jobDefinition" and put the job's settings in containerOverrides`,
        `jobs/x.json:12:3: ecsPropertiesOverride: "ecsPropertiesOverride" is for job definitions with ecsProperties${rule} "ecsPropertiesOverride" and put the job's settings in containerOverrides`,
        `jobs/x.json:15:3: eksPropertiesOverride: "eksPropertiesOverride" is for EKS job definitions${rule} "eksPropertiesOverride" and put the job's settings in containerOverrides`,
        `jobs/x.json:16:3: nodeOverrides: "nodeOverrides" is for multi-node parallel job definitions${rule} "nodeOverrides" and put the job's settings in containerOverrides`,
      ]);
    });
  });

  describe("job names", function () {
    it("takes the file name when jobName is left out", async function () {
      const parsed = parseJsonDocument(
        "jobs/sample_job_1.json",
        '{"containerOverrides": {"environment": [{"name": "save_name", "value": "a"}]}}',
      );
      assert.strictEqual(loadJob(parsed.doc!).job?.jobName, "sample_job_1");
      assert.match(
        (await check("{}", "jobs/my job.json"))[0],
        /jobName: job name "my job" .* \(taken from the file name; set jobName\)/,
      );
    });
    it("enforces the API's rule: 1-128 letters, digits, - and _, starting alphanumeric", async function () {
      assert.strictEqual(checkJobName("run_1-a"), undefined);
      assert.match(checkJobName("-x") ?? "", /must start with a letter or digit/);
      assert.match(checkJobName("a.b/c") ?? "", /found "\.", "\/"/);
      assert.match(checkJobName("a".repeat(129)) ?? "", /129 characters; the limit is 128/);
      assert.match(checkJobName("") ?? "", /empty/);
      assert.match(
        (await check('{"jobName": "bad name"}'))[0],
        /^jobs\/x\.json:1:13: jobName: job name "bad name"/,
      );
    });
    it("agrees with the API pattern on arbitrary strings", function () {
      fc.assert(
        fc.property(fc.string({ maxLength: 140 }), (s) => {
          const api = /^[a-zA-Z0-9][a-zA-Z0-9_-]*$/.test(s) && s.length <= 128;
          assert.strictEqual(checkJobName(s) === undefined, api);
          assert.strictEqual(JOB_NAME_PATTERN.test(s), api);
        }),
      );
    });
  });

  describe("environment variables against the script's options", function () {
    it("checks the variables of a file that failed the schema too: names, values, repeats", async function () {
      const text = JSON.stringify(
        {
          containerOverrides: {
            vcpus: "2",
            environment: [
              { name: "var_c", value: "1" },
              { name: "var_a", value: "a\u0000b" },
              { name: "var_a", value: 3 },
            ],
          },
        },
        null,
        2,
      );
      const doc = parseJsonDocument("jobs/x.json", text).doc!;
      assert.strictEqual(loadJob(doc).job, undefined, "the schema refuses it");
      assert.deepStrictEqual(
        (await checkVariables([doc], SCRIPT_DESCRIPTION, CHECK)).problems.map(formatProblem),
        [
          'jobs/x.json:6:17: containerOverrides.environment[0].name: "var_c" is not an option of container/job/script.py (declared: var_a, var_b, save_name); fix the name or add the option to the script',
          'jobs/x.json:11:18: containerOverrides.environment[1].value: the value of "var_a" contains a NUL byte (at character 2), which no environment variable or argument can hold; remove it',
          'jobs/x.json:14:17: containerOverrides.environment[2].name: "var_a" is set twice; keep one of them',
        ],
      );
    });
    it("catches a misspelt option with the script's declared options", async function () {
      assert.deepStrictEqual(await check(job([{ name: "var_c", value: "1" }, SAVE])), [
        'jobs/x.json:6:17: containerOverrides.environment[0].name: "var_c" is not an option of container/job/script.py (declared: var_a, var_b, save_name); fix the name or add the option to the script',
      ]);
    });
    it("requires the required options", async function () {
      assert.deepStrictEqual(await check(job([{ name: "var_a", value: "1" }])), [
        'jobs/x.json:4:20: containerOverrides.environment: container/job/script.py requires --save_name: set the variable "save_name"',
      ]);
    });
    it("refuses AWS_BATCH_* names, which AWS Batch reserves", async function () {
      assert.match(
        (await check(job([SAVE, { name: "AWS_BATCH_JOB_ID", value: "x" }])))[0],
        /environment\[1\]\.name: "AWS_BATCH_JOB_ID" is reserved: names starting with AWS_BATCH are set by AWS Batch/,
      );
    });
    it("refuses the tool's own and the job definition's BATCHPY_ variables, and typos of them", async function () {
      const text = (
        await check(
          job([
            SAVE,
            { name: "BATCHPY_JOB_NAME", value: "x" },
            { name: "BATCHPY_BUCKET", value: "b" },
            { name: "BATCHPY_INPUT", value: "a" },
          ]),
        )
      ).join("\n");
      assert.match(text, /"BATCHPY_JOB_NAME" is set by jobs\/ to the job name; remove it/);
      assert.match(text, /"BATCHPY_BUCKET" is set by the job definition/);
      assert.match(
        text,
        /"BATCHPY_INPUT" is not a batchpy variable \(a job may set BATCHPY_INPUTS, BATCHPY_OUTPUT_DIR, BATCHPY_S3_MAX_ATTEMPTS\)/,
      );
      assert.deepStrictEqual(
        await check(job([SAVE, { name: "BATCHPY_INPUTS", value: "data.csv" }])),
        [],
      );
    });
    it("passes plain environment through: names without lower case, and proxies", async function () {
      assert.deepStrictEqual(
        await check(
          job([
            SAVE,
            { name: "OMP_NUM_THREADS", value: "4" },
            { name: "https_proxy", value: "http://p" },
          ]),
        ),
        [],
      );
    });
    it("refuses a name that differs from an option only by case or -/_, with the option", async function () {
      assert.deepStrictEqual(await check(job([SAVE, { name: "VAR_A", value: "6" }])), [
        'jobs/x.json:10:17: containerOverrides.environment[1].name: "VAR_A" is not an option of container/job/script.py, ' +
          'but differs from "var_a" only by case or -/_ (names are case-sensitive): did you mean var_a? ' +
          'To pass "VAR_A" to the script as plain environment, add --plain-env VAR_A',
      ]);
      assert.match(
        (await check(job([SAVE, { name: "Save-Name", value: "x" }])))[0],
        /did you mean save_name\?$/,
      );
      assert.match(
        (await check(job([SAVE, { name: "VAR-B", value: "6" }])))[0],
        /did you mean var_b\?/,
      );
      // The documented way to mean plain environment.
      const plain = { ...SCRIPT_DESCRIPTION, plainEnv: new Set(["VAR_A"]) };
      const parsed = parseJsonDocument("jobs/x.json", job([SAVE, { name: "VAR_A", value: "6" }]));
      const checked = await checkVariables([loadJob(parsed.doc!).job!], plain, CHECK);
      assert.deepStrictEqual(checked.problems, []);
      const lower = { ...SCRIPT_DESCRIPTION, plainEnv: new Set(["var_a"]) };
      const refused = await checkVariables([], lower, CHECK);
      assert.match(refused.problems[0].message, /only names without lower-case letters/);
    });
    it("refuses a variable set twice", async function () {
      assert.match(
        (await check(job([SAVE, { name: "save_name", value: "b" }])))[0],
        /environment\[1\]\.name: "save_name" is set twice; keep one of them/,
      );
    });
    it("checks values the entrypoint would refuse: flags, counts, aliases, exclusive groups", async function () {
      const desc = parseDescription(
        JSON.stringify({
          script: "train.py",
          options: [
            {
              env: "verbose",
              aliases: [],
              flag: "--verbose",
              kind: "flag",
              required: false,
              action: "store_true",
            },
            { env: "v", aliases: [], flag: "-v", kind: "value", required: false, action: "count" },
            {
              env: "out-dir",
              aliases: ["out_dir"],
              flag: "--out-dir",
              kind: "value",
              required: true,
              action: "store",
            },
            {
              env: "gpu",
              aliases: [],
              flag: "--gpu",
              kind: "flag",
              required: false,
              action: "store_true",
            },
            {
              env: "cpu",
              aliases: [],
              flag: "--cpu",
              kind: "flag",
              required: false,
              action: "store_true",
            },
          ],
          groups: [{ required: true, options: ["gpu", "cpu"] }],
        }),
        "fixture",
      );
      const run = async (env: { name: string; value: string }[]): Promise<string> => {
        const parsed = parseJsonDocument("t.json", job(env));
        const checked = await checkVariables([loadJob(parsed.doc!).job!], desc, checkAgainst(desc));
        return checked.problems.map(formatProblem).join("\n");
      };
      // The alias (argparse dest) is accepted for a required option.
      assert.strictEqual(
        await run([
          { name: "out_dir", value: "o" },
          { name: "gpu", value: "yes" },
        ]),
        "",
      );
      const bad = await run([
        { name: "out_dir", value: "o" },
        { name: "out-dir", value: "p" },
        { name: "verbose", value: "maybe" },
        { name: "v", value: "lots" },
        { name: "gpu", value: "1" },
        { name: "cpu", value: "true" },
      ]);
      assert.match(
        bad,
        /variables "out-dir" and "out_dir" both set --out-dir with different values/,
      );
      assert.match(
        bad,
        /"verbose" = "maybe" is not a flag value: use one of true, 1, yes \(option on\) or false, 0, no/,
      );
      assert.match(bad, /"v" = "lots" must be a count from 0 to 1000/);
      assert.match(
        bad,
        /container\/job\/train\.py accepts only one of gpu, cpu, but gpu and cpu are set/,
      );
      assert.match(await run([{ name: "out_dir", value: "o" }]), /requires one of gpu, cpu/);
    });
  });

  it("suggest() only offers close matches", function () {
    assert.strictEqual(suggest("enviroment", ["environment", "command"]), "environment");
    assert.strictEqual(suggest("xyz", ["environment", "command"]), undefined);
    assert.strictEqual(suggest("JOBNAME", ["jobName"]), "jobName");
  });
});
