"""The bucket (LocalStore: a folder laid out like it, for `npm run local`; S3Store: boto3,
imported only then) and moving files through it. Nothing outside the working directory is ever
uploaded: links are followed and checked against it."""

import json
import logging
import mimetypes
import os
import pathlib
import re
import shutil
import sys
import tempfile
import threading
import urllib.parse
from typing import Any

from .contract import METRICS_FILE, METRICS_LOG_MAX_BYTES, METRICS_LOG_PREFIX, VARS
from .contract import StorageError, config_error, quoted, say
from .settings import JobConfig, manifest_sets, safe_relative

BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
DEFAULT_S3_MAX_ATTEMPTS = 8
HTTP_TIMEOUT_SECONDS = 60


class LocalStore:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def url(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

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
        walk = os.walk(self.url(prefix.rstrip("/")))
        paths = sorted(os.path.join(folder, name) for folder, _, names in walk for name in names)
        return {os.path.relpath(p, self.root): os.path.getsize(p) for p in paths}


def describe_failure(err: BaseException, action: str, attempts: int) -> StorageError:
    from botocore.exceptions import ClientError

    # upload_file wraps the ClientError in S3UploadFailedError (raised while handling it).
    inner = err.__cause__ or err.__context__
    cause = inner if not isinstance(err, ClientError) and isinstance(inner, ClientError) else err
    if not isinstance(cause, ClientError):
        return StorageError(f"{type(err).__name__}: {err}")
    meta, error = cause.response.get("ResponseMetadata", {}), cause.response.get("Error", {})
    status = meta.get("HTTPStatusCode")
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
    def __init__(self, env: dict[str, str]) -> None:
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
            why = "must start with http:// or https://"
            problems.append(f"the S3 endpoint {quoted(endpoint)} {why}")
        # What S3-compatible servers expect when none is given.
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or endpoint and "us-east-1"
        if not region:
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
        self._check_credentials()

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _check_credentials(self) -> None:
        from botocore.exceptions import BotoCoreError

        try:
            creds = self.session.get_credentials()
            frozen = creds.get_frozen_credentials() if creds is not None else None
        except BotoCoreError as err:
            raise config_error(f"could not get AWS credentials: {err}") from None
        if frozen is None or not frozen.access_key:
            raise config_error(
                "no AWS credentials: give the job definition a job role (AWS Batch then sets "
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), set AWS_ACCESS_KEY_ID and "
                f"AWS_SECRET_ACCESS_KEY, or set {VARS.local_root} to use a local folder"
            )

    def get(self, key: str, dest: str) -> None:
        from botocore.exceptions import ClientError

        try:  # s3transfer writes a temporary file, renamed once complete
            return self.client.download_file(self.bucket, key, dest)
        except Exception as err:  # noqa: BLE001 - every SDK failure becomes one message
            # download_file starts with a HEAD, whose error has no body to say which it is
            # (NoSuchKey or NoSuchBucket): ask again with a one-byte GET, whose error says.
            why: Exception = err
            if isinstance(err, ClientError) and err.operation_name == "HeadObject":
                try:
                    self.client.get_object(Bucket=self.bucket, Key=key, Range="bytes=0-0")
                except ClientError as get_err:
                    why = get_err
            failure = describe_failure(why, "get", self.attempts)
        # Without s3:ListBucket on the whole bucket, S3 answers a GET of a missing key with 403:
        # when a listing under the key (which the job role may make) shows it absent, say so.
        try:
            absent = failure.status == 403 and key not in self.sizes(key)
        except StorageError:
            absent = False  # cannot tell: keep the permission hint
        if absent:
            raise StorageError(
                f"no such object {key} (S3 answers 403 for a missing key when the job role "
                "may not list the whole bucket): upload it first, or check the key",
                404,
            )
        raise failure

    def put(self, src: str, key: str, content_type: str) -> None:
        try:
            self.client.upload_file(src, self.bucket, key, ExtraArgs={"ContentType": content_type})
        except Exception as err:  # noqa: BLE001 - every SDK failure becomes one message
            raise describe_failure(err, "put", self.attempts) from None

    def sizes(self, prefix: str) -> dict[str, int]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix)
        try:  # the paginator asks for each page in turn
            return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}
        except Exception as err:  # noqa: BLE001 - every SDK failure becomes one message
            raise describe_failure(err, "list", self.attempts) from None


Store = LocalStore | S3Store


def make_store(env: dict[str, str]) -> Store:
    local_root = env.get(VARS.local_root)
    return LocalStore(local_root) if local_root else S3Store(env)


# One log line per S3 retry. botocore tells the delay only in a DEBUG log record, and what
# failed only in the needs-retry event: a thread-local joins the two (s3transfer uses threads).
_pending = threading.local()


