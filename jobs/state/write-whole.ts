/**
 * Whole-file writes: the text goes to a temporary name in the same folder and is renamed
 * over `file`, so a concurrent reader, or a crash, never sees half a file.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";

/**
 * Writes `text` to `file` (creating its folder); on any failure removes the temporary file
 * and throws the error on, for the caller to report or ignore.
 */
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
