/**
 * The options `container/job/script.py` declares, read from `python3 container/run_job.py
 * --describe` (the entrypoint introspects argparse; see its module docstring). What a job's
 * variables may be is the entrypoint's to say (value-types.ts asks it).
 */
import { z } from "zod";
import { FatalError } from "../errors";
import * as path from "path";
import { entrypointArgs, probeOutput, startPython } from "./python-probe";
import { definedOnly } from "../../components/defined";

interface ScriptOption {
  /** The environment variable that carries the option, e.g. `var_a`. */
  readonly env: string;
  /** Other names that select the same option (its argparse dest). */
  readonly aliases: readonly string[];
  readonly flag: string;
  readonly kind: "value" | "flag" | "list";
  readonly required: boolean;
  /** argparse action name, e.g. "store", "count", "boolean_optional". */
  readonly action?: string;
  /** The option's type= as the entrypoint names it (`int`, `FileType('w')`); null: str. */
  readonly type?: string | null;
  /** Its choices (as strings), when it has at most 100. */
  readonly choices?: readonly string[] | null;
}

export interface ScriptDescription {
  /** The script the options belong to, as the entrypoint names it. */
  readonly script: string;
  readonly options: readonly ScriptOption[];
  /** Mutually exclusive groups, by option env name. */
  readonly groups: readonly { readonly required: boolean; readonly options: readonly string[] }[];
  /**
   * Names the user declared plain environment (`jobs:submit --plain-env`), passed even when
   * they differ from an option only by case or `-`/`_`.
   */
  readonly plainEnv?: ReadonlySet<string>;
}

const describeSchema = z.looseObject({
  script: z.string(),
  options: z.array(
    z.looseObject({
      env: z.string().min(1),
      aliases: z.array(z.string()).optional(),
      flag: z.string(),
      kind: z.enum(["value", "flag", "list"]),
      required: z.boolean(),
      action: z.string().optional(),
      type: z.string().nullable().optional(),
      choices: z.array(z.string()).nullable().optional(),
    }),
  ),
  groups: z
    .array(z.looseObject({ required: z.boolean(), options: z.array(z.string()) }))
    .optional(),
});

/** Validates the JSON printed by `run_job.py --describe`. */
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
  const d = parsed.data;
  return {
    script: d.script,
    options: d.options.map((o) => ({
      env: o.env,
      aliases: o.aliases ?? [],
      flag: o.flag,
      kind: o.kind,
      required: o.required,
      ...definedOnly({ action: o.action, type: o.type, choices: o.choices }),
    })),
    groups: (d.groups ?? []).map((g) => ({ required: g.required, options: g.options })),
  };
}

/**
 * Runs the entrypoint's `--describe` once (`script`: its `--script`), asynchronously, so
 * the job files load meanwhile. Rejects with a FatalError saying what to do on failure.
 */
export async function describeScript(args: {
  readonly repoRoot: string;
  readonly script?: string;
}): Promise<ScriptDescription> {
  const argv = entrypointArgs(args.repoRoot, "--describe", args.script);
  const shown = `python3 ${path.relative(args.repoRoot, argv[0])} --describe`;
  const run = await startPython(argv, args.repoRoot, 30_000).finish();
  return parseDescription(probeOutput(run, shown, "to read the script's options"), `\`${shown}\``);
}
