"""The command line of run_job.py: run the job the environment describes, --describe the
script's options, or --check-values (values checked with the script's own types)."""

import argparse
import json
import os
import signal
import sys
import traceback

from .contract import EXIT_INTERNAL, VARS, JobError, config_error, quoted, say
from .probe import PROBE_ARG, check_request, probe_main, probe_script
from .values import LIST_SEPARATOR

# The user's code: container/job/ in the repository, /app/job/ in the image.
JOB_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "job")
DEFAULT_SCRIPT = os.path.join(JOB_DIR, "script.py")


def chosen_script(flag: str | None, env: dict[str, str]) -> str:
    """The script to run: the one a job names (its file under JOB_DIR, nothing deeper),
    else --script, else script.py."""
    name = env.get(VARS.script)
    if name is None:
        return os.path.abspath(flag) if flag else DEFAULT_SCRIPT
    path = os.path.join(JOB_DIR, name)
    if os.path.basename(name) == name and os.path.isfile(path):
        return path
    scripts = sorted(f for f in os.listdir(JOB_DIR) if f.endswith(".py"))
    raise config_error(
        f"{VARS.script} = {quoted(name)} is not a file directly under {JOB_DIR}; its scripts "
        f"are {', '.join(scripts) or 'none'}: fix the job's \"script\", or add the file"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_job.py",
        description="Run an argparse script with options taken from environment variables.",
    )
    parser.add_argument(
        "--describe", action="store_true", help="print the script's options as JSON and exit"
    )
    parser.add_argument(
        "--check-values",
        action="store_true",
        help='check {"names": [...], "values": [[variable, value], ...], "sets": [[pair '
        'index, ...], ...]} from stdin with the script\'s rules and its own argparse types; '
        "print the problems of each as JSON",
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
    return parser


def main() -> int:
    if sys.argv[1:2] == [PROBE_ARG]:
        return probe_main(sys.argv[2:])
    # Values can hold any bytes (surrogate-escaped): never let a message fail to print.
    sys.stderr.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    args = _parser().parse_args()
    env = dict(os.environ)
    try:
        script_path = chosen_script(args.script, env)
        if args.check_values:
            # jobs:submit ends a check it turns out not to need with SIGTERM: clean up (the
            # probe child, its temporary folder) on the way out.
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
            print(json.dumps(check_request(script_path, env, sys.stdin, args.script_options)))
            return 0
        if args.describe:
            spec = probe_script(script_path, env)
            keys = ("options", "groups")
            described = {"script": os.path.basename(script_path), **{k: spec[k] for k in keys}}
            print(json.dumps({**described, "list_separator": LIST_SEPARATOR}, indent=2))
            return 0
        # Imported here: --describe and --check-values (a submit waits for them) need none of it.
        from .job import run_job

        return run_job(script_path, env)
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
