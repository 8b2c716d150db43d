"""batchpy's job entrypoint, as a package: run_job.py (next to it) is the command.

    probe.py, introspect.py   which options the script declares (its argparse parser)
    mapping.py                job variables -> the script's command line
    values.py                 values checked with the script's own argparse types
    settings.py               run_job's own settings from the environment; array sets
    contract.py               the facts shared with TypeScript (contract.json)
    local_store.py, s3_store.py, retry_log.py   the bucket: a folder, or S3 via boto3
    files.py, transfers.py    which files are results; moving them
    supervise.py              running the script under a process group
    job.py, cli.py            the main flow and the command line

This file only states the Python it needs: it must import, and say so, on any Python 3
(no f-strings or annotations here).
"""

MIN_PYTHON = (3, 10)


def python_too_old(version_info, executable):
    """The message for a Python older than MIN_PYTHON, or None. 3.10 is the oldest that
    boto3 supports (Requires-Python >= 3.10) and the oldest this package is tested on."""
    if tuple(version_info[:2]) >= MIN_PYTHON:
        return None
    return (
        "run_job: error: batchpy's entrypoint needs Python %d.%d or newer, but %s is Python "
        "%d.%d.%d: run it with a newer python3 (the job image has 3.11)"
        % (MIN_PYTHON + (executable or "python3",) + tuple(version_info[:3]))
    )


def exit_config():
    """exitCodes.config of contract.json, read without the rest of the package."""
    import json
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "contract.json")
    with open(path) as f:
        return int(json.load(f)["exitCodes"]["config"]["code"])
