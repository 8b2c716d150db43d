"""The entrypoint states its minimum Python and refuses an older one with one clear line
(Python 3.8 used to die in a traceback on argparse.BooleanOptionalAction)."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest
from conftest import RUN_JOB

from batchpy_job import contract


def test_names_the_minimum_and_the_python_found() -> None:
    # run_job.py as Python 3.8 runs it: its version check reads only sys.
    code = (
        "import runpy, sys; sys.version_info = (3, 8, 18, 'final', 0); "
        f"sys.executable = '/usr/bin/python3.8'; runpy.run_path({RUN_JOB!r}, run_name='__main__')"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == contract.EXIT_CONFIG
    assert run.stderr == (
        "run_job: error: batchpy's entrypoint needs Python 3.10 or newer, but /usr/bin/python3.8 "
        "is Python 3.8.18: run it with a newer python3 (the job image has 3.11)\n"
    )


OLD = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.[6-9].*/bin/python3")))


@pytest.mark.skipif(not OLD, reason="no Python older than 3.10 on this machine")
@pytest.mark.parametrize("python", OLD)
def test_an_old_python_gets_the_message_and_the_config_exit_code(python: str) -> None:
    run = subprocess.run([python, RUN_JOB, "--describe"], capture_output=True, text=True, timeout=60)
    assert run.returncode == contract.EXIT_CONFIG
    assert run.stderr.startswith("run_job: error: batchpy's entrypoint needs Python 3.10 or newer")
    assert "Traceback" not in run.stderr
