"""local_store: a folder laid out like the bucket; S3 (boto3) is never imported for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import CONTAINER, run_entrypoint

from batchpy_job.contract import StorageError
from batchpy_job.transfers import LocalStore


def test_puts_gets_and_lists_like_the_bucket(tmp_path) -> None:
    store = LocalStore(str(tmp_path))
    src = tmp_path / "src.txt"
    src.write_text("hello", encoding="utf-8")
    store.put(str(src), "results/j/a/b.txt", "text/plain")
    assert list(store.sizes("results/j/")) == ["results/j/a/b.txt"]
    dest = tmp_path / "back.txt"
    store.get("results/j/a/b.txt", str(dest))
    assert dest.read_text(encoding="utf-8") == "hello"
    with pytest.raises(StorageError):
        store.get("inputs/none", str(dest))


def test_a_local_run_works_without_boto3(tmp_path) -> None:
    # boto3 made unimportable: the sample job must still run against the local folder.
    code = (
        "import sys; sys.modules['boto3'] = None; sys.modules['botocore'] = None\n"
        "sys.argv = ['run_job.py']\n"
        "import runpy; runpy.run_path(sys.argv[0] if False else %r, run_name='__main__')\n"
        % os.path.join(CONTAINER, "run_job.py")
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BATCHPY_LOCAL_ROOT": str(tmp_path),
        "BATCHPY_JOB_NAME": "nob",
        "var_a": "6",
        "save_name": "nob",
    }
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "results" / "nob" / "nob.p").exists()


def test_a_local_set_with_a_lone_surrogate_exits_2_with_its_log(tmp_path) -> None:
    """Half a surrogate pair ("a\\ud800b") in a local sweep's manifest is a configuration
    problem like any other: exit 2 and a stored log, never a traceback and exit 70."""
    manifest = tmp_path / "inputs" / "sweeps" / "us.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"version": 1, "sets": [{"save_name": "a\ud800b"}]}))
    env = {
        "BATCHPY_LOCAL_ROOT": str(tmp_path),
        "BATCHPY_JOB_NAME": "us",
        "BATCHPY_ARRAY_MANIFEST": "inputs/sweeps/us.json",
        "AWS_BATCH_JOB_ARRAY_INDEX": "0",
        "var_a": "1",
    }
    run = run_entrypoint(env)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    reason = "sets[0].save_name holds \\ud800, half of a UTF-16 surrogate pair"
    assert reason in run.stderr
    assert reason in (tmp_path / "logs" / "us" / "0.log").read_text(encoding="utf-8")
