import subprocess
import sys
from pathlib import Path

import pytest

import optimizer
from optimizer.cli.main import _command_modules, build_parser, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert optimizer.__version__ in capsys.readouterr().out


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert "db" in commands
    assert len(commands) >= len(_command_modules())
    for name in commands:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        assert f"batchopt {name}" in capsys.readouterr().out


def test_bad_setting_prints_one_line_and_exits_2() -> None:
    env = {"BATCHOPT_COLLECTION__INTERVAL_MINUTES": "abc", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "optimizer", "db", "current"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "batchopt: error: collection.interval_minutes (BATCHOPT_COLLECTION__INTERVAL_MINUTES): "
        "Input should be a valid integer, unable to parse string as an integer"
    ]
    assert "Traceback" not in proc.stderr


def test_a_locked_store_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQLite waits 30 s for another writer (`store.engine`), then SQLAlchemy raises; that was a
    50-line traceback. Raised here straight from the command, as a locked store raises it."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from optimizer.cli import cmd_db

    def locked(*_args: object) -> int:
        raise OperationalError("INSERT INTO jobs ...", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(cmd_db, "run_current", locked)
    assert main(["db", "current"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "batchopt: error: the store could not be used: database is locked (another batchopt command may be"
        " writing to it; retry)"
    ]

    def broken(*_args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cmd_db, "run_current", broken)
    with pytest.raises(RuntimeError, match="a bug"):  # (anything else keeps its traceback)
        main(["db", "current"])

    def reader_gone(*_args: object) -> int:
        raise BrokenPipeError

    monkeypatch.setattr(cmd_db, "run_current", reader_gone)
    monkeypatch.setattr("optimizer.cli.main._silence_stdout", lambda: None)
    assert main(["db", "current"]) == 0  # (`batchopt ... | head`: quiet, not caught as a store error)


def test_db_current_reports_a_missing_sqlite_file_without_creating_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", f"sqlite:///{missing}")
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out.startswith(f"current: no store (file {missing} does not exist)\nhead: ")
    assert not missing.exists()


def test_every_command_help_opens_with_what_it_does(capsys: pytest.CaptureFixture[str]) -> None:
    # 15 commands' --help showed their options only.
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, __import__("argparse")._SubParsersAction))
    for name, command in sub.choices.items():
        assert command.description, name
    with pytest.raises(SystemExit):
        main(["rollback", "--help"])
    assert "unlike apply it acts at once" in " ".join(capsys.readouterr().out.split())


def test_train_refuses_a_models_folder_it_cannot_make_before_training(
    cli_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--models-dir", "/proc/nope", "--only", "interruptions"]) == 2
    assert capsys.readouterr().err.strip() == (
        "batchopt: error: --models-dir /proc/nope: cannot make the folder: No such file or directory"
    )
