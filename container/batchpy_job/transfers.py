"""Moving files between the bucket and the working directory: inputs and manifests down,
results and the log up. Nothing outside the working directory is ever uploaded: the output
folder and every file are resolved (links followed) and checked against it. An uploaded
metrics.json goes to the job's log as one line too (contract.json, "metrics", says why)."""

import json
import mimetypes
import os
import shutil
import sys
import tempfile

from .contract import EXIT_INPUT, METRICS_FILE, METRICS_LOG_MAX_BYTES, METRICS_LOG_PREFIX, VARS
from .contract import JobError, StorageError, quoted, say
from .settings import JobConfig, manifest_sets, safe_relative
from .store import LocalStore, S3Store

Store = LocalStore | S3Store
Snapshot = dict[str, tuple[int, int]]


def _shown(rel: str) -> str:
    """A file name for messages, its non-UTF-8 bytes (lone surrogates in Python) as \\xNN."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _inside(path: str, real_root: str) -> bool:
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root


def snapshot(folder: str, root: str | None = None) -> Snapshot:
    """Every regular file under `folder` (relative, "/"-separated) with size and mtime. Links
    are not followed, and names not valid UTF-8 cannot be S3 keys: each such name and each
    link outside `root` (default: `folder`) is reported."""
    found: Snapshot = {}
    real_root = os.path.realpath(root or folder)
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in files + [d for d in dirs if os.path.islink(os.path.join(current, d))]:
            full = os.path.join(current, name)
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
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
    """(folder, files relative to it) to upload as results: every file of the output
    folder, or else the files created or changed (deleted ones are not results)."""
    if output_dir is None:
        after = snapshot(workdir)
        return workdir, sorted(p for p, stat in after.items() if before.get(p) != stat)
    folder = os.path.join(workdir, output_dir)
    # A link named like the output folder, or one above it, leads outside.
    if not _inside(folder, os.path.realpath(workdir)):
        why = f"resolves to {quoted(os.path.realpath(folder))}, outside the working directory"
    elif not os.path.isdir(folder):
        why = "does not exist after the script ran"
    else:
        return folder, sorted(snapshot(folder, root=workdir))
    say(f"warning: {VARS.output_dir} {quoted(output_dir)} {why}; no results uploaded")
    return workdir, []


def fetch_input(store: Store, key: str, dest: str, inputs_prefix: str) -> None:
    """Downloads one object under the inputs prefix. Without s3:ListBucket on the whole
    bucket, S3 answers a GET of a missing key with 403, which reads as a permission problem:
    when a listing under the key (the job role may list inputs/) shows it absent, say so."""
    try:
        store.get(key, dest)
    except StorageError as err:
        if err.status == 403 and key.startswith(inputs_prefix):
            try:
                absent = key not in store.sizes(key)
            except StorageError:
                absent = False  # cannot tell: keep the permission hint
            if absent:
                raise StorageError(
                    f"no such object {key} (S3 answers 403 for a missing key when the job role "
                    "may not list the whole bucket): upload it first, or check the key",
                    404,
                ) from None
        raise


def _download(store: Store, key: str, prefix: str, folder: str, what: str) -> str:
    """Saves `key` in `folder` under its path after `prefix`, and returns that path."""
    rel = key[len(prefix) :]
    if not safe_relative(rel):
        raise StorageError(f"the key {quoted(key)} cannot be a file name in {folder}")
    dest = os.path.join(folder, *rel.split("/"))
    try:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        fetch_input(store, key, dest, prefix)
    except StorageError as err:
        raise StorageError(f"could not download {what} {store.url(key)}: {err}") from None
    except OSError as err:
        reason = err.strerror or str(err)
        if isinstance(err, (FileExistsError, NotADirectoryError, IsADirectoryError)):
            reason += (
                ": another input key uses this name as a folder, or this key's folder as a "
                "file name; rename one of them"
            )
        raise StorageError(
            f"could not save input {store.url(key)} as {quoted(rel)} in the working "
            f"directory: {reason}"
        ) from None
    return rel


def download_inputs(store: Store, config: JobConfig, workdir: str) -> list[str]:
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
    return fetched


def download_parent_results(store: Store, config: JobConfig, folder: str) -> int:
    """Downloads results/<name>/ of each job the script reads into folder/<name>/ once all of
    it is known to fit on the job's disk: a step after a large sweep fails at once, not when
    the disk is full. Returns the number of files."""
    prefix = config.prefixes["results"]
    keys: list[str] = []
    total = 0
    for name in config.results_of:
        sizes = store.sizes(f"{prefix}{name}/")
        if not sizes:
            raise StorageError(
                f"{VARS.results_of} names {quoted(name)} but there are no objects under "
                f"{store.url(f'{prefix}{name}/')}: that job has not run yet or wrote no "
                "results, or the name is misspelt"
            )
        keys.extend(k for k in sizes if not k.endswith("/"))
        total += sum(sizes.values())
    free = shutil.disk_usage(folder).free
    if total > free:
        raise StorageError(
            f"the results of {', '.join(config.results_of)} are {total:,} bytes in "
            f"{len(keys):,} files, more than the {free:,} bytes free in {folder}: nothing was "
            "downloaded; read fewer jobs' results, or give the job a larger disk"
        )
    for key in keys:
        _download(store, key, prefix, folder, "result")
    return len(keys)


def metrics_log_line(data: bytes) -> str | None:
    """The line for a metrics file's bytes, or None when none can carry them exactly. One line
    not starting with a quote goes as it is, any other JSON-quoted: the reader gets back the
    very bytes S3 holds."""
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
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _upload(store: Store, src: str, key: str, content_type: str, what: str) -> bool:
    try:
        store.put(src, key, content_type)
    except (StorageError, ValueError, OSError) as err:
        # Our own messages as they are, anything else with its type.
        why = str(err) if isinstance(err, StorageError) else f"{type(err).__name__}: {err}"
        say(f"error: could not upload {what} to {store.url(key)}: {why}")
        return False
    return True


def upload_results(store: Store, config: JobConfig, workdir: str, before: Snapshot) -> bool:
    """Uploads the result files, each on its own: one that fails does not stop the others."""
    folder, files = result_files(config.output_dir, workdir, before)
    failed = 0
    for rel in files:
        local = os.path.join(folder, *rel.split("/"))
        content_type = mimetypes.guess_type(rel)[0] or "application/octet-stream"
        if not _upload(store, local, config.results_prefix() + rel, content_type, f"result {rel}"):
            failed += 1
        elif rel == METRICS_FILE:
            announce_metrics(local)
    results_url = store.url(config.results_prefix())
    if not files:
        where = f" in {config.output_dir}" if config.output_dir else ""
        say(f"no result files (the script created or changed no file{where})")
    else:
        done = f"{len(files) - failed} of {len(files)}" if failed else f"{len(files)}"
        say(f"uploaded {done} result file(s) to {results_url}")
    return failed == 0


def upload_log(store: Store, config: JobConfig, log_path: str) -> bool:
    uploaded = _upload(store, log_path, config.log_key(), "text/plain; charset=utf-8", "the log")
    if uploaded:
        say(f"log uploaded to {store.url(config.log_key())}")
    return uploaded


def read_manifest(store: Store, key: str, inputs_prefix: str, what: str) -> str:
    with tempfile.TemporaryDirectory(prefix="batchpy-manifest-") as tmp:
        local = os.path.join(tmp, "manifest.json")
        try:
            fetch_input(store, key, local, inputs_prefix)
        except StorageError as err:
            message = f"could not download {what} {store.url(key)}: {err}"
            raise JobError(EXIT_INPUT, [message]) from None
        with open(local, encoding="utf-8") as f:
            return f.read()


def write_parent_parameters(store: Store, config: JobConfig, folder: str) -> int:
    """Writes each set's variables (not the sweep's base ones, the same for every set) from
    the manifests of the sweeps the script reads beside the set's results, as
    <name>/<set>/parameters.json in `folder`. The manifests come oldest first: a set a later
    one lists again takes its values. Returns the number of sets."""
    count = 0
    for name, key in config.parent_manifests:
        text = read_manifest(store, key, config.prefixes["inputs"], f"the manifest of {name}")
        for number, values in manifest_sets(text, store.url(key)):
            dest = os.path.join(folder, name, str(number), "parameters.json")
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "w", encoding="utf-8") as f:
                json.dump(values, f, ensure_ascii=False)
            count += 1
    return count
