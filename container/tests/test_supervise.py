"""supervise: the script's exit code (128+N for a signal), and a script that cannot be
started is the job's configuration (exit 2), not a traceback."""

from __future__ import annotations



import pytest

from batchpy_job.contract import EXIT_CONFIG
from batchpy_job.contract import JobError
from batchpy_job.supervise import run_script


def script(tmp_path, body: str) -> str:
    path = tmp_path / "s.py"
    path.write_text(body, encoding="utf-8")
    return str(path)


def test_returns_the_exit_code_and_logs_both_streams(tmp_path) -> None:
    s = script(tmp_path, "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)\n")
    log = tmp_path / "job.log"
    assert run_script(s, [], str(tmp_path), {"PATH": "/usr/bin:/bin"}, str(log)) == 3
    assert log.read_text() == "out\nerr\n"


def test_a_signal_is_128_plus_n(tmp_path) -> None:
    s = script(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    assert run_script(s, [], str(tmp_path), {}, str(tmp_path / "l")) == 143


def test_an_argument_that_cannot_be_passed_is_a_config_error(tmp_path) -> None:
    s = script(tmp_path, "pass\n")
    with pytest.raises(JobError) as err:
        run_script(s, ["--a=x\0y"], str(tmp_path), {}, str(tmp_path / "l"))
    assert err.value.code == EXIT_CONFIG
    assert "could not start s.py" in err.value.problems[0]

