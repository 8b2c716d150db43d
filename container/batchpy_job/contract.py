"""The facts the entrypoint shares with the TypeScript side, read from contract.json (next
to this package in the repository and in the image). Nothing here is written out again."""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, NamedTuple

CONTRACT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "contract.json")


def _load(path: str) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Variables(NamedTuple):
    """The BATCHPY_* names, by who sets them."""

    bucket: str
    inputs_prefix: str
    results_prefix: str
    logs_prefix: str
    job_name: str
    array_manifest: str
    set_index: str
    local_root: str
    inputs: str
    output_dir: str
    s3_max_attempts: str
    script: str
    results_of: str
    parent_manifests: str
    parent_results: str
    reserved_prefix: str


_DATA = _load(CONTRACT_PATH)

JOB_NAME_RE = re.compile(_DATA["jobName"]["pattern"])
JOB_NAME_FIRST = _DATA["jobName"]["firstChar"]
JOB_NAME_CHARS = _DATA["jobName"]["chars"]
JOB_NAME_MAX = int(_DATA["jobName"]["maxLength"])
PREFIXES: Dict[str, str] = {
    area: _DATA["bucketPrefixes"][area] for area in ("inputs", "results", "logs")
}
MANIFEST_PREFIX: str = _DATA["bucketPrefixes"]["manifests"]
MANIFEST_VERSION: int = int(_DATA["manifest"]["version"])
MAX_ARG_BYTES: int = int(_DATA["limits"]["maxArgBytes"])
METRICS_FILE: str = _DATA["metrics"]["file"]
METRICS_LOG_PREFIX: str = _DATA["metrics"]["logLinePrefix"]
METRICS_LOG_MAX_BYTES: int = int(_DATA["metrics"]["maxLogLineBytes"])
AWS_BATCH_PREFIX: str = _DATA["awsBatchPrefix"]["prefix"]
FLAG_TRUE = tuple(_DATA["options"]["flagTrue"])
FLAG_FALSE = tuple(_DATA["options"]["flagFalse"])
MAX_COUNT: int = int(_DATA["options"]["maxCount"])
PLAIN_LOWERCASE = frozenset(_DATA["options"]["plainLowercase"])

# Every BATCHPY_* name -> {"setBy", "meaning"}, in the contract's order.
VARIABLE_TABLE: Dict[str, Dict[str, str]] = {
    k: v for k, v in _DATA["variables"].items() if not k.startswith("$")
}

EXIT_CONFIG: int = int(_DATA["exitCodes"]["config"]["code"])
EXIT_INPUT: int = int(_DATA["exitCodes"]["input"]["code"])
EXIT_INTERNAL: int = int(_DATA["exitCodes"]["internal"]["code"])
EXIT_UPLOAD: int = int(_DATA["exitCodes"]["upload"]["code"])


def _variables(data: Dict[str, Any]) -> Variables:
    """Each name by its suffix: BATCHPY_JOB_NAME is `job_name`; a missing one fails here."""
    by_suffix = {name.split("_", 1)[1].lower(): name for name in VARIABLE_TABLE}
    names = {field: by_suffix[field] for field in Variables._fields[:-1]}
    return Variables(**names, reserved_prefix=data["reservedPrefix"])


VARS = _variables(_DATA)


def prefix_variable(area: str) -> str:
    """The variable that overrides the key prefix of `area` (inputs, results, logs)."""
    return {"inputs": VARS.inputs_prefix, "results": VARS.results_prefix, "logs": VARS.logs_prefix}[area]
