"""What a job's variables mean, checked before any job is submitted (`run_job.py
--check-values`): names, values and whole sets of variables (Rules), and values against the
script's own argparse types and choices (check_values, in the probe child that holds the
parser). jobs:submit only locates the answers in the files.

Only types known to be free of side effects are called: argparse.FileType('w') opens (and
truncates) the file it is given, and an unknown callable could do anything on the user's
machine. Those options are skipped with a note."""

import argparse
import datetime
import decimal
import fractions
import ipaddress
import json
import pathlib
import uuid
from collections.abc import Iterable
from typing import Any

from .contract import AWS_BATCH_PREFIX, MAX_ARG_BYTES, PREFIXES, VARIABLE_TABLE, VARS, quoted
from .introspect import Json, mapped_actions, type_name
from .mapping import is_plain_environment, read_set, split_list, undeclared_problem, word_problem

# Where the user's script and its modules live (container/job/, /app/job/ in the image).
USER_CODE_DIR = "container/job"

SAFE_TYPES: set[Any] = {
    int, float, complex, str, bool,
    pathlib.Path, pathlib.PurePath, pathlib.PurePosixPath, pathlib.PosixPath,
    decimal.Decimal, fractions.Fraction, uuid.UUID,
    ipaddress.ip_address, ipaddress.ip_network, ipaddress.ip_interface,
    ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network,
    datetime.date.fromisoformat, datetime.datetime.fromisoformat, datetime.time.fromisoformat,
}
# Containers whose `in` runs no user code.
SAFE_CHOICES = (list, tuple, set, frozenset, range, dict, str)
CONVERSION_ERRORS = (TypeError, ValueError, ArithmeticError, argparse.ArgumentTypeError)


def _skip_reason(action: argparse.Action) -> str | None:
    try:
        safe = action.type is None or action.type in SAFE_TYPES
    except TypeError:  # unhashable: not one of ours
        safe = False
    if not safe:
        return f"type={type_name(action)} is not known to be free of side effects"
    if action.choices is not None and not isinstance(action.choices, SAFE_CHOICES):
        return "its choices are not a plain list, tuple, set or range"
    return None


def _typed_problem(option: Json, action: argparse.Action, value: str) -> str | None:
    """Why an item of `value` fails the option's own type or choices, or None."""
    flag, kind = action.option_strings[0], option["type"] or "str"
    for item in split_list(option["env"], value) if option["kind"] == "list" else [value]:
        try:
            converted = (action.type or str)(item)
        except CONVERSION_ERRORS:
            return f"{quoted(item)} is not a valid {kind} for {flag} (type={kind})"
        if action.choices is not None and converted not in action.choices:
            shown = ", ".join(repr(c) for c in list(action.choices)[:20])
            return f"{quoted(item)} is not one of the choices of {flag} (type={kind}): {shown}"
    return None


def check_values(parser: argparse.ArgumentParser, spec: Json, pairs: list[tuple[str, str]]) -> Json:
    """{"problems": [message or None per pair], "skipped": [{"option", "reason"}]}."""
    typed: dict[str, tuple[Json, argparse.Action]] = {}
    for (action, _flag), option in zip(mapped_actions(parser), spec["options"]):
        if option["kind"] == "flag" or option["action"] == "count":
            continue
        if option["type"] in (None, "str") and option["choices"] is None:
            continue  # any string will do
        typed.update((name, (option, action)) for name in [option["env"], *option["aliases"]])
    problems: list[str | None] = []
    skipped: dict[str, str] = {}
    for name, value in pairs:
        option, action = typed.get(name, ({}, None))
        reason = _skip_reason(action) if action else None
        if reason:
            skipped[option["env"]] = reason
        try:
            problems.append(None if not action or reason else _typed_problem(option, action, value))
        except ValueError as err:  # a list value that is not a list: the mapping says why
            problems.append(str(err))
    return {
        "problems": problems,
        "skipped": [{"option": k, "reason": v} for k, v in sorted(skipped.items())],
    }


