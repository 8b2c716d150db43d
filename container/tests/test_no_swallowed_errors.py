"""No `except` on the entrypoint's paths swallows what it did not mean to catch: a bare
`except:` is refused, and one for Exception or BaseException must re-raise or report what
it caught (use the name it binds it to, or print the traceback). A narrower class is itself
the test of what was caught; everything else goes on up."""

from __future__ import annotations

import ast
import os
from typing import Iterator, List

from conftest import CONTAINER

BROAD = {"Exception", "BaseException"}


def product_files() -> Iterator[str]:
    yield os.path.join(CONTAINER, "run_job.py")
    package = os.path.join(CONTAINER, "batchpy_job")
    for name in sorted(os.listdir(package)):
        if name.endswith(".py"):
            yield os.path.join(package, name)


def caught_names(handler: ast.ExceptHandler) -> List[str]:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return [k.id if isinstance(k, ast.Name) else getattr(k, "attr", "?") for k in kinds]


def reports_or_reraises(handler: ast.ExceptHandler) -> bool:
    for node in (n for stmt in handler.body for n in ast.walk(stmt)):
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Name) and node.id == handler.name:
            return True
        if isinstance(node, ast.Attribute) and node.attr in {"print_exc", "format_exc"}:
            return True
    return False


def swallowing_handlers(source: str) -> List[str]:
    """`line: what is wrong` for each handler that swallows."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ExceptHandler):
            continue
        if node.type is None:
            found.append(f"{node.lineno}: a bare except catches everything, SystemExit too")
        elif BROAD & set(caught_names(node)) and not reports_or_reraises(node):
            found.append(f"{node.lineno}: catches {'/'.join(caught_names(node))} and drops it")
    return found


def test_the_entrypoint_swallows_no_error() -> None:
    problems = []
    for path in product_files():
        with open(path, encoding="utf-8") as f:
            found = swallowing_handlers(f.read())
        problems += [f"{os.path.relpath(path, CONTAINER)}:{p}" for p in found]
    assert problems == []


def test_the_check_tells_swallowing_from_handling() -> None:
    source = """
try:
    a()
except:
    pass
try:
    a()
except Exception:
    pass
try:
    a()
except (ValueError, BaseException):
    return None
try:
    a()
except Exception as err:
    log(err)
try:
    a()
except Exception:
    traceback.print_exc()
try:
    a()
except BaseException:
    cleanup()
    raise
try:
    a()
except FileNotFoundError:
    pass
"""
    assert swallowing_handlers(source) == [
        "4: a bare except catches everything, SystemExit too",
        "8: catches Exception and drops it",
        "12: catches ValueError/BaseException and drops it",
    ]
