"""From the job's environment variables to the script's command line (build_argv), with
every problem found reported at once before anything runs."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Dict, List, NamedTuple, Optional, Tuple

from .contract import FLAG_FALSE, FLAG_TRUE, MAX_COUNT, PLAIN_LOWERCASE
from .errors import config_error, quoted
from .introspect import LIST_SEPARATOR, Json

# argparse reads a list item that starts with "-" as an option unless it looks like a
# negative number (and the parser has no option that does); the same pattern argparse uses.
NEGATIVE_NUMBER_RE = re.compile(r"^-\d+$|^-\d*\.\d+$")
DIGITS_RE = re.compile(r"^[0-9]+$")


def flag_word(value: str) -> Optional[bool]:
    """True for a flagTrue word, False for a flagFalse word (any case, blanks ignored), else
    None."""
    word = value.strip().lower()
    return True if word in FLAG_TRUE else False if word in FLAG_FALSE else None


def flag_problem(name: str, value: str) -> Optional[str]:
    """Why `value` cannot switch a flag option, or None."""
    if flag_word(value) is not None:
        return None
    return (
        f"{quoted(name)} = {quoted(value)} is not a flag value: use one of "
        f"{', '.join(FLAG_TRUE)} (option on) or {', '.join(FLAG_FALSE)} (option off)"
    )


def count_of(value: str) -> Optional[int]:
    """How many times a count option is repeated: a flag word, or 0 to MAX_COUNT; else None."""
    word = value.strip().lower()
    on = flag_word(word)
    if on is not None:
        return int(on)
    return int(word) if DIGITS_RE.match(word) and int(word) <= MAX_COUNT else None


def count_problem(name: str, value: str) -> Optional[str]:
    """Why `value` cannot say how many times a count option is repeated, or None."""
    if count_of(value) is not None:
        return None
    return (
        f"{quoted(name)} = {quoted(value)} must be a count from 0 to {MAX_COUNT} "
        "(how many times the option is repeated), or true/false"
    )


def missing_problem(option: Json, script_name: str) -> str:
    """A required option that no variable sets."""
    return f"{script_name} requires {option['flag']}: set the variable {quoted(str(option['env']))}"


def split_list(name: str, value: str) -> List[str]:
    """Items of a list option: a JSON array of strings (or integers) when the value starts
    with "[", otherwise the value split on LIST_SEPARATOR, byte for byte (no trimming).
    An empty value is an empty list."""
    if value.startswith("["):
        try:
            items = json.loads(value)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"variable {quoted(name)} starts with '[' but is not a JSON array ({err.msg} "
                f"at character {err.pos}): write a JSON array of strings, e.g. [\"a,b\", \"c\"]"
            ) from None
        if not isinstance(items, list) or not all(
            isinstance(i, str) or (isinstance(i, int) and not isinstance(i, bool)) for i in items
        ):
            raise ValueError(
                f"variable {quoted(name)} must be a JSON array of strings or integers, e.g. "
                '["a,b", "c"]'
            )
        return [str(i) for i in items]
    if value == "":
        return []
    return value.split(LIST_SEPARATOR)


def both_set_problem(option: Json, found: List[str]) -> str:
    """Two names of one option (its flag name and its argparse dest) set different values."""
    return (
        f"variables {' and '.join(quoted(n) for n in found)} both set {option['flag']} "
        "with different values; keep one"
    )


class _Mapping:
    """The parser-wide settings build_argv needs for each option."""

    def __init__(self, spec: Json, script_name: str) -> None:
        self.script_name = script_name
        self.prefix_chars = str(spec["prefix_chars"])
        self.fromfile = spec.get("fromfile_prefix_chars") or ""
        self.negatives_are_options = bool(spec.get("negative_numbers_are_options"))
        self.dashdash_ok = bool(spec.get("dashdash_value_ok", True))


def _flag_args(option: Json, name: str, value: str, m: _Mapping, problems: List[str]) -> List[str]:
    flag = str(option["flag"])
    problem = flag_problem(name, value)
    if problem:
        raise ValueError(problem)
    on = flag_word(value)
    if option["action"] == "boolean_optional":
        return [flag if on else str(option["negative_flag"])]
    if not on and option["required"]:
        problems.append(
            f"{m.script_name} requires {flag}, so {quoted(name)} cannot be "
            f"{quoted(value)}: set it to true or remove the requirement"
        )
    return [flag] if on else []


def _option_args(option: Json, name: str, value: str, m: _Mapping) -> List[str]:
    """The argv elements for a value or list option. Raises ValueError for a bad value."""
    flag = str(option["flag"])
    if option["kind"] == "value" and option["action"] == "count":
        problem = count_problem(name, value)
        if problem:
            raise ValueError(problem)
        return [flag] * (count_of(value) or 0)
    if option["kind"] == "value":
        _check_dashdash(name, [value], m.dashdash_ok)
        return [f"{flag}={value}"]
    items = split_list(name, value)
    _check_items(option, name, items, m.prefix_chars, m.fromfile, m.negatives_are_options)
    if option["nargs"] is None:
        _check_dashdash(name, items, m.dashdash_ok)
        return [f"{flag}={item}" for item in items]
    return [flag, *items]


def puts_on_command_line(option: Json, value: str) -> bool:
    """Whether the value puts the option on the command line (what the groups count): a list
    with nargs puts `--items` there even when empty."""
    if option["kind"] == "flag":
        return option.get("action") == "boolean_optional" or flag_word(value) is True
    if option.get("action") == "count":
        return bool(count_of(value))
    if option["kind"] == "list" and option.get("nargs") is None:
        try:
            return bool(split_list(str(option["env"]), value))
        except ValueError:
            return True  # a problem of the value itself, reported with it
    return True


def group_problems(spec: Json, present: Dict[str, bool], script_name: str) -> List[str]:
    """argparse's mutually exclusive groups: more than one chosen, or a required one empty."""
    problems = []
    for group in spec.get("groups", []):
        members = group["options"]
        chosen = [m for m in members if present.get(m)]
        if len(chosen) > 1:
            problems.append(
                f"{script_name} accepts only one of {', '.join(members)}, but "
                f"{' and '.join(chosen)} are set; keep one"
            )
        elif group["required"] and not chosen:
            problems.append(
                f"{script_name} requires one of {', '.join(members)}; set one of these variables"
            )
    return problems


