"""Running the script: its own process group, its output teed to the log file, signals passed
on, leftover processes stopped."""

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from typing import BinaryIO

from .contract import config_error, say

# Output still in the pipe after the script exits is copied for at most this long: a process
# it left running keeps the pipe open, and must not hold up the uploads.
OUTPUT_DRAIN_SECONDS = 1.5
# SIGTERM to leftover processes, then SIGKILL this long after: with the drain, far inside the
# time AWS Batch leaves between its SIGTERM and its SIGKILL.
LEFTOVER_GRACE_SECONDS = 2.0
POLL_SECONDS = 0.2


def _tee_until_exit(proc: "subprocess.Popen[bytes]", fd: int, log: BinaryIO) -> None:
    console: BinaryIO | None = sys.stdout.buffer
    drain_until: float | None = None
    while True:
        if drain_until is None and proc.poll() is not None:
            drain_until = time.monotonic() + OUTPUT_DRAIN_SECONDS
        wait = POLL_SECONDS if drain_until is None else drain_until - time.monotonic()
        if wait <= 0:
            return
        if not select.select([fd], [], [], wait)[0]:
            continue
        if not (block := os.read(fd, 65536)):
            return
        log.write(block)
        log.flush()
        try:
            if console is not None:
                console.write(block)
                console.flush()
        except (BrokenPipeError, ValueError):
            console = None  # nobody reads our stdout; the file still gets it


def signal_group(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # its processes exist, we may just not signal them
    return True


def _group_gone(pgid: int) -> bool:
    """Zombies do not count. As PID 1 in the container we must reap the script's orphans."""
    with contextlib.suppress(ChildProcessError):  # no child left
        while os.getpid() == 1 and os.waitpid(-1, os.WNOHANG)[0] != 0:
            pass  # reaped one; 0 means none has ended
    if not signal_group(pgid, 0):
        return True
    try:
        pids = [d for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return False  # no /proc: the group still has members
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it ended while we looked
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return False
    return True


def stop_leftovers(pgid: int, script_name: str) -> None:
    """After a TerminateJob, AWS Batch's SIGKILL would otherwise come before the log is stored."""
    if _group_gone(pgid):
        return
    say(
        f"warning: {script_name} exited but left processes running; stopping them (SIGTERM, "
        f"then SIGKILL after {LEFTOVER_GRACE_SECONDS:g} s). To keep them, wait for them before "
        "the script exits"
    )
    for signum, grace in ((signal.SIGTERM, LEFTOVER_GRACE_SECONDS), (signal.SIGKILL, 1.0)):
        signal_group(pgid, signum)
        deadline = time.monotonic() + grace
        while not (gone := _group_gone(pgid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if gone:
            return
    say(f"warning: processes of process group {pgid} are still there after SIGKILL")


def run_script(
    script_path: str, argv: list[str], workdir: str, env: dict[str, str], log_path: str
) -> int:
    """Its exit code, 128+N for a signal N like a shell."""
    script_name = os.path.basename(script_path)
    # Unbuffered, so a crash loses no output and the two streams interleave as written. A
    # session of its own: a signal reaches everything it started, leftovers stop as one group,
    # and a terminal's Ctrl-C reaches the script once, through us, instead of twice.
    try:
        proc = subprocess.Popen(
            [sys.executable, script_path, *argv],
            cwd=workdir, env={"PYTHONUNBUFFERED": "1", **env}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
    except (OSError, ValueError) as err:
        # E2BIG, an embedded NUL: the job's configuration, not a bug of run_job.
        raise config_error(f"could not start {script_name}: {err}") from None

    # As PID 1 we must pass on `docker stop`'s SIGTERM (TerminateJob, a Spot reclaim), and
    # keep running to upload the log before the SIGKILL that follows.
    previous = {
        s: signal.signal(s, lambda signum, _frame: signal_group(proc.pid, signum))
        for s in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        with open(log_path, "wb") as log:
            _tee_until_exit(proc, proc.stdout.fileno(), log)
        code = proc.wait()
        stop_leftovers(proc.pid, script_name)
    finally:
        if proc.poll() is None:  # we failed while it ran: do not leave it behind
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - code if code < 0 else code
