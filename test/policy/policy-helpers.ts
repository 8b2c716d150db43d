/**
 * Runs one policy in-process the way @pulumi/policy's server does, without the gRPC server:
 * properties wrapped in the proxy that throws on unknown values, `getConfig` returning the
 * policy's config over its schema defaults (the engine fills them in), `notApplicable` ending
 * the validation. @pulumi/policy ships no test helper, and its 1.21 args objects need
 * `stackTags` and `notApplicable` too.
 */
import { strict as assert } from "assert";
import {
  Policy,
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
  unknownCheckingProxy,
} from "@pulumi/policy";

/** The engine's placeholders for unknown values, as in @pulumi/policy's `proxy.js`. */
export const UNKNOWN_SENTINELS = {
  number: "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
  string: "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
} as const;

/**
 * A value that is unknown during preview, typed as whatever the field expects. The engine
 * sends most unknowns as the string sentinel, whatever the field's type.
 */
export function unknown<T>(): T {
  return UNKNOWN_SENTINELS.string as unknown as T;
}

/** The URN the helpers give a resource named `name` of type `type`. */
export function testUrn(type: string, name: string): string {
  return `urn:pulumi:test::batchpy::${type}::${name}`;
}

class NotApplicable extends Error {}

function typeOf(resourceClass: unknown): string | undefined {
  return (resourceClass as { __pulumiType?: string }).__pulumiType;
}

export interface ResourceArgsOptions {
  /** The resource's logical name. @default "test-resource" */
  readonly name?: string;
  /** The policy's config, as `getConfig()` returns it. @default {} */
  readonly config?: Record<string, unknown>;
}

/** Happy-path validation args for one resource. */
export function resourceArgs(
  type: string,
  props: object,
  options: ResourceArgsOptions = {},
): ResourceValidationArgs {
  const name = options.name ?? "test-resource";
  const proxied = unknownCheckingProxy(props) as Record<string, unknown>;
  return {
    type,
    props: proxied,
    urn: testUrn(type, name),
    name,
    opts: {
      protect: false,
      ignoreChanges: [],
      aliases: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
      additionalSecretOutputs: [],
    },
    stackTags: new Map(),
    isType: (resourceClass) => typeOf(resourceClass) === type,
    asType: ((resourceClass: unknown) =>
      typeOf(resourceClass) === type ? proxied : undefined) as ResourceValidationArgs["asType"],
    getConfig: <T extends object>() => ({ ...options.config }) as T,
    notApplicable: (reason?: string) => {
      throw new NotApplicable(reason ?? "not applicable");
    },
  };
}

export interface Violation {
  readonly message: string;
  readonly urn?: string;
}

export interface Outcome {
  readonly violations: Violation[];
  /** Set when the policy declared itself not applicable, with its reason. */
  readonly notApplicable?: string;
}

/** `args` with the config the engine would send: the policy's schema defaults, then the test's. */
function withDefaults<A extends { getConfig<T extends object>(): T }>(policy: Policy, args: A): A {
  const schema = Object.entries(policy.configSchema?.properties ?? {});
  const defaults = Object.fromEntries(schema.map(([key, property]) => [key, property.default]));
  const given = args.getConfig<object>();
  return { ...args, getConfig: <T extends object>() => ({ ...defaults, ...given }) as T };
}

function collector(): { violations: Violation[]; report: ReportViolation } {
  const violations: Violation[] = [];
  return { violations, report: (message, urn) => violations.push({ message, urn }) };
}

/** Runs a resource policy; an exception other than "not applicable" fails the test. */
export async function runResourcePolicy(
  policy: ResourceValidationPolicy,
  args: ResourceValidationArgs,
): Promise<Outcome> {
  const { violations, report } = collector();
  const validations = policy.validateResource ?? [];
  try {
    for (const validate of Array.isArray(validations) ? validations : [validations]) {
      await validate(withDefaults(policy, args), report);
    }
  } catch (err) {
    if (err instanceof NotApplicable) {
      return { violations, notApplicable: err.message };
    }
    throw err;
  }
  return { violations };
}

function listed(outcome: Outcome): string {
  if (outcome.violations.length === 0) {
    return outcome.notApplicable ? `  (not applicable: ${outcome.notApplicable})` : "  (none)";
  }
  return outcome.violations
    .map((v, i) => `  ${i + 1}. ${v.message}${v.urn ? `\n     urn: ${v.urn}` : ""}`)
    .join("\n");
}

function matches(violation: Violation, expected: readonly (string | RegExp)[]): boolean {
  return expected.every((e) =>
    typeof e === "string" ? violation.message.includes(e) : e.test(violation.message),
  );
}

