import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import {
  CONTEXT_LABEL,
  hashBuildContext,
  Image,
  keepLastImagesPolicy,
  validateImageArgs,
} from "../../components/image";
import { json, mockRun, ofType, single } from "../helpers/pulumi";

const ROOT = path.resolve(__dirname, "..", "..");

describe("Image", () => {
  it("builds the context into a scanned repository that keeps the last images", async () => {
    const { resources, outputs } = await mockRun(() => {
      const image = new Image("i", {
        context: "container",
        projectRoot: ROOT,
        keepImages: 5,
        forceDelete: true,
      });
      return { imageUri: image.imageUri };
    });
    const component = single(resources, "batchpy:image:Image");
    const repo = single(resources, "aws:ecr/repository:Repository");
    assert.strictEqual(repo.parent, component.urn);
    assert.deepStrictEqual(repo.inputs.imageScanningConfiguration, { scanOnPush: true });
    assert.strictEqual(repo.inputs.forceDelete, true);
    const lifecycle = single(resources, "aws:ecr/lifecyclePolicy:LifecyclePolicy");
    assert.strictEqual(lifecycle.inputs.repository, repo.state.name);
    assert.deepStrictEqual(json(lifecycle.inputs.policy), keepLastImagesPolicy(5));
    const build = single(resources, "docker-build:index:Image");
    assert.strictEqual(build.parent, component.urn);
    assert.deepStrictEqual(build.inputs.context, { location: "container" });
    assert.deepStrictEqual(build.inputs.platforms, ["linux/amd64"]);
    assert.strictEqual(build.inputs.push, true);
    const hash = hashBuildContext(path.join(ROOT, "container"));
    assert.deepStrictEqual(build.inputs.tags, [
      `${String(repo.state.repositoryUrl)}:ctx-${hash.slice(0, 16)}`,
    ]);
    assert.deepStrictEqual(build.inputs.labels, { [CONTEXT_LABEL]: hash });
    assert.strictEqual(build.inputs.buildOnPreview, true);
    assert.deepStrictEqual(build.inputs.registries, [
      {
        address: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        username: "AWS",
        password: "mock-ecr-password",
      },
    ]);
    assert.strictEqual(
      outputs.imageUri,
      `${String(repo.state.repositoryUrl)}@${build.state.digest}`,
    );
    assert.match(
      String(outputs.imageUri),
      /^123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/i-repo-[0-9a-f]+@sha256:[0-9a-f]{64}$/,
    );
  });

  it("uses an existing image without a repository or a build", async () => {
    const uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tools:1.4";
    const { resources, outputs } = await mockRun(() => {
      const image = new Image("i", { imageUri: uri });
      return { imageUri: image.imageUri };
    });
    assert.deepStrictEqual(
      resources.map((r) => r.type),
      ["batchpy:image:Image"],
    );
    assert.strictEqual(outputs.imageUri, uri);
  });

  it("keeps images for free by default: scan on push, repository kept on destroy", async () => {
    const { resources } = await mockRun(() => {
      new Image("i", { context: "container", projectRoot: ROOT });
      return {};
    });
    assert.strictEqual(
      single(resources, "aws:ecr/repository:Repository").inputs.forceDelete,
      false,
    );
    assert.deepStrictEqual(
      json(single(resources, "aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs.policy),
      keepLastImagesPolicy(10),
    );
    assert.strictEqual(ofType(resources, "docker-build:index:Image").length, 1);
  });

  it("previews without Docker when buildOnPreview is off", async () => {
    const { resources } = await mockRun(() => {
      new Image("i", { context: "container", projectRoot: ROOT, buildOnPreview: false });
      return {};
    });
    assert.strictEqual(single(resources, "docker-build:index:Image").inputs.buildOnPreview, false);
  });

  it("refuses an absolute context: the inputs would depend on the checkout's folder", () => {
    assert.throws(
      () => validateImageArgs("i", { context: "/home/me/batchpy/container" }),
      /Image 'i' has an absolute 'context' \('\/home\/me\/batchpy\/container'\); give it relative to the project folder/,
    );
  });

  it("rejects an image reference without a tag or digest, and a missing source", () => {
    assert.throws(
      () => validateImageArgs("i", { imageUri: "repo" }),
      /Image 'i' has 'imageUri' = 'repo'; it must be a full reference with a tag or digest/,
    );
    assert.throws(() => validateImageArgs("i", {}), /Image 'i' needs either 'context'/);
    assert.throws(
      () => validateImageArgs("i", { context: "c", keepImages: 0 }),
      /'keepImages' must be an integer from 1 to 10000/,
    );
  });
});

describe("build context hash", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "batchpy-context-"));
    fs.writeFileSync(path.join(dir, "Dockerfile"), "FROM scratch\n");
    fs.writeFileSync(path.join(dir, ".dockerignore"), "*\n!run_job.py\n");
    fs.writeFileSync(path.join(dir, "run_job.py"), "print(1)\n");
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Whether Docker would send `file` under these rules: editing it changes the hash. */
  function sends(rules: string, file: string): boolean {
    fs.writeFileSync(path.join(dir, ".dockerignore"), rules);
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), "a");
    const before = hashBuildContext(dir);
    fs.writeFileSync(path.join(dir, file), "b");
    const sent = hashBuildContext(dir) !== before;
    fs.rmSync(path.join(dir, file));
    return sent;
  }

  it("follows .dockerignore: the last matching line wins, folders take their contents", () => {
    const rules = "# comment\n*\n!keep.py\ncache/\n**/*.pyc\n";
    assert.strictEqual(sends(rules, "other.py"), false);
    assert.strictEqual(sends(rules, "keep.py"), true);
    assert.strictEqual(sends(rules, "cache/x"), false);
    assert.strictEqual(sends(rules, "a/b/c.pyc"), false);
    assert.strictEqual(sends(rules, "Keep.py"), false, "Docker on Linux tells case apart");
    // A folder written with its trailing "/" (as container/.dockerignore does) is re-included.
    const folders = "*\n!job/\n**/__pycache__\n";
    assert.strictEqual(sends(folders, "job/script.py"), true);
    // Every script of job/ goes, not only script.py: a job names the one it runs.
    assert.strictEqual(sends(folders, "job/gather.py"), true);
    assert.strictEqual(sends(folders, "job/helpers/opts.py"), true);
    assert.strictEqual(sends(folders, "job/__pycache__/script.pyc"), false);
    assert.strictEqual(sends(folders, "tests/a.py"), false);
  });

  it("changes with a sent file or the Dockerfile, not with an ignored file", () => {
    const before = hashBuildContext(dir);
    fs.writeFileSync(path.join(dir, "notes.txt"), "ignored");
    fs.mkdirSync(path.join(dir, "__pycache__"));
    fs.writeFileSync(path.join(dir, "__pycache__", "x.pyc"), "ignored");
    assert.strictEqual(hashBuildContext(dir), before);
    fs.writeFileSync(path.join(dir, "run_job.py"), "print(2)\n");
    const edited = hashBuildContext(dir);
    assert.notStrictEqual(edited, before);
    fs.writeFileSync(path.join(dir, "Dockerfile"), "FROM scratch\nUSER 1\n");
    assert.notStrictEqual(hashBuildContext(dir), edited);
  });

  it("is the same for a copy in another folder", () => {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), "batchpy-context-copy-"));
    try {
      fs.cpSync(dir, copy, { recursive: true });
      assert.strictEqual(hashBuildContext(copy), hashBuildContext(dir));
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });
});
