import {
  COMPUTE_TYPES,
  ComputeEnvironmentArgs,
  ComputeType,
  DEFAULT_COMPUTE_TYPE,
  DEFAULT_INSTANCE_TYPES,
  DEFAULT_MAX_VCPUS,
  isFargate,
  validateComputeEnvironmentArgs,
} from "./compute-environment";
import { CONFIG_NAMESPACE } from "./config-namespace";
import { ImageArgs, validateImageArgs } from "./image";
import { KNOWN_INSTANCE_TYPES } from "./instance-types";
import {
  DEFAULT_JOB_MEMORY_MIB,
  DEFAULT_JOB_VCPUS,
  JobDefinitionArgs,
  validateJobDefinitionArgs,
} from "./job-definition";
import { ec2JobLimits, fargateJobLimits, JobLimits, jobTooLarge } from "./job-limits";
import { JobQueueArgs, validateJobQueueArgs } from "./job-queue";
import { StorageArgs, validateStorageArgs } from "./storage";
import { suggest, ValidationError } from "./validation";

type Kind = "boolean" | "integer" | "number" | "string" | "string[]" | "tags";

/**
 * Every `batchpy:` key the program reads: its type, and the component argument it sets
 * (so a component's validation error can name the key to change).
 */
const CONFIG_KEYS = {
  // Also lets `pulumi destroy` delete the image repository while it still holds images.
  forceDestroy: { kind: "boolean", arg: "forceDestroy" },
  logExpirationDays: { kind: "integer", arg: "logExpirationDays" },
  imageUri: { kind: "string", arg: "imageUri" },
  buildOnPreview: { kind: "boolean", arg: "buildOnPreview" },
  keepImages: { kind: "integer", arg: "keepImages" },
  computeType: { kind: "string", arg: "computeType" },
  minVcpus: { kind: "integer", arg: "minVcpus" },
  maxVcpus: { kind: "integer", arg: "maxVcpus" },
  instanceTypes: { kind: "string[]", arg: "instanceTypes" },
  allocationStrategy: { kind: "string", arg: "allocationStrategy" },
  spotBidPercentage: { kind: "integer", arg: "spotBidPercentage" },
  updateTimeoutMinutes: { kind: "integer", arg: "updateTimeoutMinutes" },
  vpcId: { kind: "string", arg: "vpcId" },
  subnetIds: { kind: "string[]", arg: "subnetIds" },
  queuePriority: { kind: "integer", arg: "priority" },
  runnableTimeoutSeconds: { kind: "integer", arg: "runnableTimeoutSeconds" },
  jobVcpus: { kind: "number", arg: "vcpus" },
  jobMemoryMiB: { kind: "integer", arg: "memoryMiB" },
  jobGpus: { kind: "integer", arg: "jobGpus" },
  timeoutSeconds: { kind: "integer", arg: "timeoutSeconds" },
  retryAttempts: { kind: "integer", arg: "retryAttempts" },
  logRetentionDays: { kind: "integer", arg: "logRetentionDays" },
  tags: { kind: "tags", arg: "tags" },
} as const satisfies Record<string, { kind: Kind; arg: string }>;

type ConfigKey = keyof typeof CONFIG_KEYS;

/** The typed, validated settings of one stack, grouped by the component they configure. */
export interface StackSettings {
  readonly region: string;
  readonly tags: Record<string, string>;
  readonly storage: StorageArgs;
  readonly image: Omit<ImageArgs, "context" | "projectRoot" | "tags">;
  readonly compute: Omit<ComputeEnvironmentArgs, "tags" | "instanceTags">;
  readonly queue: Omit<JobQueueArgs, "computeEnvironments" | "tags">;
  readonly job: Pick<
    JobDefinitionArgs,
    "vcpus" | "memoryMiB" | "gpus" | "timeoutSeconds" | "retryAttempts" | "logRetentionDays"
  >;
}

/** Thrown for a bad stack config value; the message names the key and how to fix it. */
export class StackConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
    this.name = "StackConfigError";
  }
}

function fullKey(key: string): string {
  return `${CONFIG_NAMESPACE}:${key}`;
}

