"""Reading the script's argparse parser: run the script until it parses its options
(capture_parser), then turn the parser into plain data (describe_parser). Runs the script's
top level, so only the probe child process (probe.py) calls capture_parser."""

from __future__ import annotations

import argparse
import ast
import itertools
import os
import runpy
import sys
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import config_error, quoted

# A script's description and its options: plain JSON data (what --describe prints).
Json = Dict[str, Any]

LIST_SEPARATOR = ","
MAX_CHOICES_SHOWN = 100


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


def parse_tree(source: bytes) -> Optional[ast.AST]:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def uses_parent_parsers(source: bytes) -> bool:
    """Whether the source passes `parents=` to a call: it builds a parser from others."""
    tree = parse_tree(source)
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


def _refusal(action: argparse.Action, script_name: str, prefix_chars: str) -> Optional[str]:
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
            f"{script_name} option {_long_flag(action, prefix_chars)} has "
            f"nargs={action.nargs!r}, which run_job cannot fill from one variable: use "
            f"nargs='*' or '+' (items separated by {quoted(LIST_SEPARATOR)})"
        )
    return None


def _long_flag(action: argparse.Action, prefix_chars: str) -> str:
    return next(
        (s for s in action.option_strings if _is_long(s, prefix_chars)), action.option_strings[0]
    )


def _kind(name: str, nargs: Any) -> str:
    """value, flag or list: how one variable fills the option."""
    if name == "boolean_optional" or (nargs == 0 and name != "count"):
        return "flag"
    if name == "count":
        return "value"
    if name in ("append", "extend") and nargs is None:
        return "list"
    return "value" if nargs is None or nargs == argparse.OPTIONAL else "list"


def type_name(action: argparse.Action) -> Optional[str]:
    """How the option's type= is named in messages: int, float, FileType('w'), my_parser."""
    kind = action.type
    if kind is None:
        return None
    if isinstance(kind, argparse.FileType):
        return repr(kind)
    return getattr(kind, "__qualname__", None) or getattr(kind, "__name__", None) or repr(kind)


def _option(action: argparse.Action, prefix_chars: str) -> Json:
    name = _action_name(action)
    flag = _long_flag(action, prefix_chars)
    nargs = action.nargs
    kind = _kind(name, nargs)
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
        "type": type_name(action),
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
    return option


def mapped_actions(parser: argparse.ArgumentParser) -> List[argparse.Action]:
    """The parser's actions that variables map to: all but -h and --version."""
    return [
        a
        for a in parser._actions
        if not isinstance(a, (argparse._HelpAction, argparse._VersionAction))
    ]


def describe_parser(parser: argparse.ArgumentParser, script_name: str) -> Json:
    """The options of `parser` as plain data: what --describe prints and what the mapping
    reads. Raises JobError (exit 2) for parsers that environment variables cannot drive."""
    prefix_chars = parser.prefix_chars
    actions = mapped_actions(parser)
    refusals = [_refusal(a, script_name, prefix_chars) for a in actions]
    problems = [r for r in refusals if r is not None]
    if problems:
        raise config_error(*problems)
    options = [_option(a, prefix_chars) for a in actions]
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
    alias_count = Counter(alias for option in options for alias in option["aliases"])
    for option in options:
        option["aliases"] = [
            a
            for a in option["aliases"]
            if a not in primary and alias_count[a] == 1
        ]
