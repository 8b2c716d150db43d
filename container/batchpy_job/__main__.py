"""`python3 -m batchpy_job` (with container/ on sys.path): the same as run_job.py."""

import sys

from . import exit_config, python_too_old

if __name__ == "__main__":
    _too_old = python_too_old(sys.version_info, sys.executable)
    if _too_old:
        sys.stderr.write(_too_old + "\n")
        sys.exit(exit_config())
    from .cli import main

    sys.exit(main())
