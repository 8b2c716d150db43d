/** Helpers for the program's unit tests under `pulumi.runtime.setMocks`. */
import * as assert from "assert";
import { MockedResource, MockSettings, runUnderMocks } from "../../policy/check/evaluate";

export type { MockedResource };

/**
 * Runs `program` under mocks as stack `test` in us-east-1 and records what it registers.
 * `calls` answers data-source calls before the standard mocks (policy/check/evaluate.ts).
 */
export function mockRun(
  program: () => Record<string, unknown>,
  config: Record<string, string> = {},
  calls?: MockSettings["calls"],
): Promise<{ resources: MockedResource[]; outputs: Record<string, unknown> }> {
  return runUnderMocks(
    { project: "batchpy", stack: "test", config: { "aws:region": "us-east-1", ...config }, calls },
    program,
  );
}

/** Every recorded resource of a type token. */
export function ofType(resources: MockedResource[], type: string): MockedResource[] {
  return resources.filter((r) => r.type === type);
}

/** The one recorded resource of a type token; fails listing what was registered. */
export function single(resources: MockedResource[], type: string): MockedResource {
  const found = ofType(resources, type);
  assert.strictEqual(
    found.length,
    1,
    `expected one ${type}, found ${found.length} among:\n${resources.map((r) => r.urn).join("\n")}`,
  );
  return found[0];
}

/** Parses a JSON-string input such as `containerProperties` or an IAM policy. */
export function json<T = Record<string, unknown>>(value: unknown): T {
  assert.strictEqual(
    typeof value,
    "string",
    `expected a JSON string, got ${JSON.stringify(value)}`,
  );
  return JSON.parse(value as string) as T;
}
