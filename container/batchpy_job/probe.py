"""Which options the script declares, read in a child process: the script's top level (its
imports) must not load into run_job."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
from typing import IO, Callable, Dict, List, Optional, Tuple

from .errors import JobError, config_error, quoted
from .introspect import Json, capture_parser, describe_parser, parse_tree
from .supervise import merged_output
from .values import Rules, check_values

PROBE_ARG = "--run-job-internal-probe"
PROBE_TIMEOUT_SECONDS = 300
# Modules of the script's folder read at most when looking for an argparse import.
MAX_HELPER_MODULES = 200
# The probe child runs the same command-line entry as the job: the shim next to the package.
RUN_JOB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "run_job.py")


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


def _imports(path: str, source: bytes, script_dir: str) -> Tuple[bool, List[str]]:
    """Whether the source imports argparse anywhere (a syntax error counts as yes: the probe
    then reports it with Python's own message), and the files of the script's own folder it
    imports: absolute imports resolve from the script's folder (sys.path[0] when it runs),
    relative ones from `path`'s package. Installed packages are not followed."""
    tree = parse_tree(source)
    if tree is None:
        return True, []
    uses_argparse = False
    files: List[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                uses_argparse |= alias.name.split(".")[0] == "argparse"
                files.extend(_module_files(script_dir, alias.name))
        elif isinstance(node, ast.ImportFrom):
            uses_argparse |= node.level == 0 and (node.module or "").split(".")[0] == "argparse"
            root = script_dir
            if node.level:
                root = os.path.dirname(path)
                for _ in range(node.level - 1):
                    root = os.path.dirname(root)
            module = node.module or ""
            files.extend(_module_files(root, module))
            for alias in node.names:  # `from pkg import helper` may name a module
                files.extend(_module_files(root, f"{module}.{alias.name}"))
    return uses_argparse, files


def may_use_argparse(script_path: str, source: bytes) -> bool:
    """Whether the script, or a module of its own folder that it imports (directly or through
    another such module), imports argparse: a parser built in a helper module counts."""
    script_dir = os.path.dirname(os.path.abspath(script_path))
    seen = {os.path.abspath(script_path)}
    pending = [(os.path.abspath(script_path), source)]
    while pending and len(seen) <= MAX_HELPER_MODULES:
        path, text = pending.pop()
        uses_argparse, modules = _imports(path, text, script_dir)
        if uses_argparse:
            return True
        for module in modules:
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


def _read_script(script_path: str) -> bytes:
    try:
        with open(script_path, "rb") as f:
            return f.read()
    except OSError as err:
        raise config_error(
            f"cannot read the script {script_path}: {err.strerror}; name one that exists "
            "(run_job.py --script PATH, or jobs:submit --script-file PATH)"
        ) from None


def probe_script(
    script_path: str,
    env: Dict[str, str],
    values: Optional[Callable[[], List[Tuple[str, str]]]] = None,
) -> Json:
    """The script's option description, read by running its top level in a child process
    (its imports must not load into run_job) in a throwaway directory. With `values`, the
    child also checks the (variable, value) pairs it returns with the script's own types
    (values.py) and the result has "checks". `values` is called once the child is running
    (`--check-values` reads them from stdin, which jobs:submit writes only once it has loaded
    the job files): the child imports the script and builds its parser meanwhile, and waits
    for them on a pipe of its own (not stdin: the script's top level may read that)."""
    script_name = os.path.basename(script_path)
    if not may_use_argparse(script_path, _read_script(script_path)):
        # No parser to introspect; running it to find out would run its whole body twice.
        if values is not None:
            values()
        return {"options": [], "groups": [], "prefix_chars": "-", "parser": False}
    with tempfile.TemporaryDirectory(prefix="batchpy-probe-") as tmp:
        out_path = os.path.join(tmp, "probe.json")
        returncode, output = _run_probe_child(script_path, env, values, tmp, out_path)
        if not os.path.exists(out_path):
            last = next((l for l in reversed(output.splitlines()) if l.strip()), "no output")
            raise config_error(
                f"{script_name} stopped (exit {returncode}) before it parsed its "
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


def check_request(
    script_path: str, env: Dict[str, str], stdin: IO[str], description: Optional[str]
) -> Json:
    """`--check-values`: the request on stdin answered by the script's rules (values.Rules)
    and its own argparse types. With `description` (a saved --describe answer) the script
    is not run, so its types are not called."""
    request: Json = {}

    def read_values() -> List[Tuple[str, str]]:
        request.update(json.load(stdin))
        return [(str(n), str(v)) for n, v in request.get("values", [])]

    if description is None:
        spec = probe_script(script_path, env, read_values)
        script = os.path.basename(script_path)
    else:
        try:
            with open(description, encoding="utf-8") as f:
                spec = json.load(f)
        except (OSError, ValueError) as err:
            raise config_error(f"--script-options {description}: {err}") from None
        script = str(spec["script"])
        read_values()
    pairs = request.get("values", [])
    checks = spec.get("checks") or {"problems": [None] * len(pairs), "skipped": []}
    rules = Rules(spec, script, request.get("plainEnv", []))
    return rules.answer(request, checks["problems"], checks["skipped"])


def _run_probe_child(
    script_path: str,
    env: Dict[str, str],
    values: Optional[Callable[[], List[Tuple[str, str]]]],
    tmp: str,
    out_path: str,
) -> Tuple[int, str]:
    """Runs the probe child in `tmp` (it writes `out_path`), hands it the values once they
    are known, and returns its exit code and output; never leaves it running."""
    cwd = os.path.join(tmp, "cwd")
    os.mkdir(cwd)
    values_path = os.path.join(tmp, "values.json")
    # The child's signal that the values file is complete.
    ready_read, ready_write = os.pipe()
    extra = [values_path, str(ready_read)] if values is not None else []
    try:
        proc = subprocess.Popen(
            [sys.executable, RUN_JOB, PROBE_ARG, script_path, out_path, *extra],
            **merged_output(cwd, env),
            pass_fds=(ready_read,),
        )
    finally:
        os.close(ready_read)
    try:
        try:
            if values is not None:
                with open(values_path, "w", encoding="utf-8") as f:
                    f.write(json.dumps(values()))  # json.dump encodes in Python, 5x slower
                try:
                    os.write(ready_write, b"go")  # two bytes: never blocks
                except BrokenPipeError:
                    pass  # the child stopped before its parser: its output says why
        finally:
            os.close(ready_write)
        stdout, _ = proc.communicate(timeout=PROBE_TIMEOUT_SECONDS)
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
    return proc.returncode, stdout.decode("utf-8", "replace")


def _values_sent(ready_fd: int) -> bool:
    """Waits until the parent has written the values file (b"go") or given up (EOF)."""
    got = b""
    with os.fdopen(ready_fd, "rb") as ready:
        while True:
            chunk = ready.read(2)
            if not chunk:
                return got == b"go"
            got += chunk


def probe_main(args: List[str]) -> int:
    """Child process: capture the script's parser, write its description to a file."""
    script_path, out_path = args[:2]
    values_path = args[2] if len(args) > 2 else None
    ready_fd = int(args[3]) if len(args) > 3 else None
    result: Json
    try:
        parser = capture_parser(script_path)
    except ModuleNotFoundError as err:
        if not err.name or _is_local_module(script_path, err.name):
            raise  # a module of the script's own folder: Python's message says it best
        result = {"error": [missing_package(script_path, err.name)]}
        with open(out_path, "w", encoding="utf-8") as f:
            json.dump(result, f)
        return 0
    if parser is None:
        result = {"parser": False}
    else:
        try:
            result = describe_parser(parser, os.path.basename(script_path))
            result["parser"] = True
            if values_path is not None and (ready_fd is None or _values_sent(ready_fd)):
                with open(values_path, encoding="utf-8") as f:
                    pairs = [(str(n), str(v)) for n, v in json.load(f)]
                result["checks"] = check_values(parser, result, pairs)
        except JobError as err:
            result = {"error": err.problems}
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(json.dumps(result))
    return 0


def _is_local_module(script_path: str, name: str) -> bool:
    root = os.path.dirname(os.path.abspath(script_path))
    top = name.split(".")[0]
    # A module, a package, or a folder (a namespace package) of the script's own folder.
    return bool(_module_files(root, top)) or os.path.isdir(os.path.join(root, top))


def requirements_file(script_path: str) -> str:
    """The requirements.txt beside the script, as the user would type it from here."""
    path = os.path.join(os.path.dirname(os.path.abspath(script_path)), "requirements.txt")
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def missing_package(script_path: str, module: str) -> str:
    """The one line for a script whose imports are not installed."""
    req = requirements_file(script_path)
    return (
        f"{os.path.basename(script_path)} imports {quoted(module.split('.')[0])}, which is not "
        f"installed: add the package that provides it to {req} (pulumi up installs it in the "
        f"image), and pip install -r {req} to run it here"
    )
