/**
 * `.github/workflows/review.yml`: valid against GitHub's workflow schema (checked by
 * action-validator, offline), every action pinned by commit SHA with its version beside it,
 * least permissions, and only npm scripts that exist.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";

const ROOT = path.resolve(__dirname, "..", "..");
const WORKFLOW = path.join(ROOT, ".github", "workflows", "review.yml");
const VALIDATOR = path.join(ROOT, "node_modules", "@action-validator", "cli", "cli.mjs");

interface Step {
  readonly uses?: string;
  readonly run?: string;
  readonly if?: string;
  readonly env?: Record<string, string>;
}
interface Job {
  readonly name?: string;
  readonly if?: string;
  readonly needs?: string[];
  readonly permissions?: Record<string, string>;
  readonly "timeout-minutes"?: number;
  readonly steps: Step[];
}
interface Workflow {
  readonly on: Record<string, unknown>;
  readonly permissions: Record<string, string>;
  readonly concurrency: { group: string; "cancel-in-progress": boolean };
  readonly jobs: Record<string, Job>;
}

function validate(file: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [VALIDATOR, file], { encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe(".github/workflows/review.yml", () => {
  const text = fs.readFileSync(WORKFLOW, "utf8");
  const workflow = parseYaml(text) as Workflow;
  const steps = Object.values(workflow.jobs).flatMap((job) => job.steps);

  it("is a valid workflow by GitHub's schema (action-validator, offline)", () => {
    const { status, output } = validate(WORKFLOW);
    assert.equal(status, 0, output);
  });

  it("is checked for real: the validator refuses a misspelt key", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "batchpy-workflow-"));
    try {
      const broken = path.join(dir, "review.yml");
      fs.writeFileSync(broken, text.replace("runs-on:", "runs-onn:"));
      const { status, output } = validate(broken);
      assert.notEqual(status, 0, output);
      assert.match(output, /Additional property 'runs-onn' is not allowed/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("pins every action by full commit SHA, with its version in a comment", () => {
    const lines = text.split("\n").filter((line) => /^\s*-?\s*uses:/.test(line));
    assert.equal(lines.length, steps.filter((s) => s.uses).length, "every uses: on its own line");
    for (const line of lines) {
      assert.match(
        line,
        /uses: [\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$/,
        `not pinned by SHA with a version comment: ${line.trim()}`,
      );
    }
  });

  it("runs on pull requests, one run per branch, with no permissions unless a job asks", () => {
    assert.ok("pull_request" in workflow.on);
    assert.deepEqual(workflow.permissions, {});
    assert.match(workflow.concurrency.group, /github\.head_ref \|\| github\.ref/);
    assert.equal(workflow.concurrency["cancel-in-progress"], true);
    for (const [id, job] of Object.entries(workflow.jobs)) {
      assert.ok(job.permissions, `${id} sets its permissions`);
      assert.ok(job["timeout-minutes"], `${id} has a timeout`);
      const write = Object.entries(job.permissions).filter(([, level]) => level === "write");
      assert.deepEqual(
        write.map(([scope]) => scope),
        id === "preview" ? ["id-token"] : [],
        `${id} writes only what it must`,
      );
    }
  });

  it("gates the preview on the role variable and the Pulumi token, never secrets in a job if", () => {
    const { gate, preview } = workflow.jobs;
    assert.equal(preview.if, "needs.gate.outputs.preview == 'true'");
    for (const job of Object.values(workflow.jobs)) {
      assert.ok(!/secrets\./.test(job.if ?? ""), "the secrets context is not allowed in a job if");
    }
    const check = gate.steps.find((s) => s.env?.PULUMI_ACCESS_TOKEN);
    assert.equal(check?.env?.AWS_ROLE_ARN, "${{ vars.AWS_ROLE_ARN }}");
    assert.equal(check?.env?.PULUMI_ACCESS_TOKEN, "${{ secrets.PULUMI_ACCESS_TOKEN }}");
    assert.match(check?.run ?? "", /skipped: no credentials/);
    const pulumi = preview.steps.find((s) => s.uses?.startsWith("pulumi/actions@"));
    assert.ok(pulumi, "the preview uses Pulumi's official action");
    assert.ok(
      preview.steps.some((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@")),
      "AWS credentials from OIDC",
    );
  });

  it("calls only npm scripts that exist, and writes the markdown verdict to the job summary", () => {
    const scripts = (
      JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
        scripts: Record<string, string>;
      }
    ).scripts;
    const called = steps.flatMap((s) =>
      [...(s.run ?? "").matchAll(/\bnpm (?:run(?: --silent| -s)? ([\w:.-]+)|(test)\b)/g)].map(
        (m) => m[1] ?? m[2],
      ),
    );
    assert.deepEqual([...new Set(called)].sort(), ["policy:check", "test"]);
    for (const script of called) {
      assert.ok(scripts[script], `package.json has no script ${script}`);
    }
    const policy = steps.find((s) => s.run?.includes("policy:check"));
    assert.match(policy?.run ?? "", /--all-stacks --markdown > policy-check\.md/);
    assert.match(policy?.run ?? "", /cat policy-check\.md >> "\$GITHUB_STEP_SUMMARY"/);
    assert.match(policy?.run ?? "", /exit "\$status"/);
  });

  it("installs Python dev requirements only from a file of the repository", () => {
    const pip = steps.find((s) => s.run?.includes("pip install"));
    const file = /-r (\S+)/.exec(pip?.run ?? "")?.[1];
    assert.ok(file, "pip installs from a requirements file");
    // Installed when the file exists (the container's dev requirements), skipped otherwise.
    assert.equal(pip?.if, `hashFiles('${file}') != ''`);
  });
});
