#!/usr/bin/env python3
"""The command of every job definition (code: batchpy_job/). This file must run, and say what
Python it needs, on any Python 3: no f-strings or annotations here."""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    if tuple(sys.version_info[:2]) < (3, 10):  # boto3's oldest, and the oldest tested here
        with open(os.path.join(HERE, "contract.json")) as f:
            code = json.load(f)["exitCodes"]["config"]["code"]
        sys.stderr.write(
            "run_job: error: batchpy's entrypoint needs Python 3.10 or newer, but %s is Python "
            "%d.%d.%d: run it with a newer python3 (the job image has 3.11)\n"
            % ((sys.executable or "python3",) + tuple(sys.version_info[:3]))
        )
        sys.exit(code)
    sys.path.insert(0, HERE)
    from batchpy_job.job import main

    sys.exit(main())
