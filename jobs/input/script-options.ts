/** A script's options as the entrypoint reads them from argparse (`run_job.py --describe`). */
import { z } from "zod";
import { FatalError } from "../errors";

const optionSchema = z.looseObject({
  env: z.string().min(1),
  /** Other names that select the same option (its argparse dest). */
  aliases: z.array(z.string()).default([]),
  flag: z.string(),
  kind: z.enum(["value", "flag", "list"]),
  required: z.boolean(),
  /** argparse action name, e.g. "store", "count", "boolean_optional". */
  action: z.string().optional(),
});

const describeSchema = z.looseObject({
  script: z.string(),
  options: z.array(optionSchema),
  /** Mutually exclusive groups, by option env name. */
  groups: z
    .array(z.looseObject({ required: z.boolean(), options: z.array(z.string()) }))
    .default([]),
});

export type ScriptDescription = z.infer<typeof describeSchema> & {
  /** Names the user declared plain environment (`jobs:submit --plain-env`). */
  readonly plainEnv?: ReadonlySet<string>;
};

export function parseDescription(text: string, source: string): ScriptDescription {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FatalError(
      `${source} did not print JSON (${(err as Error).message}): ${text.slice(0, 200)}`,
    );
  }
  const parsed = describeSchema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new FatalError(
      `${source} printed an unexpected description (${first?.path.join(".")}: ${first?.message}); ` +
        `expected {"script": ..., "options": [{"env", "flag", "kind", "required"}]}`,
    );
  }
  return parsed.data;
}
