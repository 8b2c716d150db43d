"""What a job's variables mean: the script's command line (build_argv), and the checks made
before any job is submitted (Rules, for `run_job.py --check-values`)."""

import argparse
import json
import re
import sys
from collections.abc import Iterable
from typing import Any

from .contract import AWS_BATCH_PREFIX, FLAG_FALSE, FLAG_TRUE, MAX_ARG_BYTES, MAX_COUNT
from .contract import PLAIN_LOWERCASE, PREFIXES, VARIABLE_TABLE, VARS, config_error, quoted

Json = dict[str, Any]
LIST_SEPARATOR = ","

# argparse reads a list item that starts with "-" as an option unless it looks like a
# negative number (and the parser has no option that does); the same pattern argparse uses.
NEGATIVE_NUMBER_RE = re.compile(r"^-\d+$|^-\d*\.\d+$")


def _keeps_dashdash() -> bool:
    """Older argparse (the job image's Python 3.11) strips "--" from every option's values,
    leaving []. Asked of this Python, so a saved description and a probe check "--" alike."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--value")
    try:
        return parser.parse_args(["--value=--"]).value == "--"
    except SystemExit:
        return False


DASHDASH_VALUE_OK = _keeps_dashdash()


def flag_word(value: str) -> bool | None:
    word = value.strip().lower()
    return True if word in FLAG_TRUE else False if word in FLAG_FALSE else None


def count_of(value: str) -> int | None:
    word, on = value.strip().lower(), flag_word(value)
    if on is not None:
        return int(on)
    return int(word) if re.fullmatch("[0-9]+", word) and int(word) <= MAX_COUNT else None


def split_list(name: str, value: str) -> list[str]:
    """A JSON array when the value starts with "[", else split byte for byte (no trimming)."""
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


def _option_args(spec: Json, option: Json, name: str, value: str, script_name: str) -> list[str]:
    """The option's part of the command line; a ValueError says why the value cannot be one."""
    flag, nargs, on = option["flag"], option.get("nargs"), flag_word(value)
    if option["kind"] == "flag" and on is None:
        raise ValueError(
            f"{quoted(name)} = {quoted(value)} is not a flag value: use one of "
            f"{', '.join(FLAG_TRUE)} (option on) or {', '.join(FLAG_FALSE)} (option off)"
        )
    if option.get("action") == "count" and count_of(value) is None:
        raise ValueError(
            f"{quoted(name)} = {quoted(value)} must be a count from 0 to {MAX_COUNT} "
            "(how many times the option is repeated), or true/false"
        )
    if option.get("action") == "boolean_optional":
        return [flag if on else option.get("negative_flag", "")]
    if option["kind"] == "flag" and not on and option["required"]:
        raise ValueError(
            f"{script_name} requires {flag}, so {quoted(name)} cannot be "
            f"{quoted(value)}: set it to true or remove the requirement"
        )
    if option["kind"] == "flag":
        return [flag] if on else []
    if option.get("action") == "count":
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
        if "--" in items and not DASHDASH_VALUE_OK:
            raise ValueError(
                f"variable {quoted(name)} holds the value \"--\", which the argparse of Python "
                f"{sys.version_info.major}.{sys.version_info.minor} drops from an option (the "
                "script would get []): use another value"
            )
        return [f"{flag}={item}" for item in items]
    for item in items:
        if item[:1] and item[0] in spec.get("prefix_chars", "-"):
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


def read_set(spec: Json, env: dict[str, str], script_name: str) -> tuple[list, list, list, list]:
    """The command line; its values' problems; the whole set's {"name"?, "message"}; the missing."""
    argv, bad_values, problems, missing = [], [], [], []
    present: dict[str, bool] = {}  # what mutually exclusive groups count
    for option in spec["options"]:
        found = [n for n in [option["env"], *option.get("aliases", [])] if n in env]
        if found and len({env[n] for n in found}) > 1:
            both = " and ".join(quoted(n) for n in found)
            message = f"variables {both} both set {option['flag']} with different values; keep one"
            problems.append({"name": found[1], "message": message})
        if found:
            try:
                args = _option_args(spec, option, found[0], env[found[0]], script_name)
                argv.extend(args)
            except ValueError as err:
                bad_values.append(str(err))
                # Counted as if it were right, but a bad flag word or count puts nothing.
                word = option["kind"] == "flag" and option.get("action") != "boolean_optional"
                args = [] if word or option.get("action") == "count" else [option["flag"]]
            present[option["env"]] = bool(args)
        elif option["required"]:
            missing.append(
                f"{script_name} requires {option['flag']}: set the variable {quoted(option['env'])}"
            )
    for group in spec.get("groups", []):
        members = ", ".join(group["options"])
        on = [m for m in group["options"] if present.get(m)]
        if len(on) > 1:
            both = " and ".join(on)
            message = f"{script_name} accepts only one of {members}, but {both} are set; keep one"
        elif group["required"] and not on:
            message = f"{script_name} requires one of {members}; set one of these variables"
        else:
            continue
        problems.append({"message": message})
    return argv, bad_values, problems, missing


