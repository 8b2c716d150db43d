import * as aws from "@pulumi/aws";
import * as awsx from "@pulumi/awsx";
import * as pulumi from "@pulumi/pulumi";
import { checkIntegerRange, ValidationError } from "./validation";

/** How many images the repository keeps before older ones expire. */
export const DEFAULT_KEEP_IMAGES = 10;
/** AWS Batch on EC2 (m5a) and Fargate run x86_64 by default. */
export const DEFAULT_PLATFORM = "linux/amd64";

export interface ImageArgs {
  /**
   * Folder holding the Dockerfile, built and pushed during `pulumi up`.
   * Ignored when `imageUri` is set.
   */
  readonly context?: string;
  /**
   * An image that already exists (for example one built by CI). When set, no repository
   * is created and nothing is built.
   * @default - build `context` into a new ECR repository
   */
  readonly imageUri?: string;
  /**
   * Number of images the repository keeps; older ones are expired to keep storage cheap.
   * @default 10
   */
  readonly keepImages?: number;
  /**
   * Delete the repository even when it still holds images, so `pulumi destroy` succeeds.
   * @default false
   */
  readonly forceDelete?: pulumi.Input<boolean>;
  /**
   * Target platform of the build.
   * @default "linux/amd64"
   */
  readonly platform?: string;
  /** Tags for every resource of the component. */
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** Checks the plain arguments of an Image component; throws naming the argument. */
export function validateImageArgs(name: string, args: ImageArgs): void {
  if (args.imageUri === undefined && args.context === undefined) {
    throw new ValidationError(
      `Image '${name}' needs either 'context' (a folder with a Dockerfile to build) or 'imageUri' (an existing image).`,
      "imageUri",
    );
  }
  if (args.imageUri !== undefined && !/^[^\s]+[:@][^\s]+$/.test(args.imageUri)) {
    throw new ValidationError(
      `Image '${name}' has 'imageUri' = '${args.imageUri}'; it must be a full reference with a tag or digest, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:1.0.`,
      "imageUri",
    );
  }
  checkIntegerRange(
    `Image '${name}'`,
    "keepImages",
    args.keepImages,
    1,
    10000,
    "an ECR lifecycle rule keeps at least one image",
  );
}

/**
 * The container image the jobs run: an ECR repository that scans on push and expires old
 * images, and the image built from `container/` and pushed in the same `pulumi up`.
 */
export class Image extends pulumi.ComponentResource {
  /** The pushed image, pinned by digest so each build makes a new job definition revision. */
  public readonly imageUri: pulumi.Output<string>;
  /** The repository's URL, or undefined when an existing image is used. */
  public readonly repositoryUrl?: pulumi.Output<string>;

  constructor(name: string, args: ImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("batchpy:image:Image", name, {}, opts);
    validateImageArgs(name, args);

    if (args.imageUri !== undefined) {
      this.imageUri = pulumi.output(args.imageUri);
    } else {
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
          policy: JSON.stringify(keepLastImagesPolicy(args.keepImages ?? DEFAULT_KEEP_IMAGES)),
        },
        { parent: this },
      );
      const image = new awsx.ecr.Image(
        `${name}-image`,
        {
          repositoryUrl: repository.repositoryUrl,
          registryId: repository.registryId,
          context: args.context,
          platform: args.platform ?? DEFAULT_PLATFORM,
        },
        { parent: this },
      );
      this.repositoryUrl = repository.repositoryUrl;
      this.imageUri = image.imageUri;
    }
    this.registerOutputs({ imageUri: this.imageUri, repositoryUrl: this.repositoryUrl });
  }
}

/** An ECR lifecycle policy that expires all but the newest `count` images. */
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
