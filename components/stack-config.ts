import {
  DEFAULT_COMPUTE_TYPE,
  DEFAULT_MAX_VCPUS,
  isFargate,
  validateComputeEnvironmentArgs,
} from "./compute-environment";
import { CONFIG_NAMESPACE } from "./config-namespace";
import { validateImageArgs } from "./image";
import {
  DEFAULT_INSTANCE_TYPES,
  KNOWN_INSTANCE_TYPES,
  ec2JobLimits,
  fargateJobLimits,
  jobTooLarge,
  type ComputeType,
} from "./instance-types";
import { JOB_DEFAULTS, validateJobDefinitionArgs } from "./job-definition";
import { validateJobQueueArgs } from "./job-queue";
import { validateNotificationsArgs } from "./notifications";
import { validateStorageArgs } from "./storage";
import { definedOnly } from "./defined";
import { suggest, ValidationError } from "./validation";
import { z } from "zod";

/** A finite number; `Number` alone would read "" as 0. */
const number = z.string().trim().min(1).pipe(z.coerce.number());
// Pulumi gives lists and maps as JSON; not JSON, the schema after it says what is wanted.
const fromJson = z.string().transform((raw) => {
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    if (err instanceof SyntaxError) {
      return undefined;
    }
    throw err;
  }
});

const KINDS = {
  boolean: ["true or false", "true", z.enum(["true", "false"]).transform((v) => v === "true")],
  integer: ["a whole number", "1", number.refine(Number.isInteger)],
  number: ["a number", "1", number],
  string: ["a string", "value", z.string()],
  // Any string: the component's own check names the choices.
  computeType: ["a string", "EC2", z.string().transform((v) => v as ComputeType)],
  "string[]": ["a list of strings", "--path '[0]' value", fromJson.pipe(z.array(z.string()))],
  tags: [
    "a map of tag names to strings",
    "--path 'Owner' me",
    fromJson.pipe(z.record(z.string(), z.string())),
  ],
} as const satisfies Record<
  string,
  readonly [expected: string, example: string, schema: z.ZodType<unknown, string>]
>;
type Kinds = { [K in keyof typeof KINDS]: z.output<(typeof KINDS)[K][2]> };

const COMPONENTS = ["storage", "image", "compute", "queue", "job", "notifications"] as const;
type Component = (typeof COMPONENTS)[number];

// Each key's kind and the component argument(s) it sets, so a component's error names the key.
const CONFIG_KEYS = {
  forceDestroy: ["boolean", { storage: "forceDestroy", image: "forceDelete" }],
  logExpirationDays: ["integer", "storage"],
  imageUri: ["string", "image"],
  buildOnPreview: ["boolean", "image"],
  keepImages: ["integer", "image"],
  computeType: ["computeType", "compute"],
  minVcpus: ["integer", "compute"],
  maxVcpus: ["integer", "compute"],
  instanceTypes: ["string[]", "compute"],
  allocationStrategy: ["string", "compute"],
  spotBidPercentage: ["integer", "compute"],
  updateTimeoutMinutes: ["integer", "compute"],
  vpcId: ["string", "compute"],
  subnetIds: ["string[]", "compute"],
  queuePriority: ["integer", { queue: "priority" }],
  runnableTimeoutSeconds: ["integer", "queue"],
  jobVcpus: ["number", { job: "vcpus" }],
  jobMemoryMiB: ["integer", { job: "memoryMiB" }],
  jobGpus: ["integer", { job: "gpus", compute: "jobGpus" }],
  timeoutSeconds: ["integer", "job"],
  retryAttempts: ["integer", "job"],
  logRetentionDays: ["integer", "job"],
  tags: ["tags", {}],
  // Where messages go; neither set, no notifications.
  notifyEmail: ["string", { notifications: "email" }],
  notifyTopicArn: ["string", { notifications: "topicArn" }],
} as const satisfies Record<
  string,
  readonly [keyof Kinds, Component | { readonly [C in Component]?: string }]
>;
type Table = typeof CONFIG_KEYS;
type ConfigKey = keyof Table;
type ConfigValues = { -readonly [K in ConfigKey]?: Kinds[Table[K][0]] };
type ArgumentIn<K extends ConfigKey, C extends Component> = Table[K][1] extends C
  ? K
  : Table[K][1] extends { readonly [_ in C]: infer A extends string }
    ? A
    : never;

export type StackSettings = { region: string; tags: Record<string, string> } & {
  [C in Component]: { [K in ConfigKey as ArgumentIn<K, C>]: ConfigValues[K] };
} & { job: { platform: "EC2" | "FARGATE" } };

const TARGETS = Object.entries(CONFIG_KEYS).flatMap(([key, [, to]]) =>
  (typeof to === "string" ? [[to, key]] : Object.entries(to)).map(([component, argument]) => ({
    key: key as ConfigKey,
    component: component as Component,
    argument,
  })),
);
const KEY_OF_ARGUMENT = new Map(TARGETS.map(({ argument, key }) => [argument, key]));

/** Its `arg` is the key at fault, e.g. `batchpy:maxVcpus`. */
export class StackConfigError extends ValidationError {}

const fullKey = (key: string) => `${CONFIG_NAMESPACE}:${key}`;

