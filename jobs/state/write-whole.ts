/** Whole-file writes: a concurrent reader, or a crash, never sees half a file. */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { isMissingFile } from "../errors";

export function unlessMissing<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch (err) {
    if (isMissingFile(err)) {
      return fallback;
    }
    throw err;
  }
}

export const readIfAny = (file: string): string | undefined =>
  unlessMissing(() => fs.readFileSync(file, "utf8"), undefined);

export function writeWhole(file: string, text: string): void {
  // pid and random: two processes, or two writes in one, never share a temporary name.
  const tmp = `${file}.part-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
