import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { UsageError, parseConfigOverrides, readExtraResources } from "../../policy/check/cli";

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

  it("turns --extra-resources into resources with the stack's URNs", () => {
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
    assert.deepEqual(readExtraResources(file, "batchpy", "dev"), [
      {
        urn: "urn:pulumi:dev::batchpy::aws:iam/userPolicyAttachment:UserPolicyAttachment::admin",
        type: "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        name: "admin",
        inputs: { user: "u" },
      },
    ]);
  });

  it("refuses an --extra-resources file that is not a list of typed resources", () => {
    const file = path.join(dir, "bad.json");
    fs.writeFileSync(file, JSON.stringify([{ type: "Role", name: "" }]));
    assert.throws(
      () => readExtraResources(file, "batchpy", "dev"),
      (err: Error) =>
        err instanceof UsageError &&
        /\[0\]\.type: a type token/.test(err.message) &&
        /\[0\]\.name: /.test(err.message),
    );
    fs.writeFileSync(file, "[");
    assert.throws(
      () => readExtraResources(file, "batchpy", "dev"),
      /--extra-resources .*bad\.json/,
    );
  });
});
