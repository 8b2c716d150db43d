/**
 * A sweep's manifest, the file that says which sets an array job's children run: its key,
 * its body and its reader. The entrypoint reads the same format (container/contract.json).
 */
import { createHash } from "crypto";
import { z } from "zod";
import { MANIFEST_PREFIX, MANIFEST_VERSION } from "../../components/contract";
import { definedOnly } from "../../components/defined";
import type { ParameterSet } from "./sweep";
import { jsonValue } from "./json-source";

/** A manifest as read: the sets, and their set numbers when they are not 0, 1, 2, … */
export interface Manifest {
  readonly sets: ParameterSet[];
  readonly indexes?: number[];
}

/**
 * `inputs/sweeps/<jobName>-<first 12 hex digits of sha256(body)>.json`. Named by content, so
 * a `--force` resubmission with other sets writes a new object while the children of an
 * earlier run may still be reading the old one; the same sets map to the same key.
 */
export function manifestKey(jobName: string, body: string): string {
  const digest = createHash("sha256").update(body).digest("hex").slice(0, 12);
  return `${MANIFEST_PREFIX}${jobName}-${digest}.json`;
}

/**
 * The manifest the entrypoint reads ({"version":1,"sets":[...]}). A chunk of a sweep past
 * 10,000 sets, or a retry of some of its sets, also lists each child's set number in
 * `indexes` (container/contract.json), so results keep the sweep's numbering.
 */
export function manifestBody(sets: readonly ParameterSet[], indexes?: readonly number[]): string {
  // Object.fromEntries defines own properties, so even "__proto__" is written as a name.
  return JSON.stringify({
    version: MANIFEST_VERSION,
    sets: sets.map((set) => Object.fromEntries(set)),
    indexes,
  });
}

const manifestSchema = z.object({
  version: z.literal(MANIFEST_VERSION),
  sets: z.array(z.unknown()),
  indexes: z.array(z.int()).optional().catch(undefined),
});

/** A sweep manifest: `{"version": 1, "sets": [...], "indexes"?: [...]}` (indexes: set numbers). */
export function parseManifest(text: string): Manifest | undefined {
  const parsed = manifestSchema.safeParse(jsonValue(text)?.value);
  if (!parsed.success) {
    return undefined;
  }
  // Maps, as the rest of the tool holds sets: a parameter named __proto__ stays a parameter.
  const sets = parsed.data.sets.map((set): ParameterSet => {
    const entries = Object.entries(set !== null && typeof set === "object" ? set : {});
    return new Map(entries.map(([k, x]) => [k, String(x)]));
  });
  return definedOnly({ sets, indexes: parsed.data.indexes });
}
