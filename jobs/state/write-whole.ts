/** Whole-file writes: a concurrent reader, or a crash, never sees half a file. */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { isMissingFile, orFallback } from "../errors";

export const readIfAny = (file: string): string | undefined =>
  orFallback(() => fs.readFileSync(file, "utf8"), undefined, isMissingFile);

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
