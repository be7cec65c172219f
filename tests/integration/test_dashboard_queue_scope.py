"""Filtering the cost explorer by queue shows the idle of the compute environments serving the queues.

The seeded estate (tests/dashboard_helpers.py): q-spot is configured on [ce-spot, ce-od]; q-gpu has no
collected queue row and ran on ce-gpu only. Expected figures come from the attribution itself.
"""

from __future__ import annotations

import pytest

from optimizer.analysis.cost import IDLE
from optimizer.dashboard.components import money
from optimizer.dashboard.queue_scope import configured_ces, idle_where
from tests import dashboard_helpers as dh
from tests.integration.test_dashboard_pages import metric, run_page


@pytest.fixture(scope="module")
def seeded_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return dh.seeded_sqlite_url(tmp_path_factory.mktemp("queue_scope"))


@pytest.fixture
def seeded(seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", seeded_url)
    return seeded_url


def _sums(queue: str, ces: list[str]) -> tuple[float, float]:
    lines = dh.expected().lines
    work = lines[lines["queue"] == queue]["total_usd"].sum()
    idle = lines[(lines["queue"] == IDLE) & lines["compute_environment_arn"].isin(ces)]["idle_usd"].sum()
    return float(work), float(idle)


def test_a_configured_queue_shows_the_idle_of_every_ce_in_its_order(seeded: str) -> None:
    work, idle = _sums("q-spot", [dh.CE_ARN["ce-spot"], dh.CE_ARN["ce-od"]])
    assert idle == pytest.approx(0.085 + 0.048) and idle > 0
    app = run_page("cost_explorer")
    app.multiselect(key="f_queue").set_value(["q-spot"]).run()
    assert metric(app, "Idle") == money(idle)
    assert metric(app, "Total") == money(work + idle)
    assert any("ce-spot, ce-od" in c.value or "ce-od, ce-spot" in c.value for c in app.caption)


def test_a_queue_without_inventory_gets_the_idle_of_the_ces_it_ran_on(seeded: str) -> None:
    work, idle = _sums("q-gpu", [dh.CE_ARN["ce-gpu"]])
    assert idle == pytest.approx(6.732)
    app = run_page("cost_explorer")
    app.multiselect(key="f_queue").set_value(["q-gpu"]).run()
    assert metric(app, "Idle") == money(idle)
    assert metric(app, "Total") == money(work + idle)
    # a CE filter that excludes the serving CE excludes its idle too: nothing of q-gpu is left
    app.multiselect(key="f_compute_environment_arn").set_value([dh.CE_ARN["ce-od"]]).run()
    assert not app.metric and "No cost in the selected days" in " ".join(w.value for w in app.warning)


def test_idle_where_keeps_the_other_filters_and_narrows_ces() -> None:
    where = (("queue", ("q",)), ("compute_environment_arn", ("a", "b")), ("capacity_type", ("SPOT",)))
    assert dict(idle_where(where, ("b", "c")) or ()) == {
        "queue": (IDLE,),
        "compute_environment_arn": ("b",),
        "capacity_type": ("SPOT",),
        "job_definition_name": (IDLE,),
    }
    assert idle_where(where, ("c",)) is None
    rows = [{"compute_environment_order": [{"order": 1, "computeEnvironment": "ce-x"}]}, {}]
    assert configured_ces(rows, {"ce-x": "arn:x"}) == {"arn:x"}
