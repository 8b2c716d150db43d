"""settings: run_job's own settings and an array child's set, all from contract.json."""

from __future__ import annotations

import json

import pytest

from batchpy_job import contract
from batchpy_job.contract import JobError
from batchpy_job.settings import job_name_problem, manifest_sets, read_config, select_array_set


def test_job_names_follow_the_aws_rule_whole() -> None:
    assert job_name_problem("sample_job_1") is None
    assert job_name_problem("A" * 128) is None
    # fullmatch: "$" alone would let a trailing newline through.
    assert job_name_problem("job\n") is not None
    assert job_name_problem("_job") is not None  # AWS: starts with a letter or digit
    assert job_name_problem("-job") is not None
    assert job_name_problem("A" * 129) is not None
    assert job_name_problem("a/b") is not None


def test_refuses_a_job_name_with_a_trailing_newline() -> None:
    with pytest.raises(JobError) as err:
        read_config({"BATCHPY_JOB_NAME": "job\n"})
    assert err.value.code == contract.EXIT_CONFIG
    assert '"job\\n" is not a job name' in err.value.problems[0]


def test_keys_come_from_the_contract_prefixes() -> None:
    config = read_config({"BATCHPY_JOB_NAME": "j", "AWS_BATCH_JOB_ARRAY_INDEX": "3"})
    assert config.results_prefix() == contract.PREFIXES["results"] + "j/3/"
    assert config.log_key() == contract.PREFIXES["logs"] + "j/3.log"


def manifest(*sets: object) -> str:
    return json.dumps({"version": contract.MANIFEST_VERSION, "sets": list(sets)})


def select(text: str, index: int, source: str = "m.json") -> tuple:
    """An array child's set, as run_job reads it from the manifest's text."""
    return select_array_set(manifest_sets(text, source), index, source)


@pytest.mark.parametrize(
    "variables, needle",
    [
        ({"BATCHPY_INPUTS": "x"}, 'm.json sets[0]: "BATCHPY_INPUTS" cannot vary per set'),
        ({"AWS_BATCH_JOB_ID": "x"}, 'm.json sets[0]: "AWS_BATCH_JOB_ID" is reserved'),
        ({"a": "1\0"}, 'm.json sets[0]: the value of "a" contains a NUL byte'),
        ({"a": 5}, "must be a string"),
        ({"a": "x" * contract.MAX_ARG_BYTES}, "Linux passes at most"),
        ({"a": "a\ud800b"}, "m.json sets[0].a holds \\ud800, half of a UTF-16 surrogate pair"),
        ({"a": "\udfff" * contract.MAX_ARG_BYTES}, "holds \\udfff, half of a UTF-16"),
        ({"a\udc80": "1"}, 'the variable name "a\udc80": it holds \\udc80, half of a UTF-16'),
    ],
)
def test_a_set_is_held_to_the_job_rules(variables: dict, needle: str) -> None:
    with pytest.raises(JobError) as err:
        select(manifest(variables), 0, "m.json")
    assert any(needle in p for p in err.value.problems), err.value.problems


def test_a_value_just_under_the_kernel_limit_passes() -> None:
    value = "x" * (contract.MAX_ARG_BYTES - len("a=") - 1)
    assert select(manifest({"a": value}), 0, "m.json") == ({"a": value}, 0)


def test_refuses_another_manifest_version() -> None:
    with pytest.raises(JobError):
        select(json.dumps({"version": contract.MANIFEST_VERSION + 1, "sets": []}), 0, "m")


def test_a_set_index_files_a_plain_job_under_that_set() -> None:
    config = read_config({"BATCHPY_JOB_NAME": "sw", "BATCHPY_SET_INDEX": "20000"})
    assert config.array_index == 20000
    assert config.results_prefix() == "results/sw/20000/"
    assert config.log_key() == "logs/sw/20000.log"


@pytest.mark.parametrize(
    "env, needle",
    [
        ({"BATCHPY_SET_INDEX": "-1"}, "is not a set number"),
        ({"BATCHPY_SET_INDEX": "1\n"}, "is not a set number"),
        ({"BATCHPY_SET_INDEX": "3", "AWS_BATCH_JOB_ARRAY_INDEX": "0"}, "set on an array child"),
    ],
)
def test_a_bad_set_index_is_a_config_error(env: dict, needle: str) -> None:
    with pytest.raises(JobError) as err:
        read_config({"BATCHPY_JOB_NAME": "sw", **env})
    assert needle in "\n".join(err.value.problems)


def test_manifest_indexes_map_children_to_set_numbers() -> None:
    text = json.dumps({"version": 1, "sets": [{"a": "1"}, {"a": "2"}], "indexes": [7, 12]})
    assert select(text, 1, "m.json") == ({"a": "2"}, 12)
    assert select(manifest({"a": "1"}), 0, "m.json") == ({"a": "1"}, 0)


@pytest.mark.parametrize("indexes", [[7], [7, "12"], [7, -1], [7, True], "7,12"])
def test_manifest_indexes_must_be_one_set_number_per_set(indexes: object) -> None:
    text = json.dumps({"version": 1, "sets": [{"a": "1"}, {"a": "2"}], "indexes": indexes})
    with pytest.raises(JobError) as err:
        select(text, 0, "m.json")
    assert 'm.json has "indexes" that are not one set number' in "\n".join(err.value.problems)
