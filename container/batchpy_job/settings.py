"""Everything run_job reads from the environment, and an array child's set of variables,
checked before any side effect."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from .contract import (
    JOB_NAME_CHARS,
    JOB_NAME_FIRST,
    JOB_NAME_MAX,
    JOB_NAME_RE,
    MANIFEST_PREFIX,
    MANIFEST_VERSION,
    PREFIXES,
    VARS,
    prefix_variable,
)
from .errors import config_error, quoted
from .mapping import DIGITS_RE
from .values import array_set_problem, env_name_problem, value_problem


class JobConfig(NamedTuple):
    job_name: str
    array_index: Optional[int]
    inputs: List[str]
    output_dir: Optional[str]
    manifest_key: Optional[str]
    prefixes: Dict[str, str]
    results_of: List[str]
    # (sweep name, manifest key), oldest first: each set's parameters for the step.
    parent_manifests: List[Tuple[str, str]]

    def results_prefix(self) -> str:
        base = f"{self.prefixes['results']}{self.job_name}/"
        return base if self.array_index is None else f"{base}{self.array_index}/"

    def log_key(self) -> str:
        if self.array_index is None:
            return f"{self.prefixes['logs']}{self.job_name}.log"
        return f"{self.prefixes['logs']}{self.job_name}/{self.array_index}.log"


def safe_relative(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def job_name_problem(name: str) -> Optional[str]:
    """Why `name` cannot name a job's results and log, or None. The whole string must match
    (fullmatch): with match() and "$", a name ending in a newline would pass."""
    if JOB_NAME_RE.fullmatch(name):
        return None
    return (
        f"{VARS.job_name} = {quoted(name)} is not a job name: use 1 to {JOB_NAME_MAX} of "
        f"{JOB_NAME_CHARS}, starting with one of {JOB_NAME_FIRST} (it names "
        f"{PREFIXES['results']}<name>/ and {PREFIXES['logs']}<name>.log)"
    )


def _array_index(env: Dict[str, str], problems: List[str]) -> Optional[int]:
    raw_index = env.get("AWS_BATCH_JOB_ARRAY_INDEX")
    if raw_index is None:
        return None
    if DIGITS_RE.match(raw_index):
        return int(raw_index)
    problems.append(f"AWS_BATCH_JOB_ARRAY_INDEX = {quoted(raw_index)} is not an index")
    return None


def _set_index(env: Dict[str, str], has_index: bool, problems: List[str]) -> Optional[int]:
    """The sweep's set number of a plain job that runs one of its sets (a last chunk of one
    set, a retry of one set): its files go under it, like an array child's."""
    raw = env.get(VARS.set_index)
    if raw is None:
        return None
    if has_index:
        problems.append(
            f"{VARS.set_index} is set on an array child (AWS_BATCH_JOB_ARRAY_INDEX is set): "
            "an array child's set number comes from its manifest; remove it from the job"
        )
        return None
    if DIGITS_RE.fullmatch(raw):
        return int(raw)
    problems.append(f"{VARS.set_index} = {quoted(raw)} is not a set number (0, 1, 2, ...)")
    return None


def _job_name(env: Dict[str, str], problems: List[str]) -> str:
    job_name = env.get(VARS.job_name)
    if not job_name:
        job_id = env.get("AWS_BATCH_JOB_ID", "")
        # An array child's id is "<parent id>:<index>"; its files go under the parent's.
        job_name = job_id.split(":")[0] if job_id else "local"
    problem = job_name_problem(job_name)
    if problem:
        problems.append(problem)
    return job_name


def _prefixes(env: Dict[str, str], problems: List[str]) -> Dict[str, str]:
    prefixes = {}
    for area, default in PREFIXES.items():
        var = prefix_variable(area)
        value = env.get(var, default)
        if value and not value.endswith("/"):
            value += "/"
        if value and not safe_relative(value[:-1]):
            problems.append(f"{var} = {quoted(value)} must be a key prefix such as {default!r}")
        prefixes[area] = value
    return prefixes


def _inputs(env: Dict[str, str], inputs_prefix: str, problems: List[str]) -> List[str]:
    inputs = []
    for item in env.get(VARS.inputs, "").split(","):
        item = item.strip()
        if not item:
            continue
        if not safe_relative(item[:-1] if item.endswith("/") else item):
            problems.append(
                f"{VARS.inputs} has {quoted(item)}: each item is a key under "
                f"{inputs_prefix} such as data.csv or models/ (no '..', no leading '/')"
            )
            continue
        inputs.append(item)
    return inputs


def _output_dir(env: Dict[str, str], problems: List[str]) -> Optional[str]:
    output_dir = env.get(VARS.output_dir) or None
    if output_dir is None:
        return None
    norm = os.path.normpath(output_dir)
    if os.path.isabs(output_dir) or norm == ".." or norm.startswith("../"):
        problems.append(
            f"{VARS.output_dir} = {quoted(output_dir)} must be a folder inside the "
            "working directory, such as out (or . for every file)"
        )
    return norm


def _manifest_key(env: Dict[str, str], has_index: bool, problems: List[str]) -> Optional[str]:
    manifest_key = env.get(VARS.array_manifest) or None
    if manifest_key is None:
        return None
    if not safe_relative(manifest_key):
        problems.append(
            f"{VARS.array_manifest} = {quoted(manifest_key)} must be an object key such "
            f"as {MANIFEST_PREFIX}<job>.json"
        )
    if not has_index:
        problems.append(
            f"{VARS.array_manifest} is set but AWS_BATCH_JOB_ARRAY_INDEX is not: submit "
            "the job as an array job (arrayProperties.size = number of sets)"
        )
    return manifest_key


