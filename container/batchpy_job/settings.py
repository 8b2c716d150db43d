"""Everything run_job reads from the environment, checked before any side effect."""

import json
import os
import re
from typing import Any, NamedTuple

from .contract import JOB_NAME, JOB_NAME_RE, MANIFEST_PREFIX, MANIFEST_VERSION, PREFIXES, VARS
from .contract import config_error, quoted
from .values import array_set_problem, env_name_problem, value_problem

DIGITS_RE = re.compile(r"[0-9]+")
SURROGATE_RE = re.compile("[\ud800-\udfff]")
ARRAY_INDEX = "AWS_BATCH_JOB_ARRAY_INDEX"


class JobConfig(NamedTuple):
    job_name: str
    array_index: int | None
    inputs: list[str]
    output_dir: str | None
    manifest_key: str | None
    prefixes: dict[str, str]
    results_of: list[str]
    # (sweep name, manifest key), oldest first.
    parent_manifests: list[tuple[str, str]]

    def results_prefix(self) -> str:
        base = f"{self.prefixes['results']}{self.job_name}/"
        return base if self.array_index is None else f"{base}{self.array_index}/"

    def log_key(self) -> str:
        index = "" if self.array_index is None else f"/{self.array_index}"
        return f"{self.prefixes['logs']}{self.job_name}{index}.log"


def safe_relative(path: str) -> bool:
    return all(p not in ("", ".", "..") for p in path.split("/"))


def job_name_problem(name: str) -> str | None:
    # fullmatch: with match() and "$", a name ending in a newline would pass.
    if JOB_NAME_RE.fullmatch(name):
        return None
    return (
        f"{VARS.job_name} = {quoted(name)} is not a job name: use 1 to {JOB_NAME['maxLength']} "
        f"of {JOB_NAME['chars']}, starting with one of {JOB_NAME['firstChar']} (it names "
        f"{PREFIXES['results']}<name>/ and {PREFIXES['logs']}<name>.log)"
    )


def _index(env: dict[str, str], problems: list[str]) -> int | None:
    """The array child's index, or the set number of a plain job that runs one set of a sweep."""
    raw, set_raw = env.get(ARRAY_INDEX), env.get(VARS.set_index)
    if raw is not None and not DIGITS_RE.fullmatch(raw):
        problems.append(f"{ARRAY_INDEX} = {quoted(raw)} is not an index")
    if set_raw is not None and raw is not None:
        problems.append(
            f"{VARS.set_index} is set on an array child ({ARRAY_INDEX} is set): an array "
            "child's set number comes from its manifest; remove it from the job"
        )
    elif set_raw is not None and not DIGITS_RE.fullmatch(set_raw):
        problems.append(f"{VARS.set_index} = {quoted(set_raw)} is not a set number (0, 1, 2, ...)")
    number = set_raw if raw is None else raw
    return int(number) if number is not None and DIGITS_RE.fullmatch(number) else None


