"""A step reads what its parents wrote (BATCHPY_RESULTS_OF): their results/<name>/ land in
the folder BATCHPY_PARENT_RESULTS names, sets as numbered sub-folders, and nothing is
downloaded when it would not fit. A job names the script it runs (BATCHPY_SCRIPT)."""

from __future__ import annotations

import json
import os
from typing import Dict, List

import pytest
from conftest import CONTAINER, client, run_entrypoint, run_main

from batchpy_job.contract import StorageError
from batchpy_job.settings import read_config
from batchpy_job.transfers import download_parent_results
from batchpy_job.values import Rules

CONTRACT = json.load(open(os.path.join(CONTAINER, "contract.json")))
EXIT = {k: v["code"] for k, v in CONTRACT["exitCodes"].items() if not k.startswith("$")}
# Lists what it was given: every file under the folder, with its text.
STEP = (
    "import json, os\n"
    "root = os.environ['BATCHPY_PARENT_RESULTS']\n"
    "seen = {os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f)).read()\n"
    "        for d, _, fs in os.walk(root) for f in fs}\n"
    "json.dump(seen, open('seen.json', 'w'), sort_keys=True)\n"
)
PARENTS = {
    "results/grid/0/metrics.json": '{"product": 2}',
    "results/grid/1/metrics.json": '{"product": 60}',
    "results/single/out.txt": "one",
    "results/grid_2/other.txt": "not a parent",
}


def test_a_step_reads_its_parents_results_from_s3(tmp_path, s3_env, moto_url) -> None:
    s3, bucket = client(moto_url), s3_env["BATCHPY_BUCKET"]
    for key, text in PARENTS.items():
        s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
    script = tmp_path / "step.py"
    script.write_text(STEP, encoding="utf-8")
    env = {**s3_env, "BATCHPY_JOB_NAME": "step", "BATCHPY_RESULTS_OF": "grid,single"}
    run = run_entrypoint(env, "--script", str(script))
    assert run.returncode == 0, run.stderr
    assert "downloaded 3 result file(s) of grid, single" in run.stderr
    seen = json.loads(s3.get_object(Bucket=bucket, Key="results/step/seen.json")["Body"].read())
    assert seen == {
        "grid/0/metrics.json": '{"product": 2}',
        "grid/1/metrics.json": '{"product": 60}',
        "single/out.txt": "one",
    }


def test_a_local_step_reads_the_local_bucket_and_names_a_missing_parent(
    tmp_path, monkeypatch, capsys
) -> None:
    root = tmp_path / "bucket"
    for key, text in PARENTS.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text(text, encoding="utf-8")
    script = tmp_path / "step.py"
    script.write_text(STEP, encoding="utf-8")
    env = {"BATCHPY_LOCAL_ROOT": str(root), "BATCHPY_JOB_NAME": "step", "BATCHPY_RESULTS_OF": "grid"}
    run = run_entrypoint(env, "--script", str(script))
    assert run.returncode == 0, run.stderr
    seen = json.loads((root / "results" / "step" / "seen.json").read_text(encoding="utf-8"))
    assert sorted(seen) == ["grid/0/metrics.json", "grid/1/metrics.json"]

    run = run_main(monkeypatch, capsys, {**env, "BATCHPY_RESULTS_OF": "grid,gird"}, "--script", str(script))
    assert run.returncode == EXIT["input"], run.stderr
    assert 'BATCHPY_RESULTS_OF names "gird" but there are no objects under' in run.stderr
    assert "gird" in (root / "logs" / "step.log").read_text(encoding="utf-8")


def test_a_step_gets_each_sets_parameters_from_its_sweeps_manifests(tmp_path) -> None:
    root = tmp_path / "bucket"
    for key, text in PARENTS.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text(text, encoding="utf-8")
    sweeps = root / "inputs" / "sweeps"
    sweeps.mkdir(parents=True)
    # The whole sweep, then a chunk-like manifest numbering its one set 1: it wins for set 1.
    (sweeps / "grid-a.json").write_text('{"version":1,"sets":[{"var_a":"1"},{"var_a":"2"}]}')
    (sweeps / "grid-b.json").write_text('{"version":1,"sets":[{"var_a":"3"}],"indexes":[1]}')
    script = tmp_path / "step.py"
    script.write_text(STEP, encoding="utf-8")
    manifests = "grid:inputs/sweeps/grid-a.json,grid:inputs/sweeps/grid-b.json"
    env = {
        "BATCHPY_LOCAL_ROOT": str(root),
        "BATCHPY_JOB_NAME": "step",
        "BATCHPY_RESULTS_OF": "grid",
        "BATCHPY_PARENT_MANIFESTS": manifests,
    }
    run = run_entrypoint(env, "--script", str(script))
    assert run.returncode == 0, run.stderr
    seen = json.loads((root / "results" / "step" / "seen.json").read_text(encoding="utf-8"))
    assert seen["grid/0/parameters.json"] == '{"var_a": "1"}'
    assert seen["grid/1/parameters.json"] == '{"var_a": "3"}'
    with pytest.raises(Exception) as caught:
        read_config({**env, "BATCHPY_PARENT_MANIFESTS": "other:inputs/sweeps/x.json"})
    assert 'BATCHPY_PARENT_MANIFESTS has "other:inputs/sweeps/x.json"' in str(caught.value)