class Rules:
    """The entrypoint's rules for a job's variables, applied before submission. `plain_env`:
    names the user declared plain environment (jobs:submit --plain-env)."""

    def __init__(self, spec: Json, script: str, plain_env: Iterable[str] = ()) -> None:
        self.spec = spec
        self.label = script if "/" in script else f"{USER_CODE_DIR}/{script}"
        self.plain_env = list(plain_env)
        self.options: dict[str, Json] = {}
        self.near: dict[str, str] = {}
        for option in spec["options"]:
            for name in [option["env"], *option.get("aliases", [])]:
                self.options.setdefault(name, option)
                # What names that differ only by case or -/_ have in common.
                self.near.setdefault(name.lower().replace("-", "_"), option["env"])

    def name_problem(self, name: str) -> str | None:
        problem = env_name_problem(name)
        if problem or name.startswith(VARS.reserved_prefix):
            return problem or _reserved_name_problem(name)
        if name in self.options or (name in self.plain_env and is_plain_environment(name)):
            return None
        near = self.near.get(name.lower().replace("-", "_"))
        if near is not None:
            # The entrypoint would pass VAR_A as plain environment and the script would
            # silently use var_a's default.
            plain = f' To pass "{name}" to the script as plain environment, add --plain-env {name}'
            return (
                f'"{name}" is not an option of {self.label}, but differs from "{near}" only by '
                f"case or -/_ (names are case-sensitive): did you mean {near}?"
                + ("" if any(c.islower() for c in name) else plain)
            )
        if is_plain_environment(name):
            return None
        return (
            undeclared_problem(self.spec, name, self.label)
            + "; fix the name or add the option to the script"
        )

    def value_problems(self, name: str, value: str) -> list[str]:
        option = self.options.get(name)
        found = (value_problem(name, value, option), word_problem(option, name, value))
        return [p for p in found if p]

    def set_problems(self, env: dict[str, str]) -> Json:
        whole = read_set(self.spec, env, self.label)
        return {"problems": whole.problems, "missing": whole.missing}

    def answer(self, request: Json, typed: list[str | None], skipped: list[Json]) -> Json:
        """The answer to a --check-values request: the problems of each name, (name, value)
        pair, set (pair indexes) and name the sets vary; the options whose types were not
        called."""
        pairs = [(str(n), str(v)) for n, v in request.get("values", [])]
        return {
            "plainEnv": [
                f"--plain-env {n}: the entrypoint passes only names without lower-case letters "
                "to the script as environment (it reads the others as options); rename the "
                "variable"
                for n in self.plain_env
                if not is_plain_environment(n)
            ],
            "names": [self.name_problem(str(n)) for n in request.get("names", [])],
            "values": [
                self.value_problems(n, v) + ([t] if t else []) for (n, v), t in zip(pairs, typed)
            ],
            "sets": [
                self.set_problems(dict(pairs[i] for i in indexes))
                for indexes in request.get("sets", [])
            ],
            "setNames": [array_set_problem(str(n)) for n in request.get("setNames", [])],
            "skipped": skipped,
        }


def _reserved_name_problem(name: str) -> str | None:
    row = VARIABLE_TABLE.get(name, {"setBy": None})
    if row["setBy"] in ("jobsTool", "entrypoint"):
        return f'"{name}" is {row["meaning"]}; remove it from the file'
    if row["setBy"] == "jobDefinition":
        return f'"{name}" is set by the job definition (stack); remove it from the file'
    if row["setBy"] == "user":
        return None
    settable = [n for n, r in VARIABLE_TABLE.items() if r["setBy"] == "user"]
    return f'"{name}" is not a batchpy variable (a job may set {", ".join(settable)}); fix the name'


def env_name_problem(name: str) -> str | None:
    """Why no job can have a variable called `name` (the environment and AWS Batch refuse it)."""
    if "\0" in name:
        return (
            f"the name {json.dumps(name)} contains a NUL byte, which no environment "
            "variable can hold; remove it"
        )
    if "=" in name:
        return (
            f"the name {json.dumps(name)} contains \"=\", which ends a variable's name in "
            "the environment; rename it"
        )
    if not name:
        return "a variable's name cannot be empty; name it"
    if name.startswith(AWS_BATCH_PREFIX):
        return (
            f'"{name}" is reserved: names starting with {AWS_BATCH_PREFIX} are set by AWS '
            "Batch and SubmitJob rejects them; rename the variable"
        )
    return None


def array_set_problem(name: str) -> str | None:
    if not name.startswith(VARS.reserved_prefix):
        return None
    return (
        f'"{name}" cannot vary per set of an array job: the entrypoint reads '
        f"{VARS.reserved_prefix}* variables from the job's own environment, before a set "
        "applies, and refuses them in the manifest; set it once in "
        "base.containerOverrides.environment, or pass --no-array to submit one job per set"
    )


def value_problem(name: str, value: str, option: Json | None = None) -> str | None:
    """Why `value` cannot reach a process as `name`: a NUL byte, or a string longer than
    the kernel's MAX_ARG_STRLEN (limits.maxArgBytes, its NUL included) as name=value and,
    for an option, as --flag=value."""
    if "\0" in value:
        return (
            f'the value of "{name}" contains a NUL byte (at character '
            f"{value.index(chr(0)) + 1}), which no environment variable or argument can "
            "hold; remove it"
        )
    shown = option["flag"] if option is not None else name
    if 4 * (len(name) + len(shown) + len(value)) < MAX_ARG_BYTES:
        return None  # too short to be too long, whatever its characters
    size, name_size = (len(s.encode("utf-8", "surrogatepass")) for s in (value, name))
    if max(name_size, len(shown)) + 2 + size <= MAX_ARG_BYTES:
        return None
    return (
        f'the value of "{name}" is {size:,} bytes; Linux passes at most '
        f"{MAX_ARG_BYTES - 1:,} bytes per environment variable or argument (\"{shown}=<value>\" "
        f"included): put the data in a file under {PREFIXES['inputs']} and pass its key in "
        f"{VARS.inputs}"
    )
