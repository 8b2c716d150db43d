"""The files of the working directory: what the script created or changed, and which of
them may leave the job. Nothing outside the working directory is ever uploaded: the output
folder and every file are resolved (symbolic links followed) and checked against it."""

from __future__ import annotations

import os
from typing import Dict, List, NamedTuple, Optional, Tuple

from .contract import VARS
from .errors import quoted, say

Snapshot = Dict[str, Tuple[int, int]]


class Skipped(NamedTuple):
    """Files left out of a snapshot, with why (for the warnings)."""

    not_utf8: List[str]
    outside: List[Tuple[str, str]]  # (name, where it resolves to)


def is_utf8_name(rel: str) -> bool:
    """Whether a file name (as os.walk gives it) is valid UTF-8, as S3 keys must be. Python
    keeps the bytes of other names as lone surrogates, which cannot be encoded."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_name(rel: str) -> str:
    """A file name for messages, its non-UTF-8 bytes written as \\xNN."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def inside(path: str, root: str) -> bool:
    """Whether `path` resolves (links followed) to `root` or below it. `root` is resolved."""
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def snapshot(folder: str, skipped: Optional[Skipped] = None, root: Optional[str] = None) -> Snapshot:
    """Every regular file under `folder` (relative, "/"-separated) with size and mtime.
    Symbolic links are not followed; one that points outside `root` (default: `folder`) is
    reported in `skipped`. Names that are not valid UTF-8 cannot be S3 keys: they are left
    out and reported too."""
    found: Snapshot = {}
    real_root = os.path.realpath(root or folder)
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in files + [d for d in dirs if os.path.islink(os.path.join(current, d))]:
            full = os.path.join(current, name)
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            if os.path.islink(full):
                if skipped is not None and not inside(full, real_root):
                    skipped.outside.append((rel, os.path.realpath(full)))
                continue
            if not os.path.isfile(full):
                continue
            if not is_utf8_name(rel):
                if skipped is not None:
                    skipped.not_utf8.append(rel)
                continue
            st = os.stat(full)
            found[rel] = (st.st_size, st.st_mtime_ns)
    return found


def changed_files(before: Snapshot, after: Snapshot) -> List[str]:
    """Files created or changed between two snapshots (deleted ones are not results)."""
    return sorted(p for p, stat in after.items() if before.get(p) != stat)


def _warn(skipped: Skipped) -> None:
    for rel in skipped.not_utf8:
        say(
            f'warning: result file "{shown_name(rel)}" not uploaded: its name is not '
            "valid UTF-8, which S3 keys must be; have the script write UTF-8 file names"
        )
    for rel, target in skipped.outside:
        say(
            f'warning: "{shown_name(rel)}" not uploaded: it is a link to '
            f"{quoted(shown_name(target))}, outside the working directory; only files the "
            "job wrote there are results"
        )


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
    """(folder, files relative to it) to upload as results."""
    skipped = Skipped([], [])
    if output_dir is not None:
        folder = output_folder(output_dir, workdir)
        if folder is None:
            return workdir, []
        files = sorted(snapshot(folder, skipped, root=workdir))
    else:
        folder = workdir
        files = changed_files(before, snapshot(workdir, skipped))
    _warn(skipped)
    return folder, files
