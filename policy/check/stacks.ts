/**
 * The project's stacks, read from its `Pulumi.<stack>.yaml` files. Kept apart from
 * `evaluate.ts` so the command line can list them without loading `@pulumi/pulumi`.
 */
import * as fs from "fs";
import * as path from "path";

/** This repository's Pulumi project. */
export const DEFAULT_PROJECT_ROOT = path.resolve(__dirname, "..", "..");

/** The stacks that have a `Pulumi.<stack>.yaml` in `projectRoot`. */
export function listStacks(projectRoot: string = DEFAULT_PROJECT_ROOT): string[] {
  return fs
    .readdirSync(projectRoot)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined);
}