def build_argv(spec: Json, env: dict[str, str], script_name: str) -> list[str]:
    argv, bad_values, set_problems, missing = read_set(spec, env, script_name)
    problems = [p + " (containerOverrides.environment in the job file)" for p in missing]
    problems += bad_values + [p["message"] for p in set_problems]
    if problems:
        raise config_error(*problems)
    return argv


def is_plain_environment(name: str) -> bool:
    return not any(c.islower() for c in name) or name.lower() in PLAIN_LOWERCASE


def undeclared_problem(spec: Json, name: str, script_name: str) -> str:
    declared = ", ".join(o["env"] for o in spec["options"]) or "none"
    return f"{quoted(name)} is not an option of {script_name} (declared: {declared})"


class Rules:
    """`plain_env`: jobs:submit --plain-env."""

    def __init__(self, spec: Json, script: str, plain_env: Iterable[str] = ()) -> None:
        self.spec = spec
        self.label = script if "/" in script else f"container/job/{script}"
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
        if (near := self.near.get(name.lower().replace("-", "_"))) is not None:
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
        fix = "; fix the name or add the option to the script"
        return undeclared_problem(self.spec, name, self.label) + fix

    def value_problems(self, name: str, value: str, typed: str | None) -> list[str]:
        """`typed`: check_values' answer. The run's own check (_option_args) comes first: when it
        refuses the value, the script's types never see it."""
        option = self.options.get(name)
        if option is not None:
            try:
                _option_args(self.spec, option, name, value, self.label)
            except ValueError as err:
                typed = str(err)
        return [p for p in (value_problem(name, value, option), typed) if p]

    def answer(self, request: Json, checks: Json | None = None) -> Json:
        """`checks`: check_values' answer for the request's values, when the script's types ran."""
        pairs = [(str(n), str(v)) for n, v in request.get("values", [])]
        typed = checks["problems"] if checks else [None] * len(pairs)
        sets = [dict(pairs[i] for i in indexes) for indexes in request.get("sets", [])]
        return {
            "plainEnv": [
                f"--plain-env {n}: the entrypoint passes only names without lower-case letters "
                "to the script as environment (it reads the others as options); rename the variable"
                for n in self.plain_env
                if not is_plain_environment(n)
            ],
            "names": [self.name_problem(str(n)) for n in request.get("names", [])],
            "values": [self.value_problems(n, v, t) for (n, v), t in zip(pairs, typed)],
            "sets": [
                {"problems": problems, "missing": missing}
                for *_, problems, missing in (read_set(self.spec, env, self.label) for env in sets)
            ],
            "setNames": [array_set_problem(str(n)) for n in request.get("setNames", [])],
            "skipped": checks["skipped"] if checks else [],
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
    if "\0" in value:
        return (
            f'the value of "{name}" contains a NUL byte (at character {value.index(chr(0)) + 1}), '
            "which no environment variable or argument can hold; remove it"
        )
    shown = option["flag"] if option is not None else name
    size, name_size = (len(s.encode("utf-8", "surrogatepass")) for s in (value, name))
    # As name=value and as --flag=value, each with its NUL.
    if max(name_size, len(shown)) + 2 + size <= MAX_ARG_BYTES:
        return None
    return (
        f'the value of "{name}" is {size:,} bytes; Linux passes at most {MAX_ARG_BYTES - 1:,} '
        f'bytes per environment variable or argument ("{shown}=<value>" included): put the data '
        f"in a file under {PREFIXES['inputs']} and pass its key in {VARS.inputs}"
    )
