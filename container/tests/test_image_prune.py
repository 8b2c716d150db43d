"""The Dockerfile deletes every botocore service model but a few: a job must still reach S3
and find its credentials with only those. botocore is copied, pruned by the Dockerfile's
own list, and put first on the path of a real run against moto_server."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys

import botocore
from conftest import CONTAINER, client


def kept_models() -> list:
    with open(os.path.join(CONTAINER, "Dockerfile"), encoding="utf-8") as f:
        text = f.read().replace("\\\n", " ")
    line = next(l for l in text.splitlines() if "botocore/data" in l and "rm -rf" in l)
    return re.findall(r"! -name (\S+)", line)


def test_a_job_runs_on_the_pruned_botocore(tmp_path, s3_env, moto_url) -> None:
    kept = kept_models()
    assert "s3" in kept and "sts" in kept
    site = tmp_path / "site"
    source_data = os.path.join(os.path.dirname(botocore.__file__), "data")

    def pruned(folder: str, entries: list) -> list:
        """What the Dockerfile's rm -rf removes: every model folder of data/ not kept (not
        copied at all rather than copied and deleted: most of botocore's 30 MB)."""
        if os.path.normpath(folder) != os.path.normpath(source_data):
            return []
        return [e for e in entries if os.path.isdir(os.path.join(folder, e)) and e not in kept]

    shutil.copytree(os.path.dirname(botocore.__file__), site / "botocore", ignore=pruned)
    data = site / "botocore" / "data"
    assert sorted(e for e in os.listdir(data) if (data / e).is_dir()) == sorted(kept)
    env = {
        **s3_env,
        "PYTHONPATH": str(site),
        "BATCHPY_JOB_NAME": "pruned",
        "var_a": "6",
        "save_name": "pruned",
    }
    code = (
        "import botocore, sys; assert botocore.__file__.startswith(%r), botocore.__file__\n"
        "sys.argv = [%r]\n"
        "import runpy; runpy.run_path(%r, run_name='__main__')\n"
        % (str(site), os.path.join(CONTAINER, "run_job.py"), os.path.join(CONTAINER, "run_job.py"))
    )
    full = {"PATH": os.environ.get("PATH", ""), **env}
    done = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    obj = client(moto_url).get_object(Bucket=s3_env["BATCHPY_BUCKET"], Key="results/pruned/pruned.p")
    assert pickle.loads(obj["Body"].read()) == 12
