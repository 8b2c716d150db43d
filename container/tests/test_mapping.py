"""mapping and values: variables to argv, and values against the script's own types."""

from __future__ import annotations

import argparse

import pytest

from batchpy_job.errors import JobError
from batchpy_job.introspect import describe_parser
from batchpy_job.mapping import build_argv, split_list
from batchpy_job.values import check_values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--mode", choices=["a", "b"])
    p.add_argument("--xs", type=float, nargs="+")
    p.add_argument("--out", type=argparse.FileType("w"))
    p.add_argument("--v", action="store_true")
    return p


def test_maps_values_flags_and_lists() -> None:
    spec = describe_parser(parser(), "s.py")
    argv = build_argv(spec, {"n": "3", "xs": "1,2", "v": "yes"}, "s.py")
    assert argv == ["--n=3", "--xs", "1", "2", "--v"]
    assert split_list("xs", '["a,b", "c"]') == ["a,b", "c"]


def test_reports_every_problem_at_once() -> None:
    spec = describe_parser(parser(), "s.py")
    with pytest.raises(JobError) as err:
        build_argv(spec, {"v": "maybe"}, "s.py")
    assert len(err.value.problems) == 2  # a bad flag value, and the required --n


def test_checks_values_with_the_scripts_types_and_skips_unsafe_ones(tmp_path) -> None:
    p = parser()
    spec = describe_parser(p, "s.py")
    target = tmp_path / "kept.txt"
    target.write_text("keep", encoding="utf-8")
    checks = check_values(
        p, spec, [("n", "six"), ("n", " 7 "), ("mode", "c"), ("xs", "1,x"), ("out", str(target))]
    )
    assert checks["problems"] == [
        '"six" is not a valid int for --n (type=int)',
        None,
        "\"c\" is not one of the choices of --mode (type=str): 'a', 'b'",
        '"x" is not a valid float for --xs (type=float)',
        None,
    ]
    assert checks["skipped"] == [
        {"option": "out", "reason": "type=FileType('w') is not known to be free of side effects"}
    ]
    assert target.read_text(encoding="utf-8") == "keep", "FileType('w') was never called"


def test_calls_only_options_with_a_type_or_choices() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--names", nargs="+")
    p.add_argument("--plain", type=str)
    p.add_argument("--ns", type=int, nargs="+")
    spec = describe_parser(p, "s.py")
    checks = check_values(p, spec, [("names", "[bad"), ("plain", "x"), ("ns", "[bad")])
    assert checks["problems"][:2] == [None, None]
    assert "not a JSON array" in checks["problems"][2]
