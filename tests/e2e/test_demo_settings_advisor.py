"""Issue 18's done-when on the demo: `batchopt recommend --json` lists a recommendation of each Batch
settings strategy, each with a replay-backed figure, its metadata and an evidence command.

The demo estate (`optimizer/demo/estate.py`, `history.py` rule 5) holds what each strategy exists
for: `cpu-short` (no retry strategy, three teams first-in first-out, runaways, GPU jobs sent to a
CPU queue) and `spot-pipeline` (spot only, 16 tasks per instance). The default 30-day history is
used (the e2e tests' shared run, `tests/e2e/conftest.py`): shorter ones leave out some of the
month's runaways.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from optimizer.cli.main import main
from tests.demo_helpers import HeadlessDemo

pytestmark = [pytest.mark.xdist_group("demo"), pytest.mark.slow, pytest.mark.emulator]

SETTINGS_STRATEGIES = (
    "retry-and-spot",
    "spot-fallback",
    "stuck-job-limits",
    "attempt-timeouts",
    "fair-share",
    "blast-radius",
)
METADATA_KEYS = {"implementation_effort", "restarts_running_jobs", "reversible"}


def _commands(evidence: dict[str, Any]) -> list[str]:
    """Every evidence command of a recommendation (the replay's, or the ones it lists)."""
    replayed = evidence.get("replay") or {}
    found = [replayed.get("command"), *(replayed.get("commands") or []), evidence.get("command")]
    return [c for c in found if isinstance(c, str) and c.startswith("batchopt ")]


def _figure(rec: dict[str, Any]) -> bool:
    """A replay-backed monthly figure (both replays' costs in the evidence) or a wait change."""
    replayed = rec["evidence"].get("replay") or {}
    priced = replayed.get("current_cost_usd") is not None and replayed.get("proposed_cost_usd") is not None
    waits = (replayed.get("tradeoffs") or {}).get("queues") or []
    return priced and (rec["monthly_savings_usd"] != 0 or bool(waits))


def test_demo_lists_every_settings_strategy_with_evidence(
    headless_demo: HeadlessDemo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert headless_demo.exit_code == 0, headless_demo.out
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", headless_demo.database_url)
    assert main(["recommend", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    by_strategy: dict[str, list[dict[str, Any]]] = {}
    for rec in listed["recommendations"]:
        by_strategy.setdefault(rec["strategy"], []).append(rec)
    missing = [s for s in SETTINGS_STRATEGIES if s not in by_strategy]
    assert not missing, f"no recommendation from {missing} (found: {sorted(by_strategy)})"
    for name in SETTINGS_STRATEGIES:
        rec = by_strategy[name][0]
        evidence = rec["evidence"]
        assert set(evidence.get("metadata") or {}) >= METADATA_KEYS, name
        assert _figure(rec), name
        assert _commands(evidence), name
        assert rec["headline"]["verdict"], name
    # One headline, overlaps counted once: it is at most the sum of the counted items.
    counted = [r for r in listed["recommendations"] if r["headline"]["verdict"] == "counted"]
    assert listed["identified_savings_usd_per_month"] == pytest.approx(
        sum(r["headline"]["monthly_savings_usd"] for r in counted), abs=0.05
    )