function readConfigValues(raw: Readonly<Record<string, string>>): ConfigValues {
  const ours = Object.entries(raw).filter(([full]) => full.startsWith(fullKey("")));
  const values = ours.map(([full, value]) => {
    const key = full.slice(fullKey("").length);
    if (!(key in CONFIG_KEYS)) {
      const hint = suggest(key, Object.keys(CONFIG_KEYS));
      throw new StackConfigError(
        `Stack config '${full}' is not a setting of this program${hint ? `; did you mean '${fullKey(hint)}'?` : "."} Remove it with \`pulumi config rm ${full}\`. Known keys: ${Object.keys(CONFIG_KEYS).join(", ")}.`,
        full,
      );
    }
    const [expected, example, schema] = KINDS[CONFIG_KEYS[key as ConfigKey][0]];
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      throw new StackConfigError(
        `Stack config '${full}' = ${JSON.stringify(value)} is not ${expected}; set it with \`pulumi config set ${full} ${example}\`.`,
        full,
      );
    }
    return [key, parsed.data];
  });
  return Object.fromEntries(values) as ConfigValues;
}

/** Notifications exist only when the stack names where they go. */
export function sendsNotifications({ notifications }: StackSettings): boolean {
  return notifications.email !== undefined || notifications.topicArn !== undefined;
}

function validateWithComponents(settings: StackSettings, componentName: string): void {
  try {
    validateStorageArgs(componentName, settings.storage);
    validateImageArgs(componentName, { ...settings.image, context: "container" });
    validateComputeEnvironmentArgs(componentName, settings.compute);
    validateJobQueueArgs(componentName, settings.queue);
    validateJobDefinitionArgs(componentName, settings.job);
    if (sendsNotifications(settings)) {
      validateNotificationsArgs(componentName, settings.notifications);
    }
  } catch (err) {
    if (!(err instanceof ValidationError)) {
      throw err;
    }
    const key = fullKey((err.arg && KEY_OF_ARGUMENT.get(err.arg)) ?? err.arg ?? "?");
    throw new StackConfigError(`Stack config '${key}': ${err.message}`, key);
  }
}

// Where config alone cannot tell (unknown instance types), the deploy-time `jobLimits` does.
function checkJobFits({ compute, job }: StackSettings): void {
  const maxVcpus = compute.maxVcpus ?? DEFAULT_MAX_VCPUS;
  const { vcpus, memoryMiB, gpus } = { ...JOB_DEFAULTS, ...definedOnly(job) };
  if (vcpus > maxVcpus) {
    throw new StackConfigError(
      `Stack config '${fullKey("maxVcpus")}' = ${maxVcpus} is less than '${fullKey("jobVcpus")}' = ${vcpus}; no job could ever start. Raise maxVcpus or lower jobVcpus.`,
      fullKey("maxVcpus"),
    );
  }
  const names = compute.instanceTypes ?? DEFAULT_INSTANCE_TYPES;
  const sizes = names.map((name) => ({ name, ...KNOWN_INSTANCE_TYPES[name] }));
  const limits =
    job.platform === "FARGATE"
      ? fargateJobLimits(maxVcpus)
      : names.every((name) => name in KNOWN_INSTANCE_TYPES)
        ? ec2JobLimits(sizes, maxVcpus)
        : undefined;
  const [problem] = limits ? jobTooLarge({ vcpus, memoryMiB, gpus }, limits) : [];
  if (problem !== undefined) {
    const key = fullKey(KEY_OF_ARGUMENT.get(problem.field) ?? problem.field);
    throw new StackConfigError(
      `Stack config '${key}': ${problem.message}; the job would wait in RUNNABLE until the queue cancels it. Lower '${key}' or choose larger '${fullKey("instanceTypes")}'.`,
      key,
    );
  }
}

/** Checked before any resource exists; the first problem throws a {@link StackConfigError}. */
export function parseStackConfig(
  raw: Readonly<Record<string, string>>,
  env: Readonly<Record<string, string | undefined>> = {},
  componentName = "batchpy",
): StackSettings {
  const values = readConfigValues(raw);
  const region = raw["aws:region"] ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) {
    throw new StackConfigError(
      "Stack config 'aws:region' is not set; set it with `pulumi config set aws:region us-east-1` (or export AWS_REGION).",
      "aws:region",
    );
  }
  // The component's own check would name its arguments, not the keys.
  if (values.notifyEmail !== undefined && values.notifyTopicArn !== undefined) {
    const [email, topic] = [fullKey("notifyEmail"), fullKey("notifyTopicArn")];
    throw new StackConfigError(
      `Stack config sets both '${email}' and '${topic}'; notifications go to one of them. Remove one, e.g. \`pulumi config rm ${topic}\`.`,
      email,
    );
  }
  const groups = Object.fromEntries(COMPONENTS.map((c) => [c, {} as Record<string, unknown>]));
  for (const { key, component, argument } of TARGETS) {
    groups[component][argument] = values[key];
  }
  groups.job.platform = isFargate(values.computeType ?? DEFAULT_COMPUTE_TYPE) ? "FARGATE" : "EC2";
  const settings = { region, tags: values.tags ?? {}, ...groups } as StackSettings;
  validateWithComponents(settings, componentName);
  checkJobFits(settings);
  return settings;
}
