import * as assert from "assert";
import { Image, keepLastImagesPolicy, validateImageArgs } from "../../components/image";
import { json, mockRun, ofType, single } from "../helpers/pulumi";

describe("Image", () => {
  it("builds the context into a scanned repository that keeps the last images", async () => {
    const { resources, outputs } = await mockRun(() => {
      const image = new Image("i", { context: "/src/container", keepImages: 5, forceDelete: true });
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
    const build = single(resources, "awsx:ecr:Image");
    assert.strictEqual(build.parent, component.urn);
    assert.strictEqual(build.inputs.context, "/src/container");
    assert.strictEqual(build.inputs.platform, "linux/amd64");
    assert.strictEqual(build.inputs.repositoryUrl, repo.state.repositoryUrl);
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
      new Image("i", { context: "c" });
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
    assert.strictEqual(ofType(resources, "awsx:ecr:Image").length, 1);
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