function parseValue(key: ConfigKey, kind: Kind, raw: string): unknown {
  const bad = (expected: string, example: string): StackConfigError =>
    new StackConfigError(
      fullKey(key),
      `Stack config '${fullKey(key)}' = ${JSON.stringify(raw)} is not ${expected}; set it with \`pulumi config set ${fullKey(key)} ${example}\`.`,
    );
  switch (kind) {
    case "boolean":
      if (raw === "true" || raw === "false") {
        return raw === "true";
      }
      throw bad("true or false", "true");
    case "integer":
    case "number": {
      const n = Number(raw);
      if (
        raw.trim() === "" ||
        !Number.isFinite(n) ||
        (kind === "integer" && !Number.isInteger(n))
      ) {
        throw bad(kind === "integer" ? "a whole number" : "a number", "1");
      }
      return n;
    }
    case "string":
      return raw;
    case "string[]": {
      const list = parseJson(raw);
      if (!Array.isArray(list) || !list.every((s) => typeof s === "string")) {
        throw bad("a list of strings", `--path '[0]' value`);
      }
      return list;
    }
    case "tags": {
      const tags = parseJson(raw);
      if (
        tags === null ||
        typeof tags !== "object" ||
        Array.isArray(tags) ||
        !Object.values(tags).every((v) => typeof v === "string")
      ) {
        throw bad("a map of tag names to strings", `--path 'Owner' me`);
      }
      return tags;
    }
  }
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

type ConfigValues = Partial<Record<ConfigKey, unknown>>;

/** The `batchpy:` keys of the raw config, each parsed by its kind; an unknown key throws. */
function readConfigValues(raw: Readonly<Record<string, string>>): ConfigValues {
  const values: ConfigValues = {};
  for (const [full, value] of Object.entries(raw)) {
    if (!full.startsWith(`${CONFIG_NAMESPACE}:`)) {
      continue;
    }
    const key = full.slice(CONFIG_NAMESPACE.length + 1);
    if (!(key in CONFIG_KEYS)) {
      const hint = suggest(key, Object.keys(CONFIG_KEYS));
      throw new StackConfigError(
        full,
        `Stack config '${full}' is not a setting of this program${hint ? `; did you mean '${fullKey(hint)}'?` : "."} Remove it with \`pulumi config rm ${full}\`. Known keys: ${Object.keys(CONFIG_KEYS).join(", ")}.`,
      );
    }
    const spec = CONFIG_KEYS[key as ConfigKey];
    values[key as ConfigKey] = parseValue(key as ConfigKey, spec.kind, value);
  }
  return values;
}

/** `aws:region`, else the region the AWS SDK would use; none throws. */
function resolveRegion(
  raw: Readonly<Record<string, string>>,
  env: Readonly<Record<string, string | undefined>>,
): string {
  const region = raw["aws:region"] ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (region === undefined || region === "") {
    throw new StackConfigError(
      "aws:region",
      "Stack config 'aws:region' is not set; set it with `pulumi config set aws:region us-east-1` (or export AWS_REGION).",
    );
  }
  return region;
}

/** The parsed values grouped by the component they configure (not yet validated). */
function groupSettings(values: ConfigValues, region: string): StackSettings {
  const get = <T>(key: ConfigKey): T | undefined => values[key] as T | undefined;
  return {
    region,
    tags: get<Record<string, string>>("tags") ?? {},
    storage: {
      forceDestroy: get<boolean>("forceDestroy"),
      logExpirationDays: get<number>("logExpirationDays"),
    },
    image: {
      imageUri: get<string>("imageUri"),
      buildOnPreview: get<boolean>("buildOnPreview"),
      keepImages: get<number>("keepImages"),
      forceDelete: get<boolean>("forceDestroy"),
    },
    compute: {
      computeType: (get<string>("computeType") ?? DEFAULT_COMPUTE_TYPE) as ComputeType,
      minVcpus: get<number>("minVcpus"),
      maxVcpus: get<number>("maxVcpus"),
      instanceTypes: get<string[]>("instanceTypes"),
      allocationStrategy: get<string>("allocationStrategy"),
      spotBidPercentage: get<number>("spotBidPercentage"),
      jobGpus: get<number>("jobGpus"),
      updateTimeoutMinutes: get<number>("updateTimeoutMinutes"),
      vpcId: get<string>("vpcId"),
      subnetIds: get<string[]>("subnetIds"),
    },
    queue: {
      priority: get<number>("queuePriority"),
      runnableTimeoutSeconds: get<number>("runnableTimeoutSeconds"),
    },
    job: {
      vcpus: get<number>("jobVcpus"),
      memoryMiB: get<number>("jobMemoryMiB"),
      gpus: get<number>("jobGpus"),
      timeoutSeconds: get<number>("timeoutSeconds"),
      retryAttempts: get<number>("retryAttempts"),
      logRetentionDays: get<number>("logRetentionDays"),
    },
  };
}

/** The components' own checks, run now so that a bad value names its config key. */
function validateWithComponents(settings: StackSettings, componentName: string): void {
  const computeType = settings.compute.computeType as ComputeType;
  const platform =
    COMPUTE_TYPES.includes(computeType) && isFargate(computeType) ? "FARGATE" : "EC2";
  withConfigKeys(() => {
    validateStorageArgs(componentName, settings.storage);
    validateImageArgs(componentName, { ...settings.image, context: "container" });
    validateComputeEnvironmentArgs(componentName, settings.compute);
    validateJobQueueArgs(componentName, { ...settings.queue, computeEnvironments: ["ce"] });
    validateJobDefinitionArgs(componentName, {
      ...settings.job,
      platform,
      image: "",
      bucketName: "",
      jobRoleArn: "",
      executionRoleArn: "",
      region: settings.region,
    });
  });
}

/** A job asking for more vCPUs than the environment may ever run waits in RUNNABLE forever. */
function checkJobVcpusWithinMax(settings: StackSettings): void {
  const maxVcpus = settings.compute.maxVcpus ?? DEFAULT_MAX_VCPUS;
  const jobVcpus = settings.job.vcpus ?? DEFAULT_JOB_VCPUS;
  if (jobVcpus > maxVcpus) {
    throw new StackConfigError(
      fullKey("maxVcpus"),
      `Stack config '${fullKey("maxVcpus")}' = ${maxVcpus} is less than '${fullKey("jobVcpus")}' = ${jobVcpus}; no job could ever start. Raise maxVcpus or lower jobVcpus.`,
    );
  }
}

/**
 * Reads and validates a stack's settings from its raw config (as `pulumi.runtime.allConfig()`
 * returns it: `namespace:key` → string, lists and maps as JSON). Everything is checked before
 * any resource is created; the first problem throws a {@link StackConfigError} naming the key.
 *
 * @param componentName the name the program gives its components, used in messages
 */
export function parseStackConfig(
  raw: Readonly<Record<string, string>>,
  env: Readonly<Record<string, string | undefined>> = {},
  componentName = "batchpy",
): StackSettings {
  const values = readConfigValues(raw);
  const settings = groupSettings(values, resolveRegion(raw, env));
  validateWithComponents(settings, componentName);
  checkJobVcpusWithinMax(settings);
  checkJobFits(settings);
  return settings;
}

/**
 * The job limits known from config alone: Fargate's largest size, or the sizes of the
 * instance types when every one is in {@link KNOWN_INSTANCE_TYPES}; otherwise undefined,
 * and the deploy-time `jobLimits` output (from `aws.ec2.getInstanceType`) has the answer.
 */
function configJobLimits(compute: StackSettings["compute"]): JobLimits | undefined {
  const maxVcpus = compute.maxVcpus ?? DEFAULT_MAX_VCPUS;
  const type = compute.computeType ?? DEFAULT_COMPUTE_TYPE;
  if (isFargate(type)) {
    return fargateJobLimits(maxVcpus);
  }
  const names = compute.instanceTypes ?? DEFAULT_INSTANCE_TYPES;
  const sizes = names.map((name) => ({ name, size: KNOWN_INSTANCE_TYPES[name] }));
  if (sizes.some((s) => s.size === undefined)) {
    return undefined;
  }
  return ec2JobLimits(
    sizes.map((s) => ({ name: s.name, ...s.size })),
    maxVcpus,
  );
}

/** Refuses a job default that no instance (or Fargate size) the stack allows could place. */
function checkJobFits(settings: StackSettings): void {
  const limits = configJobLimits(settings.compute);
  if (limits === undefined) {
    return;
  }
  const job = {
    vcpus: settings.job.vcpus ?? DEFAULT_JOB_VCPUS,
    memoryMiB: settings.job.memoryMiB ?? DEFAULT_JOB_MEMORY_MIB,
    gpus: settings.job.gpus ?? 0,
  };
  const [problem] = jobTooLarge(job, limits);
  if (problem === undefined) {
    return;
  }
  const key: ConfigKey =
    problem.field === "memoryMiB"
      ? "jobMemoryMiB"
      : problem.field === "gpus"
        ? "jobGpus"
        : "jobVcpus";
  throw new StackConfigError(
    fullKey(key),
    `Stack config '${fullKey(key)}': ${problem.message}; the job would wait in RUNNABLE until the queue cancels it. Lower '${fullKey(key)}' or choose larger '${fullKey("instanceTypes")}'.`,
  );
}

/** Re-throws a component's ValidationError as a StackConfigError naming the config key. */
function withConfigKeys(check: () => void): void {
  try {
    check();
  } catch (err) {
    if (err instanceof ValidationError) {
      const entry = Object.entries(CONFIG_KEYS).find(([, spec]) => spec.arg === err.arg);
      const key = entry ? fullKey(entry[0]) : `${CONFIG_NAMESPACE}:${err.arg ?? "?"}`;
      throw new StackConfigError(key, `Stack config '${key}': ${err.message}`);
    }
    throw err;
  }
}
