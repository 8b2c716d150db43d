"""Values checked with the script's own argparse types and choices before any job is
submitted (`run_job.py --check-values`), in the probe child that holds the parser.

Only types known to be free of side effects are called: a type such as
argparse.FileType('w') opens (and truncates) the file it is given, and an unknown callable
could do anything on the user's machine. Those options are skipped with a note."""

from __future__ import annotations

import argparse
import datetime
import decimal
import fractions
import ipaddress
import pathlib
import uuid
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from .errors import quoted
from .introspect import Json, mapped_actions, type_name
from .mapping import split_list

SAFE_TYPES: Set[Callable[..., Any]] = {
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


def _is_safe(kind: Any) -> bool:
    if kind is None:
        return True
    try:
        return kind in SAFE_TYPES
    except TypeError:  # unhashable: not one of ours
        return False


class _Checker:
    def __init__(self, env: str, action: argparse.Action, kind: str) -> None:
        self.env = env
        self.action = action
        self.kind = kind
        self.type = type_name(action) or "str"

    def skip_reason(self) -> Optional[str]:
        if not _is_safe(self.action.type):
            return f"type={self.type} is not known to be free of side effects"
        if self.action.choices is not None and not isinstance(self.action.choices, SAFE_CHOICES):
            return "its choices are not a plain list, tuple, set or range"
        return None

    def problem(self, value: str) -> Optional[str]:
        items = split_list(self.env, value) if self.kind == "list" else [value]
        for item in items:
            why = self._item_problem(item)
            if why:
                return why
        return None

    def _item_problem(self, item: str) -> Optional[str]:
        flag = self.action.option_strings[0] if self.action.option_strings else self.env
        convert = self.action.type or (lambda s: s)
        try:
            converted = convert(item)
        except CONVERSION_ERRORS:
            return f"{quoted(item)} is not a valid {self.type} for {flag} (type={self.type})"
        choices = self.action.choices
        if choices is not None and converted not in choices:
            shown = ", ".join(repr(c) for c in list(choices)[:20])
            return f"{quoted(item)} is not one of the choices of {flag} (type={self.type}): {shown}"
        return None


def checkers(parser: argparse.ArgumentParser, spec: Json) -> Dict[str, _Checker]:
    """A checker per variable name (env and aliases) of the options that take a value."""
    by_flag = {o["flag"]: o for o in spec["options"]}
    found: Dict[str, _Checker] = {}
    for action in mapped_actions(parser):
        option = next((by_flag[s] for s in action.option_strings if s in by_flag), None)
        if option is None or option["kind"] == "flag" or option["action"] == "count":
            continue
        checker = _Checker(str(option["env"]), action, str(option["kind"]))
        for name in [option["env"], *option["aliases"]]:
            found[str(name)] = checker
    return found


def check_values(parser: argparse.ArgumentParser, spec: Json, pairs: List[Tuple[str, str]]) -> Json:
    """{"problems": [message or None per pair], "skipped": [{"option", "reason"}]}."""
    found = checkers(parser, spec)
    problems: List[Optional[str]] = []
    skipped: Dict[str, str] = {}
    for name, value in pairs:
        checker = found.get(name)
        reason = checker.skip_reason() if checker else None
        if checker is None or reason:
            if checker is not None and reason:
                skipped[checker.env] = reason
            problems.append(None)
            continue
        try:
            problems.append(checker.problem(value))
        except ValueError as err:  # a list value that is not a list: the mapping says why
            problems.append(str(err))
    return {
        "problems": problems,
        "skipped": [{"option": k, "reason": v} for k, v in sorted(skipped.items())],
    }
