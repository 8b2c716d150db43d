"""python3 run_job.py as AWS Batch runs it, against moto_server: the tutorial's sample job,
a 20 MB result (multipart at the default threshold), and array children whose set breaks
the rules (a documented exit code and a stored log, never a traceback)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle

from conftest import client, run_entrypoint, run_main

JOB_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "jobs", "sample_job_1.json")
CONTRACT = json.load(open(os.path.join(os.path.dirname(__file__), "..", "contract.json")))
EXIT = {k: v["code"] for k, v in CONTRACT["exitCodes"].items() if not k.startswith("$")}


def body(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_the_sample_job_stores_its_pickle_and_log(s3_env, moto_url) -> None:
    with open(JOB_FILE, encoding="utf-8") as f:
        job = json.load(f)
    env = {**s3_env, "BATCHPY_JOB_NAME": job["jobName"]}
    env.update({v["name"]: v["value"] for v in job["containerOverrides"]["environment"]})
    run = run_entrypoint(env)
    assert run.returncode == 0, run.stderr
    s3, bucket = client(moto_url), s3_env["BATCHPY_BUCKET"]
    assert pickle.loads(body(s3, bucket, "results/sample_job_1/sample_job_1.p")) == 12
    assert b"6 * 2 = 12" in body(s3, bucket, "logs/sample_job_1.log")
    # The metrics line is a copy of the uploaded file that jobs:report can check by ETag.
    prefix = CONTRACT["metrics"]["logLinePrefix"]
    lines = [l for l in run.stderr.splitlines() if l.startswith(prefix)]
    assert lines == [prefix + '{"product": 12}'], run.stderr
    etag = client(moto_url).head_object(Bucket=bucket, Key="results/sample_job_1/metrics.json")["ETag"]
    assert etag.strip('"') == hashlib.md5(lines[0][len(prefix):].encode()).hexdigest()


def test_a_20_mb_result_goes_up_in_parts(tmp_path, s3_env, moto_url) -> None:
    script = tmp_path / "big.py"
    script.write_text(
        "with open('big.bin', 'wb') as f:\n    f.write(b'x' * (20 * 1000 * 1000))\n",
        encoding="utf-8",
    )
    run = run_entrypoint({**s3_env, "BATCHPY_JOB_NAME": "big"}, "--script", str(script))
    assert run.returncode == 0, run.stderr
    head = client(moto_url).head_object(Bucket=s3_env["BATCHPY_BUCKET"], Key="results/big/big.bin")
    assert head["ContentLength"] == 20 * 1000 * 1000
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]  # 8 MiB parts: 3 of them


def run_child(s3_env, moto_url, sets, index=0, in_process=None):  # type: ignore[no-untyped-def]
    """run_job.py as array child `index` of a manifest of `sets`; with `in_process` (pytest's
    monkeypatch and capsys), its `main` in this interpreter (conftest's run_main)."""
    s3, bucket = client(moto_url), s3_env["BATCHPY_BUCKET"]
    key = "inputs/sweeps/sweep-1.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"version": 1, "sets": sets}).encode())
    env = {
        **s3_env,
        "BATCHPY_JOB_NAME": "sweep",
        "BATCHPY_ARRAY_MANIFEST": key,
        "AWS_BATCH_JOB_ARRAY_INDEX": str(index),
        "save_name": "out",
    }
    run = run_entrypoint(env) if in_process is None else run_main(*in_process, env)
    log = body(s3, bucket, f"logs/sweep/{index}.log").decode() if run.returncode else ""
    return run, log


def test_a_set_with_a_nul_byte_fails_with_the_config_code_and_a_log(s3_env, moto_url) -> None:
    run, log = run_child(s3_env, moto_url, [{"var_a": "1\u00002"}])
    assert run.returncode == EXIT["config"], run.stderr
    assert "Traceback" not in run.stderr
    assert 'sets[0]: the value of "var_a" contains a NUL byte' in run.stderr
    assert 'sets[0]: the value of "var_a" contains a NUL byte' in log


def test_a_set_with_a_lone_surrogate_fails_with_the_config_code_and_a_log(s3_env, moto_url) -> None:
    """JSON can write half a surrogate pair ("a\\ud800b"); no variable or argument can carry
    it, and printing it must not end in a traceback."""
    run, log = run_child(s3_env, moto_url, [{"save_name": "a\ud800b", "var_\udfff": "1"}])
    assert run.returncode == EXIT["config"], run.stderr
    assert "Traceback" not in run.stderr
    for needle in [
        "sets[0].save_name holds \\ud800, half of a UTF-16 surrogate pair",
        'the variable name "var_\\udfff": it holds \\udfff',
    ]:
        assert needle in run.stderr, run.stderr
        assert needle in log, log


def test_a_set_that_sets_a_reserved_variable_fails_with_a_log(
    s3_env, moto_url, monkeypatch, capsys
) -> None:
    sets = [{"BATCHPY_OUTPUT_DIR": "out"}]
    run, log = run_child(s3_env, moto_url, sets, in_process=(monkeypatch, capsys))
    assert run.returncode == EXIT["config"], run.stderr
    assert '"BATCHPY_OUTPUT_DIR" cannot vary per set of an array job' in log


def test_an_oversized_value_fails_with_the_limit_named_and_a_log(
    s3_env, moto_url, monkeypatch, capsys
) -> None:
    sets = [{"var_a": "1" * 200_000}]
    run, log = run_child(s3_env, moto_url, sets, in_process=(monkeypatch, capsys))
    assert run.returncode == EXIT["config"], run.stderr
    assert "Traceback" not in run.stderr
    assert f"at most {CONTRACT['limits']['maxArgBytes'] - 1:,} bytes" in log


def test_a_bad_value_in_a_set_fails_in_the_scripts_parser_with_a_log(
    s3_env, moto_url, monkeypatch, capsys
) -> None:
    sets = [{"var_a": "6"}, {"var_a": "six"}]
    run, log = run_child(s3_env, moto_url, sets, index=1, in_process=(monkeypatch, capsys))
    assert run.returncode == EXIT["config"], run.stderr
    assert "invalid int value: 'six'" in log  # argparse in the script itself



def test_a_chunk_child_files_under_the_sweeps_set_number(s3_env, moto_url) -> None:
    """A chunk of a sweep past 10,000 sets (or a retry) lists its sets' numbers in
    "indexes": child 1 of this manifest is set 10,012 of the sweep."""
    s3, bucket = client(moto_url), s3_env["BATCHPY_BUCKET"]
    key = "inputs/sweeps/sweep-c1-x.json"
    manifest = {"version": 1, "sets": [{"var_a": "2"}, {"var_a": "3"}], "indexes": [10_000, 10_012]}
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())
    env = {
        **s3_env,
        "BATCHPY_JOB_NAME": "sweep",
        "BATCHPY_ARRAY_MANIFEST": key,
        "AWS_BATCH_JOB_ARRAY_INDEX": "1",
        "save_name": "out",
    }
    run = run_entrypoint(env)
    assert run.returncode == 0, run.stderr
    assert "array child 1 (set 10012)" in run.stderr
    assert pickle.loads(body(s3, bucket, "results/sweep/10012/out.p")) == 6
    assert b"3 * 2 = 6" in body(s3, bucket, "logs/sweep/10012.log")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="results/sweep/1/")
    assert listed.get("KeyCount", 0) == 0


def test_a_lone_set_job_files_under_its_set_index(s3_env, moto_url) -> None:
    """A last chunk of one set, or a retry of one set, is a plain job naming its set."""
    s3, bucket = client(moto_url), s3_env["BATCHPY_BUCKET"]
    env = {
        **s3_env,
        "BATCHPY_JOB_NAME": "lone",
        "BATCHPY_SET_INDEX": "20000",
        "var_a": "5",
        "save_name": "out",
    }
    run = run_entrypoint(env)
    assert run.returncode == 0, run.stderr
    assert pickle.loads(body(s3, bucket, "results/lone/20000/out.p")) == 10
    assert b"5 * 2 = 10" in body(s3, bucket, "logs/lone/20000.log")
