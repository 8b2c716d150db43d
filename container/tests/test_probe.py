"""probe: the script's options read in a child process; a script whose
import is not installed names the module and its requirements.txt."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from batchpy_job.contract import JobError
from batchpy_job.probe import check_request, may_use_argparse, probe_script
from conftest import run_entrypoint


def write(tmp_path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return str(path)


def test_describes_options_with_their_types(tmp_path) -> None:
    s = write(tmp_path, "s.py", "import argparse\np = argparse.ArgumentParser()\np.add_argument('--n', type=int)\np.parse_args()\n")
    spec = probe_script(s, dict(os.environ))
    assert [(o["env"], o["type"]) for o in spec["options"]] == [("n", "int")]


def test_a_saved_description_carries_the_parser_settings_the_value_checks_read(tmp_path) -> None:
    """--script-options checks "@" and "+" items as the probe does; a file saved without the
    settings still loads, with argparse's defaults."""
    s = write(
        tmp_path,
        "s.py",
        "import argparse\n"
        "p = argparse.ArgumentParser(fromfile_prefix_chars='@', prefix_chars='-+')\n"
        "p.add_argument('--names', nargs='+')\np.parse_args()\n",
    )
    run = run_entrypoint({}, "--describe", "--script", s)
    assert run.returncode == 0, run.stderr
    saved = json.loads(run.stdout)
    assert saved["prefix_chars"] == "-+" and saved["fromfile_prefix_chars"] == "@"
    assert saved["negative_numbers_are_options"] is False and "checks" not in saved
    values = [["names", "a,@args.txt"], ["names", "a,+b"]]
    (tmp_path / "saved.json").write_text(json.dumps(saved), encoding="utf-8")
    stdin = io.StringIO(json.dumps({"values": values}))
    answer = check_request(s, {}, stdin, str(tmp_path / "saved.json"))
    assert [p[0].split(", which")[0] for p in answer["values"]] == [
        'variable "names" has the item "@args.txt"',
        'variable "names" has the item "+b"',
    ]
    old = {k: saved[k] for k in ("script", "options", "groups", "list_separator")}
    (tmp_path / "old.json").write_text(json.dumps(old), encoding="utf-8")
    stdin = io.StringIO(json.dumps({"values": values}))
    assert check_request(s, {}, stdin, str(tmp_path / "old.json"))["values"] == [[], []]


def test_a_missing_package_names_the_module_and_the_requirements_file(tmp_path) -> None:
    s = write(tmp_path, "s.py", "import argparse\nimport batchpy_absent_pkg.sub\n")
    with pytest.raises(JobError) as err:
        probe_script(s, dict(os.environ))
    (line,) = err.value.problems
    assert line.startswith('s.py imports "batchpy_absent_pkg", which is not installed: add the package')
    assert str(tmp_path / "requirements.txt") in line


def test_a_script_that_cannot_be_read_names_both_ways_to_choose_another(tmp_path) -> None:
    missing = str(tmp_path / "absent.py")
    with pytest.raises(JobError) as err:
        probe_script(missing, dict(os.environ))
    assert err.value.problems == [
        f"cannot read the script {missing}: No such file or directory; name one that exists "
        "(run_job.py --script PATH, or jobs:submit --script-file PATH)"
    ]


def test_a_missing_module_of_the_scripts_own_folder_keeps_pythons_message(tmp_path) -> None:
    os.mkdir(tmp_path / "mylib")
    s = write(tmp_path, "s.py", "import argparse\nimport mylib.absent\n")
    with pytest.raises(JobError) as err:
        probe_script(s, dict(os.environ))
    assert "stopped (exit 1) before it parsed its options" in err.value.problems[0]


def test_follows_local_imports_when_looking_for_argparse(tmp_path) -> None:
    write(tmp_path, "helper.py", "import argparse\n")
    s = write(tmp_path, "s.py", "import helper\n")
    assert may_use_argparse(s, b"import helper\n")


def test_values_are_asked_for_with_the_description_while_the_child_holds_the_parser(
    tmp_path,
) -> None:
    s = write(
        tmp_path,
        "s.py",
        "import argparse\np = argparse.ArgumentParser()\np.add_argument('--n', type=int)\n"
        "p.parse_args()\n",
    )
    described = []

    def values(spec):
        described.append([o["flag"] for o in spec["options"]])
        return [("n", "3"), ("n", "three")]

    spec = probe_script(s, dict(os.environ), values)
    assert described == [["--n"]]
    assert spec["checks"]["problems"][0] is None
    assert "three" in spec["checks"]["problems"][1]


def test_no_values_no_checks_and_no_child_left_when_reading_them_fails(tmp_path, monkeypatch) -> None:
    s = write(tmp_path, "s.py", "import argparse\np = argparse.ArgumentParser()\np.parse_args()\n")

    def broken(spec):
        raise ValueError("bad input on stdin")

    # A temporary folder of its own: other runs on the machine make batchpy-probe-* folders too.
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    with pytest.raises(ValueError):
        probe_script(s, dict(os.environ), broken)
    assert os.listdir(own_tmp) == []


def test_sigterm_while_waiting_for_values_stops_the_child_and_removes_its_folder(tmp_path) -> None:
    # jobs:submit ends a --check-values it did not need with SIGTERM.
    marker = tmp_path / "child"
    s = write(
        tmp_path,
        "s.py",
        "import argparse, os, pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text(f'{{os.getpid()}} {{os.getcwd()}}')\n"
        "p = argparse.ArgumentParser()\np.add_argument('--n', type=int)\np.parse_args()\n",
    )
    run_job = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "run_job.py")
    proc = subprocess.Popen(
        [sys.executable, run_job, "--check-values", "--script", s], stdin=subprocess.PIPE
    )
    for _ in range(600):
        if marker.exists() and " " in marker.read_text():
            break
        time.sleep(0.05)
    pid, cwd = marker.read_text().split(" ", 1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert not os.path.exists(os.path.dirname(cwd)), "the probe's temporary folder is removed"
    for _ in range(100):
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the probe child is still running")
