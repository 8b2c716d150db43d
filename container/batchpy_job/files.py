"""The files of the working directory: what the script created or changed, and which of
them may leave the job. Nothing outside the working directory is ever uploaded: the output
folder and every file are resolved (symbolic links followed) and checked against it."""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

from .contract import VARS
from .errors import quoted, say

Snapshot = Dict[str, Tuple[int, int]]


def shown_name(rel: str) -> str:
    """A file name for messages, its non-UTF-8 bytes (kept by Python as lone surrogates)
    written as \\xNN."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def inside(path: str, root: str) -> bool:
    """Whether `path` resolves (links followed) to `root` or below it. `root` is resolved."""
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def snapshot(folder: str, warn: bool = False, root: Optional[str] = None) -> Snapshot:
    """Every regular file under `folder` (relative, "/"-separated) with size and mtime.
    Symbolic links are not followed, and names that are not valid UTF-8 cannot be S3 keys:
    both are left out, and with `warn` a link outside `root` (default: `folder`) and each
    such name are reported."""
    found: Snapshot = {}
    real_root = os.path.realpath(root or folder)
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in files + [d for d in dirs if os.path.islink(os.path.join(current, d))]:
            full = os.path.join(current, name)
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            shown = shown_name(rel)
            if os.path.islink(full):
                if warn and not inside(full, real_root):
                    say(
                        f'warning: "{shown}" not uploaded: it is a link to '
                        f"{quoted(shown_name(os.path.realpath(full)))}, outside the working "
                        "directory; only files the job wrote there are results"
                    )
                continue
            if not os.path.isfile(full):
                continue
            if shown != rel:
                if warn:
                    say(
                        f'warning: result file "{shown}" not uploaded: its name is not valid '
                        "UTF-8, which S3 keys must be; have the script write UTF-8 file names"
                    )
                continue
            st = os.stat(full)
            found[rel] = (st.st_size, st.st_mtime_ns)
    return found


def output_folder(output_dir: str, workdir: str) -> Optional[str]:
    """The output folder, or None (with a warning) when it is missing or resolves outside
    the working directory (a link named like it, or a link above it)."""
    folder = os.path.join(workdir, output_dir)
    real_workdir = os.path.realpath(workdir)
    if not inside(folder, real_workdir):
        say(
            f"warning: {VARS.output_dir} {quoted(output_dir)} resolves to "
            f"{quoted(os.path.realpath(folder))}, outside the working directory; no results "
            "uploaded"
        )
        return None
    if not os.path.isdir(folder):
        say(
            f"warning: {VARS.output_dir} {quoted(output_dir)} does not exist "
            "after the script ran; no results uploaded"
        )
        return None
    return folder


def result_files(
    output_dir: Optional[str], workdir: str, before: Snapshot
) -> Tuple[str, List[str]]:
    """(folder, files relative to it) to upload as results: every file of the output
    folder, or else the files created or changed (deleted ones are not results)."""
    if output_dir is None:
        after = snapshot(workdir, warn=True)
        return workdir, sorted(p for p, stat in after.items() if before.get(p) != stat)
    folder = output_folder(output_dir, workdir)
    if folder is None:
        return workdir, []
    return folder, sorted(snapshot(folder, warn=True, root=workdir))