def _parents(env: dict[str, str], problems: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    names = [n.strip() for n in env.get(VARS.results_of, "").split(",") if n.strip()]
    problems.extend(
        f"{VARS.results_of} has {quoted(name)}, which is not a job name: list the jobs "
        "or sweeps whose results the script reads, such as grid_sweep"
        for name in names
        if not JOB_NAME_RE.fullmatch(name)
    )
    manifests = []
    for item in env.get(VARS.parent_manifests, "").split(","):
        name, _, key = item.strip().partition(":")
        if name in names and safe_relative(key):
            manifests.append((name, key))
        elif name or key:
            problems.append(
                f"{VARS.parent_manifests} has {quoted(item)}: each item is <name>:<manifest "
                f"key>, the name one of {VARS.results_of}; leave the variable to jobs:submit"
            )
    return names, manifests


def read_config(env: dict[str, str]) -> JobConfig:
    problems: list[str] = []
    index = _index(env, problems)
    # An array child's id is "<parent id>:<index>"; its files go under the parent's.
    job_name = env.get(VARS.job_name) or env.get("AWS_BATCH_JOB_ID", "").split(":")[0] or "local"
    problems.extend(p for p in [job_name_problem(job_name)] if p)
    prefixes = {}
    for area, default in PREFIXES.items():
        var = getattr(VARS, f"{area}_prefix")
        value = env.get(var, default)
        prefixes[area] = value = value + "/" if value and not value.endswith("/") else value
        if value and not safe_relative(value[:-1]):
            problems.append(f"{var} = {quoted(value)} must be a key prefix such as {default!r}")
    inputs = [i.strip() for i in env.get(VARS.inputs, "").split(",") if i.strip()]
    problems.extend(
        f"{VARS.inputs} has {quoted(item)}: each item is a key under "
        f"{prefixes['inputs']} such as data.csv or models/ (no '..', no leading '/')"
        for item in inputs
        if not safe_relative(item.removesuffix("/"))
    )
    output_dir = env.get(VARS.output_dir)
    norm = os.path.normpath(output_dir) if output_dir else None
    if output_dir and (os.path.isabs(output_dir) or norm == ".." or norm.startswith("../")):
        problems.append(
            f"{VARS.output_dir} = {quoted(output_dir)} must be a folder inside the "
            "working directory, such as out (or . for every file)"
        )
    manifest_key = env.get(VARS.array_manifest) or None
    if manifest_key and not safe_relative(manifest_key):
        problems.append(
            f"{VARS.array_manifest} = {quoted(manifest_key)} must be an object key such "
            f"as {MANIFEST_PREFIX}<job>.json"
        )
    if manifest_key and ARRAY_INDEX not in env:
        problems.append(
            f"{VARS.array_manifest} is set but {ARRAY_INDEX} is not: submit "
            "the job as an array job (arrayProperties.size = number of sets)"
        )
    results_of, parents = _parents(env, problems)
    if problems:
        raise config_error(*problems)
    return JobConfig(job_name, index, inputs, norm, manifest_key, prefixes, results_of, parents)


def _not_text_problem(what: str, s: str) -> str | None:
    """A lone surrogate (JSON can write \\ud800) reaches no argument, variable or log intact."""
    if not (surrogate := SURROGATE_RE.search(s)):
        return None
    return (
        f"{what} holds \\u{ord(surrogate.group()):04x}, half of a UTF-16 surrogate pair, which "
        "is not a character and cannot be encoded as UTF-8: remove it, or write the whole pair"
    )


def _set_variable_problems(key: str, value: object, where: str) -> list[str]:
    name_rule = array_set_problem(key) or env_name_problem(key)
    bad_name = _not_text_problem(f"{where} has the variable name {quoted(key)}: it", key) or (
        name_rule and f"{where}: {name_rule}"
    )
    if not isinstance(value, str):
        bad_value = (
            f"{where}.{key} must be a string (got {json.dumps(value)}): "
            f"write {json.dumps(str(value))}"
        )
        return [p for p in (bad_value, bad_name) if p]
    rule = value_problem(key, value)
    bad_value = _not_text_problem(f"{where}.{key}", value) or (rule and f"{where}: {rule}")
    return [p for p in (bad_name, bad_value) if p]


def manifest_sets(text: str, source: str) -> list[tuple[int, Any]]:
    """Each set with its number in the sweep: from `indexes` when given, else 0, 1, ..."""
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as err:
        raise config_error(f"{source} is not JSON: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
        raise config_error(
            f'{source} must be an object with "version": {MANIFEST_VERSION} and "sets"'
        )
    sets, indexes = manifest.get("sets"), manifest.get("indexes")
    if not isinstance(sets, list):
        raise config_error(f'{source} must have "sets": a list of objects')
    if indexes is None:
        return list(enumerate(sets))
    matched = isinstance(indexes, list) and len(indexes) == len(sets)
    if not matched or not all(type(i) is int and i >= 0 for i in indexes):
        raise config_error(
            f'{source} has "indexes" that are not one set number (0, 1, ...) per set: '
            "submit the sweep again with jobs:submit"
        )
    return list(zip(indexes, sets))


def select_array_set(
    sets: list[tuple[int, Any]], index: int, source: str
) -> tuple[dict[str, str], int]:
    if index >= len(sets):
        raise config_error(
            f"{source} has {len(sets)} set(s) but this is array child {index}: submit with "
            f"arrayProperties.size = {len(sets)}"
        )
    number, chosen = sets[index]
    if not isinstance(chosen, dict):
        raise config_error(f"{source} sets[{index}] must be an object of variables")
    where = f"{source} sets[{index}]"
    problems = [p for k, v in chosen.items() for p in _set_variable_problems(k, v, where)]
    if problems:
        raise config_error(*problems)
    return chosen, number
