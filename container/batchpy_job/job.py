"""The main flow of one job: settings, options, the array set, inputs, the script, results
and the log."""

import json
import os
import tempfile

from .contract import EXIT_INPUT, EXIT_UPLOAD, VARS, JobError, StorageError, config_error, say
from .probe import probe_script
from .settings import JobConfig, read_config, select_array_set
from .store import make_store
from .supervise import run_script
from .transfers import Store, download_inputs, download_parent_results, read_manifest
from .transfers import snapshot, upload_log, upload_results, write_parent_parameters
from .values import build_argv, undeclared_names, undeclared_problem


def _store_failure_log(store: Store, config: JobConfig, err: JobError) -> None:
    """A job that fails before its script runs (an array child's bad set, a script that
    cannot start) stores its log too: nobody finds one child's container log in a sweep."""
    with tempfile.TemporaryDirectory(prefix="batchpy-log-") as tmp:
        log_path = os.path.join(tmp, "job.log")
        with open(log_path, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.writelines(f"run_job: error: {p}\n" for p in err.problems)
        upload_log(store, config, log_path)


def _prepare(
    script_path: str, env: dict[str, str]
) -> tuple[JobConfig, Store, dict[str, str], list[str]]:
    """Everything checked and decided before the first side effect in the working directory:
    settings, the store, the script's options, an array child's set over the environment
    (and its set number: a chunk's or retry's manifest lists them), the argv."""
    config = read_config(env)
    store = make_store(env)
    spec = probe_script(script_path, env)
    try:
        store.check_credentials()
    except StorageError as err:
        raise config_error(str(err)) from None
    job_env, script_name = dict(env), os.path.basename(script_path)
    try:
        if config.manifest_key is not None:
            index = config.array_index or 0
            inputs = config.prefixes["inputs"]
            text = read_manifest(store, config.manifest_key, inputs, "the array manifest")
            chosen, number = select_array_set(text, index, store.url(config.manifest_key))
            job_env.update(chosen)
            where = f"array child {index}" + (f" (set {number})" if number != index else "")
            say(f"{where}: {json.dumps(chosen, ensure_ascii=False)}")
            config = config._replace(array_index=number)
        argv = build_argv(spec, job_env, script_name)
    except JobError as err:
        if config.manifest_key is not None:
            _store_failure_log(store, config, err)
        raise
    for name in undeclared_names(spec, job_env):
        say(f"warning: {undeclared_problem(spec, name, script_name)}; ignored")
    return config, store, job_env, argv


def _parent_results(store: Store, config: JobConfig, base: str) -> str:
    """The folder, outside the working directory (they are not this job's results), that
    holds the results of the jobs the script reads."""
    folder = os.path.join(base, "parents")
    os.mkdir(folder)
    try:
        count = download_parent_results(store, config, folder)
        sets = write_parent_parameters(store, config, folder)
    except StorageError as err:
        raise JobError(EXIT_INPUT, [str(err)]) from None
    say(f"downloaded {count} result file(s) of {', '.join(config.results_of)} to {folder}")
    if sets:
        say(f"wrote the parameters of {sets} set(s) beside their results")
    return folder


def run_job(script_path: str, env: dict[str, str]) -> int:
    """Runs the job the environment describes; returns the exit code. Raises JobError when
    run_job itself cannot go on (its code and problems say why)."""
    config, store, job_env, argv = _prepare(script_path, dict(env))
    script_name = os.path.basename(script_path)
    with tempfile.TemporaryDirectory(prefix="batchpy-job-", ignore_cleanup_errors=True) as base:
        workdir = os.path.join(base, "work")
        os.mkdir(workdir)
        log_path = os.path.join(base, "job.log")
        try:
            fetched = download_inputs(store, config, workdir)
        except StorageError as err:
            raise JobError(EXIT_INPUT, [str(err)]) from None
        if fetched:
            say(f"downloaded {len(fetched)} input file(s): {', '.join(fetched)}")
        try:
            if config.results_of:
                job_env[VARS.parent_results] = _parent_results(store, config, base)
            before = snapshot(workdir)
            say(f"running {script_name} {json.dumps(argv, ensure_ascii=False)}")
            code = run_script(script_path, argv, workdir, job_env, log_path)
        except JobError as err:
            _store_failure_log(store, config, err)
            raise
        say(f"{script_name} exited with code {code}")
        results_ok = True
        try:
            if code == 0:
                results_ok = upload_results(store, config, workdir, before)
            else:
                say("results not uploaded because the script failed")
        finally:
            # The log matters most when something went wrong: store it whatever happened.
            log_ok = upload_log(store, config, log_path)
        return EXIT_UPLOAD if code == 0 and not (results_ok and log_ok) else code
