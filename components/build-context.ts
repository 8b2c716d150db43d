/**
 * A Docker build context's content hash: only the files Docker would send (`.dockerignore`
 * applied) and their relative paths, so CI and a laptop deploying from different folders
 * build the same tag.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/** One `.dockerignore` line: a glob, and whether it re-includes (`!`) what it matches. */
interface IgnoreRule {
  readonly pattern: RegExp;
  readonly include: boolean;
}

/**
 * Parses `.dockerignore`: `#` comments, `!` exceptions, `*` and `?` within a path segment,
 * `**` across segments; the last matching line wins.
 * @see https://docs.docker.com/build/concepts/context/#dockerignore-files
 */
export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) {
      continue;
    }
    const include = line.startsWith("!");
    // Docker cleans each pattern: "job/" names the folder job, and so everything under it.
    const glob = path.posix
      .normalize((include ? line.slice(1) : line).trim())
      .replace(/^\/+|\/+$/g, "");
    rules.push({ pattern: globToRegExp(glob), include });
  }
  return rules;
}

/** What each glob token matches; `**` and a slash after it match any number of folders. */
const GLOB_TOKENS: Readonly<Record<string, string>> = {
  "**/": ".*(?:/)?",
  "**": ".*",
  "*": "[^/]*",
  "?": "[^/]",
};

function globToRegExp(glob: string): RegExp {
  const source = glob.replace(/\*\*\/?|[*?]|[.+^${}()|[\]\\]/g, (t) => GLOB_TOKENS[t] ?? `\\${t}`);
  // A pattern that names a folder also excludes everything under it.
  return new RegExp(`^${source}(?:/.*)?$`);
}

/** True if Docker would leave `relativePath` (POSIX separators) out of the context. */
export function isIgnored(relativePath: string, rules: readonly IgnoreRule[]): boolean {
  let ignored = false;
  for (const rule of rules) {
    if (rule.pattern.test(relativePath)) {
      ignored = !rule.include;
    }
  }
  return ignored;
}

/** Every file under `dir`, as sorted POSIX paths relative to it. */
function listFiles(dir: string, prefix = ""): string[] {
  const files: string[] = [];
  for (const entry of fs.readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const relative = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) {
      files.push(...listFiles(dir, relative));
    } else if (entry.isFile()) {
      files.push(relative);
    }
  }
  return files.sort();
}

/** SHA-256 of each sent file's path and content; Docker always reads the Dockerfile. */
export function hashBuildContext(dir: string): string {
  const ignoreFile = path.join(dir, ".dockerignore");
  const rules = fs.existsSync(ignoreFile)
    ? parseDockerignore(fs.readFileSync(ignoreFile, "utf8"))
    : [];
  const hash = crypto.createHash("sha256");
  for (const file of listFiles(dir)) {
    if (file !== "Dockerfile" && isIgnored(file, rules)) {
      continue;
    }
    hash.update(`${file}\0`);
    hash.update(fs.readFileSync(path.join(dir, file)));
    hash.update("\0");
  }
  return hash.digest("hex");
}
