/**
 * The options `container/job/script.py` declares, read from `python3 container/run_job.py
 * --describe` (the entrypoint introspects argparse; see its module docstring), and
 * the rules for environment variable names in job files:
 *
 *   AWS_BATCH*       reserved by AWS Batch; the API rejects them
 *   BATCHPY_*        the tool's own (container/contract.json says which a job may set);
 *                    the rest are set by jobs/ or the job definition
 *   no lower case    plain environment (PATH, OMP_NUM_THREADS), passed through untouched
 *   http_proxy etc.  plain environment by convention (contract.json options.plainLowercase)
 *   anything else    must be an option (or its argparse dest) the script declares
 *
 * These are the entrypoint's own rules (run_job.py `undeclared_names`), applied before
 * submission instead of as a warning in the job's log.
 *
 * Catching a typo such as `var_c` here costs nothing; catching it in the container costs
 * an instance start.
 */
import { z } from "zod";
import {
  AWS_BATCH_PREFIX,
  OPTION_WORDS,
  RESERVED_PREFIX,
  VARIABLES,
  variablesSetBy,
} from "../../components/contract";
import { FatalError } from "../errors";
import { startDescribe, type DescribeArgs, type PythonRun } from "./python-probe";
import { definedOnly } from "../../components/defined";

export interface ScriptOption {
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

export type { DescribeArgs };

/**
 * Runs the entrypoint's `--describe` once, asynchronously, so the job files load meanwhile.
 * Rejects with a FatalError saying what to do on failure.
 */
export function describeScript(args: DescribeArgs): Promise<ScriptDescription> {
  const started = startDescribe(args);
  return started.run.then((run) => describedBy(run, started.shown));
}

/** The description a finished `--describe` printed; a FatalError saying what to do if none. */
function describedBy(run: PythonRun, shown: string): ScriptDescription {
  if (run.error !== undefined) {
    throw new FatalError(
      `could not run \`${shown}\` to read the script's options (${run.error.message}); ` +
        `install python3, or pass --script-options FILE saved from that command`,
    );
  }
  if (run.code !== 0) {
    throw new FatalError(
      `\`${shown}\` exited ${run.code}: ${run.stderr.trim() || run.stdout.trim()}`,
    );
  }
  return parseDescription(run.stdout, `\`${shown}\``);
}

/** Where the user's script and its modules live (container/job/, /app/job/ in the image). */
const USER_CODE_DIR = "container/job";

/** How the script is named in messages: `container/job/script.py`. */
function scriptLabel(desc: ScriptDescription): string {
  return desc.script.includes("/") ? desc.script : `${USER_CODE_DIR}/${desc.script}`;
}

/** Set by jobs/ itself on every job; a job file must not set them (name -> why). */
const TOOL_VARIABLES: Readonly<Record<string, string>> = Object.fromEntries(
  VARIABLES.filter((v) => v.setBy === "jobsTool").map((v) => [v.name, v.meaning]),
);

/** Set by the job definition (infrastructure); overriding them breaks the bucket layout. */
const JOB_DEFINITION_VARIABLES: readonly string[] = variablesSetBy("jobDefinition");

/** The reserved-prefix variables a job may set (container/contract.json, setBy "user"). */
const USER_VARIABLES: readonly string[] = variablesSetBy("user");

/** The option `name` selects (by env name or alias), if any. */
function optionFor(name: string, desc: ScriptDescription): ScriptOption | undefined {
  return desc.options.find((o) => o.env === name || o.aliases.includes(name));
}

/**
 * Why `name` cannot be used as an environment variable in a job, or undefined when it can.
 */
export function checkEnvName(name: string, desc: ScriptDescription): string | undefined {
  if (name.startsWith(AWS_BATCH_PREFIX)) {
    return (
      `"${name}" is reserved: names starting with ${AWS_BATCH_PREFIX} are set by AWS Batch and ` +
      `SubmitJob rejects them; rename the variable`
    );
  }
  if (name.startsWith(RESERVED_PREFIX)) {
    const tool = TOOL_VARIABLES[name];
    if (tool !== undefined) {
      return `"${name}" is ${tool}; remove it from the file`;
    }
    if (JOB_DEFINITION_VARIABLES.includes(name)) {
      return `"${name}" is set by the job definition (stack); remove it from the file`;
    }
    if (!USER_VARIABLES.includes(name)) {
      return (
        `"${name}" is not a batchpy variable (a job may set ${USER_VARIABLES.join(", ")}); ` +
        `fix the name`
      );
    }
    return undefined;
  }
  if (optionFor(name, desc) !== undefined) {
    return undefined;
  }
  const lowerCase = /[a-z]/.test(name);
  if (desc.plainEnv?.has(name) === true && !lowerCase) {
    return undefined;
  }
  // VAR_A or var-a for var_a: the entrypoint would pass VAR_A as plain environment and the
  // script would silently use var_a's default.
  const near = nearOptions(desc).get(normalizedName(name));
  if (near !== undefined) {
    return (
      `"${name}" is not an option of ${scriptLabel(desc)}, but differs from "${near}" only by case ` +
      `or -/_ (names are case-sensitive): did you mean ${near}?` +
      (lowerCase
        ? ""
        : ` To pass "${name}" to the script as plain environment, add --plain-env ${name}`)
    );
  }
  // Like the entrypoint: only names with a lower-case letter look like script options.
  if (!lowerCase || OPTION_WORDS.plainLowercase.includes(name.toLowerCase())) {
    return undefined;
  }
  const declared = desc.options.map((o) => o.env).join(", ") || "none";
  return (
    `"${name}" is not an option of ${scriptLabel(desc)} (declared: ${declared}); ` +
    `fix the name or add the option to the script`
  );
}

/** `VAR-A` -> `var_a`: what names that differ only by case or -/_ have in common. */
function normalizedName(name: string): string {
  return name.toLowerCase().replace(/-/g, "_");
}

const nearCache = new WeakMap<readonly ScriptOption[], Map<string, string>>();

/** Normalized name -> the option's variable, built once per description (checks stay linear). */
function nearOptions(desc: ScriptDescription): Map<string, string> {
  let map = nearCache.get(desc.options);
  if (map === undefined) {
    map = new Map();
    for (const o of desc.options) {
      for (const n of [o.env, ...o.aliases]) {
        if (!map.has(normalizedName(n))) {
          map.set(normalizedName(n), o.env);
        }
      }
    }
    nearCache.set(desc.options, map);
  }
  return map;
}

/** Why `--plain-env NAME` cannot be honoured, or undefined. */
export function plainEnvProblem(name: string): string | undefined {
  if (/[a-z]/.test(name)) {
    return (
      `--plain-env ${name}: the entrypoint passes only names without lower-case letters to the ` +
      "script as environment (it reads the others as options); rename the variable"
    );
  }
  return undefined;
}

/** Required options whose variable (or an alias) is not among `names`. */
export function missingRequired(
  names: ReadonlySet<string>,
  desc: ScriptDescription,
): ScriptOption[] {
  return desc.options.filter(
    (o) => o.required && !names.has(o.env) && !o.aliases.some((a) => names.has(a)),
  );
}

/**
 * Value checks the entrypoint would fail the job for, done before submission: flag values,
 * counts, two names for one option, and argparse's mutually exclusive groups. `vars` is the
 * job's full set of variables (for a sweep set: the base environment with the set over it).
 */
export function valueProblems(
  vars: ReadonlyMap<string, string>,
  desc: ScriptDescription,
): ValueProblem[] {
  const problems: ValueProblem[] = [];
  const present = new Set<string>();
  for (const o of desc.options) {
    const found = [o.env, ...o.aliases].filter((n) => vars.has(n));
    if (found.length === 0) {
      continue;
    }
    const distinct = new Set(found.map((n) => vars.get(n)));
    if (distinct.size > 1) {
      problems.push({
        name: found[1],
        message: `variables ${found.map((n) => `"${n}"`).join(" and ")} both set ${o.flag} with different values; keep one`,
      });
    }
    const name = found[0];
    const checked = checkValue(o, name, vars.get(name) ?? "");
    problems.push(...checked.problems);
    if (checked.present) {
      present.add(o.env);
    }
  }
  problems.push(...groupProblems(desc, present));
  return problems;
}

type ValueProblem = { name?: string; message: string };

/**
 * One option's value as the entrypoint reads it: its problems, and whether it puts the
 * option on the command line (what the mutually exclusive groups count).
 */
function checkValue(
  o: ScriptOption,
  name: string,
  value: string,
): { problems: ValueProblem[]; present: boolean } {
  const isTrue = (v: string): boolean => OPTION_WORDS.flagTrue.includes(v.trim().toLowerCase());
  const isFalse = (v: string): boolean => OPTION_WORDS.flagFalse.includes(v.trim().toLowerCase());
  if (o.kind === "flag") {
    const problems: ValueProblem[] =
      !isTrue(value) && !isFalse(value)
        ? [
            {
              name,
              message:
                `"${name}" = "${value}" is not a flag value; use ${OPTION_WORDS.flagTrue.join(", ")} (option on) ` +
                `or ${OPTION_WORDS.flagFalse.join(", ")} (option off)`,
            },
          ]
        : [];
    return { problems, present: isTrue(value) || o.action === "boolean_optional" };
  }
  if (o.action === "count") {
    const word = value.trim().toLowerCase();
    const max = OPTION_WORDS.maxCount;
    const ok = isTrue(word) || isFalse(word) || (/^\d+$/.test(word) && Number(word) <= max);
    const problems: ValueProblem[] = ok
      ? []
      : [
          {
            name,
            message: `"${name}" = "${value}" must be a count from 0 to ${max}, or true/false`,
          },
        ];
    return { problems, present: ok && !isFalse(word) && word !== "0" };
  }
  return { problems: [], present: !(o.kind === "list" && value === "") };
}

/** argparse's mutually exclusive groups: more than one chosen, or a required one left empty. */
function groupProblems(desc: ScriptDescription, present: ReadonlySet<string>): ValueProblem[] {
  const problems: ValueProblem[] = [];
  for (const g of desc.groups) {
    const chosen = g.options.filter((n) => present.has(n));
    if (chosen.length > 1) {
      problems.push({
        message: `${scriptLabel(desc)} accepts only one of ${g.options.join(", ")}, but ${chosen.join(" and ")} are set; keep one`,
      });
    } else if (g.required && chosen.length === 0) {
      problems.push({
        message: `${scriptLabel(desc)} requires one of ${g.options.join(", ")}; set one of these variables`,
      });
    }
  }
  return problems;
}
