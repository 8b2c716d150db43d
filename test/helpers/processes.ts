/** Looking at the processes a test started, through /proc (Linux). */
import * as fs from "fs";

/** A process's state letter and parent pid, or undefined when it no longer exists. */
function procStat(pid: number | string): { state: string; ppid: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name in parentheses may hold spaces: read the fields after its ")".
    const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state, ppid: Number(ppid) };
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException).code === "ENOENT" ||
      (err as NodeJS.ErrnoException).code === "ESRCH"
    ) {
      return undefined; // it ended while we looked
    }
    throw err;
  }
}

/**
 * Whether process `pid` still runs. A zombie (it ended; its parent has not collected it
 * yet) does not: it does nothing and holds no pipe. Without /proc, any existing pid counts.
 */
export function isRunning(pid: number): boolean {
  if (!fs.existsSync("/proc/self/stat")) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH") {
        return false;
      }
      throw err;
    }
  }
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== "Z";
}

/** The pids of `parent`'s running children; a zombie is not one. */
export function childPids(parent: number = process.pid): number[] {
  return fs
    .readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      const stat = procStat(pid);
      return stat !== undefined && stat.state !== "Z" && stat.ppid === parent;
    })
    .map(Number);
}
