"""The metrics line: once metrics.json is uploaded, its text goes to the job's log as one
line too, so jobs:report can read a whole sweep's metrics with a few CloudWatch Logs calls
and check each against the object's ETag (contract.json, "metrics")."""

from __future__ import annotations

import json
import sys
from typing import Optional

from .contract import METRICS_LOG_MAX_BYTES, METRICS_LOG_PREFIX


def metrics_log_line(data: bytes) -> Optional[str]:
    """The line for a metrics file's bytes, or None when no line can carry them exactly:
    text that is not UTF-8, or a line longer than the limit. The text goes as it is when it
    is one line that does not start with a quote, else JSON-quoted, so the reader can always
    tell the two apart and get back the very bytes S3 holds."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    plain = not any(c in text for c in "\r\n\u2028\u2029\x85") and not text.startswith('"')
    line = METRICS_LOG_PREFIX + (text if plain else json.dumps(text))
    return line if len(line.encode("utf-8")) <= METRICS_LOG_MAX_BYTES else None


def announce_metrics(path: str) -> None:
    """Prints the metrics line of the file at `path`, when it has one."""
    try:
        with open(path, "rb") as f:
            data = f.read(METRICS_LOG_MAX_BYTES + 1)
    except OSError:
        return
    line = metrics_log_line(data)
    if line is not None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
