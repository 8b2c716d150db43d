/**
 * The content of a Docker build context, as a hash that depends only on the files Docker
 * would send (the `.dockerignore` rules applied) and their paths relative to the context:
 * the same checkout in two folders gives the same hash, so the image's tag and inputs do
 * not change when CI and a laptop deploy from different places.
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
 * Parses `.dockerignore`: one pattern per line, `#` comments, `!` exceptions, `*` and `?`
 * within a path segment, `**` across segments; the last matching line wins.
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

function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      source += ".*";
      i++;
      if (glob[i + 1] === "/") {
        i++;
        source += "(?:/)?";
      }
    } else if (c === "*") {
      source += "[^/]*";
    } else if (c === "?") {
      source += "[^/]";
    } else {
      source += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    }
  }
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

/**
 * SHA-256 over the context's files (relative path, then content, for each file Docker would
 * send) and the Dockerfile, which Docker always reads even when `.dockerignore` excludes it.
 */
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
