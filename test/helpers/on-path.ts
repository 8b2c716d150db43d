import * as fs from "fs";
import * as path from "path";

/** The real path of the first executable file `command` names on PATH, or undefined. */
export function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const file = path.join(dir || ".", command);
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (stat?.isFile() === true && (stat.mode & 0o111) !== 0) {
      return fs.realpathSync(file);
    }
  }
  return undefined;
}
