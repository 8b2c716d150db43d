#!/usr/bin/env python3
"""Entrypoint of the batchpy job image.

Maps the job's environment variables to the options an argparse script declares, runs the
script in a fresh working directory, streams its output to the container log and to a log
file, and stores the results and the log in S3 (or in a local folder).

Standard library only: the image installs no packages (no boto3), which keeps it small, so
S3 is reached through the small Signature Version 4 client below.

    python3 run_job.py [--script PATH]             run the job described by the environment
    python3 run_job.py --describe [--script PATH]  print the script's options as JSON

Exit codes: the script's own exit code (128+N when a signal N killed it), or
     2  the job's configuration is unusable; the script did not run
    66  an input or the array manifest could not be downloaded or saved; the script did not
        run
    70  internal error in run_job (a bug: the traceback is printed)
    74  the script succeeded but a result or its log could not be uploaded
Every failure of run_job itself prints a line starting with "run_job: error:".
"""

from __future__ import annotations

import argparse
import ast
import datetime
import hashlib
import hmac
import http.client
import itertools
import json
import mimetypes
import os
import random
import re
import runpy
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Protocol, Tuple

EXIT_CONFIG = 2
EXIT_INPUT = 66
EXIT_INTERNAL = 70
EXIT_UPLOAD = 74

FLAG_TRUE = ("true", "1", "yes")
FLAG_FALSE = ("false", "0", "no")
LIST_SEPARATOR = ","
DEFAULT_PREFIXES = {"inputs": "inputs/", "results": "results/", "logs": "logs/"}
DEFAULT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "script.py")
# AWS Batch job names: up to 128 letters, numbers, hyphens and underscores. The name keys
# results/<name>/ and logs/<name>.log, so anything else (a "/", "..") is refused.
JOB_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# argparse reads a list item that starts with "-" as an option unless it looks like a
# negative number (and the parser has no option that does); the same pattern argparse uses.
NEGATIVE_NUMBER_RE = re.compile(r"^-\d+$|^-\d*\.\d+$")
# Lower-case variables that are plain environment by long convention, not script options.
CONVENTIONAL_LOWERCASE = frozenset(
    ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "ftp_proxy")
)
DIGITS_RE = re.compile(r"^[0-9]+$")
PROBE_ARG = "--run-job-internal-probe"
PROBE_TIMEOUT_SECONDS = 300
# Modules of the script's folder read at most when looking for an argparse import.
MAX_HELPER_MODULES = 200
MAX_CHOICES_SHOWN = 100
MAX_COUNT = 1000
# S3 refuses a single PUT larger than 5 GiB; bigger files need multipart uploads.
MAX_PUT_BYTES = 5 * 1024**3
DEFAULT_S3_MAX_ATTEMPTS = 8
# The wait before retry n is random (full jitter) up to min(cap, base * 2**(n-1)). Throttling
# (503 SlowDown, 429) gets the long schedule: when many array children hit one prefix, they
# have to spread out over tens of seconds while S3 scales it. A dropped connection or a
# 500 is usually over at once, so it keeps the short one.
RETRY_BASE_SECONDS = 0.25
RETRY_CAP_SECONDS = 8.0
THROTTLE_BASE_SECONDS = 1.0
THROTTLE_CAP_SECONDS = 20.0
THROTTLE_STATUSES = frozenset((429, 503))
THROTTLE_CODES = frozenset(("SlowDown", "Throttling"))
HTTP_TIMEOUT_SECONDS = 60
CHUNK = 1024 * 1024
# ECS (and so AWS Batch, on EC2 and Fargate) serves a job role's credentials here.
ECS_CREDENTIALS_HOST = "http://169.254.170.2"
# Refresh role credentials this long before they expire (they last hours; jobs can too).
CREDENTIALS_REFRESH_SECONDS = 300
# After the script exits, output still in the pipe is copied for at most this long: a process
# the script left running keeps the pipe open, and must not hold up the uploads.
OUTPUT_DRAIN_SECONDS = 1.5
# Processes the script left running get SIGTERM, then SIGKILL this long after. With the drain
# this stays far inside the 30 s between AWS Batch's SIGTERM and its SIGKILL.
LEFTOVER_GRACE_SECONDS = 2.0
# How often the output loop checks whether the script has exited.
POLL_SECONDS = 0.2


# A script's description and its options: plain JSON data (what --describe prints).
Json = Dict[str, Any]


# --------------------------------------------------------------------------- errors


class JobError(Exception):
    """A failure of run_job itself; `code` is the exit code, each line of `problems` is
    printed as one "run_job: error:" line."""

    def __init__(self, code: int, problems: Iterable[str], detail: str = "") -> None:
        self.problems = list(problems)
        self.code = code
        self.detail = detail
        super().__init__("; ".join(self.problems))


def config_error(*problems: str, detail: str = "") -> JobError:
    return JobError(EXIT_CONFIG, problems, detail)


