"""The bucket: the Store interface; LocalStore, a folder laid out like it (for `npm run
local`); and S3Store through boto3: s3transfer's managed transfers (multipart above a
threshold, parallel parts, ranged downloads), the SDK's checksums, its standard or adaptive
retry mode and its full credential chain. boto3 is imported only when a job uses S3."""

from __future__ import annotations

import os
import re
import shutil
import urllib.parse
from typing import Any, Dict, List, NamedTuple, Optional, Protocol

from .contract import VARS
from .errors import StorageError, config_error, quoted

BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
DEFAULT_S3_MAX_ATTEMPTS = 8
RETRY_MODES = ("standard", "adaptive")
# s3transfer's own defaults, named so tests can lower them: files above 8 MiB go up in
# 8 MiB parts, 10 at a time (s3transfer grows the parts of a file over S3's 10,000 parts).
MULTIPART_THRESHOLD = 8 * 1024 * 1024
MULTIPART_CHUNKSIZE = 8 * 1024 * 1024
HTTP_TIMEOUT_SECONDS = 60


class Store(Protocol):
    """What run_job needs of a bucket; S3Store and LocalStore provide it."""

    def url(self, key: str) -> str: ...

    def check_credentials(self) -> None: ...

    def get(self, key: str, dest: str) -> None: ...

    def put(self, src: str, key: str, content_type: str) -> None: ...

    def list(self, prefix: str) -> List[str]: ...

    def sizes(self, prefix: str) -> Dict[str, int]: ...


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

    def list(self, prefix: str) -> List[str]:
        return list(self.sizes(prefix))

    def sizes(self, prefix: str) -> Dict[str, int]:
        """Each key under `prefix` with its size in bytes, in key order."""
        found = {}
        for folder, _dirs, files in os.walk(self.url(prefix.rstrip("/"))):
            for name in files:
                path = os.path.join(folder, name)
                found[os.path.relpath(path, self.root).replace(os.sep, "/")] = os.path.getsize(path)
        return dict(sorted(found.items()))


class S3Settings(NamedTuple):
    bucket: str
    region: str
    endpoint: Optional[str]
    max_attempts: int
    retry_mode: str


def read_s3_settings(env: Dict[str, str]) -> S3Settings:
    """The S3 settings of the environment, every problem reported at once (exit 2)."""
    problems = []
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
        problems.append(f"the S3 endpoint {quoted(endpoint)} must start with http:// or https://")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    if not region and endpoint:
        region = "us-east-1"  # what S3-compatible servers expect when none is given
    elif not region:
        problems.append("AWS_REGION is not set: the job definition sets it to the stack's region")
    attempts = env.get(VARS.s3_max_attempts, str(DEFAULT_S3_MAX_ATTEMPTS))
    if not attempts.isdigit() or not 1 <= int(attempts) <= 20:
        problems.append(f"{VARS.s3_max_attempts} = {quoted(attempts)} must be from 1 to 20")
    mode = env.get("AWS_RETRY_MODE", "standard")
    if mode not in RETRY_MODES:
        problems.append(f"AWS_RETRY_MODE = {quoted(mode)} must be standard or adaptive")
    if problems:
        raise config_error(*problems)
    return S3Settings(bucket, region, endpoint, int(attempts), mode)


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
    return StorageError(text + _hint(status, code, action), status)


def _hint(status: int, code: str, action: str) -> str:
    if code == "NoSuchKey" or (status == 404 and action == "get" and code != "NoSuchBucket"):
        return " (no such object: upload it first, or fix the key)"
    if code == "NoSuchBucket":
        return f" (no such bucket: check {VARS.bucket})"
    if status == 403:
        permission = "s3:PutObject" if action == "put" else "s3:GetObject/s3:ListBucket"
        return f" (check that the job role allows {permission} on this key)"
    if status == 301 or code in ("PermanentRedirect", "AuthorizationHeaderMalformed"):
        return " (the bucket is in another region: set AWS_REGION to the bucket's region)"
    return ""


class S3Store:
    """get, put and list on one bucket. Credentials come from the SDK's chain (environment,
    web identity, container endpoint, instance profile, profiles), refreshed by the SDK."""

    def __init__(self, env: Dict[str, str]) -> None:
        settings = read_s3_settings(env)
        try:
            import boto3
            from boto3.s3.transfer import TransferConfig
            from botocore.config import Config
        except ImportError:
            raise config_error(
                "boto3 is not installed, and S3 needs it: pip install -r "
                "container/requirements.txt (the image has it), or set "
                f"{VARS.local_root}=<folder> to use a local folder"
            ) from None

        from .retry_log import log_retries

        self.bucket = settings.bucket
        self.attempts = settings.max_attempts
        self.session = boto3.session.Session(region_name=settings.region)
        config = Config(
            retries={"mode": settings.retry_mode, "total_max_attempts": settings.max_attempts},
            # A custom endpoint (LocalStack, MinIO, a test server) rarely resolves
            # <bucket>.<host>, so address the bucket in the path there.
            s3={"addressing_style": "path"} if settings.endpoint else {},
            read_timeout=HTTP_TIMEOUT_SECONDS,
            user_agent_extra="batchpy",
        )
        self.client: Any = self.session.client("s3", endpoint_url=settings.endpoint, config=config)
        log_retries(self.client, settings.max_attempts)
        self.transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_CHUNKSIZE,
            use_threads=True,
        )

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
        part = dest + ".part"
        try:
            self.client.download_file(self.bucket, key, part, Config=self.transfer)
        except Exception as err:  # noqa: BLE001 - every SDK failure becomes one message
            if os.path.exists(part):
                os.remove(part)
            why = self._why_head_failed(err, key)
            raise describe_failure(why, "get", self.attempts) from None
        os.replace(part, dest)

    def _why_head_failed(self, err: Exception, key: str) -> Exception:
        """download_file starts with a HEAD, whose error has no body to say which it is
        (NoSuchKey or NoSuchBucket): ask again with a one-byte GET, whose error says."""
        from botocore.exceptions import ClientError

        if not (isinstance(err, ClientError) and err.operation_name == "HeadObject"):
            return err
        try:
            self.client.get_object(Bucket=self.bucket, Key=key, Range="bytes=0-0")
        except ClientError as get_err:
            return get_err
        return err

    def put(self, src: str, key: str, content_type: str) -> None:
        try:
            self.client.upload_file(
                src, self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=self.transfer
            )
        except Exception as err:  # noqa: BLE001 - every SDK failure becomes one message
            raise describe_failure(err, "put", self.attempts) from None

    def list(self, prefix: str) -> List[str]:
        return list(self.sizes(prefix))

    def sizes(self, prefix: str) -> Dict[str, int]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        try:  # at most 1,000 keys a page
            return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}
        except Exception as err:  # noqa: BLE001 - every SDK failure becomes one message
            raise describe_failure(err, "list", self.attempts) from None


def make_store(env: Dict[str, str]) -> Store:
    """LocalStore when the local root variable is set, else S3."""
    local_root = env.get(VARS.local_root)
    return LocalStore(local_root) if local_root else S3Store(env)
