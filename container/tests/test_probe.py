"""probe and introspect: the script's options read in a child process; a script whose
import is not installed names the module and its requirements.txt."""

from __future__ import annotations

import os

import pytest

from batchpy_job.errors import JobError
from batchpy_job.probe import may_use_argparse, probe_script


def write(tmp_path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return str(path)


def test_describes_options_with_their_types(tmp_path) -> None:
    s = write(tmp_path, "s.py", "import argparse\np = argparse.ArgumentParser()\np.add_argument('--n', type=int)\np.parse_args()\n")
    spec = probe_script(s, dict(os.environ))
    assert [(o["env"], o["type"]) for o in spec["options"]] == [("n", "int")]


def test_a_missing_package_names_the_module_and_the_requirements_file(tmp_path) -> None:
    s = write(tmp_path, "s.py", "import argparse\nimport batchpy_absent_pkg.sub\n")
    with pytest.raises(JobError) as err:
        probe_script(s, dict(os.environ))
    (line,) = err.value.problems
    assert line.startswith('s.py imports "batchpy_absent_pkg", which is not installed: add the package')
    assert str(tmp_path / "requirements.txt") in line


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
