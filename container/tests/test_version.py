"""The entrypoint states its minimum Python and refuses an older one with one clear line
(Python 3.8 used to die in a traceback on argparse.BooleanOptionalAction)."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest
from conftest import RUN_JOB

import batchpy_job
from batchpy_job import contract


def test_names_the_minimum_and_the_python_found() -> None:
    message = batchpy_job.python_too_old((3, 8, 18, "final", 0), "/usr/bin/python3.8")
    assert message == (
        "run_job: error: batchpy's entrypoint needs Python 3.10 or newer, but /usr/bin/python3.8 "
        "is Python 3.8.18: run it with a newer python3 (the job image has 3.11)"
    )
    assert batchpy_job.python_too_old(sys.version_info, sys.executable) is None
    assert batchpy_job.exit_config() == contract.EXIT_CONFIG


OLD = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.[6-9].*/bin/python3")))


@pytest.mark.skipif(not OLD, reason="no Python older than 3.10 on this machine")
@pytest.mark.parametrize("python", OLD)
def test_an_old_python_gets_the_message_and_the_config_exit_code(python: str) -> None:
    run = subprocess.run([python, RUN_JOB, "--describe"], capture_output=True, text=True, timeout=60)
    assert run.returncode == contract.EXIT_CONFIG
    assert run.stderr.startswith("run_job: error: batchpy's entrypoint needs Python 3.10 or newer")
    assert "Traceback" not in run.stderr
