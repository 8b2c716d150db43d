"""Moving files between the bucket and the working directory: inputs and the array
manifest down, results and the log up."""

from __future__ import annotations

import mimetypes
import os
import tempfile
from typing import List

from .contract import EXIT_INPUT, METRICS_FILE, VARS
from .errors import JobError, StorageError, quoted, say
from .files import Snapshot, result_files
from .local_store import Store
from .metrics import announce_metrics
from .settings import JobConfig, safe_relative


def _absent_input(store: Store, key: str) -> bool:
    """Whether listing `key` as a prefix shows that no such object exists. The job role may
    list only under inputs/, and without s3:ListBucket on the whole bucket S3 answers a GET
    of a missing key with 403, not 404, which reads as a permission problem."""
    try:
        return key not in store.list(key)
    except StorageError:
        return False  # cannot tell: keep the permission hint


def fetch_input(store: Store, key: str, dest: str, inputs_prefix: str) -> None:
    """Downloads one object under the inputs prefix, saying "no such object" for a missing
    key where S3 says 403."""
    try:
        store.get(key, dest)
    except StorageError as err:
        if err.status == 403 and key.startswith(inputs_prefix) and _absent_input(store, key):
            raise StorageError(
                f"no such object {key} (S3 answers 403 for a missing key when the job role "
                "may not list the whole bucket): upload it first, or check the key",
                404,
            ) from None
        raise


def _save_error(store: Store, key: str, rel: str, err: OSError) -> StorageError:
    reason = err.strerror or str(err)
    if isinstance(err, (FileExistsError, NotADirectoryError, IsADirectoryError)):
        reason += (
            ": another input key uses this name as a folder, or this key's folder as a file "
            "name; rename one of them"
        )
    return StorageError(
        f"could not save input {store.url(key)} as {quoted(rel)} in the working directory: "
        f"{reason}"
    )


def download_inputs(store: Store, config: JobConfig, workdir: str) -> List[str]:
    prefix = config.prefixes["inputs"]
    fetched = []
    for item in config.inputs:
        keys = [prefix + item]
        if item.endswith("/"):
            keys = [k for k in store.list(prefix + item) if not k.endswith("/")]
            if not keys:
                raise StorageError(
                    f"{VARS.inputs} has {quoted(item)} but there are no objects under "
                    f"{store.url(prefix + item)}: upload them first, or fix the name"
                )
        for key in keys:
            rel = key[len(prefix):]
            if not safe_relative(rel):
                raise StorageError(
                    f"input key {quoted(key)} cannot be a file name in the working directory"
                )
            dest = os.path.join(workdir, *rel.split("/"))
            try:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                fetch_input(store, key, dest, prefix)
            except StorageError as err:
                raise StorageError(f"could not download input {store.url(key)}: {err}") from None
            except OSError as err:
                raise _save_error(store, key, rel, err) from None
            fetched.append(rel)
    return fetched


def _content_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def _failure(err: Exception) -> str:
    """Why an upload failed: our own messages as they are, anything else with its type."""
    return str(err) if isinstance(err, StorageError) else f"{type(err).__name__}: {err}"


def upload_results(store: Store, config: JobConfig, workdir: str, before: Snapshot) -> bool:
    """Uploads the result files, each on its own: one that fails is reported and the others
    still go. False if any failed."""
    folder, files = result_files(config.output_dir, workdir, before)
    failed = 0
    for rel in files:
        key = config.results_prefix() + rel
        local = os.path.join(folder, *rel.split("/"))
        try:
            store.put(local, key, _content_type(rel))
        except (StorageError, ValueError, OSError) as err:
            say(f"error: could not upload result {rel} to {store.url(key)}: {_failure(err)}")
            failed += 1
        else:
            if rel == METRICS_FILE:
                announce_metrics(local)
    results_url = store.url(config.results_prefix())
    if not files:
        where = f" in {config.output_dir}" if config.output_dir else ""
        say(f"no result files (the script created or changed no file{where})")
    elif failed:
        say(f"uploaded {len(files) - failed} of {len(files)} result file(s) to {results_url}")
    else:
        say(f"uploaded {len(files)} result file(s) to {results_url}")
    return failed == 0


def upload_log(store: Store, config: JobConfig, log_path: str) -> bool:
    log_url = store.url(config.log_key())
    try:
        store.put(log_path, config.log_key(), "text/plain; charset=utf-8")
    except (StorageError, ValueError, OSError) as err:
        say(f"error: could not upload the log to {log_url}: {_failure(err)}")
        return False
    say(f"log uploaded to {log_url}")
    return True


def read_manifest(store: Store, config: JobConfig) -> str:
    assert config.manifest_key is not None
    with tempfile.TemporaryDirectory(prefix="batchpy-manifest-") as tmp:
        local = os.path.join(tmp, "manifest.json")
        try:
            fetch_input(store, config.manifest_key, local, config.prefixes["inputs"])
        except StorageError as err:
            where = store.url(config.manifest_key)
            raise JobError(
                EXIT_INPUT, [f"could not download the array manifest {where}: {err}"]
            ) from None
        with open(local, encoding="utf-8") as f:
            return f.read()
