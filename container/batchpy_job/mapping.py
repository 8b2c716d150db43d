"""From the job's environment variables to the script's command line (build_argv), with
every problem found reported at once before anything runs."""

import argparse
import json
import re
import sys
from typing import NamedTuple

from .contract import FLAG_FALSE, FLAG_TRUE, MAX_COUNT, PLAIN_LOWERCASE, config_error, quoted
from .introspect import LIST_SEPARATOR, Json

# argparse reads a list item that starts with "-" as an option unless it looks like a
# negative number (and the parser has no option that does); the same pattern argparse uses.
NEGATIVE_NUMBER_RE = re.compile(r"^-\d+$|^-\d*\.\d+$")


def flag_word(value: str) -> bool | None:
    word = value.strip().lower()
    return True if word in FLAG_TRUE else False if word in FLAG_FALSE else None


def count_of(value: str) -> int | None:
    """How many times a count option is repeated: a flag word, or 0 to MAX_COUNT; else None."""
    word = value.strip().lower()
    on = flag_word(word)
    if on is not None:
        return int(on)
    return int(word) if re.fullmatch("[0-9]+", word) and int(word) <= MAX_COUNT else None


def word_problem(option: Json | None, name: str, value: str) -> str | None:
    """Why `value` cannot switch a flag option or count a count option, or None."""
    if option is not None and option["kind"] == "flag" and flag_word(value) is None:
        return (
            f"{quoted(name)} = {quoted(value)} is not a flag value: use one of "
            f"{', '.join(FLAG_TRUE)} (option on) or {', '.join(FLAG_FALSE)} (option off)"
        )
    if option is not None and option.get("action") == "count" and count_of(value) is None:
        return (
            f"{quoted(name)} = {quoted(value)} must be a count from 0 to {MAX_COUNT} "
            "(how many times the option is repeated), or true/false"
        )
    return None


def split_list(name: str, value: str) -> list[str]:
    """Items of a list option: a JSON array of strings (or integers) when the value starts
    with "[", else the value split on LIST_SEPARATOR byte for byte (no trimming)."""
    if not value.startswith("["):
        return value.split(LIST_SEPARATOR) if value else []
    try:
        items = json.loads(value)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"variable {quoted(name)} starts with '[' but is not a JSON array ({err.msg} "
            f"at character {err.pos}): write a JSON array of strings, e.g. [\"a,b\", \"c\"]"
        ) from None
    if not isinstance(items, list) or not all(type(i) in (str, int) for i in items):
        raise ValueError(
            f"variable {quoted(name)} must be a JSON array of strings or integers, e.g. "
            '["a,b", "c"]'
        )
    return [str(i) for i in items]


def _option_args(spec: Json, option: Json, name: str, value: str) -> list[str]:
    flag, nargs = option["flag"], option["nargs"]
    if option["action"] == "count":
        return [flag] * (count_of(value) or 0)
    items = split_list(name, value) if option["kind"] == "list" else [value]
    if isinstance(nargs, int) and len(items) != nargs:
        raise ValueError(
            f"variable {quoted(name)} has {len(items)} item(s) but {flag} takes exactly "
            f"{nargs}: separate items with {quoted(LIST_SEPARATOR)}"
        )
    if nargs == argparse.ONE_OR_MORE and not items:
        raise ValueError(f"variable {quoted(name)} is empty but {flag} needs at least one item")
    if option["kind"] == "value" or nargs is None:  # --flag=item elements: any item is safe
        if "--" in items and not spec.get("dashdash_value_ok", True):
            raise ValueError(
                f"variable {quoted(name)} holds the value \"--\", which the argparse of Python "
                f"{sys.version_info.major}.{sys.version_info.minor} drops from an option (the "
                "script would get []): use another value"
            )
        return [f"{flag}={item}" for item in items]
    for item in items:
        if item[:1] and item[0] in spec["prefix_chars"]:
            if NEGATIVE_NUMBER_RE.match(item) and not spec.get("negative_numbers_are_options"):
                continue
            raise ValueError(
                f"variable {quoted(name)} has the item {quoted(item)}, which argparse would "
                f"read as an option after {flag}: list items cannot start with "
                f"{quoted(item[0])} (a single-value option can take it)"
            )
        if item[:1] and item[0] in (spec.get("fromfile_prefix_chars") or ""):
            raise ValueError(
                f"variable {quoted(name)} has the item {quoted(item)}, which argparse would "
                f"read as a file of arguments ({quoted(item[0])} is a fromfile_prefix_char)"
            )
    return [flag, *items]


