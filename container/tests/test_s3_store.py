"""s3_store against moto_server on 127.0.0.1: multipart uploads above a (lowered) threshold,
a throttled S3 (503 SlowDown), a credential refresh, and S3's errors in one line."""

from __future__ import annotations

import datetime
import http.server
import json
import os
import threading
from typing import Iterator, List

import pytest
from conftest import client

from batchpy_job.contract import EXIT_CONFIG, JobError, StorageError
from batchpy_job.transfers import S3Store

MiB = 1024 * 1024


def write(path: str, size: int) -> str:
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    return path


def test_uploads_above_the_threshold_in_parts(tmp_path, s3_env, moto_url) -> None:
    # s3transfer's defaults: files above 8 MiB go up in 8 MiB parts.
    store = S3Store(s3_env)
    big = write(str(tmp_path / "big.bin"), 17 * MiB)
    small = write(str(tmp_path / "small.bin"), 1 * MiB)
    store.put(big, "results/j/big.bin", "application/octet-stream")
    store.put(small, "results/j/small.bin", "application/octet-stream")
    s3 = client(moto_url)
    big_head = s3.head_object(Bucket=s3_env["BATCHPY_BUCKET"], Key="results/j/big.bin")
    small_head = s3.head_object(Bucket=s3_env["BATCHPY_BUCKET"], Key="results/j/small.bin")
    # A multipart object's ETag ends in -<number of parts>.
    assert big_head["ETag"].strip('"').endswith("-3")
    assert "-" not in small_head["ETag"].strip('"')
    assert big_head["ContentLength"] == 17 * MiB
    out = str(tmp_path / "back.bin")
    store.get("results/j/big.bin", out)
    with open(out, "rb") as a, open(big, "rb") as b:
        assert a.read() == b.read()


def test_sends_a_checksum_with_each_upload(tmp_path, s3_env, fault_proxy) -> None:
    url, recorder = fault_proxy
    store = S3Store({**s3_env, "AWS_ENDPOINT_URL_S3": url})
    os.environ["AWS_ENDPOINT_URL_S3"] = url
    store.put(write(str(tmp_path / "f"), 1000), "results/j/f", "text/plain")
    put = [r for r in recorder.requests if r["method"] == "PUT"]
    assert len(put) == 1
    assert "x-amz-checksum-crc32" in put[0]["auth"] or "x-amz-sdk-checksum-algorithm" in put[0]["auth"]


def test_retries_a_throttled_request_and_says_so(tmp_path, s3_env, fault_proxy, capsys) -> None:
    url, recorder = fault_proxy
    os.environ["AWS_ENDPOINT_URL_S3"] = url
    plan: List[int] = [503, 503]
    recorder.fault = lambda method, path: plan.pop(0) if method == "PUT" and plan else None
    store = S3Store({**s3_env, "AWS_ENDPOINT_URL_S3": url})
    store.put(write(str(tmp_path / "r.txt"), 10), "results/j/r.txt", "text/plain")
    assert len([r for r in recorder.requests if r["method"] == "PUT"]) == 3
    lines = [l for l in capsys.readouterr().err.splitlines() if "retrying in" in l]
    assert len(lines) == 2
    bucket = s3_env["BATCHPY_BUCKET"]
    assert lines[0].startswith(f"run_job: PUT s3://{bucket}/results/j/r.txt: HTTP 503 SlowDown")
    assert lines[1].endswith("(attempt 3 of 8)")


def test_gives_up_after_the_attempts_allowed_with_one_line(tmp_path, s3_env, fault_proxy) -> None:
    url, recorder = fault_proxy
    os.environ["AWS_ENDPOINT_URL_S3"] = url
    recorder.fault = lambda method, path: 503 if method == "PUT" else None
    store = S3Store({**s3_env, "AWS_ENDPOINT_URL_S3": url, "BATCHPY_S3_MAX_ATTEMPTS": "2"})
    with pytest.raises(StorageError) as err:
        store.put(write(str(tmp_path / "r.txt"), 10), "results/j/r.txt", "text/plain")
    assert str(err.value).startswith("HTTP 503 SlowDown: Please reduce your request rate.")
    assert "gave up after 2 attempts" in str(err.value)


def test_names_a_missing_key_and_refuses_bad_settings(tmp_path, s3_env) -> None:
    store = S3Store(s3_env)
    with pytest.raises(StorageError) as err:
        store.get("inputs/absent.csv", str(tmp_path / "x"))
    assert "HTTP 404 NoSuchKey" in str(err.value)
    assert "no such object" in str(err.value)
    assert os.listdir(tmp_path) == [], "nothing is left of a failed download"
    with pytest.raises(JobError) as bad:
        S3Store({**s3_env, "BATCHPY_BUCKET": "Bad_Bucket", "AWS_RETRY_MODE": "legacy"})
    assert len(bad.value.problems) == 2


class _Credentials(http.server.BaseHTTPRequestHandler):
    """The container credentials endpoint (ECS task role, EKS pod identity): each answer has
    a new key; the first expires in 5 minutes, inside the SDK's refresh window."""

    served: List[str] = []

    def log_message(self, *_args: object) -> None:
        return None

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.headers.get("authorization") != "token-1":
            self.send_response(401)
            self.end_headers()
            return
        n = len(self.served) + 1
        minutes = 5 if n == 1 else 60
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
        body = json.dumps(
            {
                "AccessKeyId": f"ROLEKEY{n}",
                "SecretAccessKey": "secret",
                "Token": f"session-{n}",
                "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        ).encode()
        self.served.append(f"ROLEKEY{n}")
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def credentials_url() -> Iterator[str]:
    _Credentials.served = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Credentials)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v2/credentials/job"
    finally:
        server.shutdown()
        server.server_close()


def test_refreshes_role_credentials_before_they_expire(
    tmp_path, s3_env, fault_proxy, credentials_url, monkeypatch
) -> None:
    url, recorder = fault_proxy
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", url)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", credentials_url)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "token-1")
    store = S3Store({**s3_env, "AWS_ENDPOINT_URL_S3": url})
    store.put(write(str(tmp_path / "r.txt"), 10), "results/j/r.txt", "text/plain")
    # The first key expires within the SDK's refresh window: it was replaced before use.
    assert _Credentials.served[0] == "ROLEKEY1" and len(_Credentials.served) >= 2
    put = [r for r in recorder.requests if r["method"] == "PUT"]
    assert "Credential=ROLEKEY1/" not in put[0]["auth"]
    assert f"Credential={_Credentials.served[-1]}/" in put[0]["auth"]


def test_says_how_to_get_credentials_when_there_are_none(s3_env, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(JobError) as err:
        S3Store(s3_env)
    assert err.value.code == EXIT_CONFIG
    assert "no AWS credentials: give the job definition a job role" in str(err.value)
