"""`[recommend.<strategy>]` TOML sections reach each strategy's typed settings; bad ones name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.config import load_settings
from optimizer.errors import ConfigError
from optimizer.recommend.generate import default_strategies
from optimizer.recommend.strategies import AttemptTimeoutStrategy, RetryAndSpotStrategy, ScalingStrategy


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "batchopt.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sections_set_the_strategies_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHOPT_CONFIG", raising=False)
    config = _write(
        tmp_path,
        """
[recommend.attempt-timeouts]
multiplier = 4.0
quantile = 0.95

[recommend.retry-and-spot]
attempts = 5
min_monthly_savings_usd = 25

[recommend.retry-and-spot.spot]
max_runtime_p95_s = 36000
""",
    )
    settings = load_settings(config)
    chosen = {type(s): s for s in default_strategies(settings)}
    timeouts = chosen[AttemptTimeoutStrategy].settings
    assert (timeouts.multiplier, timeouts.quantile, timeouts.min_jobs) == (4.0, 0.95, 20)
    retry = chosen[RetryAndSpotStrategy].settings
    assert (retry.attempts, retry.min_monthly_savings_usd, retry.spot.max_runtime_p95_s) == (5, 25.0, 36000.0)
    assert retry.spot.max_lost_share == 0.05  # unset fields keep their defaults
    assert chosen[ScalingStrategy].settings == ScalingStrategy.settings_class()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[recommend.attempt-timeouts]\nmultiplier = 1.0\n", "recommend.attempt-timeouts.multiplier"),
        ("[recommend.attempt-timeout]\nmultiplier = 4.0\n", "recommend.attempt-timeout: unknown strategy"),
        (
            "[recommend.retry-and-spot.spot]\nmax_runtim_p95_s = 1\n",
            "recommend.retry-and-spot.spot.max_runtim_p95_s",
        ),
    ],
)
def test_bad_sections_name_the_strategy_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    """The settings load (the layer below recommend does not check strategies); building the
    strategies, the first step of every recommend run, refuses the section."""
    monkeypatch.delenv("BATCHOPT_CONFIG", raising=False)
    settings = load_settings(_write(tmp_path, text))
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        default_strategies(settings)


def test_the_scheduler_refuses_a_bad_section_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The daily recommendations job would fail on it hours later; the scheduler says so at once,
    before it opens the store."""
    from optimizer.cli.main import main

    monkeypatch.delenv("BATCHOPT_CONFIG", raising=False)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", f"sqlite:///{tmp_path / 'never-created.db'}")
    config = _write(tmp_path, "[recommend.attempt-timeout]\nmultiplier = 4.0\n")
    code = main(["--config", str(config), "scheduler", "--list"])
    assert code != 0
    assert "recommend.attempt-timeout: unknown strategy" in capsys.readouterr().err
    assert not (tmp_path / "never-created.db").exists()
