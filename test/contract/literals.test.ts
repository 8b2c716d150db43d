/**
 * One contract: the job-name rule, the bucket prefixes, the BATCHPY_* names, the names that
 * are plain environment, and the metrics file and log line live in container/contract.json only. This fails when the code of components/, jobs/, policy/,
 * index.ts or the entrypoint writes one of them out again (comments, docstrings, tests and
 * docs aside), so the two languages cannot drift apart again.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";
import contract from "../../container/contract.json";
import { REPO_ROOT, explain, runPython } from "../helpers/python";

/** TypeScript code without its comments, as the compiler prints it. */
function stripTs(text: string, name = "x.ts"): string {
  const source = ts.createSourceFile(name, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  return ts.createPrinter({ removeComments: true }).printFile(source);
}

function tsCode(file: string): string {
  return stripTs(fs.readFileSync(file, "utf8"), file);
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== "node_modules" && entry.name !== "bin") {
      out.push(...tsFiles(full));
    } else if (entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
      out.push(full);
    }
  }
  return out;
}

/** Python code without comments and docstrings: {file: code}. */
async function pythonCode(files: string[]): Promise<Record<string, string>> {
  const run = await runPython([
    "-c",
    [
      "import ast, io, json, sys, tokenize",
      "out = {}",
      "for f in sys.argv[1:]:",
      "    src = open(f, encoding='utf-8').read()",
      "    docs = set()",
      "    for node in ast.walk(ast.parse(src)):",
      "        body = getattr(node, 'body', None)",
      "        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):",
      "            docs.add(body[0].lineno)",
      "    toks = [t.string for t in tokenize.generate_tokens(io.StringIO(src).readline) if t.type != tokenize.COMMENT and not (t.type == tokenize.STRING and t.start[0] in docs)]",
      "    out[f] = ' '.join(toks)",
      "print(json.dumps(out))",
    ].join("\n"),
    ...files,
  ]);
  assert.strictEqual(run.code, 0, explain(run));
  return JSON.parse(run.stdout) as Record<string, string>;
}

function pyFiles(): string[] {
  const pkg = path.join(REPO_ROOT, "container", "batchpy_job");
  return [
    path.join(REPO_ROOT, "container", "run_job.py"),
    ...fs
      .readdirSync(pkg)
      .filter((f) => f.endsWith(".py"))
      .map((f) => path.join(pkg, f)),
  ];
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const pattern = contract.jobName.pattern;
/** What counts as writing a contract fact out again. */
const FORBIDDEN: { what: string; re: RegExp }[] = [
  { what: "a BATCHPY_* name", re: new RegExp(`${escape(contract.reservedPrefix)}[A-Z0-9]`) },
  { what: "the job-name pattern", re: new RegExp(escape(pattern.slice(1, -1))) },
  { what: "a job-name character class", re: new RegExp(escape(`[${contract.jobName.chars}]`)) },
  { what: "the old job-name pattern", re: /\[A-Za-z0-9_-\]\{1,128\}/ },
  { what: "the metrics file name", re: new RegExp(escape(contract.metrics.file)) },
  { what: "the metrics log line", re: new RegExp(escape(contract.metrics.logLinePrefix.trim())) },
  ...contract.options.plainLowercase.map((name) => ({
    what: "a plain-environment name",
    re: new RegExp(`["'\`]${escape(name)}["'\`]`),
  })),
  ...Object.values(contract.bucketPrefixes).map((p) => ({
    what: `the bucket prefix ${p}`,
    // As a word: "inputs/" but not "my-inputs/" or a path such as "test/inputs/x".
    re: new RegExp(`(^|[^A-Za-z0-9_./-])${escape(p)}`),
  })),
];

/**
 * The policy pack is published on its own and imports nothing outside policy/: the prefixes
 * a job role may read and write are a copy, which test/policy/iam-job-role.test.ts holds to
 * the contract.
 */
const PACK_COPIES = [
  "policy/iam-job-role.ts: the bucket prefix inputs/",
  "policy/iam-job-role.ts: the bucket prefix results/",
  "policy/iam-job-role.ts: the bucket prefix logs/",
];

function offences(code: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [file, text] of Object.entries(code)) {
    for (const { what, re } of FORBIDDEN) {
      const m = re.exec(text);
      if (m !== null) {
        const at = text.slice(Math.max(0, m.index - 30), m.index + 50);
        found.push(`${path.relative(REPO_ROOT, file)}: ${what} in ${JSON.stringify(at)}`);
      }
    }
  }
  return found;
}

describe("contract: shared facts live only in container/contract.json", function () {
  it("no TypeScript of components/, jobs/, policy/ or index.ts writes one out", function () {
    const files = [
      path.join(REPO_ROOT, "index.ts"),
      ...["components", "jobs", "policy"].flatMap((d) => tsFiles(path.join(REPO_ROOT, d))),
    ];
    const code = Object.fromEntries(files.map((f) => [f, tsCode(f)]));
    assert.deepStrictEqual(
      offences(code).filter((o) => !PACK_COPIES.some((copy) => o.startsWith(copy))),
      [],
    );
  });

  it("no Python of the entrypoint writes one out", async function () {
    assert.deepStrictEqual(offences(await pythonCode(pyFiles())), []);
  });

  it("catches each kind of copy (the checker itself)", function () {
    const samples = {
      "a.ts": `const x = "BATCHPY_JOB_NAME"; const r = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;`,
      "b.ts": "const k = `results/${name}/`; const m = 'inputs/sweeps/';",
      "c.ts": "// BATCHPY_JOB_NAME in a comment, and results/ too\nconst ok = `my-results/`;",
      "d.ts": 'const plain = ["http_proxy", "no_proxy"];',
    };
    const found = offences(
      Object.fromEntries(Object.entries(samples).map(([f, text]) => [f, stripTs(text)])),
    );
    assert.strictEqual(found.filter((f) => f.startsWith("a.ts")).length, 3, found.join("\n"));
    assert.ok(found.some((f) => f.startsWith("b.ts") && f.includes("results/")));
    assert.ok(found.some((f) => f.startsWith("b.ts") && f.includes("inputs/sweeps/")));
    assert.ok(!found.some((f) => f.startsWith("c.ts")), found.join("\n"));
    assert.strictEqual(found.filter((f) => f.startsWith("d.ts")).length, 2, found.join("\n"));
  });
});
