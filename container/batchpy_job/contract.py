"""The facts shared with the TypeScript side (contract.json), and how run_job fails and speaks."""

import json
import os
import re
import sys
from types import SimpleNamespace

# container/ in the repository, /app in the image: contract.json, run_job.py and job/.
CONTAINER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(CONTAINER, "contract.json"), encoding="utf-8") as _f:
    _DATA = json.load(_f)

JOB_NAME = _DATA["jobName"]
JOB_NAME_RE = re.compile(JOB_NAME["pattern"])
PREFIXES = {area: _DATA["bucketPrefixes"][area] for area in ("inputs", "results", "logs")}
MANIFEST_PREFIX = _DATA["bucketPrefixes"]["manifests"]
MANIFEST_VERSION = _DATA["manifest"]["version"]
MAX_ARG_BYTES = _DATA["limits"]["maxArgBytes"]
METRICS_FILE = _DATA["metrics"]["file"]
METRICS_LOG_PREFIX = _DATA["metrics"]["logLinePrefix"]
METRICS_LOG_MAX_BYTES = _DATA["metrics"]["maxLogLineBytes"]
AWS_BATCH_PREFIX = _DATA["awsBatchPrefix"]["prefix"]
FLAG_TRUE, FLAG_FALSE = tuple(_DATA["options"]["flagTrue"]), tuple(_DATA["options"]["flagFalse"])
MAX_COUNT = _DATA["options"]["maxCount"]
PLAIN_LOWERCASE = frozenset(_DATA["options"]["plainLowercase"])
EXIT_CONFIG, EXIT_INPUT, EXIT_INTERNAL, EXIT_UPLOAD = (
    _DATA["exitCodes"][kind]["code"] for kind in ("config", "input", "internal", "upload")
)
# Every BATCHPY_* name -> {"setBy", "meaning"}, in the contract's order.
VARIABLE_TABLE = {k: v for k, v in _DATA["variables"].items() if not k.startswith("$")}
# Each name by its suffix: VARS.job_name is BATCHPY_JOB_NAME.
VARS = SimpleNamespace(
    **{name.split("_", 1)[1].lower(): name for name in VARIABLE_TABLE},
    reserved_prefix=_DATA["reservedPrefix"],
)


class JobError(Exception):
    """run_job cannot go on: `code` is the exit code, each of `problems` one error line."""

    def __init__(self, code: int, problems: list[str], detail: str = "") -> None:
        super().__init__("; ".join(problems))
        self.code, self.problems, self.detail = code, list(problems), detail


def config_error(*problems: str, detail: str = "") -> JobError:
    return JobError(EXIT_CONFIG, list(problems), detail)


class StorageError(JobError):
    """The bucket failed us: an input error; `status` is S3's HTTP status if S3 refused it."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(EXIT_INPUT, [message])
        self.status = status


def say(message: str) -> None:
    print("run_job: " + message, file=sys.stderr, flush=True)


def quoted(value: str) -> str:
    """JSON-quoted, so newlines and spaces show."""
    return json.dumps(value, ensure_ascii=False)