class WholeSet(NamedTuple):
    """One whole set of variables read against the script's options."""

    # Each option a variable sets, in declaration order: (option, variable, value).
    chosen: List[Tuple[Json, str, str]]
    # {"name"?, "message"}: two names of one option that disagree, then the groups.
    problems: List[Json]
    # A problem per required option that no variable sets.
    missing: List[str]


def read_set(spec: Json, env: Dict[str, str], script_name: str) -> WholeSet:
    """The rules of a whole set of variables, the same before submission and in the job."""
    whole = WholeSet([], [], [])
    present: Dict[str, bool] = {}
    for option in spec["options"]:
        found = [n for n in [str(option["env"]), *option.get("aliases", [])] if n in env]
        if not found:
            if option["required"]:
                whole.missing.append(missing_problem(option, script_name))
            continue
        if len({env[n] for n in found}) > 1:
            whole.problems.append({"name": found[1], "message": both_set_problem(option, found)})
        whole.chosen.append((option, found[0], env[found[0]]))
        present[str(option["env"])] = puts_on_command_line(option, env[found[0]])
    whole.problems.extend({"message": m} for m in group_problems(spec, present, script_name))
    return whole


def build_argv(spec: Json, env: Dict[str, str], script_name: str) -> List[str]:
    """The script's command-line arguments for `env`, in declaration order. Each value is
    one argv element attached to its flag (`--name=value`) so values that begin with "-"
    are not read as options. Raises JobError (exit 2) listing every problem found."""
    m = _Mapping(spec, script_name)
    whole = read_set(spec, env, script_name)
    where = " (containerOverrides.environment in the job file)"
    problems = [p + where for p in whole.missing]
    argv: List[str] = []
    for option, name, value in whole.chosen:
        try:
            if option["kind"] == "flag":
                argv.extend(_flag_args(option, name, value, m, problems))
            else:
                argv.extend(_option_args(option, name, value, m))
        except ValueError as err:
            problems.append(str(err))
    problems.extend(p["message"] for p in whole.problems)
    if problems:
        raise config_error(*problems)
    return argv


def _check_dashdash(name: str, values: List[str], dashdash_ok: bool) -> None:
    if "--" in values and not dashdash_ok:
        raise ValueError(
            f"variable {quoted(name)} holds the value \"--\", which the argparse of Python "
            f"{sys.version_info.major}.{sys.version_info.minor} drops from an option (the "
            "script would get []): use another value"
        )


def _check_items(
    option: Json,
    name: str,
    items: List[str],
    prefix_chars: str,
    fromfile: str,
    negatives_are_options: bool,
) -> None:
    nargs, flag = option["nargs"], option["flag"]
    if isinstance(nargs, int) and len(items) != nargs:
        raise ValueError(
            f"variable {quoted(name)} has {len(items)} item(s) but {flag} takes exactly "
            f"{nargs}: separate items with {quoted(LIST_SEPARATOR)}"
        )
    if nargs == argparse.ONE_OR_MORE and not items:
        raise ValueError(f"variable {quoted(name)} is empty but {flag} needs at least one item")
    if nargs is None:
        return  # repeated --flag=item elements: any item is safe
    for item in items:
        if item[:1] and item[0] in prefix_chars:
            if NEGATIVE_NUMBER_RE.match(item) and not negatives_are_options:
                continue
            raise ValueError(
                f"variable {quoted(name)} has the item {quoted(item)}, which argparse would "
                f"read as an option after {flag}: list items cannot start with "
                f"{quoted(item[0])} (a single-value option can take it)"
            )
        if item[:1] and item[0] in fromfile:
            raise ValueError(
                f"variable {quoted(name)} has the item {quoted(item)}, which argparse would "
                f"read as a file of arguments ({quoted(item[0])} is a fromfile_prefix_char)"
            )


def is_plain_environment(name: str) -> bool:
    """Names without a lower-case letter, and the proxies, are plain environment: never
    read as an option."""
    return not any(c.islower() for c in name) or name.lower() in PLAIN_LOWERCASE


def undeclared_names(spec: Json, env: Dict[str, str]) -> List[str]:
    """Variables that look like script options but match none: likely typos, ignored with a
    warning."""
    known = {str(n) for option in spec["options"] for n in [option["env"], *option["aliases"]]}
    return sorted(n for n in env if n not in known and not is_plain_environment(n))


def undeclared_problem(spec: Json, name: str, script_name: str) -> str:
    """A variable read as an option that the script does not declare."""
    declared = ", ".join(str(o["env"]) for o in spec["options"]) or "none"
    return f"{quoted(name)} is not an option of {script_name} (declared: {declared})"