/** Asserts that some violation's message contains every expected fragment. */
export async function assertHasResourceViolation(
  policy: ResourceValidationPolicy,
  args: ResourceValidationArgs,
  ...expected: (string | RegExp)[]
): Promise<Violation> {
  const outcome = await runResourcePolicy(policy, args);
  const found = outcome.violations.find((v) => matches(v, expected));
  assert.ok(
    found,
    `${policy.name} on ${args.name}: expected a violation matching ${expected
      .map(String)
      .join(" + ")}; got:\n${listed(outcome)}`,
  );
  return found;
}

/** Asserts that the policy reports nothing (applicable or not). */
export async function assertNoResourceViolations(
  policy: ResourceValidationPolicy,
  args: ResourceValidationArgs,
): Promise<Outcome> {
  const outcome = await runResourcePolicy(policy, args);
  assert.equal(
    outcome.violations.length,
    0,
    `${policy.name} on ${args.name}: expected no violations; got:\n${listed(outcome)}`,
  );
  return outcome;
}

/** A resource of a stack, as a stack policy sees it; dependencies by resource name. */
export interface StackResourceInput {
  readonly type: string;
  readonly name: string;
  readonly props: object;
  /** Property name → names of the resources its value comes from. */
  readonly propertyDependencies?: Record<string, string[]>;
}

/** Happy-path validation args for a stack; every resource name must be unique. */
export function stackArgs(
  inputs: readonly StackResourceInput[],
  config: Record<string, unknown> = {},
): StackValidationArgs {
  const byName = new Map<string, PolicyResource>();
  const resources = inputs.map((input) => {
    const props = unknownCheckingProxy(input.props) as Record<string, unknown>;
    const resource: PolicyResource = {
      type: input.type,
      props,
      urn: testUrn(input.type, input.name),
      name: input.name,
      opts: resourceArgs(input.type, {}).opts,
      dependencies: [],
      propertyDependencies: {},
      isType: (resourceClass) => typeOf(resourceClass) === input.type,
      asType: () => undefined,
    };
    assert.ok(!byName.has(input.name), `stackArgs: two resources are named '${input.name}'`);
    byName.set(input.name, resource);
    return resource;
  });
  inputs.forEach((input, i) => {
    for (const [key, names] of Object.entries(input.propertyDependencies ?? {})) {
      resources[i].propertyDependencies[key] = names.map((name) => {
        const dependency = byName.get(name);
        assert.ok(dependency, `stackArgs: '${input.name}' depends on unknown '${name}'`);
        return dependency;
      });
      resources[i].dependencies.push(...resources[i].propertyDependencies[key]);
    }
  });
  return {
    resources,
    stackTags: new Map(),
    getConfig: <T extends object>() => ({ ...config }) as T,
    notApplicable: (reason?: string) => {
      throw new NotApplicable(reason ?? "not applicable");
    },
  };
}

/** Runs a stack policy; an exception other than "not applicable" fails the test. */
export async function runStackPolicy(
  policy: StackValidationPolicy,
  args: StackValidationArgs,
): Promise<Outcome> {
  const { violations, report } = collector();
  try {
    await policy.validateStack(withDefaults(policy, args), report);
  } catch (err) {
    if (err instanceof NotApplicable) {
      return { violations, notApplicable: err.message };
    }
    throw err;
  }
  return { violations };
}

/**
 * Asserts that some violation names the resource `name` (by URN) and contains every
 * expected fragment.
 */
export async function assertHasStackViolation(
  policy: StackValidationPolicy,
  args: StackValidationArgs,
  name: string,
  ...expected: (string | RegExp)[]
): Promise<Violation> {
  const outcome = await runStackPolicy(policy, args);
  const urn = args.resources.find((r) => r.name === name)?.urn;
  assert.ok(urn, `no resource named '${name}' in the stack`);
  const found = outcome.violations.find((v) => v.urn === urn && matches(v, expected));
  assert.ok(
    found,
    `${policy.name}: expected a violation on '${name}' matching ${expected
      .map(String)
      .join(" + ")}; got:\n${listed(outcome)}`,
  );
  return found;
}

/** Asserts that the stack policy reports nothing. */
export async function assertNoStackViolations(
  policy: StackValidationPolicy,
  args: StackValidationArgs,
): Promise<Outcome> {
  const outcome = await runStackPolicy(policy, args);
  assert.equal(
    outcome.violations.length,
    0,
    `${policy.name}: expected no violations; got:\n${listed(outcome)}`,
  );
  return outcome;
}
