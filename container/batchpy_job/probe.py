"""Which options the script declares, read in a child process: the script's top level (its
imports) must not load into run_job."""

import ast
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import IO

from .contract import JobError, config_error, quoted
from .introspect import Json, capture_parser, describe_parser, parse_tree
from .supervise import merged_output
from .values import Rules, check_values

PROBE_ARG = "--run-job-internal-probe"
PROBE_TIMEOUT_SECONDS = 300
# Modules of the script's folder read at most when looking for an argparse import.
MAX_HELPER_MODULES = 200
# The probe child runs the same command-line entry as the job: the shim next to the package.
RUN_JOB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "run_job.py")

Values = Callable[[], list[tuple[str, str]]]


def _module_files(root: str, dotted: str) -> list[str]:
    """The files under `root` that importing `dotted` runs: each package's __init__.py on the
    way, then the module (a .py file or a package). Empty if it is not there."""
    files = []
    for part in (p for p in dotted.split(".") if p):
        root = os.path.join(root, part)
        found = [f for f in (root + ".py", os.path.join(root, "__init__.py")) if os.path.isfile(f)]
        if not found:
            break
        files.append(found[0])
    return files


def may_use_argparse(script_path: str, source: bytes) -> bool:
    """Whether the script, or a module of its own folder that it imports (directly or through
    another such module), imports argparse: a parser built in a helper module counts. A syntax
    error counts as yes (the probe then reports it with Python's own message). Absolute
    imports resolve from the script's folder (sys.path[0] when it runs), relative ones from
    the importing file's package; installed packages are not followed."""
    script_dir = os.path.dirname(os.path.abspath(script_path))
    seen = {os.path.abspath(script_path)}
    pending = [(os.path.abspath(script_path), source)]
    while pending and len(seen) <= MAX_HELPER_MODULES:
        path, text = pending.pop()
        tree = parse_tree(text)
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
            root = path if level else script_dir
            for _ in range(level):
                root = os.path.dirname(root)
            for module in (os.path.abspath(f) for n in names for f in _module_files(root, n)):
                if module in seen:
                    continue
                seen.add(module)
                try:
                    with open(module, "rb") as f:
                        pending.append((module, f.read()))
                except OSError:
                    continue  # unreadable: running the script says so if it matters
    return False


def probe_script(script_path: str, env: dict[str, str], values: Values | None = None) -> Json:
    """The script's option description, read by running its top level in a child process
    (its imports must not load into run_job) in a throwaway directory. With `values`, the
    child also checks the (variable, value) pairs it returns with the script's own types
    (values.py) and the result has "checks". `values` is called once the child is running
    (`--check-values` reads them from stdin, which jobs:submit writes only once it has loaded
    the job files): the child imports the script and builds its parser meanwhile, and waits
    for them on a pipe of its own (not stdin: the script's top level may read that)."""
    script_name = os.path.basename(script_path)
    try:
        with open(script_path, "rb") as f:
            source = f.read()
    except OSError as err:
        raise config_error(
            f"cannot read the script {script_path}: {err.strerror}; name one that exists "
            "(run_job.py --script PATH, or jobs:submit --script-file PATH)"
        ) from None
    if not may_use_argparse(script_path, source):
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
    script_path: str, env: dict[str, str], stdin: IO[str], description: str | None
) -> Json:
    """`--check-values`: the request on stdin answered by the script's rules (values.Rules)
    and its own argparse types. With `description` (a saved --describe answer) the script
    is not run, so its types are not called."""
    request: Json = {}

    def read_values() -> list[tuple[str, str]]:
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
    script_path: str, env: dict[str, str], values: Values | None, tmp: str, out_path: str
) -> tuple[int, str]:
    """Runs the probe child in `tmp` (it writes `out_path`), hands it the values on its stdin
    once they are known, and returns its exit code and output; never leaves it running."""
    cwd = os.path.join(tmp, "cwd")
    os.mkdir(cwd)
    proc = subprocess.Popen(
        [sys.executable, RUN_JOB, PROBE_ARG, script_path, out_path],
        **merged_output(cwd, env, subprocess.DEVNULL if values is None else subprocess.PIPE),
    )
    try:
        sent = json.dumps(values()).encode() if values is not None else None
        stdout, _ = proc.communicate(sent, timeout=PROBE_TIMEOUT_SECONDS)
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


def probe_main(args: list[str]) -> int:
    """Child process: capture the script's parser, write its description to a file, with the
    checks of the values the parent sends on stdin, if any. The script gets an empty stdin
    instead: its top level may read it."""
    script_path, out_path = args
    values_in, devnull = os.fdopen(os.dup(0), "rb"), os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    result: Json
    try:
        parser = capture_parser(script_path)
        result = {"parser": parser is not None}
        if parser is not None:
            result.update(describe_parser(parser, os.path.basename(script_path)))
            with values_in:
                sent = values_in.read()
            if sent:
                pairs = [(str(n), str(v)) for n, v in json.loads(sent)]
                result["checks"] = check_values(parser, result, pairs)
    except ModuleNotFoundError as err:
        root = os.path.dirname(os.path.abspath(script_path))
        top = (err.name or "").split(".")[0]
        local = os.path.isfile(os.path.join(root, top + ".py")) or os.path.isdir(
            os.path.join(root, top)
        )
        if not top or local:
            raise  # a module, package or folder of the script's own: Python's message is best
        req = os.path.join(root, "requirements.txt")
        req = req if os.path.relpath(req).startswith("..") else os.path.relpath(req)
        result = {
            "error": [
                f"{os.path.basename(script_path)} imports {quoted(top)}, which is not installed: "
                f"add the package that provides it to {req} (pulumi up installs it in the "
                f"image), and pip install -r {req} to run it here"
            ]
        }
    except JobError as err:
        result = {"error": err.problems}
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(json.dumps(result))
    return 0
