#!/usr/bin/env python3
"""Entrypoint of the batchpy job image, the command of every job definition; the code is the
batchpy_job package next to this file. `--help` lists its modes; exit codes are listed in
contract.json (exitCodes) and the README."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import batchpy_job  # noqa: E402 - only its version check; it imports on any Python 3

if __name__ == "__main__":
    _too_old = batchpy_job.python_too_old(sys.version_info, sys.executable)
    if _too_old:
        sys.stderr.write(_too_old + "\n")
        sys.exit(batchpy_job.exit_config())
    from batchpy_job.cli import main  # noqa: E402

    sys.exit(main())
