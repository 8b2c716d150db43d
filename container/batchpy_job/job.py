"""run_job.py's command line and the main flow of one job."""

import argparse
import json
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable

from .contract import CONTAINER, EXIT_INTERNAL, EXIT_UPLOAD, VARS, JobError, config_error, quoted
from .contract import say
from .probe import PROBE_ARG, check_request, description_of, probe_main, probe_script
from .settings import JobConfig, read_config, select_array_set
from .supervise import run_script
from .transfers import Store, download_inputs, download_parent_results, make_store, read_manifest
from .transfers import snapshot, upload_log, upload_results
from .values import build_argv, is_plain_environment, undeclared_problem

# The user's code: container/job/ in the repository, /app/job/ in the image.
JOB_DIR = os.path.join(CONTAINER, "job")
DEFAULT_SCRIPT = os.path.join(JOB_DIR, "script.py")


def _store_failure_log(store: Store, config: JobConfig, err: JobError) -> None:
    """A job that fails before its script runs stores its log too: nobody finds one child's
    container log in a sweep."""
    with tempfile.TemporaryDirectory(prefix="batchpy-log-") as tmp:
        log_path = os.path.join(tmp, "job.log")
        with open(log_path, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.writelines(f"run_job: error: {p}\n" for p in err.problems)
        upload_log(store, config, log_path)


def _prepare(
    script_path: str, env: dict[str, str], open_store: Callable[[dict[str, str]], Store]
) -> tuple[JobConfig, Store, dict[str, str], list[str]]:
    """Everything checked before the first side effect in the working directory."""
    config = read_config(env)
    store = open_store(env)
    spec = probe_script(script_path, env)
    job_env, script_name = dict(env), os.path.basename(script_path)
    try:
        if config.manifest_key is not None:
            index = config.array_index or 0
            sets = read_manifest(store, config.manifest_key, "the array manifest")
            chosen, number = select_array_set(sets, index, store.url(config.manifest_key))
            job_env.update(chosen)
            where = f"array child {index}" + (f" (set {number})" if number != index else "")
            say(f"{where}: {json.dumps(chosen, ensure_ascii=False)}")
            config = config._replace(array_index=number)
        argv = build_argv(spec, job_env, script_name)
    except JobError as err:
        if config.manifest_key is not None:
            _store_failure_log(store, config, err)
        raise
    known = {n for option in spec["options"] for n in [option["env"], *option["aliases"]]}
    for name in sorted(n for n in job_env if n not in known and not is_plain_environment(n)):
        say(f"warning: {undeclared_problem(spec, name, script_name)}; ignored")
    return config, store, job_env, argv


def run_job(
    script_path: str, env: dict[str, str], open_store: Callable[[dict[str, str]], Store]
) -> int:
    config, store, job_env, argv = _prepare(script_path, env, open_store)
    script_name = os.path.basename(script_path)
    with tempfile.TemporaryDirectory(prefix="batchpy-job-", ignore_cleanup_errors=True) as base:
        workdir, log_path = os.path.join(base, "work"), os.path.join(base, "job.log")
        os.mkdir(workdir)
        try:
            download_inputs(store, config, workdir)
            if config.results_of:
                # Outside the working directory: they are not this job's results.
                folder = job_env[VARS.parent_results] = os.path.join(base, "parents")
                os.mkdir(folder)
                download_parent_results(store, config, folder)
            before = snapshot(workdir)
            say(f"running {script_name} {json.dumps(argv, ensure_ascii=False)}")
            code = run_script(script_path, argv, workdir, job_env, log_path)
        except JobError as err:
            _store_failure_log(store, config, err)
            raise
        say(f"{script_name} exited with code {code}")
        try:
            if code != 0:
                say("results not uploaded because the script failed")
            results_ok = code != 0 or upload_results(store, config, workdir, before)
        finally:
            # The log matters most when something went wrong: store it whatever happened.
            log_ok = upload_log(store, config, log_path)
        return EXIT_UPLOAD if code == 0 and not (results_ok and log_ok) else code


def _script_path(flag: str | None, env: dict[str, str]) -> str:
    """The job's script (a file directly under JOB_DIR), else --script, else script.py."""
    name = env.get(VARS.script)
    if name is None:
        return os.path.abspath(flag) if flag else DEFAULT_SCRIPT
    script_path = os.path.join(JOB_DIR, name)
    if os.path.basename(name) != name or not os.path.isfile(script_path):
        scripts = sorted(f for f in os.listdir(JOB_DIR) if f.endswith(".py"))
        raise config_error(
            f"{VARS.script} = {quoted(name)} is not a file directly under {JOB_DIR}; its scripts "
            f"are {', '.join(scripts) or 'none'}: fix the job's \"script\", or add the file"
        )
    return script_path


def main() -> int:
    if sys.argv[1:2] == [PROBE_ARG]:
        return probe_main(sys.argv[2:])
    # Values can hold any bytes (surrogate-escaped): never let a message fail to print.
    sys.stderr.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    parser = argparse.ArgumentParser(
        description="Run an argparse script with options taken from environment variables."
    )
    parser.add_argument(
        "--describe", action="store_true", help="print the script's options as JSON and exit"
    )
    parser.add_argument(
        "--check-values",
        action="store_true",
        help="print the script's description as one line of JSON (unless --script-options), "
        'then check {"names": [...], "values": [[variable, value], ...], "sets": [[pair index, '
        "...], ...]} from stdin with the script's rules and its own argparse types; print the "
        "problems of each as JSON",
    )
    parser.add_argument(
        "--script-options",
        metavar="FILE",
        help="with --check-values: a saved --describe answer, instead of running the script",
    )
    parser.add_argument(
        "--script",
        help=f"the script to run (default: {DEFAULT_SCRIPT}; {VARS.script}, set from a job "
        "file's \"script\", names one of its folder instead)",
    )
    args = parser.parse_args()
    env = dict(os.environ)
    try:
        script_path = _script_path(args.script, env)
        if args.check_values:
            # jobs:submit ends a check it turns out not to need with SIGTERM: clean up (the
            # probe child, its temporary folder) on the way out.
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
            print(json.dumps(check_request(script_path, env, sys.stdin, args.script_options)))
            return 0
        if args.describe:
            print(json.dumps(description_of(probe_script(script_path, env), script_path), indent=2))
            return 0
        return run_job(script_path, env, make_store)
    except JobError as err:
        for problem in err.problems:
            say("error: " + problem)
        if err.detail:
            sys.stderr.write(err.detail if err.detail.endswith("\n") else err.detail + "\n")
        return err.code
    except Exception:  # noqa: BLE001 - last resort: say it is a bug, keep the traceback
        traceback.print_exc()
        say("error: internal error in run_job (the traceback is above)")
        return EXIT_INTERNAL
