"""Output paths are checked before the work that fills them (`optimizer/cli/output_files.py`):
`optimize --out` into a missing folder once failed with a traceback after the solve."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from optimizer.cli.cmd_optimize import bucket_seconds
from optimizer.cli.main import main
from optimizer.cli.output_files import prepare_output, write_atomic
from optimizer.errors import InputError


def test_a_missing_folder_is_made_and_a_directory_or_unwritable_place_refused(tmp_path: Path) -> None:
    prepare_output("--out", tmp_path / "new" / "deeper" / "plan.json")
    assert (tmp_path / "new" / "deeper").is_dir()
    with pytest.raises(InputError, match=r"^--out .*: is a directory; give a file name$"):
        prepare_output("--out", tmp_path / "new")
    with pytest.raises(
        InputError, match=r"^--jobs-out /proc/nope/jobs.csv: cannot make its folder /proc/nope"
    ):
        prepare_output("--jobs-out", "/proc/nope/jobs.csv")
    prepare_output("--out", None)  # (not given: nothing to check)


def test_an_atomic_write_leaves_no_temporary_file_when_it_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_atomic(target, lambda h: h.write("first"))

    def fail(handle: object) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, fail)
    assert target.read_text() == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


@pytest.mark.parametrize("text", ["nan", "inf", "0", "10", "abc"])
def test_bucket_seconds_must_be_a_finite_number_of_at_least_60(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        bucket_seconds(text)
    assert bucket_seconds("60") == 60.0


def test_optimize_refuses_a_directory_as_out_before_reading_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["optimize", "--problem", str(tmp_path / "missing.json"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--out {tmp_path}: is a directory" in err and "missing.json" not in err
