"""values: variables to argv, and values against the script's own types."""

from __future__ import annotations

import argparse

import pytest

from batchpy_job.contract import JobError
from batchpy_job.probe import check_values, describe_parser
from batchpy_job.values import Rules, build_argv, split_list


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


def test_rules_answer_names_values_and_whole_sets_before_submission() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out-dir", dest="out_dir", required=True)
    p.add_argument("--v", action="count")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--gpu", action="store_true")
    group.add_argument("--cpu", action="store_true")
    rules = Rules(describe_parser(p, "train.py"), "train.py", ["VAR_B", "var_c"])
    assert rules.name_problem("out_dir") is None and rules.name_problem("OMP_NUM_THREADS") is None
    assert "did you mean out-dir?" in (rules.name_problem("OUT_DIR") or "")
    assert "is reserved" in (rules.name_problem("AWS_BATCH_JOB_ID") or "")
    assert "is not a batchpy variable" in (rules.name_problem("BATCHPY_INPUT") or "")
    assert "container/job/train.py (declared: out-dir, v, gpu, cpu)" in (
        rules.name_problem("typo") or ""
    )

    def ask(values: dict[str, str]) -> dict:
        pairs = [[n, v] for n, v in values.items()]
        request = {"values": pairs, "sets": [list(range(len(pairs)))]}
        return rules.answer(request)

    assert ask({"v": "lots"})["values"][0] == [
        '"v" = "lots" must be a count from 0 to 1000 (how many times the option is repeated), '
        "or true/false"
    ]
    assert ask({"gpu": "maybe"})["values"][0][0].startswith('"gpu" = "maybe" is not a flag')
    both = ask({"out-dir": "a", "out_dir": "b", "gpu": "1", "cpu": "yes"})["sets"][0]
    assert [p.get("name") for p in both["problems"]] == ["out_dir", None]
    assert "accepts only one of gpu, cpu" in both["problems"][1]["message"]
    assert ask({"gpu": "false"})["sets"][0] == {
        "problems": [{"message": "container/job/train.py requires one of gpu, cpu; set one of these variables"}],
        "missing": ['container/job/train.py requires --out-dir: set the variable "out-dir"'],
    }
    request = {"names": ["typo"], "values": [["v", "2"]], "sets": [[0]], "setNames": ["BATCHPY_INPUTS", "v"]}
    answer = rules.answer(request)
    assert answer["setNames"][1] is None
    assert answer["setNames"][0].startswith('"BATCHPY_INPUTS" cannot vary per set of an array job')
    assert answer["values"] == [[]] and answer["sets"][0]["missing"] == [
        'container/job/train.py requires --out-dir: set the variable "out-dir"'
    ]
    assert answer["plainEnv"] == [answer["plainEnv"][0]] and "--plain-env var_c" in answer["plainEnv"][0]


def test_check_values_refuses_what_the_run_refuses_in_the_runs_words(monkeypatch) -> None:
    """Counts, "--", option-like and @file list items, a required flag turned off, a list that is
    not a JSON array: each pair gets the message build_argv gives when the job runs."""
    p = argparse.ArgumentParser(fromfile_prefix_chars="@")
    p.add_argument("--pair", nargs=2)
    p.add_argument("--xs", type=int, nargs=2)
    p.add_argument("--names", nargs="+")
    p.add_argument("--tag")
    p.add_argument("--on", action="store_true", required=True)
    spec = describe_parser(p, "s.py")
    # The container's Python 3.11 drops "--" from --tag=--.
    monkeypatch.setattr("batchpy_job.values.DASHDASH_VALUE_OK", False)
    rules = Rules(spec, "s.py")
    bad = [
        ("pair", "a"),
        ("xs", "1"),
        ("names", ""),
        ("names", "a,-b"),
        ("names", "a,@args.txt"),
        ("names", "[bad"),
        ("tag", "--"),
        ("on", "false"),
    ]
    checks = check_values(p, spec, bad)
    answer = rules.answer({"values": bad}, checks)
    for (name, value), problems in zip(bad, answer["values"]):
        env = {"on": "true", name: value}
        with pytest.raises(JobError) as err:
            build_argv(spec, env, rules.label)
        assert problems == err.value.problems, (name, value)
    assert answer["values"][1] == [
        'variable "xs" has 1 item(s) but --xs takes exactly 2: separate items with ","'
    ]
    assert answer["values"][4] == [
        'variable "names" has the item "@args.txt", which argparse would read as a file of '
        'arguments ("@" is a fromfile_prefix_char)'
    ]
    # When the run's own check passes, the script's types still check the items.
    good = [("pair", "a,b"), ("names", "a,-1"), ("tag", "-x"), ("xs", "1,x")]
    checks = check_values(p, spec, good)
    answer = rules.answer({"values": good}, checks)
    assert answer["values"] == [[], [], [], ['"x" is not a valid int for --xs (type=int)']]
