"""The script's options, read by a child process that runs it until parse_args. Only types known
to be free of side effects check values: FileType('w') truncates its file."""

import argparse
import ast
import datetime
import decimal
import fractions
import ipaddress
import itertools
import json
import math
import os
import pathlib
import runpy
import select
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from typing import IO, Any

from .contract import CONTAINER, JobError, config_error, quoted
from .values import LIST_SEPARATOR, Json, Rules, split_list

PROBE_ARG = "--run-job-internal-probe"
PROBE_TIMEOUT_SECONDS = 300
MAX_HELPER_MODULES = 200
RUN_JOB = os.path.join(CONTAINER, "run_job.py")
MAX_CHOICES_SHOWN = 100
# Given the script's description, the (name, value) pairs to check with its own types.
Values = Callable[[Json], list[tuple[str, str]]]


class _ParserCaptured(BaseException):
    """A BaseException, so that a script's own `except Exception:` cannot swallow it."""


def parse_tree(source: bytes) -> ast.AST | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None  # running the script reports it with Python's own message


def capture_parser(script_path: str) -> argparse.ArgumentParser | None:
    """A pre-parser (add_help=False, parse_known_args(), with parents=[...] in the script)
    really parses, and is returned if nothing parses later."""
    cls = argparse.ArgumentParser
    originals = {n: getattr(cls, n) for n in dir(cls) if n.startswith("parse_")}
    tree = parse_tree(pathlib.Path(script_path).read_bytes())
    parents_used = tree is not None and any(
        k.arg == "parents" for n in ast.walk(tree) if isinstance(n, ast.Call) for k in n.keywords
    )
    pre_parsers: list[argparse.ArgumentParser] = []

    def patched(name: str) -> Any:
        def parse(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
            if "known" not in name or not parents_used or self.add_help:
                raise _ParserCaptured(self)
            pre_parsers.append(self)
            try:
                return originals[name](self, *args, **kwargs)
            except (SystemExit, argparse.ArgumentError):
                raise _ParserCaptured(self) from None  # e.g. it requires an option

        return parse

    saved_argv, saved_path = sys.argv, list(sys.path)
    try:
        for name in originals:
            setattr(cls, name, patched(name))
        sys.argv = [script_path]
        sys.path.insert(0, os.path.dirname(os.path.abspath(script_path)))
        runpy.run_path(script_path, run_name="__main__")
    except _ParserCaptured as captured:
        return captured.args[0]
    finally:
        for name, method in originals.items():
            setattr(cls, name, method)
        sys.argv = saved_argv
        sys.path[:] = saved_path
    return pre_parsers[-1] if pre_parsers else None


def _jsonable(value: object) -> object:
    if value is argparse.SUPPRESS or value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    finite = not isinstance(value, float) or math.isfinite(value)  # JSON has no NaN or Infinity
    return value if finite and isinstance(value, (bool, int, float, str)) else str(value)


def _refusal(action: argparse.Action, flag: str, script_name: str) -> str | None:
    if isinstance(action, argparse._SubParsersAction):
        return (
            f"{script_name} uses subcommands (add_subparsers); run_job drives one parser "
            "from environment variables: make each subcommand its own script, or select "
            "it with an option (--mode)"
        )
    if not action.option_strings:
        return (
            f"{script_name} declares the positional argument {quoted(action.dest)}; "
            "run_job maps environment variables to options only: declare it as "
            f"parser.add_argument('--{action.dest}', required=True)"
        )
    if action.nargs in (argparse.REMAINDER, argparse.PARSER, argparse.SUPPRESS):
        return (
            f"{script_name} option {flag} has nargs={action.nargs!r}, which run_job cannot fill "
            f"from one variable: use nargs='*' or '+' (items separated by {quoted(LIST_SEPARATOR)})"
        )
    return None


def _option(action: argparse.Action, flag: str, parser: argparse.ArgumentParser) -> Json:
    names = {c: n for n, c in parser._registries["action"].items() if n}
    names[argparse.BooleanOptionalAction] = "boolean_optional"
    name = next((names[c] for c in type(action).__mro__ if c in names), type(action).__name__)
    env, to_type = flag.lstrip(parser.prefix_chars), action.type
    type_named = getattr(to_type, "__qualname__", None) or getattr(to_type, "__name__", None)
    choices = None
    if action.choices is not None:
        shown = list(itertools.islice(iter(action.choices), MAX_CHOICES_SHOWN + 1))
        choices = [str(c) for c in shown] if len(shown) <= MAX_CHOICES_SHOWN else None
    nargs = action.nargs
    # How one variable fills the option: a flag word, one value, or a list of items.
    if name == "boolean_optional" or (nargs == 0 and name != "count"):
        kind = "flag"
    else:
        listed = nargs is not None or name in ("append", "extend")
        kind = "list" if listed and nargs != argparse.OPTIONAL and name != "count" else "value"
    option: Json = {
        "env": env,
        "aliases": [action.dest] if action.dest != env else [],
        "flag": flag,
        "kind": kind,
        "required": bool(action.required),
        "action": name,
        "nargs": nargs if isinstance(nargs, int) or nargs is None else str(nargs),
        "choices": choices,
        "type": None if to_type is None else type_named or repr(to_type),
        "default": _jsonable(action.default),
        "help": action.help if action.help not in (None, argparse.SUPPRESS) else None,
    }
    if name == "boolean_optional":
        option["negative_flag"] = next(
            (s for s in action.option_strings if s != flag and s.startswith(flag[:2] + "no-")),
            action.option_strings[-1],
        )
    if option["kind"] == "list":
        option["separator"] = LIST_SEPARATOR
    return option


def mapped_actions(parser: argparse.ArgumentParser) -> list[tuple[argparse.Action, str]]:
    found = []
    for action in parser._actions:
        if not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            flags, chars = [*action.option_strings, action.dest], parser.prefix_chars
            long = (s for s in flags if len(s) > 2 and s[0] in chars and s[1] in chars)
            found.append((action, next(long, flags[0])))
    return found


def describe_parser(parser: argparse.ArgumentParser, script_name: str) -> Json:
    actions = mapped_actions(parser)
    problems = [r for a, flag in actions if (r := _refusal(a, flag, script_name))]
    if problems:
        raise config_error(*problems)
    options = [_option(a, flag, parser) for a, flag in actions]
    # An alias (the dest) that another option also claims is dropped.
    primary: dict[str, str] = {}
    for option in options:
        if option["env"] in primary:
            raise config_error(
                f"{script_name} options {primary[option['env']]} and {option['flag']} both map "
                f"to the variable {quoted(option['env'])}: give one of them a different long "
                "option name"
            )
        primary[option["env"]] = option["flag"]
    claims = Counter(alias for option in options for alias in option["aliases"])
    for option in options:
        option["aliases"] = [a for a in option["aliases"] if a not in primary and claims[a] == 1]
    groups = []
    for group in parser._mutually_exclusive_groups:
        members = [o["env"] for (a, _), o in zip(actions, options) if a in group._group_actions]
        groups.append({"required": bool(group.required), "options": members})
    return {
        "options": options,
        "groups": groups,
        "prefix_chars": parser.prefix_chars,
        "fromfile_prefix_chars": parser.fromfile_prefix_chars,
        "negative_numbers_are_options": bool(parser._has_negative_number_optionals),
    }


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


def _typed_problem(option: Json, action: argparse.Action, value: str) -> str | None:
    flag, kind = action.option_strings[0], option["type"] or "str"
    try:
        items = split_list(option["env"], value) if option["kind"] == "list" else [value]
    except ValueError as err:  # a list value that is not a list: split_list says why
        return str(err)
    for item in items:
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
    typed: dict[str, tuple[Json, argparse.Action, str | None]] = {}
    for (action, _flag), option in zip(mapped_actions(parser), spec["options"]):
        # A flag or a count takes a word; any string will do for an untyped option.
        words = option["kind"] == "flag" or option["action"] == "count"
        if words or (option["type"] in (None, "str") and option["choices"] is None):
            continue
        # By identity: hashing or comparing the script's own type would run its code.
        safe = action.type is None or any(action.type is t for t in SAFE_TYPES)
        reason = None if safe else f"type={option['type']} is not known to be free of side effects"
        if safe and action.choices is not None and not isinstance(action.choices, SAFE_CHOICES):
            reason = "its choices are not a plain list, tuple, set or range"
        typed.update((n, (option, action, reason)) for n in [option["env"], *option["aliases"]])
    problems: list[str | None] = []
    skipped: dict[str, str] = {}
    for name, value in pairs:
        option, action, reason = typed.get(name, ({}, None, None))
        if reason:
            skipped[option["env"]] = reason
        problems.append(_typed_problem(option, action, value) if action and not reason else None)
    return {
        "problems": problems,
        "skipped": [{"option": k, "reason": v} for k, v in sorted(skipped.items())],
    }


def _module_files(root: str, dotted: str) -> list[str]:
    parts = [p for p in dotted.split(".") if p]
    bases = [os.path.join(root, *parts[:i]) for i in range(1, len(parts) + 1)]
    files = (f for b in bases for f in (b + ".py", os.path.join(b, "__init__.py")))
    return [f for f in files if os.path.isfile(f)]


def may_use_argparse(script_path: str, source: bytes) -> bool:
    """Also through the script folder's own modules, at any depth; a syntax error counts as yes."""
    script = os.path.abspath(script_path)
    seen, pending = {script}, [script]
    while pending and len(seen) <= MAX_HELPER_MODULES:
        path = pending.pop()
        try:
            tree = parse_tree(source if path == script else pathlib.Path(path).read_bytes())
        except OSError:
            continue  # unreadable: running the script says so if it matters
        if tree is None:
            return True
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                level, names = 0, [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                # `from pkg import helper` may name a module
                module = node.module or ""
                level, names = node.level, [module, *(f"{module}.{a.name}" for a in node.names)]
            else:
                continue
            if level == 0 and any(name.split(".")[0] == "argparse" for name in names):
                return True
            root = path if level else os.path.dirname(script)
            for _ in range(level):
                root = os.path.dirname(root)
            found = {os.path.abspath(f) for n in names for f in _module_files(root, n)} - seen
            seen |= found
            pending.extend(found)
    return False


def probe_script(script_path: str, env: dict[str, str], values: Values = lambda _: []) -> Json:
    """With the "checks" of the pairs `values` returns once it has the description."""
    try:
        source = pathlib.Path(script_path).read_bytes()
    except OSError as err:
        raise config_error(
            f"cannot read the script {script_path}: {err.strerror}; name one that exists "
            "(run_job.py --script PATH, or jobs:submit --script-file PATH)"
        ) from None
    if not may_use_argparse(script_path, source):
        # No parser to introspect; running it to find out would run its whole body twice.
        spec = {"options": [], "groups": [], "prefix_chars": "-"}
        values(spec)
        return spec
    with tempfile.TemporaryDirectory(prefix="batchpy-probe-") as tmp:
        returncode = _run_probe_child(script_path, env, values, tmp)
        if not os.path.exists(os.path.join(tmp, "probe.json")):
            output = pathlib.Path(tmp, "output").read_bytes().decode("utf-8", "replace")
            last = next((l for l in reversed(output.splitlines()) if l.strip()), "no output")
            raise config_error(
                f"{os.path.basename(script_path)} stopped (exit {returncode}) before it parsed "
                f"its options: {last.strip()}",
                detail=output,
            )
        result = json.loads(pathlib.Path(tmp, "probe.json").read_bytes())
    if "error" in result:
        raise config_error(*result["error"])
    return result


def description_of(spec: Json, script_path: str) -> Json:
    """All of the spec but its checks: saved (--script-options), it checks values as the probe
    does, parser settings (prefix_chars, ...) included."""
    parser = {k: v for k, v in spec.items() if k != "checks"}
    return {"script": os.path.basename(script_path), **parser, "list_separator": LIST_SEPARATOR}


def check_request(
    script_path: str, env: dict[str, str], stdin: IO[str], description: str | None
) -> Json:
    """`description`: a saved --describe answer, to answer without running the script."""
    request: Json = {}

    def read_values(spec: Json) -> list[tuple[str, str]]:
        # The request depends on it: one process answers both, as jobs:submit asks.
        print(json.dumps(description_of(spec, script_path)), flush=True)
        request.update(json.load(stdin))
        return [(str(n), str(v)) for n, v in request.get("values", [])]

    if description is None:
        spec = probe_script(script_path, env, read_values)
    else:
        try:
            spec = json.loads(pathlib.Path(description).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise config_error(f"--script-options {description}: {err}") from None
        request.update(json.load(stdin))
    script = str(spec.get("script", os.path.basename(script_path)))
    return Rules(spec, script, request.get("plainEnv", [])).answer(request, spec.get("checks"))


def _run_probe_child(script_path: str, env: dict[str, str], values: Values, tmp: str) -> int:
    """The child's exit code; it writes tmp/probe.json, the script's output goes to tmp/output."""
    cwd = os.path.join(tmp, "cwd")
    os.mkdir(cwd)
    argv = [sys.executable, RUN_JOB, PROBE_ARG, script_path, os.path.join(tmp, "probe.json")]
    # The child hands over the description on its stdout (the script writes to its stderr)
    # and then waits for the values on stdin.
    with open(os.path.join(tmp, "output"), "wb") as output:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=output
        )
    try:
        with proc.stdout as pipe:
            if not select.select([pipe], [], [], PROBE_TIMEOUT_SECONDS)[0]:
                raise subprocess.TimeoutExpired(argv, PROBE_TIMEOUT_SECONDS)
            description = pipe.readline()  # not to EOF: a process the script forked may hold it
        # Nothing: the child stopped before it had a parser (probe.json says why).
        sent = json.dumps(values(json.loads(description))).encode() if description else b""
        proc.communicate(sent, timeout=PROBE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise config_error(
            f"{os.path.basename(script_path)} did not reach parse_args() within "
            f"{PROBE_TIMEOUT_SECONDS} s of starting: move slow work below the parse_args() call"
        ) from None
    finally:
        # Bad input on stdin, a timeout, SIGTERM (jobs:submit needed no check): no orphan.
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode


def probe_main(args: list[str]) -> int:
    """The child; the script reads an empty stdin and writes to stderr."""
    script_path, out_path = args
    # os.dup's copies are not inherited by what the script starts.
    values_in, pipe = os.fdopen(os.dup(0), "rb"), os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    script_name = os.path.basename(script_path)
    try:
        parser = capture_parser(script_path)
        if parser is None:
            raise config_error(
                f"{script_name} imports argparse but ran to the end without calling "
                "ArgumentParser.parse_args(), so run_job cannot tell its options: call "
                "parse_args() before the work starts"
            )
        result = describe_parser(parser, script_name)
        with pipe:
            pipe.write(json.dumps(result) + "\n")
        with values_in:
            result["checks"] = check_values(parser, result, json.loads(values_in.read()))
    except ModuleNotFoundError as err:
        root = os.path.dirname(os.path.abspath(script_path))
        top = (err.name or "").split(".")[0]
        local = os.path.join(root, top)
        if not top or os.path.isfile(local + ".py") or os.path.isdir(local):
            raise  # a module, package or folder of the script's own: Python's message is best
        req = os.path.join(root, "requirements.txt")
        req = req if os.path.relpath(req).startswith("..") else os.path.relpath(req)
        missing = (
            f"{script_name} imports {quoted(top)}, which is not installed: "
            f"add the package that provides it to {req} (pulumi up installs it in the "
            f"image), and pip install -r {req} to run it here"
        )
        result = {"error": [missing]}
    except JobError as err:
        result = {"error": err.problems}
    pathlib.Path(out_path).write_text(json.dumps(result), encoding="utf-8")
    return 0