def _results_of(env: Dict[str, str], problems: List[str]) -> List[str]:
    """The jobs whose results/<name>/ the script reads: each a job name, so a key prefix."""
    names = [n.strip() for n in env.get(VARS.results_of, "").split(",") if n.strip()]
    for name in names:
        if not JOB_NAME_RE.fullmatch(name):
            problems.append(
                f"{VARS.results_of} has {quoted(name)}, which is not a job name: list the jobs "
                "or sweeps whose results the script reads, such as grid_sweep"
            )
    return names


def _parent_manifests(
    env: Dict[str, str], results_of: List[str], problems: List[str]
) -> List[Tuple[str, str]]:
    """The manifests of the sweeps the script reads, as `<name>:<key>` items: a name that
    BATCHPY_RESULTS_OF lists, a key such as inputs/sweeps/grid_sweep-0123456789ab.json."""
    pairs = []
    for item in env.get(VARS.parent_manifests, "").split(","):
        name, _, key = item.strip().partition(":")
        if not name and not key:
            continue
        if name not in results_of or not safe_relative(key):
            problems.append(
                f"{VARS.parent_manifests} has {quoted(item)}: each item is <name>:<manifest "
                f"key>, the name one of {VARS.results_of}; leave the variable to jobs:submit"
            )
            continue
        pairs.append((name, key))
    return pairs


def read_config(env: Dict[str, str]) -> JobConfig:
    """Everything run_job reads from the environment, checked before any side effect."""
    problems: List[str] = []
    index = _array_index(env, problems)
    has_index = "AWS_BATCH_JOB_ARRAY_INDEX" in env
    set_index = _set_index(env, has_index, problems)
    if set_index is not None:
        index = set_index
    job_name = _job_name(env, problems)
    prefixes = _prefixes(env, problems)
    inputs = _inputs(env, prefixes["inputs"], problems)
    output_dir = _output_dir(env, problems)
    manifest_key = _manifest_key(env, has_index, problems)
    results_of = _results_of(env, problems)
    parent_manifests = _parent_manifests(env, results_of, problems)
    if problems:
        raise config_error(*problems)
    return JobConfig(
        job_name, index, inputs, output_dir, manifest_key, prefixes, results_of, parent_manifests
    )


def _parse_manifest(text: str, source: str) -> Dict[str, Any]:
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as err:
        raise config_error(f"{source} is not JSON: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
        raise config_error(
            f'{source} must be an object with "version": {MANIFEST_VERSION} and "sets"'
        )
    if not isinstance(manifest.get("sets"), list):
        raise config_error(f'{source} must have "sets": a list of objects')
    return manifest


def _not_text_problem(what: str, s: str) -> Optional[str]:
    """Why `s` is not text, or None: a character UTF-8 cannot encode (a lone surrogate, which
    JSON can write as \\ud800) can reach no process argument, variable or log intact."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as err:
        return (
            f"{what} holds \\u{ord(s[err.start]):04x}, half of a UTF-16 surrogate pair, which "
            "is not a character and cannot be encoded as UTF-8: remove it, or write the whole pair"
        )
    return None


def _set_name_problem(key: str, where: str) -> Optional[str]:
    not_text = _not_text_problem(f"{where} has the variable name {quoted(key)}: it", key)
    problem = array_set_problem(key) or env_name_problem(key)
    return not_text or (f"{where}: {problem}" if problem else None)


def _set_variable_problems(key: str, value: object, where: str) -> List[str]:
    """Why one variable of an array set cannot reach the script: the same rules as a job's
    own environment (values.py), and a set may not vary run_job's own settings."""
    if not isinstance(value, str):
        type_problem = (
            f"{where}.{key} must be a string (got {json.dumps(value)}): "
            f"write {json.dumps(str(value))}"
        )
        return [p for p in (type_problem, _set_name_problem(key, where)) if p]
    rule = value_problem(key, value)
    bad_value = _not_text_problem(f"{where}.{key}", value) or (rule and f"{where}: {rule}")
    return [p for p in (_set_name_problem(key, where), bad_value) if p]


def _sets_and_numbers(text: str, source: str) -> Tuple[List[Any], List[int]]:
    """A manifest's sets and the set number of each in the sweep: `indexes` when the manifest
    lists them (a chunk of a sweep past 10,000 sets, a retry of some sets), else 0, 1, ..."""
    manifest = _parse_manifest(text, source)
    sets, indexes = manifest["sets"], manifest.get("indexes")
    if indexes is not None and (
        not isinstance(indexes, list)
        or len(indexes) != len(sets)
        or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in indexes)
    ):
        raise config_error(
            f'{source} has "indexes" that are not one set number (0, 1, ...) per set: '
            "submit the sweep again with jobs:submit"
        )
    return sets, list(range(len(sets))) if indexes is None else indexes


def select_array_set(text: str, index: int, source: str) -> Tuple[Dict[str, str], int]:
    """The variables of sets[index] in an array manifest {"version":1,"sets":[{...}]}, and
    their set number in the sweep."""
    sets, numbers = _sets_and_numbers(text, source)
    if index >= len(sets):
        raise config_error(
            f"{source} has {len(sets)} set(s) but this is array child {index}: submit with "
            f"arrayProperties.size = {len(sets)}"
        )
    chosen = sets[index]
    if not isinstance(chosen, dict):
        raise config_error(f"{source} sets[{index}] must be an object of variables")
    problems = []
    for key, value in chosen.items():
        problems.extend(_set_variable_problems(key, value, f"{source} sets[{index}]"))
    if problems:
        raise config_error(*problems)
    return chosen, numbers[index]


def manifest_sets(text: str, source: str) -> List[Tuple[int, Any]]:
    """Each set of a manifest with its set number in the sweep."""
    sets, numbers = _sets_and_numbers(text, source)
    return list(zip(numbers, sets))