def _say_retry(record: logging.LogRecord) -> bool:
    """A filter that drops every record: botocore's other debug output stays silent."""
    pending = getattr(_pending, "value", None)
    if str(record.msg).startswith("Retry needed") and pending is not None:
        _pending.value = None
        delay = float(record.args[0]) if record.args else 0.0  # type: ignore[index]
        say(f"{pending[0]}; retrying in {delay:.2f} s ({pending[1]})")
    return False


def _log_retries(client: Any, max_attempts: int) -> None:
    def name_request(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        verb = "LIST" if model.name.startswith("List") else model.http.get("method", model.name)
        target = params.get("Key", params.get("Prefix", ""))
        context["batchpy_what"] = f"{verb} s3://{params.get('Bucket', '')}/{target}"

    def remember(request_dict: dict[str, Any], attempts: int, **event: Any) -> None:
        response, caught = event.get("response"), event.get("caught_exception")
        if caught is not None:
            inner = getattr(caught, "kwargs", {}).get("error")
            failure = f"{type(caught).__name__}: {caught}" + (f" ({inner!r})" if inner else "")
        elif response is None:
            failure = "no response"
        else:
            http, parsed = response
            error = parsed.get("Error", {}) if isinstance(parsed, dict) else {}
            failure = f"HTTP {http.status_code} {error.get('Code', '')}: {error.get('Message', '')}"
            failure = failure.rstrip(": ")
        what = request_dict.get("context", {}).get("batchpy_what", "S3 request")
        _pending.value = (f"{what}: {failure}", f"attempt {attempts + 1} of {max_attempts}")

    client.meta.events.register("before-parameter-build.s3", name_request)
    client.meta.events.register_first("needs-retry.s3", remember)
    logger = logging.getLogger("botocore.retries.standard")
    logger.addFilter(_say_retry)  # once: addFilter skips a filter it already has
    logger.setLevel(logging.DEBUG)


Snapshot = dict[str, tuple[int, int]]


def _shown(rel: str) -> str:
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _inside(path: str, real_root: str) -> bool:
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root


def snapshot(folder: str, root: str | None = None) -> Snapshot:
    """Links outside `root` and names not valid UTF-8 (no S3 key) are reported, not listed."""
    found: Snapshot = {}
    real_root = os.path.realpath(root or folder)
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in files + [d for d in dirs if os.path.islink(os.path.join(current, d))]:
            full = os.path.join(current, name)
            rel = os.path.relpath(full, folder)
            regular = os.path.isfile(full) and not os.path.islink(full)
            if os.path.islink(full) and not _inside(full, real_root):
                say(
                    f'warning: "{_shown(rel)}" not uploaded: it is a link to '
                    f"{quoted(_shown(os.path.realpath(full)))}, outside the working "
                    "directory; only files the job wrote there are results"
                )
            elif regular and _shown(rel) != rel:
                say(
                    f'warning: result file "{_shown(rel)}" not uploaded: its name is not '
                    "valid UTF-8, which S3 keys must be; have the script write UTF-8 file names"
                )
            elif regular:
                st = os.stat(full)
                found[rel] = (st.st_size, st.st_mtime_ns)
    return found


def result_files(output_dir: str | None, workdir: str, before: Snapshot) -> tuple[str, list[str]]:
    """Every file of the output folder, or else the files created or changed."""
    if output_dir is None:
        return workdir, sorted(p for p, stat in snapshot(workdir).items() if before.get(p) != stat)
    folder = os.path.join(workdir, output_dir)
    if not _inside(folder, os.path.realpath(workdir)):
        why = f"resolves to {quoted(os.path.realpath(folder))}, outside the working directory"
    elif not os.path.isdir(folder):
        why = "does not exist after the script ran"
    else:
        return folder, sorted(snapshot(folder, root=workdir))
    say(f"warning: {VARS.output_dir} {quoted(output_dir)} {why}; no results uploaded")
    return workdir, []


def _download(store: Store, key: str, prefix: str, folder: str, what: str) -> str:
    rel = key[len(prefix) :]
    if not safe_relative(rel):
        raise StorageError(f"the key {quoted(key)} cannot be a file name in {folder}")
    dest = os.path.join(folder, *rel.split("/"))
    try:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        store.get(key, dest)
    except StorageError as err:
        raise StorageError(f"could not download {what} {store.url(key)}: {err}") from None
    except OSError as err:
        reason = err.strerror or str(err)
        if isinstance(err, (FileExistsError, NotADirectoryError, IsADirectoryError)):
            reason += (
                f": another {what} key uses this name as a folder, or this key's folder as a "
                "file name; rename one of them"
            )
        raise StorageError(
            f"could not save {what} {store.url(key)} as {quoted(rel)} in {folder}: {reason}"
        ) from None
    return rel


def download_inputs(store: Store, config: JobConfig, workdir: str) -> None:
    prefix = config.prefixes["inputs"]
    fetched = []
    for item in config.inputs:
        keys = [prefix + item]
        if item.endswith("/"):
            keys = [k for k in store.sizes(prefix + item) if not k.endswith("/")]
            if not keys:
                raise StorageError(
                    f"{VARS.inputs} has {quoted(item)} but there are no objects under "
                    f"{store.url(prefix + item)}: upload them first, or fix the name"
                )
        fetched.extend(_download(store, key, prefix, workdir, "input") for key in keys)
    if fetched:
        say(f"downloaded {len(fetched)} input file(s): {', '.join(fetched)}")


def download_parent_results(store: Store, config: JobConfig, folder: str) -> None:
    """Only once all of it is known to fit: a step fails at once, not when the disk is full.
    Each set of a sweep's manifests (oldest first) gets <name>/<set>/parameters.json, from the
    last manifest that lists it."""
    prefix, sizes = config.prefixes["results"], {}
    for name in config.results_of:
        listed = store.sizes(f"{prefix}{name}/")
        if not listed:
            raise StorageError(
                f"{VARS.results_of} names {quoted(name)} but there are no objects under "
                f"{store.url(f'{prefix}{name}/')}: that job has not run yet or wrote no "
                "results, or the name is misspelt"
            )
        sizes.update(listed)
    keys, total = [k for k in sizes if not k.endswith("/")], sum(sizes.values())
    free = shutil.disk_usage(folder).free
    if total > free:
        raise StorageError(
            f"the results of {', '.join(config.results_of)} are {total:,} bytes in "
            f"{len(keys):,} files, more than the {free:,} bytes free in {folder}: nothing was "
            "downloaded; read fewer jobs' results, or give the job a larger disk"
        )
    for key in keys:
        _download(store, key, prefix, folder, "result")
    say(f"downloaded {len(keys)} result file(s) of {', '.join(config.results_of)} to {folder}")
    count = 0
    for name, key in config.parent_manifests:
        for number, values in read_manifest(store, key, f"the manifest of {name}"):
            dest = os.path.join(folder, name, str(number), "parameters.json")
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            pathlib.Path(dest).write_text(json.dumps(values, ensure_ascii=False), encoding="utf-8")
            count += 1
    if count:
        say(f"wrote the parameters of {count} set(s) beside their results")


def metrics_log_line(data: bytes) -> str | None:
    """None when no line can carry the bytes exactly (contract.json, "metrics")."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    plain = not any(c in text for c in "\r\n\u2028\u2029\x85") and not text.startswith('"')
    line = METRICS_LOG_PREFIX + (text if plain else json.dumps(text))
    return line if len(line.encode("utf-8")) <= METRICS_LOG_MAX_BYTES else None


def announce_metrics(path: str) -> None:
    try:
        with open(path, "rb") as f:
            line = metrics_log_line(f.read(METRICS_LOG_MAX_BYTES + 1))
    except OSError:
        return
    if line is not None:
        print(line, file=sys.stderr, flush=True)


def _upload(store: Store, src: str, key: str, content_type: str, what: str) -> bool:
    try:
        store.put(src, key, content_type)
        return True
    except (StorageError, ValueError, OSError) as err:
        why = str(err) if isinstance(err, StorageError) else f"{type(err).__name__}: {err}"
        say(f"error: could not upload {what} to {store.url(key)}: {why}")
        return False


def upload_results(store: Store, config: JobConfig, workdir: str, before: Snapshot) -> bool:
    """One file that fails does not stop the others."""
    folder, files = result_files(config.output_dir, workdir, before)
    failed = 0
    for rel in files:
        local = os.path.join(folder, *rel.split("/"))
        content_type = mimetypes.guess_type(rel)[0] or "application/octet-stream"
        if not _upload(store, local, config.results_prefix() + rel, content_type, f"result {rel}"):
            failed += 1
        elif rel == METRICS_FILE:
            announce_metrics(local)
    if not files:
        where = f" in {config.output_dir}" if config.output_dir else ""
        say(f"no result files (the script created or changed no file{where})")
    else:
        done = f"{len(files) - failed} of {len(files)}" if failed else f"{len(files)}"
        say(f"uploaded {done} result file(s) to {store.url(config.results_prefix())}")
    return failed == 0


def upload_log(store: Store, config: JobConfig, log_path: str) -> bool:
    if not _upload(store, log_path, config.log_key(), "text/plain; charset=utf-8", "the log"):
        return False
    say(f"log uploaded to {store.url(config.log_key())}")
    return True


def read_manifest(store: Store, key: str, what: str) -> list[tuple[int, Any]]:
    with tempfile.TemporaryDirectory(prefix="batchpy-manifest-") as tmp:
        rel = _download(store, key, key[: key.rfind("/") + 1], tmp, what)
        return manifest_sets(pathlib.Path(tmp, rel).read_text(encoding="utf-8"), store.url(key))

