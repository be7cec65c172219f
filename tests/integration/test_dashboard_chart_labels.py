"""Chart axes and legends read as people read them (`columns.chart_labels`): the walk of the demo
found `total_usd`, `ratio_from`, `job_definition_name`, ... as axis titles on the dashboard pages."""

from __future__ import annotations

import json

import pytest

from tests import dashboard_helpers as dh
from tests.integration.test_dashboard_pages import run_page

#: Column names the pages plot; none may reach a chart as a title.
RAW_NAMES = {
    "total_usd",
    "cost_usd",
    "usd",
    "capacity_type",
    "instance_type",
    "job_definition_name",
    "ratio_from",
    "attempts",
    "day",
    "period",
    "kind",
    "class",
    "figure",
    "bucket",
    "queue",
}


@pytest.fixture(scope="module")
def seeded_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return dh.seeded_sqlite_url(tmp_path_factory.mktemp("chart_labels"))


@pytest.fixture
def seeded(seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", seeded_url)
    return seeded_url


def _titles(spec: dict) -> list[str]:
    """Every axis and legend title of a plotly figure spec."""
    layout = spec["layout"]
    titles = [
        (layout[name].get("title") or {}).get("text", "")
        for name in layout
        if name.startswith(("xaxis", "yaxis")) or name == "legend"
    ]
    return [t for t in titles if t]


@pytest.mark.parametrize("page", ["overview", "cost_explorer", "fleet_mix", "rightsizing"])
def test_no_chart_title_is_a_raw_column_name(seeded: str, page: str) -> None:
    app = run_page(page)
    if page == "rightsizing":
        app.selectbox(key="rs_definition").set_value("sort").run()
    specs = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    assert specs, f"{page} draws no chart"
    titles = [t for spec in specs for t in _titles(spec)]
    assert titles
    assert not RAW_NAMES & set(titles), titles
    legends = [
        str(trace.get("name")) for spec in specs for trace in spec["data"] if trace.get("name") is not None
    ]
    assert not {"attributed_usd", "idle_usd", "modelled_usd", "residual_usd"} & set(legends), legends
