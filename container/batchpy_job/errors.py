"""Failures of run_job itself, and how it speaks: one "run_job: " line each on stderr."""

from __future__ import annotations

import json
import sys
from typing import Iterable, Optional

from .contract import EXIT_CONFIG


class JobError(Exception):
    """run_job cannot go on: `code` is the exit code, each of `problems` one error line."""

    def __init__(self, code: int, problems: Iterable[str], detail: str = "") -> None:
        self.problems = list(problems)
        self.code = code
        self.detail = detail
        super().__init__("; ".join(self.problems))


def config_error(*problems: str, detail: str = "") -> JobError:
    return JobError(EXIT_CONFIG, problems, detail)


class StorageError(Exception):
    """A bucket operation failed for good; `status` is S3's HTTP status if S3 refused it."""

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status


def say(message: str) -> None:
    sys.stderr.write("run_job: " + message + "\n")
    sys.stderr.flush()


def quoted(value: str) -> str:
    """A value as it appears in messages: JSON-quoted, so newlines and spaces show."""
    return json.dumps(value, ensure_ascii=False)
