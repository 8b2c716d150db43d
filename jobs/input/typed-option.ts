/**
 * Which script options need Python to check their values (`run_job.py --check-values`): a
 * `type=` other than str, or choices. Its own module, free of zod and the JSON parser, so
 * the CLI can decide whether to start the values check from a cached description before
 * the rest of the tool has loaded (describe-cache.ts).
 */
import type { ScriptOption } from "./script-options";

/** Whether the option's values need Python to check them: a type other than str, or choices. */
export function isTyped(o: Pick<ScriptOption, "type" | "choices">): boolean {
  return (o.type !== undefined && o.type !== null && o.type !== "str") || Boolean(o.choices);
}