class StorageError(Exception):
    """An S3 or local-folder operation failed for good (after retries if transient).
    `status` is S3's HTTP status when S3 refused the request."""

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(Exception):
    """A failure worth retrying: 5xx, 429/SlowDown, a dropped connection, a timeout.
    `throttled` when S3 asked us to slow down (it gets the longer backoff)."""

    def __init__(self, message: str, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


def say(message: str) -> None:
    sys.stderr.write("run_job: " + message + "\n")
    sys.stderr.flush()


def quoted(value: str) -> str:
    """A value as it appears in messages: JSON-quoted, so newlines and spaces show."""
    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------- argparse


class _ParserCaptured(BaseException):
    """Raised from inside the script's parse_args(): stops the script before its body runs.
    A BaseException, so that a script's own `except Exception:` cannot swallow it."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__()
        self.parser = parser


# parse_args() stops the probe at once. The "known" variants stop it too, unless the parser is
# a pre-parser (see capture_parser).
_FINAL_PARSE_METHODS = ("parse_args", "parse_intermixed_args")
_KNOWN_PARSE_METHODS = ("parse_known_args", "parse_known_intermixed_args")


def _parse_tree(source: bytes) -> Optional[ast.AST]:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def uses_parent_parsers(source: bytes) -> bool:
    """Whether the source passes `parents=` to a call: it builds a parser from others."""
    tree = _parse_tree(source)
    return tree is not None and any(
        isinstance(node, ast.Call) and any(k.arg == "parents" for k in node.keywords)
        for node in ast.walk(tree)
    )


def is_pre_parser(parser: argparse.ArgumentParser, parents_used: bool) -> bool:
    """A parser read with parse_known_args() only to find a few options first (a config file,
    say) before the script builds its full parser with parents=[pre_parser]. It has no -h of
    its own (add_help=False), or -h would stop the script before the full parser's help."""
    return parents_used and not parser.add_help


def capture_parser(script_path: str) -> Optional[argparse.ArgumentParser]:
    """Runs the script as __main__ until it asks argparse to parse its options, and returns
    that parser; None if the script finished without parsing.

    parse_args() stops the script before it gets the options. So does parse_known_args(),
    except on a pre-parser (is_pre_parser): that one really parses (no arguments, so its
    defaults) and the script goes on to the parser that has all the options. The pre-parser
    is returned if the script ends without parsing again, or if it fails with no arguments.
    Runs the script's top level (its imports), so call it in a child process."""
    cls = argparse.ArgumentParser
    names = _FINAL_PARSE_METHODS + _KNOWN_PARSE_METHODS
    originals = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
    try:
        with open(script_path, "rb") as f:
            parents_used = uses_parent_parsers(f.read())
    except OSError:
        parents_used = False
    pre_parsers: List[argparse.ArgumentParser] = []

    def stop(self: argparse.ArgumentParser, *_args: object, **_kwargs: object) -> None:
        raise _ParserCaptured(self)

    def let_pre_parser_through(name: str) -> Callable[..., Any]:
        original = originals[name]

        def parse(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
            if not is_pre_parser(self, parents_used):
                raise _ParserCaptured(self)
            pre_parsers.append(self)
            try:
                return original(self, *args, **kwargs)
            except (SystemExit, argparse.ArgumentError):
                raise _ParserCaptured(self) from None  # e.g. it requires an option

        return parse

    saved_argv, saved_path = sys.argv, list(sys.path)
    try:
        for name in originals:
            patched = stop if name in _FINAL_PARSE_METHODS else let_pre_parser_through(name)
            setattr(cls, name, patched)
        sys.argv = [script_path]
        sys.path.insert(0, os.path.dirname(os.path.abspath(script_path)))
        runpy.run_path(script_path, run_name="__main__")
    except _ParserCaptured as captured:
        return captured.parser
    finally:
        for name, method in originals.items():
            setattr(cls, name, method)
        sys.argv = saved_argv
        sys.path[:] = saved_path
    return pre_parsers[-1] if pre_parsers else None


_ACTION_NAMES: List[Tuple[type, str]] = [
    # Most specific first: store_true is a store_const, extend is an append.
    (argparse._StoreTrueAction, "store_true"),
    (argparse._StoreFalseAction, "store_false"),
    (argparse._StoreConstAction, "store_const"),
    (argparse._AppendConstAction, "append_const"),
    (argparse._ExtendAction, "extend"),
    (argparse._AppendAction, "append"),
    (argparse._CountAction, "count"),
    (argparse.BooleanOptionalAction, "boolean_optional"),
    (argparse._StoreAction, "store"),
]


def _action_name(action: argparse.Action) -> str:
    for cls, name in _ACTION_NAMES:
        if isinstance(action, cls):
            return name
    return type(action).__name__


def _jsonable(value: object) -> object:
    if value is argparse.SUPPRESS or value is None:
        return None
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)  # JSON has no NaN or Infinity
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def dashdash_value_survives() -> bool:
    """Whether this Python's argparse keeps "--" as an attached value (--name=--). Older
    versions drop it (they strip "--" from every option's values), leaving []."""
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--value")
    try:
        return probe.parse_args(["--value=--"]).value == "--"
    except SystemExit:
        return False


def _is_long(flag: str, prefix_chars: str) -> bool:
    return len(flag) > 2 and flag[0] in prefix_chars and flag[1] in prefix_chars


def describe_parser(parser: argparse.ArgumentParser, script_name: str) -> Json:
    """The options of `parser` as plain data: what --describe prints and what the mapping
    reads. Raises JobError (exit 2) for parsers that environment variables cannot drive."""
    prefix_chars = parser.prefix_chars
    options: List[Json] = []
    problems: List[str] = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue  # never mapped: they print and exit
        if isinstance(action, argparse._SubParsersAction):
            problems.append(
                f"{script_name} uses subcommands (add_subparsers); run_job drives one parser "
                "from environment variables: make each subcommand its own script, or select "
                "it with an option (--mode)"
            )
            continue
        if not action.option_strings:
            problems.append(
                f"{script_name} declares the positional argument {quoted(action.dest)}; "
                "run_job maps environment variables to options only: declare it as "
                f"parser.add_argument('--{action.dest}', required=True)"
            )
            continue
        name = _action_name(action)
        flag = next(
            (s for s in action.option_strings if _is_long(s, prefix_chars)),
            action.option_strings[0],
        )
        nargs = action.nargs
        if nargs in (argparse.REMAINDER, argparse.PARSER, argparse.SUPPRESS):
            problems.append(
                f"{script_name} option {flag} has nargs={nargs!r}, which run_job cannot "
                "fill from one variable: use nargs='*' or '+' (items separated by "
                f"{quoted(LIST_SEPARATOR)})"
            )
            continue
        if name == "boolean_optional":
            kind = "flag"
        elif name == "count":
            kind = "value"
        elif nargs == 0:
            kind = "flag"
        elif name in ("append", "extend") and nargs is None:
            kind = "list"
        elif nargs is None or nargs == argparse.OPTIONAL:
            kind = "value"
        else:
            kind = "list"
        env = flag.lstrip(prefix_chars)
        choices = None
        if action.choices is not None:
            shown = list(itertools.islice(iter(action.choices), MAX_CHOICES_SHOWN + 1))
            choices = [str(c) for c in shown] if len(shown) <= MAX_CHOICES_SHOWN else None
        option: Json = {
            "env": env,
            "aliases": [action.dest] if action.dest != env else [],
            "flag": flag,
            "kind": kind,
            "required": bool(action.required),
            "action": name,
            "nargs": nargs if isinstance(nargs, int) or nargs is None else str(nargs),
            "choices": choices,
            "default": _jsonable(action.default),
            "help": action.help if action.help not in (None, argparse.SUPPRESS) else None,
        }
        if name == "boolean_optional":
            option["negative_flag"] = next(
                (s for s in action.option_strings if s != flag and s.startswith(flag[:2] + "no-")),
                action.option_strings[-1],
            )
        if kind == "list":
            option["separator"] = LIST_SEPARATOR
        options.append(option)
    if problems:
        raise config_error(*problems)
    _settle_env_names(options, script_name)
    groups = [
        {
            "required": bool(group.required),
            "options": [o["env"] for o in options if o["flag"] in _group_flags(group)],
        }
        for group in parser._mutually_exclusive_groups
    ]
    return {
        "options": options,
        "groups": groups,
        "prefix_chars": prefix_chars,
        "fromfile_prefix_chars": parser.fromfile_prefix_chars,
        "negative_numbers_are_options": bool(parser._has_negative_number_optionals),
        "dashdash_value_ok": dashdash_value_survives(),
    }


def _group_flags(group: argparse._MutuallyExclusiveGroup) -> List[str]:
    return [s for action in group._group_actions for s in action.option_strings]


def _settle_env_names(options: List[Json], script_name: str) -> None:
    """Each variable name must select one option: two options with the same name fail;
    an alias (the dest) that another option also claims is dropped."""
    primary: Dict[str, str] = {}
    for option in options:
        env, flag = str(option["env"]), str(option["flag"])
        if env in primary:
            raise config_error(
                f"{script_name} options {primary[env]} and {flag} both map to the variable "
                f"{quoted(env)}: give one of them a different long option name"
            )
        primary[env] = flag
    alias_count: Dict[str, int] = {}
    for option in options:
        for alias in option["aliases"]:
            alias_count[alias] = alias_count.get(alias, 0) + 1
    for option in options:
        option["aliases"] = [
            a
            for a in option["aliases"]
            if a not in primary and alias_count[a] == 1
        ]


# --------------------------------------------------------------------------- mapping


def parse_flag(name: str, value: str) -> bool:
    """true/1/yes -> True, false/0/no -> False (any case, surrounding blanks ignored)."""
    word = value.strip().lower()
    if word in FLAG_TRUE:
        return True
    if word in FLAG_FALSE:
        return False
    raise ValueError(
        f"variable {quoted(name)} = {quoted(value)} is not a flag value: use one of "
        f"{', '.join(FLAG_TRUE)} (option present) or {', '.join(FLAG_FALSE)} (option absent)"
    )


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


def _lookup(
    option: Json, env: Dict[str, str], problems: List[str]
) -> Tuple[Optional[str], Optional[str]]:
    names = [str(option["env"])] + [str(a) for a in option["aliases"]]
    found = [(n, env[n]) for n in names if n in env]
    if len({v for _, v in found}) > 1:
        problems.append(
            f"variables {' and '.join(quoted(n) for n, _ in found)} both set {option['flag']} "
            "with different values: keep one"
        )
    return found[0] if found else (None, None)


def build_argv(spec: Json, env: Dict[str, str], script_name: str) -> List[str]:
    """The script's command-line arguments for `env`, in declaration order. Each value is
    one argv element attached to its flag (`--name=value`) so values that begin with "-"
    are not read as options. Raises JobError (exit 2) listing every problem found."""
    prefix_chars = str(spec["prefix_chars"])
    fromfile = spec.get("fromfile_prefix_chars") or ""
    negatives_are_options = bool(spec.get("negative_numbers_are_options"))
    dashdash_ok = bool(spec.get("dashdash_value_ok", True))
    argv: List[str] = []
    problems: List[str] = []
    present: Dict[str, bool] = {}
    for option in spec["options"]:
        flag, kind, action = str(option["flag"]), option["kind"], option["action"]
        env_name = str(option["env"])
        name, value = _lookup(option, env, problems)
        if name is None or value is None:
            present[env_name] = False
            if option["required"]:
                problems.append(
                    f"{script_name} requires {flag}: set the variable {quoted(env_name)} "
                    "(containerOverrides.environment in the job file)"
                )
            continue
        present[env_name] = True
        try:
            if kind == "flag":
                on = parse_flag(name, value)
                if action == "boolean_optional":
                    argv.append(flag if on else str(option["negative_flag"]))
                elif on:
                    argv.append(flag)
                else:
                    present[env_name] = False
                    if option["required"]:
                        problems.append(
                            f"{script_name} requires {flag}, so {quoted(name)} cannot be "
                            f"{quoted(value)}: set it to true or remove the requirement"
                        )
            elif kind == "value" and action == "count":
                count = _parse_count(name, value)
                argv.extend([flag] * count)
                present[env_name] = count > 0
            elif kind == "value":
                _check_dashdash(name, [value], dashdash_ok)
                argv.append(f"{flag}={value}")
            else:
                items = split_list(name, value)
                _check_items(option, name, items, prefix_chars, fromfile, negatives_are_options)
                if option["nargs"] is None:
                    _check_dashdash(name, items, dashdash_ok)
                    argv.extend(f"{flag}={item}" for item in items)
                    present[env_name] = bool(items)
                else:
                    argv.append(flag)
                    argv.extend(items)
        except ValueError as err:
            problems.append(str(err))
    for group in spec.get("groups", []):
        members = group["options"]
        chosen = [m for m in members if present.get(m)]
        if len(chosen) > 1:
            problems.append(
                f"{script_name} accepts only one of {', '.join(members)}, but "
                f"{' and '.join(chosen)} are set: keep one"
            )
        elif group["required"] and not chosen:
            problems.append(
                f"{script_name} requires one of {', '.join(members)}: set one of these variables"
            )
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


def _parse_count(name: str, value: str) -> int:
    word = value.strip().lower()
    if word in FLAG_TRUE:
        return 1
    if word in FLAG_FALSE:
        return 0
    if DIGITS_RE.match(word) and int(word) <= MAX_COUNT:
        return int(word)
    raise ValueError(
        f"variable {quoted(name)} = {quoted(value)} must be a count from 0 to {MAX_COUNT} "
        "(how many times the option is repeated), or true/false"
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


def undeclared_names(spec: Json, env: Dict[str, str]) -> List[str]:
    """Variables that look like script options (they have a lower-case letter) but match
    none: likely typos, ignored with a warning. Upper-case names are plain environment."""
    known = set()
    for option in spec["options"]:
        known.add(option["env"])
        known.update(option["aliases"])
    return sorted(
        n
        for n in env
        if n not in known
        and any(c.islower() for c in n)
        and n.lower() not in CONVENTIONAL_LOWERCASE
    )


# --------------------------------------------------------------------------- probing


def imports_argparse(source: bytes) -> bool:
    """Whether the source has an `import argparse` or `from argparse import ...` anywhere.
    A syntax error counts as yes: the probe then reports it with Python's own message."""
    tree = _parse_tree(source)
    if tree is None:
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(alias.name.split(".")[0] == "argparse" for alias in node.names):
                return True
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").split(".")[0] == "argparse":
                return True
    return False


def _module_files(root: str, dotted: str) -> List[str]:
    """The files under `root` that importing `dotted` runs: each package's __init__.py on the
    way, then the module (a .py file or a package). Empty if it is not there."""
    files = []
    parts = [p for p in dotted.split(".") if p]
    for i in range(1, len(parts) + 1):
        base = os.path.join(root, *parts[:i])
        found = next(
            (f for f in (base + ".py", os.path.join(base, "__init__.py")) if os.path.isfile(f)),
            None,
        )
        if found is None:
            return files
        files.append(found)
    return files


def local_imports(path: str, source: bytes, script_dir: str) -> List[str]:
    """The files of the script's own folder that `path` imports: absolute imports resolve
    from the script's folder (sys.path[0] when it runs), relative ones from `path`'s
    package. Installed packages are not followed."""
    tree = _parse_tree(source)
    if tree is None:
        return []
    files: List[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                files.extend(_module_files(script_dir, alias.name))
        elif isinstance(node, ast.ImportFrom):
            root = script_dir
            if node.level:
                root = os.path.dirname(path)
                for _ in range(node.level - 1):
                    root = os.path.dirname(root)
            module = node.module or ""
            files.extend(_module_files(root, module))
            for alias in node.names:  # `from pkg import helper` may name a module
                files.extend(_module_files(root, f"{module}.{alias.name}"))
    return files


def may_use_argparse(script_path: str, source: bytes) -> bool:
    """Whether the script, or a module of its own folder that it imports (directly or through
    another such module), imports argparse: a parser built in a helper module counts."""
    script_dir = os.path.dirname(os.path.abspath(script_path))
    seen = {os.path.abspath(script_path)}
    pending = [(os.path.abspath(script_path), source)]
    while pending and len(seen) <= MAX_HELPER_MODULES:
        path, text = pending.pop()
        if imports_argparse(text):
            return True
        for module in local_imports(path, text, script_dir):
            module = os.path.abspath(module)
            if module in seen:
                continue
            seen.add(module)
            try:
                with open(module, "rb") as f:
                    pending.append((module, f.read()))
            except OSError:
                continue
    return False


def probe_script(script_path: str, env: Dict[str, str]) -> Json:
    """The script's option description, read by running its top level in a child process
    (its imports must not load into run_job) in a throwaway directory."""
    script_name = os.path.basename(script_path)
    try:
        with open(script_path, "rb") as f:
            source = f.read()
    except OSError as err:
        raise config_error(
            f"cannot read the script {script_path}: {err.strerror}; pass --script PATH"
        ) from None
    if not may_use_argparse(script_path, source):
        # No parser to introspect; running it to find out would run its whole body twice.
        return {"options": [], "groups": [], "prefix_chars": "-", "parser": False}
    with tempfile.TemporaryDirectory(prefix="batchpy-probe-") as tmp:
        out_path = os.path.join(tmp, "probe.json")
        cwd = os.path.join(tmp, "cwd")
        os.mkdir(cwd)
        try:
            proc = subprocess.run(
                [sys.executable, os.path.abspath(__file__), PROBE_ARG, script_path, out_path],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=PROBE_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            raise config_error(
                f"{script_name} did not reach parse_args() within {PROBE_TIMEOUT_SECONDS} s "
                "of starting: move slow work below the parse_args() call"
            ) from None
        output = proc.stdout.decode("utf-8", "replace")
        if not os.path.exists(out_path):
            last = next((l for l in reversed(output.splitlines()) if l.strip()), "no output")
            raise config_error(
                f"{script_name} stopped (exit {proc.returncode}) before it parsed its "
                f"options: {last.strip()}",
                detail=output,
            )
        with open(out_path, encoding="utf-8") as f:
            result = json.load(f)
    if "error" in result:
        raise config_error(*result["error"])
    if not result["parser"]:
        raise config_error(
            f"{script_name} imports argparse but ran to the end without calling "
            "ArgumentParser.parse_args(), so run_job cannot tell its options: call "
            "parse_args() before the work starts"
        )
    return result


def _probe_main(args: List[str]) -> int:
    """Child process: capture the script's parser, write its description to a file."""
    script_path, out_path = args
    result: Json
    parser = capture_parser(script_path)
    if parser is None:
        result = {"parser": False}
    else:
        try:
            result = describe_parser(parser, os.path.basename(script_path))
            result["parser"] = True
        except JobError as err:
            result = {"error": err.problems}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


# --------------------------------------------------------------------------- configuration


class JobConfig(NamedTuple):
    job_name: str
    array_index: Optional[int]
    inputs: List[str]
    output_dir: Optional[str]
    manifest_key: Optional[str]
    prefixes: Dict[str, str]

    def results_prefix(self) -> str:
        base = f"{self.prefixes['results']}{self.job_name}/"
        return base if self.array_index is None else f"{base}{self.array_index}/"

    def log_key(self) -> str:
        if self.array_index is None:
            return f"{self.prefixes['logs']}{self.job_name}.log"
        return f"{self.prefixes['logs']}{self.job_name}/{self.array_index}.log"


def _safe_relative(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def read_config(env: Dict[str, str]) -> JobConfig:
    """Everything run_job reads from the environment, checked before any side effect."""
    problems: List[str] = []
    index: Optional[int] = None
    raw_index = env.get("AWS_BATCH_JOB_ARRAY_INDEX")
    if raw_index is not None:
        if DIGITS_RE.match(raw_index):
            index = int(raw_index)
        else:
            problems.append(f"AWS_BATCH_JOB_ARRAY_INDEX = {quoted(raw_index)} is not an index")
    job_name = env.get("BATCHPY_JOB_NAME")
    if not job_name:
        job_id = env.get("AWS_BATCH_JOB_ID", "")
        # An array child's id is "<parent id>:<index>"; its files go under the parent's.
        job_name = job_id.split(":")[0] if job_id else "local"
    if not JOB_NAME_RE.match(job_name):
        problems.append(
            f"BATCHPY_JOB_NAME = {quoted(job_name)} is not a job name: use 1 to 128 letters, "
            "digits, '-' or '_' (it names results/<name>/ and logs/<name>.log)"
        )
    prefixes = {}
    for area, default in DEFAULT_PREFIXES.items():
        var = f"BATCHPY_{area.upper()}_PREFIX"
        value = env.get(var, default)
        if value and not value.endswith("/"):
            value += "/"
        if value and not _safe_relative(value[:-1]):
            problems.append(f"{var} = {quoted(value)} must be a key prefix such as {default!r}")
        prefixes[area] = value
    inputs = []
    for item in env.get("BATCHPY_INPUTS", "").split(","):
        item = item.strip()
        if not item:
            continue
        if not _safe_relative(item[:-1] if item.endswith("/") else item):
            problems.append(
                f"BATCHPY_INPUTS has {quoted(item)}: each item is a key under "
                f"{prefixes['inputs']} such as data.csv or models/ (no '..', no leading '/')"
            )
            continue
        inputs.append(item)
    output_dir = env.get("BATCHPY_OUTPUT_DIR") or None
    if output_dir is not None:
        norm = os.path.normpath(output_dir)
        if os.path.isabs(output_dir) or norm == ".." or norm.startswith("../"):
            problems.append(
                f"BATCHPY_OUTPUT_DIR = {quoted(output_dir)} must be a folder inside the "
                "working directory, such as out (or . for every file)"
            )
        output_dir = norm
    manifest_key = env.get("BATCHPY_ARRAY_MANIFEST") or None
    if manifest_key is not None:
        if not _safe_relative(manifest_key):
            problems.append(
                f"BATCHPY_ARRAY_MANIFEST = {quoted(manifest_key)} must be an object key such "
                "as inputs/sweeps/<job>.json"
            )
        if index is None and raw_index is None:
            problems.append(
                "BATCHPY_ARRAY_MANIFEST is set but AWS_BATCH_JOB_ARRAY_INDEX is not: submit "
                "the job as an array job (arrayProperties.size = number of sets)"
            )
    if problems:
        raise config_error(*problems)
    return JobConfig(job_name, index, inputs, output_dir, manifest_key, prefixes)


def select_array_set(text: str, index: int, source: str) -> Dict[str, str]:
    """The variables of sets[index] in an array manifest {"version":1,"sets":[{...}]}."""
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as err:
        raise config_error(f"{source} is not JSON: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("version") != 1:
        raise config_error(f'{source} must be an object with "version": 1 and "sets"')
    sets = manifest.get("sets")
    if not isinstance(sets, list):
        raise config_error(f'{source} must have "sets": a list of objects')
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
        if not isinstance(value, str):
            problems.append(
                f"{source} sets[{index}].{key} must be a string (got {json.dumps(value)}): "
                f"write {json.dumps(str(value))}"
            )
        if key.startswith("BATCHPY_"):
            problems.append(
                f"{source} sets[{index}] sets {key}: run_job reads its own settings from the "
                "job's environment before the set applies; move it to the job"
            )
        elif key.startswith("AWS_BATCH") or not key or "=" in key or "\0" in key:
            problems.append(
                f"{source} sets[{index}] has the variable name {quoted(key)}, which a job "
                "cannot set"
            )
    if problems:
        raise config_error(*problems)
    return chosen


# --------------------------------------------------------------------------- storage


class Credentials(NamedTuple):
    access_key: str
    secret_key: str
    token: Optional[str]
    expires_at: Optional[float]


def _http_get_json(url: str, headers: Dict[str, str], timeout: float) -> Json:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        path = parts.path or "/"
        conn.request("GET", path + (f"?{parts.query}" if parts.query else ""), headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise TransientError(f"HTTP {resp.status} {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()


class CredentialProvider:
    """AWS credentials as the SDKs find them for a container: static keys from the
    environment, else the ECS container credentials endpoint that AWS Batch gives a job
    role (on EC2 and on Fargate). Role credentials are refreshed before they expire."""

    def __init__(
        self,
        env: Dict[str, str],
        fetch: Callable[[str, Dict[str, str], float], Json] = _http_get_json,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.env = env
        self.fetch = fetch
        self.sleep = sleep
        self.cached: Optional[Credentials] = None

    def get(self, refresh: bool = False) -> Credentials:
        cached = self.cached
        if cached is not None and not refresh:
            left = None if cached.expires_at is None else cached.expires_at - time.time()
            if left is None or left > CREDENTIALS_REFRESH_SECONDS:
                return cached
        self.cached = self._resolve()
        return self.cached

    def _resolve(self) -> Credentials:
        env = self.env
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            return Credentials(
                env["AWS_ACCESS_KEY_ID"],
                env["AWS_SECRET_ACCESS_KEY"],
                env.get("AWS_SESSION_TOKEN") or None,
                None,
            )
        headers: Dict[str, str] = {}
        if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
            url = ECS_CREDENTIALS_HOST + env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
        elif env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
            url = env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
            token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
            token_file = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
            if token_file:
                try:
                    with open(token_file, encoding="utf-8") as f:
                        token = f.read().strip()
                except OSError as err:
                    raise config_error(
                        f"cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {token_file}: "
                        f"{err.strerror}"
                    ) from None
            if token:
                headers["Authorization"] = token
        else:
            raise config_error(
                "no AWS credentials: give the job definition a job role (AWS Batch then sets "
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or set BATCHPY_LOCAL_ROOT to use a local folder"
            )
        last = ""
        for attempt in range(3):
            try:
                data = self.fetch(url, headers, 5.0)
                expires_at = None
                if isinstance(data.get("Expiration"), str):
                    stamp = str(data["Expiration"]).replace("Z", "+00:00")
                    expires_at = datetime.datetime.fromisoformat(stamp).timestamp()
                return Credentials(
                    str(data["AccessKeyId"]),
                    str(data["SecretAccessKey"]),
                    str(data["Token"]) if data.get("Token") else None,
                    expires_at,
                )
            except (OSError, http.client.HTTPException, TransientError, ValueError, KeyError) as e:
                last = f"{type(e).__name__}: {e}"
                self.sleep(0.2 * 2**attempt)
        raise StorageError(f"could not get the job role's credentials from {url} ({last})")


def _uri_encode(value: str, safe: str = "") -> str:
    # SigV4 encodes everything but A-Z a-z 0-9 - _ . ~ (quote keeps exactly those, plus safe).
    return urllib.parse.quote(value, safe=safe)


def sign_v4(
    method: str,
    path: str,
    query: List[Tuple[str, str]],
    headers: Dict[str, str],
    payload_hash: str,
    creds: Credentials,
    region: str,
    amz_date: str,
    service: str = "s3",
) -> str:
    """The Authorization header of an AWS Signature Version 4 request. `path` is already
    URI-encoded; every header in `headers` (host included) is signed."""
    # Sorted by encoded name, then value, as the canonical request requires.
    canonical_query = "&".join(
        f"{k}={v}" for k, v in sorted((_uri_encode(k), _uri_encode(v)) for k, v in query)
    )
    lowered = {k.lower(): " ".join(str(v).strip().split()) for k, v in headers.items()}
    signed = ";".join(sorted(lowered))
    canonical_headers = "".join(f"{k}:{lowered[k]}\n" for k in sorted(lowered))
    canonical = "\n".join(
        [method, path, canonical_query, canonical_headers, signed, payload_hash]
    )
    day = amz_date[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + creds.secret_key).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )


EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
RETRYABLE_CODES = frozenset(
    ("SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling",
     "ExpiredToken", "TokenRefreshRequired")
)


def retry_cap(attempt: int, throttled: bool) -> float:
    """The longest wait before retrying after failed attempt number `attempt` (from 1)."""
    if throttled:
        return min(THROTTLE_CAP_SECONDS, THROTTLE_BASE_SECONDS * 2 ** (attempt - 1))
    return min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempt - 1))


def retry_schedule(max_attempts: int, throttled: bool) -> List[float]:
    """The longest wait before each retry when every attempt of a request fails."""
    return [retry_cap(attempt, throttled) for attempt in range(1, max_attempts)]


def _s3_error(body: bytes) -> Tuple[str, str]:
    try:
        root = ET.fromstring(body)
        return (root.findtext("Code") or "", root.findtext("Message") or "")
    except ET.ParseError:
        return ("", body[:200].decode("utf-8", "replace"))


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class S3Store:
    """GetObject, PutObject and ListObjectsV2 over plain HTTP(S), SigV4-signed, retried on
    transient failures with capped exponential backoff and full jitter."""

    def __init__(
        self,
        bucket: str,
        region: str,
        endpoint: Optional[str],
        credentials: CredentialProvider,
        max_attempts: int = DEFAULT_S3_MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bucket = bucket
        self.region = region
        self.credentials = credentials
        self.max_attempts = max_attempts
        self.sleep = sleep
        if endpoint:
            # A custom endpoint (LocalStack, MinIO, a test server) rarely resolves
            # <bucket>.<host>, so address the bucket in the path.
            parts = urllib.parse.urlsplit(endpoint)
            self.scheme = parts.scheme or "https"
            self.host = parts.netloc
            self.base_path = parts.path.rstrip("/") + "/" + _uri_encode(bucket)
        else:
            suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
            self.scheme = "https"
            if "." in bucket:
                # Dotted names break the TLS wildcard certificate of virtual hosts.
                self.host = f"s3.{region}.{suffix}"
                self.base_path = "/" + bucket
            else:
                self.host = f"{bucket}.s3.{region}.{suffix}"
                self.base_path = ""

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def check_credentials(self) -> None:
        self.credentials.get()

    # -- requests

    def _once(
        self,
        method: str,
        key: str,
        query: List[Tuple[str, str]],
        upload: Optional[Tuple[str, str, int, str]] = None,
        download: Optional[str] = None,
        refresh: bool = False,
    ) -> bytes:
        creds = self.credentials.get(refresh=refresh)
        path = self.base_path + "/" + _uri_encode(key, safe="/") if key else self.base_path or "/"
        amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        payload_hash = upload[1] if upload else EMPTY_SHA256
        headers = {"host": self.host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
        if creds.token:
            headers["x-amz-security-token"] = creds.token
        if upload:
            headers["content-type"] = upload[3]
        headers["authorization"] = sign_v4(
            method, path, query, headers, payload_hash, creds, self.region, amz_date
        )
        target = path + (
            "?" + "&".join(f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in query) if query else ""
        )
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        conn = cls(self.host, timeout=HTTP_TIMEOUT_SECONDS)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            if upload:
                conn.putheader("content-length", str(upload[2]))
            conn.endheaders()
            if upload:
                with open(upload[0], "rb") as f:
                    for block in iter(lambda: f.read(CHUNK), b""):
                        conn.send(block)
            resp = conn.getresponse()
            if resp.status >= 300:
                code, message = _s3_error(resp.read(65536))
                detail = f"HTTP {resp.status} {code or resp.reason}: {message}".rstrip(": ")
                throttled = resp.status in THROTTLE_STATUSES or code in THROTTLE_CODES
                if resp.status >= 500 or throttled or code in RETRYABLE_CODES:
                    raise TransientError(detail, throttled)
                raise StorageError(detail + _hint(resp.status, code, method), resp.status)
            if download is None:
                return resp.read()
            expected = resp.getheader("content-length")
            received = 0
            with open(download, "wb") as out:
                for block in iter(lambda: resp.read(CHUNK), b""):
                    out.write(block)
                    received += len(block)
            if expected is not None and int(expected) != received:
                raise TransientError(f"connection closed after {received} of {expected} bytes")
            return b""
        except (OSError, http.client.HTTPException) as err:
            raise TransientError(f"{type(err).__name__}: {err}") from None
        finally:
            conn.close()

    def _request(
        self,
        method: str,
        key: str,
        query: List[Tuple[str, str]],
        upload: Optional[Tuple[str, str, int, str]] = None,
        download: Optional[str] = None,
    ) -> bytes:
        what = f"LIST {self.url(dict(query)['prefix'])}" if query else f"{method} {self.url(key)}"
        refresh = False
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._once(method, key, query, upload, download, refresh)
            except TransientError as err:
                if attempt == self.max_attempts:
                    raise StorageError(f"{err} (gave up after {attempt} attempts)") from None
                # Role credentials can expire mid-job; fetch new ones before the retry.
                refresh = "ExpiredToken" in str(err) or "TokenRefreshRequired" in str(err)
                delay = random.uniform(0, retry_cap(attempt, err.throttled))
                say(
                    f"{what}: {err}; retrying in {delay:.2f} s "
                    f"(attempt {attempt + 1} of {self.max_attempts})"
                )
                self.sleep(delay)
        raise AssertionError("unreachable")

    def get(self, key: str, dest: str) -> None:
        part = dest + ".part"
        try:
            self._request("GET", key, [], download=part)
        except StorageError:
            if os.path.exists(part):
                os.remove(part)
            raise
        os.replace(part, dest)

    def put(self, src: str, key: str, content_type: str) -> None:
        size = os.path.getsize(src)
        if size > MAX_PUT_BYTES:
            raise StorageError(
                f"{src} is {size} bytes, over the 5 GiB limit of one S3 PUT: split it"
            )
        digest = _file_sha256(src)
        self._request("PUT", key, [], upload=(src, digest, size, content_type))

    def list(self, prefix: str) -> List[str]:
        keys: List[str] = []
        token: Optional[str] = None
        while True:  # ListObjectsV2 returns at most 1000 keys a page
            query = [("list-type", "2")]
            if token:
                query.append(("continuation-token", token))
            query.append(("prefix", prefix))
            body = self._request("GET", "", query)
            try:
                root = ET.fromstring(body)
            except ET.ParseError as err:
                raise StorageError(f"LIST {self.url(prefix)} returned no XML ({err})") from None
            # "{*}" matches the S3 namespace and no namespace alike.
            keys.extend(k.text or "" for k in root.iterfind("{*}Contents/{*}Key"))
            truncated = root.findtext("{*}IsTruncated") or ""
            token = root.findtext("{*}NextContinuationToken")
            if truncated.lower() != "true" or not token:
                return keys


def _hint(status: int, code: str, method: str) -> str:
    if code == "NoSuchKey" or (status == 404 and method == "GET" and code != "NoSuchBucket"):
        return " (no such object: upload it first, or fix the key)"
    if code == "NoSuchBucket":
        return " (no such bucket: check BATCHPY_BUCKET)"
    if status == 403:
        action = "s3:PutObject" if method == "PUT" else "s3:GetObject/s3:ListBucket"
        return f" (check that the job role allows {action} on this key)"
    if status == 301 or code in ("PermanentRedirect", "AuthorizationHeaderMalformed"):
        return " (the bucket is in another region: set AWS_REGION to the bucket's region)"
    return ""


class LocalStore:
    """A folder laid out like the bucket (inputs/, results/, logs/), for local runs."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def url(self, key: str) -> str:
        return self.path(key)

    def check_credentials(self) -> None:
        return None

    def get(self, key: str, dest: str) -> None:
        src = self.path(key)
        if not os.path.isfile(src):
            raise StorageError(f"no file {src}: put it there first, or fix the key")
        try:
            shutil.copyfile(src, dest)
        except OSError as err:
            raise StorageError(f"cannot copy {src}: {err}") from None

    def put(self, src: str, key: str, content_type: str) -> None:
        dest = self.path(key)
        part = dest + ".part"
        try:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(src, part)
            os.replace(part, dest)
        except OSError as err:
            raise StorageError(f"cannot write {dest}: {err}") from None

    def list(self, prefix: str) -> List[str]:
        base = self.path(prefix.rstrip("/"))
        keys = []
        for folder, _dirs, files in os.walk(base):
            for name in files:
                rel = os.path.relpath(os.path.join(folder, name), self.root)
                keys.append(rel.replace(os.sep, "/"))
        return sorted(keys)


class Store(Protocol):
    """What run_job needs of a bucket; S3Store and LocalStore provide it."""

    def url(self, key: str) -> str: ...

    def check_credentials(self) -> None: ...

    def get(self, key: str, dest: str) -> None: ...

    def put(self, src: str, key: str, content_type: str) -> None: ...

    def list(self, prefix: str) -> List[str]: ...


def make_store(env: Dict[str, str]) -> Store:
    local_root = env.get("BATCHPY_LOCAL_ROOT")
    if local_root:
        return LocalStore(local_root)
    problems = []
    bucket = env.get("BATCHPY_BUCKET", "")
    if not bucket:
        problems.append(
            "BATCHPY_BUCKET is not set: the job definition sets it to the stack's bucket; "
            "to run locally set BATCHPY_LOCAL_ROOT=<folder> instead"
        )
    elif not BUCKET_RE.match(bucket):
        problems.append(f"BATCHPY_BUCKET = {quoted(bucket)} is not an S3 bucket name")
    endpoint = None
    if env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
    if endpoint and urllib.parse.urlsplit(endpoint).scheme not in ("http", "https"):
        problems.append(f"the S3 endpoint {quoted(endpoint)} must start with http:// or https://")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    if not region:
        if endpoint:
            region = "us-east-1"  # what S3-compatible servers expect when none is given
        else:
            problems.append(
                "AWS_REGION is not set: the job definition sets it to the stack's region"
            )
    attempts = env.get("BATCHPY_S3_MAX_ATTEMPTS", str(DEFAULT_S3_MAX_ATTEMPTS))
    if not DIGITS_RE.match(attempts) or not 1 <= int(attempts) <= 20:
        problems.append(f"BATCHPY_S3_MAX_ATTEMPTS = {quoted(attempts)} must be from 1 to 20")
        attempts = str(DEFAULT_S3_MAX_ATTEMPTS)
    if problems:
        raise config_error(*problems)
    return S3Store(bucket, region, endpoint, CredentialProvider(env), int(attempts))


# --------------------------------------------------------------------------- running


Snapshot = Dict[str, Tuple[int, int]]


def is_utf8_name(rel: str) -> bool:
    """Whether a file name (as os.walk gives it) is valid UTF-8, as S3 keys must be. Python
    keeps the bytes of other names as lone surrogates, which cannot be encoded."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_name(rel: str) -> str:
    """A file name for messages, its non-UTF-8 bytes written as \\xNN."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def snapshot(folder: str, skipped: Optional[List[str]] = None) -> Snapshot:
    """Every regular file under `folder` (relative, "/"-separated) with size and mtime.
    Names that are not valid UTF-8 cannot be S3 keys: they are left out and added to
    `skipped`."""
    found: Snapshot = {}
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in files:
            full = os.path.join(current, name)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            if not is_utf8_name(rel):
                if skipped is not None:
                    skipped.append(rel)
                continue
            st = os.stat(full)
            found[rel] = (st.st_size, st.st_mtime_ns)
    return found


def changed_files(before: Snapshot, after: Snapshot) -> List[str]:
    """Files created or changed between two snapshots (deleted ones are not results)."""
    return sorted(p for p, stat in after.items() if before.get(p) != stat)


class _Tee:
    """Writes the script's output to the log file and, while anyone reads it, to our stdout
    (the container log)."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self.out = sys.stdout.buffer
        self.console_ok = True

    def write(self, block: bytes) -> None:
        self.log.write(block)
        self.log.flush()
        if self.console_ok:
            try:
                self.out.write(block)
                self.out.flush()
            except (BrokenPipeError, ValueError):
                self.console_ok = False  # nobody reads our stdout; the file still gets it


def _tee_until_exit(proc: "subprocess.Popen[bytes]", fd: int, tee: _Tee) -> None:
    """Copies the script's output until the pipe closes, or at most OUTPUT_DRAIN_SECONDS
    after the script exited: a process it started and left running holds the pipe open,
    possibly for ever, and must not keep the job (and its uploads) waiting."""
    drain_until: Optional[float] = None
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            if drain_until is None and proc.poll() is not None:
                drain_until = time.monotonic() + OUTPUT_DRAIN_SECONDS
            wait = POLL_SECONDS if drain_until is None else drain_until - time.monotonic()
            if wait <= 0:
                return
            if selector.select(wait):
                block = os.read(fd, 65536)
                if not block:
                    return
                tee.write(block)


def signal_group(pgid: int, signum: int) -> bool:
    """Sends `signum` to every process of a process group (0 only checks); False when the
    group has no process left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # its processes exist, we may just not signal them
    return True


def _reap_orphans() -> None:
    """In the container run_job is PID 1, so the script's orphaned processes become our
    children: collect those that ended, or they stay zombies, which still count as members
    of their process group. Elsewhere the system's init does this."""
    if os.getpid() != 1:
        return
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _running_in_proc(pgid: int) -> Optional[bool]:
    """Whether /proc lists a process of the group that is not a zombie; None without /proc."""
    try:
        pids = [d for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it ended while we looked
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return True
    return False


def group_running(pgid: int) -> bool:
    """Whether a process of the group is still running. A zombie (ended, its status not yet
    collected by its parent) is still a member but holds no pipe and does nothing; outside
    the container the system's init collects it, sometimes late."""
    _reap_orphans()
    if not signal_group(pgid, 0):
        return False
    in_proc = _running_in_proc(pgid)
    return True if in_proc is None else in_proc


def _wait_group_gone(pgid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if not group_running(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def stop_leftovers(pgid: int, script_name: str, grace: float = LEFTOVER_GRACE_SECONDS) -> None:
    """Ends the processes the script started and left running (its process group): SIGTERM,
    then SIGKILL `grace` seconds later. They would otherwise outlive the job's uploads, and
    after a TerminateJob the SIGKILL of AWS Batch would come before the log is stored."""
    if _wait_group_gone(pgid, 0):
        return
    say(
        f"warning: {script_name} exited but left processes running; stopping them (SIGTERM, "
        f"then SIGKILL after {grace:g} s). To keep them, wait for them before the script exits"
    )
    signal_group(pgid, signal.SIGTERM)
    if _wait_group_gone(pgid, grace):
        return
    signal_group(pgid, signal.SIGKILL)
    if not _wait_group_gone(pgid, 1.0):
        say(f"warning: processes of process group {pgid} are still there after SIGKILL")


def run_script(
    script_path: str, argv: List[str], workdir: str, env: Dict[str, str], log_path: str
) -> int:
    """Runs the script, copying its stdout and stderr (merged, in order) to our stdout (the
    container log) and to `log_path` as they arrive. Returns its exit code, 128+N for a
    signal N, like a shell. Processes it leaves running are stopped before this returns."""
    script_name = os.path.basename(script_path)
    child_env = dict(env)
    # Unbuffered, so a crash loses no output and the two streams interleave as written.
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    # A session (so a process group) of its own: a signal reaches the script and everything
    # it started, and what it leaves behind can be stopped as one group. A terminal's Ctrl-C
    # then reaches the script once, through us, instead of twice.
    proc = subprocess.Popen(
        [sys.executable, script_path, *argv],
        cwd=workdir,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    # As PID 1 in the container we must pass on the SIGTERM that `docker stop` (AWS Batch
    # TerminateJob, a Spot reclaim) sends, or the script never sees it; we keep running
    # so the log is still uploaded before the SIGKILL that follows 30 s later.
    def forward(signum: int, _frame: object) -> None:
        signal_group(proc.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    assert proc.stdout is not None
    try:
        with open(log_path, "wb") as log:
            _tee_until_exit(proc, proc.stdout.fileno(), _Tee(log))
        code = proc.wait()
        stop_leftovers(proc.pid, script_name)
    finally:
        if proc.poll() is None:  # we failed while it ran: do not leave it behind
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - code if code < 0 else code


def _absent_input(store: Store, key: str) -> bool:
    """Whether listing `key` as a prefix shows that no such object exists. The job role may
    list only under inputs/, and without s3:ListBucket on the whole bucket S3 answers a GET
    of a missing key with 403, not 404, which reads as a permission problem."""
    try:
        return key not in store.list(key)
    except StorageError:
        return False  # cannot tell: keep the permission hint


def fetch_input(store: Store, key: str, dest: str, inputs_prefix: str) -> None:
    """Downloads one object under the inputs prefix, saying "no such object" for a missing
    key where S3 says 403."""
    try:
        store.get(key, dest)
    except StorageError as err:
        if err.status == 403 and key.startswith(inputs_prefix) and _absent_input(store, key):
            raise StorageError(
                f"no such object {key} (S3 answers 403 for a missing key when the job role "
                "may not list the whole bucket): upload it first, or check the key",
                404,
            ) from None
        raise


def _save_error(store: Store, key: str, rel: str, err: OSError) -> StorageError:
    reason = err.strerror or str(err)
    if isinstance(err, (FileExistsError, NotADirectoryError, IsADirectoryError)):
        reason += (
            ": another input key uses this name as a folder, or this key's folder as a file "
            "name; rename one of them"
        )
    return StorageError(
        f"could not save input {store.url(key)} as {quoted(rel)} in the working directory: "
        f"{reason}"
    )


def _download_inputs(store: Store, config: JobConfig, workdir: str) -> List[str]:
    prefix = config.prefixes["inputs"]
    fetched = []
    for item in config.inputs:
        keys = [prefix + item]
        if item.endswith("/"):
            keys = [k for k in store.list(prefix + item) if not k.endswith("/")]
            if not keys:
                raise StorageError(
                    f"BATCHPY_INPUTS has {quoted(item)} but there are no objects under "
                    f"{store.url(prefix + item)}: upload them first, or fix the name"
                )
        for key in keys:
            rel = key[len(prefix):]
            if not _safe_relative(rel):
                raise StorageError(
                    f"input key {quoted(key)} cannot be a file name in the working directory"
                )
            dest = os.path.join(workdir, *rel.split("/"))
            try:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                fetch_input(store, key, dest, prefix)
            except StorageError as err:
                raise StorageError(f"could not download input {store.url(key)}: {err}") from None
            except OSError as err:
                raise _save_error(store, key, rel, err) from None
            fetched.append(rel)
    return fetched


def _result_files(config: JobConfig, workdir: str, before: Snapshot) -> Tuple[str, List[str]]:
    """(folder, files relative to it) to upload as results."""
    skipped: List[str] = []
    if config.output_dir is not None:
        folder = os.path.join(workdir, config.output_dir)
        if not os.path.isdir(folder):
            say(
                f"warning: BATCHPY_OUTPUT_DIR {quoted(config.output_dir)} does not exist "
                "after the script ran; no results uploaded"
            )
            return folder, []
        files = sorted(snapshot(folder, skipped))
    else:
        folder = workdir
        files = changed_files(before, snapshot(workdir, skipped))
    for rel in skipped:
        say(
            f'warning: result file "{shown_name(rel)}" not uploaded: its name is not '
            "valid UTF-8, which S3 keys must be; have the script write UTF-8 file names"
        )
    return folder, files


def _content_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def _failure(err: Exception) -> str:
    """Why an upload failed: our own messages as they are, anything else with its type."""
    return str(err) if isinstance(err, StorageError) else f"{type(err).__name__}: {err}"


def upload_results(store: Store, config: JobConfig, workdir: str, before: Snapshot) -> bool:
    """Uploads the result files, each on its own: one that fails is reported and the others
    still go. False if any failed."""
    folder, files = _result_files(config, workdir, before)
    failed = 0
    for rel in files:
        key = config.results_prefix() + rel
        try:
            store.put(os.path.join(folder, *rel.split("/")), key, _content_type(rel))
        except (StorageError, ValueError, OSError) as err:
            say(f"error: could not upload result {rel} to {store.url(key)}: {_failure(err)}")
            failed += 1
    results_url = store.url(config.results_prefix())
    if not files:
        where = f" in {config.output_dir}" if config.output_dir else ""
        say(f"no result files (the script created or changed no file{where})")
    elif failed:
        say(f"uploaded {len(files) - failed} of {len(files)} result file(s) to {results_url}")
    else:
        say(f"uploaded {len(files)} result file(s) to {results_url}")
    return failed == 0


def upload_log(store: Store, config: JobConfig, log_path: str) -> bool:
    log_url = store.url(config.log_key())
    try:
        store.put(log_path, config.log_key(), "text/plain; charset=utf-8")
    except (StorageError, ValueError, OSError) as err:
        say(f"error: could not upload the log to {log_url}: {_failure(err)}")
        return False
    say(f"log uploaded to {log_url}")
    return True


def _read_manifest(store: Store, config: JobConfig) -> str:
    assert config.manifest_key is not None
    with tempfile.TemporaryDirectory(prefix="batchpy-manifest-") as tmp:
        local = os.path.join(tmp, "manifest.json")
        try:
            fetch_input(store, config.manifest_key, local, config.prefixes["inputs"])
        except StorageError as err:
            where = store.url(config.manifest_key)
            raise JobError(
                EXIT_INPUT, [f"could not download the array manifest {where}: {err}"]
            ) from None
        with open(local, encoding="utf-8") as f:
            return f.read()


def run_job(script_path: str, env: Dict[str, str]) -> int:
    env = dict(env)
    script_name = os.path.basename(script_path)
    config = read_config(env)
    store = make_store(env)
    spec = probe_script(script_path, env)
    try:
        store.check_credentials()
    except StorageError as err:
        raise config_error(str(err)) from None
    job_env = dict(env)
    if config.manifest_key is not None:
        index = config.array_index if config.array_index is not None else 0
        text = _read_manifest(store, config)
        chosen = select_array_set(text, index, store.url(config.manifest_key))
        job_env.update(chosen)
        say(f"array child {index}: {json.dumps(chosen, ensure_ascii=False)}")
    argv = build_argv(spec, job_env, script_name)
    declared = ", ".join(str(o["env"]) for o in spec["options"]) or "none"
    for name in undeclared_names(spec, job_env):
        say(
            f"warning: variable {quoted(name)} is not an option of {script_name} "
            f"(options: {declared}); ignored"
        )

    base = tempfile.mkdtemp(prefix="batchpy-job-")
    try:
        workdir = os.path.join(base, "work")
        os.mkdir(workdir)
        log_path = os.path.join(base, "job.log")
        try:
            fetched = _download_inputs(store, config, workdir)
        except StorageError as err:
            raise JobError(EXIT_INPUT, [str(err)]) from None
        if fetched:
            say(f"downloaded {len(fetched)} input file(s): {', '.join(fetched)}")
        before = snapshot(workdir)
        say(f"running {script_name} {json.dumps(argv, ensure_ascii=False)}")
        code = run_script(script_path, argv, workdir, job_env, log_path)
        say(f"{script_name} exited with code {code}")

        results_ok = True
        try:
            if code == 0:
                results_ok = upload_results(store, config, workdir, before)
            else:
                say("results not uploaded because the script failed")
        finally:
            # The log matters most when something went wrong: store it whatever happened.
            log_ok = upload_log(store, config, log_path)
        if code == 0 and not (results_ok and log_ok):
            return EXIT_UPLOAD
        return code
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- command line


def describe(script_path: str, env: Dict[str, str]) -> Json:
    spec = probe_script(script_path, env)
    return {
        "script": os.path.basename(script_path),
        "options": spec["options"],
        "groups": spec["groups"],
        "flag_values": {"true": list(FLAG_TRUE), "false": list(FLAG_FALSE)},
        "list_separator": LIST_SEPARATOR,
    }


def main(argv: Optional[List[str]] = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == [PROBE_ARG]:
        return _probe_main(args_in[1:])
    # Values can hold any bytes (surrogate-escaped): never let a message fail to print.
    sys.stderr.reconfigure(errors="backslashreplace")
    parser = argparse.ArgumentParser(
        prog="run_job.py",
        description="Run an argparse script with options taken from environment variables.",
    )
    parser.add_argument(
        "--describe", action="store_true", help="print the script's options as JSON and exit"
    )
    parser.add_argument(
        "--script", default=DEFAULT_SCRIPT, help="the script to run (default: %(default)s)"
    )
    args = parser.parse_args(args_in)
    script_path = os.path.abspath(args.script)
    try:
        if args.describe:
            json.dump(describe(script_path, dict(os.environ)), sys.stdout, indent=2)
            sys.stdout.write("\n")
            return 0
        return run_job(script_path, dict(os.environ))
    except JobError as err:
        for problem in err.problems:
            say("error: " + problem)
        if err.detail:
            sys.stderr.write(err.detail if err.detail.endswith("\n") else err.detail + "\n")
        return err.code
    except Exception:  # noqa: BLE001 - last resort: say it is a bug, keep the traceback
        traceback.print_exc()
        say("error: internal error in run_job (the traceback is above)")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
