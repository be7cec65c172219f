"""`batchopt apply --resume AUDIT_ID`: one of ID or --resume, and a clear refusal for a record that
is not a waiting apply (the resume itself is covered in test_apply_resume.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.cli.main import main


def test_apply_takes_an_id_or_resume_and_names_what_cannot_be_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("BATCHOPT_REGIONS", "us-east-1")
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["apply"]) == 2
    assert "give either a recommendation/plan ID or --resume AUDIT_ID" in capsys.readouterr().err
    assert main(["apply", "rec-1", "--resume", "4"]) == 2
    capsys.readouterr()
    assert main(["apply", "--resume", "999"]) != 0
    assert "audit record #999: not found" in capsys.readouterr().err