class HugeStore:
    """A bucket whose listing says each parent file is an exbibyte; nothing may be fetched."""

    def __init__(self) -> None:
        self.fetched: List[str] = []

    def url(self, key: str) -> str:
        return "s3://huge/" + key

    def sizes(self, prefix: str) -> Dict[str, int]:
        return {f"{prefix}{i}/data.bin": 2**60 for i in range(3)}

    def get(self, key: str, dest: str) -> None:
        self.fetched.append(key)


def test_results_larger_than_the_free_disk_are_refused_before_any_download(tmp_path) -> None:
    store = HugeStore()
    config = read_config({"BATCHPY_JOB_NAME": "step", "BATCHPY_RESULTS_OF": "grid"})
    with pytest.raises(StorageError) as caught:
        download_parent_results(store, config, str(tmp_path))  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith(f"the results of grid are {3 * 2**60:,} bytes in 3 files, more than")
    assert f"free in {tmp_path}: nothing was downloaded" in message
    assert store.fetched == []


def test_a_parent_key_that_is_the_folder_of_another_is_named_as_a_result(tmp_path) -> None:
    class ClashStore(HugeStore):
        def sizes(self, prefix: str) -> Dict[str, int]:
            return {f"{prefix}a": 1, f"{prefix}a/b": 1}

        def get(self, key: str, dest: str) -> None:
            open(dest, "w").close()

    config = read_config({"BATCHPY_JOB_NAME": "step", "BATCHPY_RESULTS_OF": "grid"})
    with pytest.raises(StorageError) as caught:
        download_parent_results(ClashStore(), config, str(tmp_path))  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith(
        f'could not save result s3://huge/results/grid/a/b as "grid/a/b" in {tmp_path}: '
    )
    assert message.endswith(
        "another result key uses this name as a folder, or this key's folder as a file name; "
        "rename one of them"
    )


def test_results_of_must_name_jobs() -> None:
    with pytest.raises(Exception) as caught:
        read_config({"BATCHPY_JOB_NAME": "step", "BATCHPY_RESULTS_OF": "grid,../logs"})
    assert 'BATCHPY_RESULTS_OF has "../logs", which is not a job name' in str(caught.value)


def test_a_job_runs_the_script_it_names_and_an_unknown_one_is_refused(
    tmp_path, monkeypatch, capsys
) -> None:
    env = {"BATCHPY_LOCAL_ROOT": str(tmp_path), "BATCHPY_JOB_NAME": "named", "var_a": "3", "save_name": "n"}
    run = run_entrypoint({**env, "BATCHPY_SCRIPT": "script.py"})
    assert run.returncode == 0, run.stderr
    assert "running script.py" in run.stderr
    for name in ("nope.py", "../run_job.py"):
        run = run_main(monkeypatch, capsys, {**env, "BATCHPY_SCRIPT": name})
        assert run.returncode == EXIT["config"], run.stderr
        assert f'BATCHPY_SCRIPT = "{name}" is not a file directly under' in run.stderr
        assert "its scripts are " in run.stderr and "script.py" in run.stderr


def test_a_job_file_may_not_set_what_the_tool_or_run_job_sets() -> None:
    rules = Rules({"options": [], "groups": []}, "script.py")
    for name, field in (("BATCHPY_SCRIPT", '"script"'), ("BATCHPY_RESULTS_OF", '"resultsOf"')):
        assert f"from a job file's {field} (write that instead)" in str(rules.name_problem(name))
    assert "set by run_job for the script" in str(rules.name_problem("BATCHPY_PARENT_RESULTS"))
