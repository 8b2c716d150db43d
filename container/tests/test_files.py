"""files: only what the job wrote inside its working directory leaves it (issue: a link
named like the output folder, or above it, once uploaded /etc)."""

from __future__ import annotations

import os

from batchpy_job.transfers import result_files, snapshot


def make(path: str, text: str = "x") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def test_an_output_folder_that_links_outside_uploads_nothing(tmp_path, capsys) -> None:
    outside = tmp_path / "outside"
    make(str(outside / "secret"))
    work = tmp_path / "work"
    work.mkdir()
    os.symlink(outside, work / "out")
    assert result_files("out", str(work), {}) == (str(work), [])
    assert "outside the working directory; no results uploaded" in capsys.readouterr().err


def test_a_folder_above_the_output_folder_that_links_outside_uploads_nothing(tmp_path, capsys) -> None:
    outside = tmp_path / "outside"
    make(str(outside / "out" / "secret"))
    work = tmp_path / "work"
    work.mkdir()
    os.symlink(outside, work / "up")
    assert result_files("up/out", str(work), {})[1] == []
    assert "resolves to" in capsys.readouterr().err


def test_links_to_outside_files_are_skipped_with_a_warning_in_every_mode(tmp_path, capsys) -> None:
    make(str(tmp_path / "outside" / "passwd"))
    work = tmp_path / "work"
    make(str(work / "out" / "r.txt"))
    os.symlink(tmp_path / "outside" / "passwd", work / "out" / "p")
    os.symlink(tmp_path / "outside", work / "out" / "dir")
    # changed-files mode
    assert result_files(None, str(work), {})[1] == ["out/r.txt"]
    # output-folder mode
    assert result_files("out", str(work), {})[1] == ["r.txt"]
    err = capsys.readouterr().err
    warned = sorted(line.split(" not uploaded")[0] for line in err.splitlines())
    assert warned == [
        'run_job: warning: "dir"',
        'run_job: warning: "out/dir"',
        'run_job: warning: "out/p"',
        'run_job: warning: "p"',
    ]


def test_snapshot_keeps_regular_files_only(tmp_path) -> None:
    make(str(tmp_path / "a" / "b.txt"))
    os.symlink(tmp_path / "a" / "b.txt", tmp_path / "link")
    assert list(snapshot(str(tmp_path))) == ["a/b.txt"]
