"""Reading the script's argparse parser: run the script until it parses its options
(capture_parser), then turn the parser into plain data (describe_parser). Runs the script's
top level, so only the probe child process (probe.py) calls capture_parser."""

import argparse
import ast
import itertools
import os
import runpy
import sys
from collections import Counter
from typing import Any

from .contract import config_error, quoted

# A script's description and its options: plain JSON data (what --describe prints).
Json = dict[str, Any]

LIST_SEPARATOR = ","
MAX_CHOICES_SHOWN = 100


class _ParserCaptured(BaseException):
    """Raised from inside the script's parse_args(): stops the script before its body runs.
    A BaseException, so that a script's own `except Exception:` cannot swallow it."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__()
        self.parser = parser


def parse_tree(source: bytes) -> ast.AST | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def capture_parser(script_path: str) -> argparse.ArgumentParser | None:
    """Runs the script as __main__ until it asks argparse to parse its options, and returns
    that parser (None if it never asks). parse_known_args() lets a pre-parser through: one
    without -h of its own (add_help=False) in a script that builds its full parser with
    parents=[...], read first for a few options (a config file, say). It really parses (no
    arguments: its defaults), and is returned if the script ends without parsing again or if
    it fails with no arguments."""
    cls = argparse.ArgumentParser
    names = ("parse_args", "parse_known_args", "parse_intermixed_args")
    originals = {n: getattr(cls, n) for n in (*names, "parse_known_intermixed_args")}
    with open(script_path, "rb") as f:
        tree = parse_tree(f.read())
    parents_used = tree is not None and any(
        isinstance(node, ast.Call) and any(k.arg == "parents" for k in node.keywords)
        for node in ast.walk(tree)
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
        return captured.parser
    finally:
        for name, method in originals.items():
            setattr(cls, name, method)
        sys.argv = saved_argv
        sys.path[:] = saved_path
    return pre_parsers[-1] if pre_parsers else None


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
    """Whether this Python's argparse keeps "--" as an attached value (--name=--): older
    versions strip "--" from every option's values, leaving []."""
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--value")
    try:
        return probe.parse_args(["--value=--"]).value == "--"
    except SystemExit:
        return False


def _refusal(action: argparse.Action, flag: str, script_name: str) -> str | None:
    """Why environment variables cannot drive `action`, or None."""
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
            f"{script_name} option {flag} has nargs={action.nargs!r}, which run_job cannot "
            f"fill from one variable: use nargs='*' or '+' (items separated by "
            f"{quoted(LIST_SEPARATOR)})"
        )
    return None


def _kind(name: str, nargs: Any) -> str:
    """value, flag or list: how one variable fills the option."""
    if name == "count":
        return "value"
    if name == "boolean_optional" or nargs == 0:
        return "flag"
    if nargs is None:
        return "list" if name in ("append", "extend") else "value"
    return "value" if nargs == argparse.OPTIONAL else "list"


def type_name(action: argparse.Action) -> str | None:
    """How the option's type= is named in messages: int, float, FileType('w'), my_parser."""
    kind = action.type
    if kind is None or isinstance(kind, argparse.FileType):
        return None if kind is None else repr(kind)
    return getattr(kind, "__qualname__", None) or getattr(kind, "__name__", None) or repr(kind)


def _option(action: argparse.Action, flag: str, parser: argparse.ArgumentParser) -> Json:
    # The name argparse registers the action's class (or the nearest base class) under.
    names = {c: n for n, c in parser._registries["action"].items() if n}
    names[argparse.BooleanOptionalAction] = "boolean_optional"
    name = next((names[c] for c in type(action).__mro__ if c in names), type(action).__name__)
    env = flag.lstrip(parser.prefix_chars)
    choices = None
    if action.choices is not None:
        shown = list(itertools.islice(iter(action.choices), MAX_CHOICES_SHOWN + 1))
        choices = [str(c) for c in shown] if len(shown) <= MAX_CHOICES_SHOWN else None
    nargs = action.nargs
    option: Json = {
        "env": env,
        "aliases": [action.dest] if action.dest != env else [],
        "flag": flag,
        "kind": _kind(name, nargs),
        "required": bool(action.required),
        "action": name,
        "nargs": nargs if isinstance(nargs, int) or nargs is None else str(nargs),
        "choices": choices,
        "type": type_name(action),
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
    """The actions variables map to (not -h, --version), each with its first long flag."""
    found = []
    for action in parser._actions:
        if not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            flags, chars = [*action.option_strings, action.dest], parser.prefix_chars
            long = (s for s in flags if len(s) > 2 and s[0] in chars and s[1] in chars)
            found.append((action, next(long, flags[0])))
    return found


def describe_parser(parser: argparse.ArgumentParser, script_name: str) -> Json:
    """The options of `parser` as plain data: what --describe prints and the mapping reads."""
    actions = mapped_actions(parser)
    problems = [r for a, flag in actions if (r := _refusal(a, flag, script_name))]
    if problems:
        raise config_error(*problems)
    options = [_option(a, flag, parser) for a, flag in actions]
    # Each variable name must select one option: two options with the same name fail; an
    # alias (the dest) that another option also claims is dropped.
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
        flags = {s for a in group._group_actions for s in a.option_strings}
        members = [o["env"] for o in options if o["flag"] in flags]
        groups.append({"required": bool(group.required), "options": members})
    return {
        "options": options,
        "groups": groups,
        "prefix_chars": parser.prefix_chars,
        "fromfile_prefix_chars": parser.fromfile_prefix_chars,
        "negative_numbers_are_options": bool(parser._has_negative_number_optionals),
        "dashdash_value_ok": dashdash_value_survives(),
    }
