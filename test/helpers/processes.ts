/** Looking at the processes a test started, through /proc (Linux). */
import * as fs from "fs";

/** The pids of `parent`'s running children; a zombie (ended, not yet reaped) is not one. */
export function childPids(parent: number = process.pid): number[] {
  return fs
    .readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return state !== "Z" && Number(ppid) === parent;
      } catch {
        return false; // it ended while we looked
      }
    })
    .map(Number);
}
