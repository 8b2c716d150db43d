"""The metrics line (contract.json, "metrics"): one line that gives back the very bytes of
metrics.json, or none at all."""

from __future__ import annotations

import json

from batchpy_job.contract import METRICS_LOG_MAX_BYTES, METRICS_LOG_PREFIX
from batchpy_job.transfers import announce_metrics, metrics_log_line


def read_back(line: str) -> bytes:
    """What jobs:report does with a line (jobs/report/sources.ts)."""
    rest = line[len(METRICS_LOG_PREFIX):]
    return (json.loads(rest) if rest.startswith('"') else rest).encode("utf-8")


def test_one_line_json_goes_as_it_is() -> None:
    assert metrics_log_line(b'{"product": 12}') == METRICS_LOG_PREFIX + '{"product": 12}'


def test_line_breaks_and_a_leading_quote_go_json_quoted_and_read_back_exactly() -> None:
    for data in [b'{\n  "loss": 0.25\n}\n', b'{"a": 1}\r\n', '"é"\u2028'.encode(), b'"x"', b"", b" {}"]:
        line = metrics_log_line(data)
        assert line is not None and "\n" not in line and "\r" not in line
        assert read_back(line) == data


def test_no_line_for_text_that_is_not_utf8_or_too_long() -> None:
    assert metrics_log_line(b'{"a": "\xff"}') is None
    room = METRICS_LOG_MAX_BYTES - len(METRICS_LOG_PREFIX.encode())
    assert metrics_log_line(b"x" * room) is not None
    assert metrics_log_line(b"x" * (room + 1)) is None


def test_announce_prints_the_line_to_stderr_only_when_there_is_one(tmp_path, capsys) -> None:
    small = tmp_path / "metrics.json"
    small.write_bytes(b'{"product": 12}')
    announce_metrics(str(small))
    announce_metrics(str(tmp_path / "missing.json"))
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * (METRICS_LOG_MAX_BYTES * 2))
    announce_metrics(str(big))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == METRICS_LOG_PREFIX + '{"product": 12}\n'
