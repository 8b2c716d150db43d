import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  UsageError,
  main,
  parseConfigOverrides,
  readExtraResources,
  stacksToCheck,
} from "../../policy/check/cli";

describe("policy:check options", () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "batchpy-policy-options-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reads --config key=value pairs, giving bare keys the project's namespace", () => {
    assert.deepEqual(
      parseConfigOverrides(["batchpy:minVcpus=2", "maxVcpus=8", "aws:region=eu-west-1"]),
      {
        "batchpy:minVcpus": "2",
        "batchpy:maxVcpus": "8",
        "aws:region": "eu-west-1",
      },
    );
    assert.deepEqual(parseConfigOverrides(['batchpy:tags={"a":"b=c"}']), {
      "batchpy:tags": '{"a":"b=c"}',
    });
    assert.throws(() => parseConfigOverrides(["minVcpus"]), UsageError);
  });

  it("turns --extra-resources into resources with the stack's URNs", async () => {
    const file = path.join(dir, "extra.json");
    fs.writeFileSync(
      file,
      JSON.stringify([
        {
          type: "aws:iam/userPolicyAttachment:UserPolicyAttachment",
          name: "admin",
          inputs: { user: "u" },
        },
      ]),
    );
    assert.deepEqual((await readExtraResources(file))("batchpy", "dev"), [
      {
        urn: "urn:pulumi:dev::batchpy::aws:iam/userPolicyAttachment:UserPolicyAttachment::admin",
        type: "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        name: "admin",
        inputs: { user: "u" },
      },
    ]);
  });

  it("refuses an --extra-resources file that is not a list of typed resources", async () => {
    const file = path.join(dir, "bad.json");
    fs.writeFileSync(file, JSON.stringify([{ type: "Role", name: "" }]));
    await assert.rejects(
      readExtraResources(file),
      (err: Error) =>
        err instanceof UsageError &&
        /\[0\]\.type: a type token/.test(err.message) &&
        /\[0\]\.name: /.test(err.message),
    );
    fs.writeFileSync(file, "[");
    await assert.rejects(readExtraResources(file), /--extra-resources .*bad\.json/);
  });

  it("lists every Pulumi.<stack>.yaml for --all-stacks, sorted, and refuses a project with none", async () => {
    const project = path.join(dir, "stacks");
    fs.mkdirSync(project);
    for (const file of ["Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.dev.yaml", "Pulumi.yaml.bak"]) {
      fs.writeFileSync(path.join(project, file), "");
    }
    assert.deepEqual(await stacksToCheck({ stack: "x", allStacks: true, projectDir: project }), [
      "dev",
      "prod",
    ]);
    assert.deepEqual(await stacksToCheck({ stack: "x", allStacks: false, projectDir: project }), [
      "x",
    ]);
    const empty = path.join(dir, "empty");
    fs.mkdirSync(empty);
    await assert.rejects(
      stacksToCheck({ stack: "dev", allStacks: true, projectDir: empty }),
      /--all-stacks found no Pulumi.<stack>.yaml/,
    );
  });

  it("refuses contradictory options with exit 2 before starting anything", async () => {
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) =>
      written.push(chunk) > 0) as typeof process.stderr.write;
    try {
      assert.equal(await main(["--stack", "prod", "--all-stacks"]), 2);
      assert.equal(await main(["--json", "--markdown"]), 2);
      assert.equal(await main(["--project-dir", dir]), 2);
    } finally {
      process.stderr.write = write;
    }
    assert.deepEqual(written, [
      "policy:check: --stack and --all-stacks cannot be used together; pass one of them.\n",
      "policy:check: --json and --markdown disagree; pass one of them.\n",
      `policy:check: --project-dir ${dir} has no Pulumi.yaml; pass the folder of a Pulumi project.\n`,
    ]);
  });
});
