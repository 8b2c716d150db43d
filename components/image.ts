import dockerignore from "@balena/dockerignore";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as aws from "./aws";
import * as dockerBuild from "@pulumi/docker-build";
import * as pulumi from "@pulumi/pulumi";
import { checkRanges, ValidationError } from "./validation";

export const CONTEXT_LABEL = "batchpy.context-sha256";

export interface ImageArgs {
  /** The Dockerfile's folder, relative to `projectRoot` (the inputs are the same anywhere). */
  readonly context?: string;
  /** The project folder, to hash the context's files. @default process.cwd() (Pulumi's) */
  readonly projectRoot?: string;
  /**
   * Build during `pulumi preview` too, so a broken Dockerfile fails it (preview needs Docker).
   * @default true
   * @see https://www.pulumi.com/registry/packages/docker-build/api-docs/image/
   */
  readonly buildOnPreview?: boolean;
  /** An existing image (e.g. CI's): no repository, no build. @default - build `context` */
  readonly imageUri?: string;
  /** Images the repository keeps; older ones expire to keep storage cheap. @default 10 */
  readonly keepImages?: number;
  /** Delete the repository even while it holds images, for `pulumi destroy`. @default false */
  readonly forceDelete?: pulumi.Input<boolean>;
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export function validateImageArgs(name: string, args: ImageArgs): void {
  if (args.imageUri === undefined && args.context === undefined) {
    throw new ValidationError(
      `Image '${name}' needs either 'context' (a folder with a Dockerfile to build) or 'imageUri' (an existing image).`,
      "imageUri",
    );
  }
  if (args.imageUri === undefined && args.context !== undefined && path.isAbsolute(args.context)) {
    throw new ValidationError(
      `Image '${name}' has an absolute 'context' ('${args.context}'); give it relative to the project folder (e.g. "container"), or the image's inputs would change with where the checkout lives.`,
      "context",
    );
  }
  if (args.imageUri !== undefined && !/^[^\s]+[:@][^\s]+$/.test(args.imageUri)) {
    throw new ValidationError(
      `Image '${name}' has 'imageUri' = '${args.imageUri}'; it must be a full reference with a tag or digest, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:1.0.`,
      "imageUri",
    );
  }
  checkRanges(`Image '${name}'`, args, {
    keepImages: [1, 10000, "an ECR lifecycle rule keeps at least one image"],
  });
}

/** The jobs' image: built from `context` and pushed to an ECR repository, or `imageUri`. */
export class Image extends pulumi.ComponentResource {
  /** Pinned by digest, so each build makes a new job definition revision. */
  public readonly imageUri: pulumi.Output<string>;

  constructor(name: string, args: ImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("batchpy:image:Image", name, {}, opts);
    validateImageArgs(name, args);
    this.imageUri =
      args.imageUri !== undefined ? pulumi.output(args.imageUri) : this.build(name, args);
    this.registerOutputs({ imageUri: this.imageUri });
  }

  private build(name: string, args: ImageArgs) {
    const repository = new aws.ecr.Repository(
      `${name}-repo`,
      {
        imageScanningConfiguration: { scanOnPush: true },
        imageTagMutability: "MUTABLE",
        forceDelete: args.forceDelete ?? false,
        tags: args.tags,
      },
      { parent: this },
    );
    new aws.ecr.LifecyclePolicy(
      `${name}-lifecycle`,
      {
        repository: repository.name,
        policy: JSON.stringify(keepLastImagesPolicy(args.keepImages ?? 10)),
      },
      { parent: this },
    );
    const context = args.context!; // validateImageArgs: no imageUri, so a context
    const contextHash = hashBuildContext(path.resolve(args.projectRoot ?? process.cwd(), context));
    const credentials = aws.ecr.getAuthorizationTokenOutput(
      { registryId: repository.registryId },
      { parent: this },
    );
    const image = new dockerBuild.Image(
      `${name}-build`,
      {
        context: { location: context },
        // AWS Batch on EC2 (m5a) and Fargate run x86_64 by default.
        platforms: ["linux/amd64"],
        push: true,
        tags: [pulumi.interpolate`${repository.repositoryUrl}:ctx-${contextHash.slice(0, 16)}`],
        // Also keeps this digest apart from the one awsx.ecr.Image pushed before the switch,
        // so deleting awsx's old build (by digest) cannot take this image with it.
        labels: { [CONTEXT_LABEL]: contextHash },
        buildOnPreview: args.buildOnPreview ?? true,
        registries: [
          {
            address: repository.repositoryUrl.apply((url) => url.split("/")[0]),
            username: credentials.userName,
            password: credentials.password,
          },
        ],
      },
      // docker-build deletes the pushed manifest when the resource goes, while a job
      // definition may still use it; old images expire through the lifecycle policy instead.
      { parent: this, retainOnDelete: true },
    );
    return pulumi.interpolate`${repository.repositoryUrl}@${image.digest}`;
  }
}

export function keepLastImagesPolicy(count: number): { rules: object[] } {
  return {
    rules: [
      {
        rulePriority: 1,
        description: `Keep the last ${count} images`,
        selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: count },
        action: { type: "expire" },
      },
    ],
  };
}

// Of each file Docker would send and its POSIX path: CI and a laptop build the same tag.
export function hashBuildContext(dir: string): string {
  const ignoreFile = path.join(dir, ".dockerignore");
  // A port of Docker's own matcher; Docker on Linux tells case apart.
  const rules = dockerignore({ ignorecase: false });
  if (fs.existsSync(ignoreFile)) {
    rules.add(fs.readFileSync(ignoreFile, "utf8"));
  }
  const hash = crypto.createHash("sha256");
  const files = fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((file) => fs.lstatSync(path.join(dir, file)).isFile())
    .map((file) => file.split(path.sep).join("/"))
    .sort();
  for (const file of files.filter((f) => f === "Dockerfile" || !rules.ignores(f))) {
    hash.update(`${file}\0`);
    hash.update(fs.readFileSync(path.join(dir, file)));
    hash.update("\0");
  }
  return hash.digest("hex");
}
