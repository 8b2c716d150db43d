/** A sweep's manifest: which sets an array job's children run (container/contract.json). */
import { createHash } from "crypto";
import { z } from "zod";
import { MANIFEST_PREFIX, MANIFEST_VERSION } from "../../components/contract";
import { definedOnly } from "../../components/defined";
import type { ParameterSet } from "./sweep";
import { jsonValue } from "./json-source";

/** `indexes`: set numbers, when not 0, 1, 2, ... */
export type Manifest = NonNullable<ReturnType<typeof parseManifest>>;

/** By content: a `--force` resubmission must not overwrite what older children still read. */
export function manifestKey(jobName: string, body: string): string {
  const digest = createHash("sha256").update(body).digest("hex").slice(0, 12);
  return `${MANIFEST_PREFIX}${jobName}-${digest}.json`;
}

/** Object.fromEntries defines own properties, so even "__proto__" is written as a name. */
export function manifestBody(sets: readonly ParameterSet[], indexes?: readonly number[]): string {
  return JSON.stringify({
    version: MANIFEST_VERSION,
    sets: sets.map((set) => Object.fromEntries(set)),
    indexes,
  });
}

const manifestSchema = z
  .object({
    version: z.literal(MANIFEST_VERSION),
    sets: z.array(z.unknown()),
    indexes: z.array(z.int()).optional().catch(undefined),
  })
  .transform(({ sets, indexes }) => {
    const setOf = (set: unknown): ParameterSet => {
      const entries = Object.entries(set !== null && typeof set === "object" ? set : {});
      return new Map(entries.map(([k, x]) => [k, String(x)]));
    };
    return definedOnly({ sets: sets.map(setOf), indexes });
  });

export function parseManifest(text: string) {
  return manifestSchema.safeParse(jsonValue(text)?.value).data;
}