def puts_on_command_line(option: Json, value: str) -> bool:
    """Whether the value puts the option on the command line (what the groups count)."""
    if option["kind"] == "flag":
        return option.get("action") == "boolean_optional" or flag_word(value) is True
    if option.get("action") == "count":
        return bool(count_of(value))
    if option["kind"] == "list" and option.get("nargs") is None:
        try:
            return bool(split_list(option["env"], value))
        except ValueError:
            return True  # a problem of the value itself, reported with it
    return True


class WholeSet(NamedTuple):
    # Each option a variable sets, in declaration order: (option, variable, value).
    chosen: list[tuple[Json, str, str]]
    # {"name"?, "message"}: two names of one option that disagree, then the groups.
    problems: list[Json]
    # A problem per required option that no variable sets.
    missing: list[str]


def read_set(spec: Json, env: dict[str, str], script_name: str) -> WholeSet:
    """The rules of a whole set of variables, the same before submission and in the job:
    required options, two names for one option, argparse's mutually exclusive groups."""
    whole = WholeSet([], [], [])
    present: dict[str, bool] = {}
    for option in spec["options"]:
        found = [n for n in [option["env"], *option.get("aliases", [])] if n in env]
        if found and len({env[n] for n in found}) > 1:
            whole.problems.append(
                {
                    "name": found[1],
                    "message": f"variables {' and '.join(quoted(n) for n in found)} both set "
                    f"{option['flag']} with different values; keep one",
                }
            )
        if found:
            whole.chosen.append((option, found[0], env[found[0]]))
            present[option["env"]] = puts_on_command_line(option, env[found[0]])
        elif option["required"]:
            whole.missing.append(
                f"{script_name} requires {option['flag']}: set the variable {quoted(option['env'])}"
            )
    for group in spec.get("groups", []):
        members = group["options"]
        chosen = [m for m in members if present.get(m)]
        if len(chosen) > 1:
            message = (
                f"{script_name} accepts only one of {', '.join(members)}, but "
                f"{' and '.join(chosen)} are set; keep one"
            )
        elif group["required"] and not chosen:
            message = (
                f"{script_name} requires one of {', '.join(members)}; set one of these variables"
            )
        else:
            continue
        whole.problems.append({"message": message})
    return whole


def build_argv(spec: Json, env: dict[str, str], script_name: str) -> list[str]:
    """The script's command-line arguments for `env`, in declaration order. Each value is
    one argv element attached to its flag (`--name=value`) so values that begin with "-"
    are not read as options. Raises JobError (exit 2) listing every problem found."""
    whole = read_set(spec, env, script_name)
    problems = [p + " (containerOverrides.environment in the job file)" for p in whole.missing]
    argv: list[str] = []
    for option, name, value in whole.chosen:
        flag, on = option["flag"], flag_word(value)
        try:
            problem = word_problem(option, name, value)
            if problem:
                raise ValueError(problem)
            if option["action"] == "boolean_optional":
                argv.append(flag if on else option["negative_flag"])
            elif option["kind"] == "flag":
                argv.extend([flag] if on else [])
                if not on and option["required"]:
                    problems.append(
                        f"{script_name} requires {flag}, so {quoted(name)} cannot be "
                        f"{quoted(value)}: set it to true or remove the requirement"
                    )
            else:
                argv.extend(_option_args(spec, option, name, value))
        except ValueError as err:
            problems.append(str(err))
    problems.extend(p["message"] for p in whole.problems)
    if problems:
        raise config_error(*problems)
    return argv


def is_plain_environment(name: str) -> bool:
    """Names without a lower-case letter, and the proxies, are never read as options."""
    return not any(c.islower() for c in name) or name.lower() in PLAIN_LOWERCASE


def undeclared_names(spec: Json, env: dict[str, str]) -> list[str]:
    """Variables that look like script options but match none: likely typos."""
    known = {n for option in spec["options"] for n in [option["env"], *option["aliases"]]}
    return sorted(n for n in env if n not in known and not is_plain_environment(n))


def undeclared_problem(spec: Json, name: str, script_name: str) -> str:
    declared = ", ".join(o["env"] for o in spec["options"]) or "none"
    return f"{quoted(name)} is not an option of {script_name} (declared: {declared})"
