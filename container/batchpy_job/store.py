"""The bucket: LocalStore, a folder laid out like it (for `npm run local`), or S3Store through
boto3 (imported only then): s3transfer's multipart and ranged transfers, the SDK's checksums,
retry modes and full credential chain."""

import logging
import os
import re
import shutil
import threading
import urllib.parse
from typing import Any

from .contract import VARS, StorageError, config_error, quoted, say

BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
DEFAULT_S3_MAX_ATTEMPTS = 8
HTTP_TIMEOUT_SECONDS = 60


class LocalStore:
    """A folder laid out like the bucket (inputs/, results/, logs/); a key's URL is its path."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def url(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def check_credentials(self) -> None:
        return None

    def get(self, key: str, dest: str) -> None:
        src = self.url(key)
        if not os.path.isfile(src):
            raise StorageError(f"no file {src}: put it there first, or fix the key")
        try:
            shutil.copyfile(src, dest)
        except OSError as err:
            raise StorageError(f"cannot copy {src}: {err}") from None

    def put(self, src: str, key: str, content_type: str) -> None:
        dest = self.url(key)
        try:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(src, dest + ".part")
            os.replace(dest + ".part", dest)
        except OSError as err:
            raise StorageError(f"cannot write {dest}: {err}") from None

    def sizes(self, prefix: str) -> dict[str, int]:
        """Each key under `prefix` with its size in bytes, in key order."""
        walk = os.walk(self.url(prefix.rstrip("/")))
        paths = sorted(os.path.join(folder, name) for folder, _, names in walk for name in names)
        return {
            os.path.relpath(p, self.root).replace(os.sep, "/"): os.path.getsize(p) for p in paths
        }


def describe_failure(err: BaseException, action: str, attempts: int) -> StorageError:
    """One line for a failed S3 call: the status and code S3 gave, and a hint."""
    from botocore.exceptions import ClientError

    # upload_file wraps the ClientError in S3UploadFailedError (raised while handling it).
    inner = err.__cause__ or err.__context__
    cause = inner if not isinstance(err, ClientError) and isinstance(inner, ClientError) else err
    if not isinstance(cause, ClientError):
        return StorageError(f"{type(err).__name__}: {err}")
    meta = cause.response.get("ResponseMetadata", {})
    status = meta.get("HTTPStatusCode")
    error = cause.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", "") or "")
    if status is None:
        return StorageError(message)
    text = f"HTTP {status} {code}: {message}".rstrip(": ")
    if meta.get("MaxAttemptsReached"):
        text += f" (gave up after {attempts} attempts)"
    if code == "NoSuchKey" or (status == 404 and action == "get" and code != "NoSuchBucket"):
        text += " (no such object: upload it first, or fix the key)"
    elif code == "NoSuchBucket":
        text += f" (no such bucket: check {VARS.bucket})"
    elif status == 403:
        permission = "s3:PutObject" if action == "put" else "s3:GetObject/s3:ListBucket"
        text += f" (check that the job role allows {permission} on this key)"
    elif status == 301 or code in ("PermanentRedirect", "AuthorizationHeaderMalformed"):
        text += " (the bucket is in another region: set AWS_REGION to the bucket's region)"
    return StorageError(text, status)


class S3Store:
    """get, put and list on one bucket. Credentials come from the SDK's chain (environment,
    web identity, container endpoint, instance profile, profiles), refreshed by the SDK."""

    def __init__(self, env: dict[str, str]) -> None:
        problems = []  # every problem of the settings at once
        bucket = env.get(VARS.bucket, "")
        if not bucket:
            problems.append(
                f"{VARS.bucket} is not set: the job definition sets it to the stack's bucket; "
                f"to run locally set {VARS.local_root}=<folder> instead"
            )
        elif not BUCKET_RE.fullmatch(bucket):
            problems.append(f"{VARS.bucket} = {quoted(bucket)} is not an S3 bucket name")
        endpoint = None
        if env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
            endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
        if endpoint and urllib.parse.urlsplit(endpoint).scheme not in ("http", "https"):
            why = "must start with http:// or https://"
            problems.append(f"the S3 endpoint {quoted(endpoint)} {why}")
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
        if not region and endpoint:
            region = "us-east-1"  # what S3-compatible servers expect when none is given
        elif not region:
            problems.append(
                "AWS_REGION is not set: the job definition sets it to the stack's region"
            )
        attempts = env.get(VARS.s3_max_attempts, str(DEFAULT_S3_MAX_ATTEMPTS))
        if not attempts.isdecimal() or not 1 <= int(attempts) <= 20:
            problems.append(f"{VARS.s3_max_attempts} = {quoted(attempts)} must be from 1 to 20")
        mode = env.get("AWS_RETRY_MODE", "standard")
        if mode not in ("standard", "adaptive"):
            problems.append(f"AWS_RETRY_MODE = {quoted(mode)} must be standard or adaptive")
        if problems:
            raise config_error(*problems)
        self.bucket, self.attempts = bucket, int(attempts)
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise config_error(
                "boto3 is not installed, and S3 needs it: pip install -r "
                "container/requirements.txt (the image has it), or set "
                f"{VARS.local_root}=<folder> to use a local folder"
            ) from None
        self.session = boto3.session.Session(region_name=region)
        config = Config(
            retries={"mode": mode, "total_max_attempts": self.attempts},
            # A custom endpoint (LocalStack, MinIO, a test server) rarely resolves
            # <bucket>.<host>, so address the bucket in the path there.
            s3={"addressing_style": "path"} if endpoint else {},
            read_timeout=HTTP_TIMEOUT_SECONDS,
            user_agent_extra="batchpy",
        )
        self.client: Any = self.session.client("s3", endpoint_url=endpoint, config=config)
        _log_retries(self.client, self.attempts)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def check_credentials(self) -> None:
        """Fails (StorageError) when no credentials can be found, before anything runs."""
        from botocore.exceptions import BotoCoreError

        try:
            creds = self.session.get_credentials()
            frozen = creds.get_frozen_credentials() if creds is not None else None
        except BotoCoreError as err:
            raise StorageError(f"could not get AWS credentials: {err}") from None
        if frozen is None or not frozen.access_key:
            raise StorageError(
                "no AWS credentials: give the job definition a job role (AWS Batch then sets "
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), set AWS_ACCESS_KEY_ID and "
                f"AWS_SECRET_ACCESS_KEY, or set {VARS.local_root} to use a local folder"
            )

    def get(self, key: str, dest: str) -> None:
        from botocore.exceptions import ClientError

        try:  # s3transfer writes a temporary file, renamed once complete
            self.client.download_file(self.bucket, key, dest)
        except Exception as err:  # noqa: BLE001 - every SDK failure becomes one message
            # download_file starts with a HEAD, whose error has no body to say which it is
            # (NoSuchKey or NoSuchBucket): ask again with a one-byte GET, whose error says.
            why: Exception = err
            if isinstance(err, ClientError) and err.operation_name == "HeadObject":
                try:
                    self.client.get_object(Bucket=self.bucket, Key=key, Range="bytes=0-0")
                except ClientError as get_err:
                    why = get_err
            raise describe_failure(why, "get", self.attempts) from None

    def put(self, src: str, key: str, content_type: str) -> None:
        try:
            self.client.upload_file(src, self.bucket, key, ExtraArgs={"ContentType": content_type})
        except Exception as err:  # noqa: BLE001 - every SDK failure becomes one message
            raise describe_failure(err, "put", self.attempts) from None

    def sizes(self, prefix: str) -> dict[str, int]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        try:  # the paginator asks for each page in turn
            return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}
        except Exception as err:  # noqa: BLE001 - every SDK failure becomes one message
            raise describe_failure(err, "list", self.attempts) from None


def make_store(env: dict[str, str]) -> LocalStore | S3Store:
    local_root = env.get(VARS.local_root)
    return LocalStore(local_root) if local_root else S3Store(env)


# One log line per S3 retry ("PUT s3://b/k: HTTP 503 SlowDown: ...; retrying in <delay> s
# (attempt <n> of <max>)"). botocore says that it retries, and after what delay, only in a DEBUG log
# record, and what failed only in the needs-retry event: a thread-local joins the two
# (s3transfer uploads parts in worker threads).
_pending = threading.local()


class _RetryHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        pending = getattr(_pending, "value", None)
        if not str(record.msg).startswith("Retry needed") or pending is None:
            return
        _pending.value = None
        what, failure, attempt, max_attempts = pending
        delay = float(record.args[0]) if record.args else 0.0  # type: ignore[index]
        tries = f"attempt {attempt + 1} of {max_attempts}"
        say(f"{what}: {failure}; retrying in {delay:.2f} s ({tries})")


_handler = _RetryHandler(logging.DEBUG)


def _log_retries(client: Any, max_attempts: int) -> None:
    def name_request(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        verb = "LIST" if model.name.startswith("List") else model.http.get("method", model.name)
        target = params.get("Key", params.get("Prefix", ""))
        context["batchpy_what"] = f"{verb} s3://{params.get('Bucket', '')}/{target}"

    def remember(
        request_dict: dict[str, Any],
        attempts: int,
        response: Any = None,
        caught_exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        if caught_exception is not None:
            inner = getattr(caught_exception, "kwargs", {}).get("error")
            failure = f"{type(caught_exception).__name__}: {caught_exception}"
            failure += f" ({inner!r})" if inner else ""
        elif response is None:
            failure = "no response"
        else:
            http, parsed = response
            error = parsed.get("Error", {}) if isinstance(parsed, dict) else {}
            failure = f"HTTP {http.status_code} {error.get('Code', '')}: {error.get('Message', '')}"
            failure = failure.rstrip(": ")
        what = request_dict.get("context", {}).get("batchpy_what", "S3 request")
        _pending.value = (what, failure, attempts, max_attempts)

    client.meta.events.register("before-parameter-build.s3", name_request)
    client.meta.events.register_first("needs-retry.s3", remember)
    logger = logging.getLogger("botocore.retries.standard")
    if _handler not in logger.handlers:
        logger.addHandler(_handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False  # botocore's other debug output stays silent
