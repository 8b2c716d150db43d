"""batchpy's job entrypoint: run_job.py (next to this package) is the command, cli.py its
command line, job.py the main flow. This file must import, and say what Python it needs, on
any Python 3: no f-strings or annotations here."""

MIN_PYTHON = (3, 10)  # boto3's oldest, and the oldest this package is tested on


def python_too_old(version_info, executable):
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

    container = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(container, "contract.json")) as f:
        return int(json.load(f)["exitCodes"]["config"]["code"])
