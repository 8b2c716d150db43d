/** `aws s3 sync`-style decisions: a download takes the source's time, so it is then skipped. */
import type { Stats } from "fs";
import * as path from "path";
import type { RemoteObject } from "../aws/api";
import { BUCKET_PREFIXES } from "../../components/contract";

export type SourceObject = Omit<RemoteObject, "etag">;

export type LocalInfo = Pick<Stats, "size" | "mtimeMs">;

/** S3 times have one-second resolution; compare in whole seconds. */
export function needsCopy(source: SourceObject, local: LocalInfo | undefined): boolean {
  return (
    local === undefined ||
    local.size !== source.size ||
    Math.floor(source.lastModified.getTime() / 1000) > Math.floor(local.mtimeMs / 1000)
  );
}

export function localPathFor(outDir: string, key: string): string | undefined {
  const parts = key.split("/");
  // An empty first or last part: a leading or trailing "/", or no key at all.
  if ([parts[0], parts[parts.length - 1]].includes("") || parts.some((p) => /^\.\.?$/.test(p))) {
    return undefined;
  }
  const dest = path.join(outDir, ...parts);
  const rel = path.relative(outDir, dest);
  return rel.startsWith("..") || path.isAbsolute(rel) ? undefined : dest;
}

export type SyncPlan = ReturnType<typeof planSync>;

export function planSync(
  sources: readonly SourceObject[],
  outDir: string,
  stat: (file: string) => LocalInfo | undefined,
) {
  const copy: { source: SourceObject; dest: string }[] = [];
  const skipped: string[] = [];
  let unchanged = 0;
  for (const s of sources) {
    const dest = localPathFor(outDir, s.key);
    if (dest === undefined) {
      skipped.push(s.key);
    } else if (needsCopy(s, stat(dest))) {
      copy.push({ source: s, dest });
    } else {
      unchanged++;
    }
  }
  return { copy, unchanged, skipped };
}

export function prefixesFor(names: readonly string[]): string[] {
  const { results, logs } = BUCKET_PREFIXES;
  return names.length === 0
    ? [results, logs]
    : names.flatMap((n) => [`${results}${n}/`, `${logs}${n}.log`, `${logs}${n}/`]);
}

/** `logs/a.log` must match the whole key, or it would also pull `logs/a.log2`. */
export function matchesPrefix(key: string, prefix: string): boolean {
  return prefix.endsWith("/") ? key.startsWith(prefix) : key === prefix;
}
