"""Shared fixtures: the package on sys.path, a moto S3 server on 127.0.0.1 (started once,
stopped at the end), and small HTTP servers that stand in for S3 failures and for the
container credentials endpoint. Nothing here talks to anything but 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Callable, Dict, Iterator, List, Optional

import pytest

CONTAINER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, CONTAINER)
RUN_JOB = os.path.join(CONTAINER, "run_job.py")
# Static test keys: moto accepts any.
TEST_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto_server (moto's S3 over HTTP) on a free port of 127.0.0.1, for the session."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> Dict[str, str]:
    """An environment (also set in os.environ, which botocore reads) for a fresh bucket."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.startswith("BATCHPY_"):
            monkeypatch.delenv(name)
    bucket = f"bkt-{time.monotonic_ns()}"
    env = {
        **TEST_KEYS,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": moto_url,
        "AWS_EC2_METADATA_DISABLED": "true",
        "BATCHPY_BUCKET": bucket,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    client(moto_url).create_bucket(Bucket=bucket)
    return env


def client(endpoint: str):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


class Recorder:
    """What a FaultProxy saw, and what it should do next."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, str]] = []
        self.fault: Callable[[str, str], Optional[int]] = lambda method, path: None


def _proxy_handler(upstream: str, recorder: Recorder) -> type:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: object) -> None:
            return None

        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            recorder.requests.append(
                {"method": self.command, "path": self.path, "auth": self.headers.get("authorization", "")}
            )
            status = recorder.fault(self.command, self.path)
            if status is not None:
                text = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
                self.send_response(status)
                self.send_header("content-type", "application/xml")
                self.send_header("content-length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            req = urllib.request.Request(upstream + self.path, data=body or None, method=self.command, headers=headers)
            try:
                resp = urllib.request.urlopen(req, timeout=30)
            except urllib.error.HTTPError as err:
                resp = err
            data = resp.read()
            self.send_response(resp.status if hasattr(resp, "status") else resp.code)
            for k, v in resp.headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

    return Handler


@pytest.fixture
def fault_proxy(moto_url: str) -> Iterator[tuple]:
    """(url, recorder): an HTTP proxy to moto that answers what recorder.fault says."""
    recorder = Recorder()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(moto_url, recorder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()


def run_entrypoint(env: Dict[str, str], *args: str, cwd: Optional[str] = None) -> subprocess.CompletedProcess:
    """python3 container/run_job.py ARGS with exactly `env` (plus PATH)."""
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", **env}
    return subprocess.run(
        [sys.executable, RUN_JOB, *args], env=full, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: Dict[str, str], *args: str
) -> subprocess.CompletedProcess:
    """run_job's `main` in this interpreter, as run_entrypoint runs it in a process, for the
    cases of an exit path that has its process test: a start costs run_job's imports (and
    boto3's). os.environ keeps what else it has, but for AWS_ and BATCHPY_ variables."""
    from batchpy_job import job

    for name in list(os.environ):
        if (name.startswith("AWS_") or name.startswith("BATCHPY_")) and name not in env:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", [RUN_JOB, *args])
    capsys.readouterr()
    code = job.main()
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess([RUN_JOB, *args], code, out, err)


def write_json(path: str, value: object) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f)
