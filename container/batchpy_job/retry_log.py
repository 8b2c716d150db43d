"""One log line per S3 retry, as run_job always printed them:

    run_job: PUT s3://bucket/results/job/r.txt: HTTP 503 SlowDown: ...; retrying in 1.31 s
    (attempt 2 of 8)

botocore says that it retries (and after what delay) only in a DEBUG log record, and what
failed only in the needs-retry event; a thread-local joins the two (s3transfer uploads parts
in worker threads)."""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, Optional

from .errors import say

_RETRY_LOGGER = "botocore.retries.standard"
_RETRY_MESSAGE = "Retry needed"
_WHAT = "batchpy_what"
_current = threading.local()

def _failure(response: Any, caught: Optional[BaseException]) -> str:
    if caught is not None:
        inner = getattr(caught, "kwargs", {}).get("error")
        return f"{type(caught).__name__}: {caught}" + (f" ({inner!r})" if inner else "")
    if response is None:
        return "no response"
    http, parsed = response
    error = parsed.get("Error", {}) if isinstance(parsed, dict) else {}
    code, message = error.get("Code", ""), error.get("Message", "")
    return f"HTTP {http.status_code} {code}: {message}".rstrip(": ")


class _RetryHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        pending = getattr(_current, "pending", None)
        if not str(record.msg).startswith(_RETRY_MESSAGE) or pending is None:
            return
        _current.pending = None
        what, failure, attempt, max_attempts = pending
        delay = float(record.args[0]) if record.args else 0.0  # type: ignore[index]
        say(
            f"{what}: {failure}; retrying in {delay:.2f} s "
            f"(attempt {attempt + 1} of {max_attempts})"
        )


_handler = _RetryHandler(logging.DEBUG)


def _name_request(params: Dict[str, Any], model: Any, context: Dict[str, Any], **_: Any) -> None:
    verb = "LIST" if model.name.startswith("List") else model.http.get("method", model.name)
    target = params.get("Key", params.get("Prefix", ""))
    context[_WHAT] = f"{verb} s3://{params.get('Bucket', '')}/{target}"


def log_retries(client: Any, max_attempts: int) -> None:
    """Registers the hooks on one client."""

    def remember(
        request_dict: Dict[str, Any],
        attempts: int,
        response: Any = None,
        caught_exception: Optional[BaseException] = None,
        **_: Any,
    ) -> None:
        what = request_dict.get("context", {}).get(_WHAT, "S3 request")
        _current.pending = (what, _failure(response, caught_exception), attempts, max_attempts)

    client.meta.events.register("before-parameter-build.s3", _name_request)
    client.meta.events.register_first("needs-retry.s3", remember)
    logger = logging.getLogger(_RETRY_LOGGER)
    if _handler not in logger.handlers:
        logger.addHandler(_handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False  # botocore's other debug output stays silent
