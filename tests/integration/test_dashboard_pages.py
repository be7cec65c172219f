"""Every dashboard page under Streamlit's AppTest on a seeded store: the numbers shown are the analysis
functions' numbers on the same data, empty stores say what to run, and applying is gated."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from optimizer.analysis.cost import IDLE
from optimizer.analysis.rightsizing import rightsizing_evidence
from optimizer.analysis.rollup import cost_by, cost_by_tag
from optimizer.apply import records
from optimizer.dashboard.components import money
from optimizer.dashboard.pages.recommendations import FLEET_PLANS_NOT_SIZED
from optimizer.dashboard.router import PAGES, PageSpec
from optimizer.domain import UpdateKind
from optimizer.store.schema import recommendations
from tests import dashboard_helpers as dh

TIMEOUT = 60


def page_app(module: str) -> AppTest:
    script = f"from optimizer.dashboard.pages import {module}\n{module}.render()\n"
    return AppTest.from_string(script, default_timeout=TIMEOUT)


def run_page(module: str) -> AppTest:
    app = page_app(module)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def metric(app: AppTest, label: str) -> str:
    found = [m.value for m in app.metric if m.label == label]
    assert found, f"no metric {label!r}; have {[m.label for m in app.metric]}"
    return found[0]


def frame_with(app: AppTest, *columns: str) -> pd.DataFrame:
    for element in app.dataframe:
        frame = element.value
        if all(c in frame.columns for c in columns):
            return frame
    raise AssertionError(f"no table with columns {columns}")


def infos(app: AppTest) -> str:
    return " | ".join(i.value for i in app.info)


@pytest.fixture(scope="module")
def seeded_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return dh.seeded_sqlite_url(tmp_path_factory.mktemp("dash"))


@pytest.fixture
def seeded(seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", seeded_url)
    return seeded_url


@pytest.fixture
def empty_store(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    return sqlite_engine


@pytest.fixture
def fresh_seeded(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """A seeded store of this test's own, for tests that change it."""
    dh.seed(sqlite_engine)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    return sqlite_engine


def test_overview_shows_the_attributed_spend_idle_and_savings(seeded: str) -> None:
    result = dh.expected()
    app = run_page("overview")
    assert metric(app, "Spend, last 7 days") == money(result.instances["total_usd"].sum())
    assert metric(app, "Idle capacity") == money(result.instances["idle_usd"].sum())
    assert metric(app, "Identified (open), per month") == money(250.0 + 40.5 + 12.25)
    assert metric(app, "Applied, per month (estimated)") == money(0.0)
    busy = result.lines.loc[result.lines["queue"] != IDLE, "vcpu_hours"].sum()
    assert metric(app, "vCPU allocation") == f"{busy / result.lines['vcpu_hours'].sum():.1%}"
    # The report's three spot shares, under the same names (`analysis.rollup.SPOT_SHARES`)
    lines = result.lines.assign(cap=result.lines["capacity_type"].astype(str).str.upper())
    known = lines[lines["cap"].isin(["SPOT", "ON_DEMAND"])]
    work = known[known["queue"] != IDLE]
    for name, rows, column in (
        ("Spot share of spend", known, "total_usd"),
        ("Spot share of instance vCPU-hours", known, "vcpu_hours"),
        ("Spot share of job vCPU-hours", work, "vcpu_hours"),
    ):
        share = rows.loc[rows["cap"] == "SPOT", column].sum() / rows[column].sum()
        assert metric(app, name) == f"{share:.1%}"
    freshness = frame_with(app, "source", "last_success")
    assert sorted(freshness["source"]) == ["batch_jobs", "spot_prices"]
    assert int(freshness.loc[freshness["source"] == "batch_jobs", "failed_runs"].iloc[0]) == 1


def test_cost_explorer_totals_waste_top_definitions_and_tags_match_the_rollups(seeded: str) -> None:
    result = dh.expected()
    lines = result.lines
    app = run_page("cost_explorer")
    assert metric(app, "Total") == money(lines["total_usd"].sum())
    assert metric(app, "Attributed to jobs") == money(lines["attributed_usd"].sum())
    assert metric(app, "Idle") == money(lines["idle_usd"].sum())
    waste = frame_with(app, "class", "usd").set_index("class")["usd"]
    assert waste["Out-of-memory attempts"] == pytest.approx(lines["oom_usd"].sum())
    assert waste["Lost to spot reclaims"] == pytest.approx(lines["spot_reclaim_usd"].sum())
    assert waste["Requested but unused"] == pytest.approx(lines["over_requested_usd"].sum())
    top = frame_with(app, "job_definition_name", "over_requested_usd").set_index("job_definition_name")
    want = cost_by(lines, ["job_definition_name"]).set_index("job_definition_name")
    want = want.drop(index=IDLE)
    assert list(top.index) == list(want.index)
    assert top["total_usd"].to_numpy() == pytest.approx(want["total_usd"].to_numpy())
    [chart] = [json.loads(c.proto.spec) for c in app.get("plotly_chart") if "top_defs" in c.proto.id]
    assert chart["layout"]["yaxis"]["categoryorder"] == "total ascending"  # the largest on top
    app.radio(key="period").set_value("week").run()
    assert metric(app, "Total") == money(lines["total_usd"].sum()), (
        "a period changes the chart, not the totals"
    )
    tags = frame_with(app, "tag_value", "total_usd").set_index("tag_value")["total_usd"]
    by_tag = cost_by_tag(result, "team").set_index("tag:team")["total_usd"]
    assert tags.sort_index().to_numpy() == pytest.approx(by_tag.sort_index().to_numpy())


def test_cost_explorer_says_which_weekly_bars_are_partial_weeks(seeded: str) -> None:
    """The demo's 31 days (Wednesday 4 Nov to Friday 4 Dec) charted by week: the last bar held 5 days
    and stood 38 % below the week before, with nothing saying it was not a whole week."""
    app = run_page("cost_explorer")
    assert not [c.value for c in app.caption if c.value.startswith("Weeks run")]
    app.radio(key="period").set_value("week").run()
    assert (
        "Weeks run Monday to Sunday (UTC); these bars hold only part of their week: "
        "week of 2026-11-02 (2026-11-02 to 2026-11-03)."
    ) in [c.value for c in app.caption]


def test_cost_explorer_filters_by_capacity_type_and_region(seeded: str) -> None:
    lines = dh.expected().lines
    app = run_page("cost_explorer")
    app.multiselect(key="f_capacity_type").set_value(["SPOT"]).run()
    spot = lines[lines["capacity_type"] == "SPOT"]
    assert metric(app, "Total") == money(spot["total_usd"].sum())
    app.multiselect(key="f_region").set_value(["us-east-1"]).run()
    assert metric(app, "Total") == money(spot["total_usd"].sum())


def test_rightsizing_shows_the_evidence_of_the_chosen_definition(seeded: str) -> None:
    f = dh.frames()
    app = run_page("rightsizing")
    app.selectbox(key="rs_definition").set_value("sort").run()
    want = rightsizing_evidence(f.jobs, f.attempts, f.instance_types)
    row = want[(want["job_definition_name"] == "sort") & (want["name_pattern"] == "*")].iloc[0]
    assert metric(app, "Attempts") == f"{int(row['attempts']):,}"
    assert metric(app, "Out-of-memory kills") == f"{int(row['oom_kills']):,}" == "1"
    assert metric(app, "Memory peak / request, p95") == f"{row['memory_p95_per_requested']:.1%}"
    shown = frame_with(app, "peak_memory_mib_p95", "oom_rate")
    assert shown["peak_memory_mib_p95"].iloc[0] == pytest.approx(row["peak_memory_mib_p95"])
    recommendation = frame_with(app, "current", "proposed")
    assert recommendation.loc["memory_mib", "proposed"] == "6144"


def test_rightsizing_tables_name_the_statistic_of_their_requests(seeded: str) -> None:
    """The summary's requests are means and the evidence's medians; both columns were labelled
    "Requested memory MiB", and in the demo they read 65,242 and 61,440 for one definition."""
    f = dh.frames()
    app = run_page("rightsizing")
    app.selectbox(key="rs_definition").set_value("sort").run()
    summary = frame_with(app, "job_definition_name", "mean_requested_memory_mib", "mean_requested_vcpus")
    evidence = frame_with(app, "name_pattern", "median_requested_memory_mib", "median_requested_vcpus")
    for frame in (summary, evidence):
        assert "requested_memory_mib" not in frame.columns and "requested_vcpus" not in frame.columns
    want = rightsizing_evidence(f.jobs, f.attempts, f.instance_types)
    row = want[(want["job_definition_name"] == "sort") & (want["name_pattern"] == "*")].iloc[0]
    assert evidence.set_index("name_pattern").loc["*", "median_requested_memory_mib"] == pytest.approx(
        row["requested_memory_mib"]
    )
    sort_jobs = f.jobs[f.jobs["job_definition_name"] == "sort"]
    attempts = f.attempts.merge(sort_jobs[["job_id", "memory_mib"]], on="job_id")
    assert summary.set_index("job_definition_name").loc["sort", "mean_requested_memory_mib"] == pytest.approx(
        attempts["memory_mib"].mean()
    )


def test_fleet_mix_shows_current_spend_and_the_plan_with_its_bound(seeded: str) -> None:
    result = dh.expected()
    _, plan = dh.fleet_documents()
    app = run_page("fleet_mix")
    assert metric(app, "Spend, last 28 days") == money(result.instances["total_usd"].sum())
    assert metric(app, "Plan cost") == money(plan["cost_usd"])
    assert metric(app, "Lower bound") == money(plan["lower_bound_usd"])
    assert metric(app, "Gap") == f"{plan['gap']:.1%}"
    mix = frame_with(app, "instance_hours", "cost_usd").set_index("instance_type")
    assert mix.loc["m5.xlarge", "instance_hours"] == 3  # 2 + 1 instances for an hour each
    assert mix["cost_usd"].sum() == pytest.approx(plan["cost_usd"])


def test_spot_shows_history_bands_reclaims_and_the_cost_of_lost_work(seeded: str) -> None:
    result = dh.expected()
    app = run_page("spot")
    assert metric(app, "Reclaimed attempts") == "1"
    assert metric(app, "Cost of reclaimed attempts") == money(result.lines["spot_reclaim_usd"].sum())
    bands = frame_with(app, "band_label")
    assert bands["band_label"].tolist() == ["5-10%"]
    rates = frame_with(app, "reclaims_per_1000h").set_index("instance_type")
    assert rates.loc["m5.xlarge", "reclaimed_instances"] == 1
    assert rates.loc["m5.xlarge", "hours_lost"] == pytest.approx(0.5)


def test_what_if_re_solves_the_stored_problem_under_the_new_policy(seeded: str) -> None:
    """No spot allowed: the 4 then 2 two-vCPU jobs need 6 m5.large on-demand instance-hours."""
    app = run_page("what_if")
    app.slider[0].set_value(0.0)  # max spot share
    app.button[0].click().run()
    assert not app.exception, [e.value for e in app.exception]
    compared = frame_with(app, "measure", "what-if").set_index("measure")
    assert compared.loc["cost (USD)", "what-if"] == "$0.58"  # 6 x $0.096, as money, not 0.576
    assert compared.loc["instance types", "what-if"] == "1 (listed below)"
    offerings = frame_with(app, "offering", "stored plan", "what-if").set_index("offering")
    assert offerings["what-if"].to_dict() == {
        o: "yes" if o == "m5.large/ON_DEMAND" else "no" for o in offerings.index
    }
    assert compared.loc["cost (USD)", "stored plan"] == money(dh.fleet_documents()[1]["cost_usd"])
    environments = app.json[0].value
    assert '"BEST_FIT_PROGRESSIVE"' in environments and "m5.large" in environments

    app.toggle(key="wi_replay").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    replayed = frame_with(app, "measure", "current configuration", "what-if plan").set_index("measure")
    finished_q_spot_jobs = 2  # j-c and j-fail ran on queue q-spot
    assert replayed.loc["jobs"].tolist() == [str(finished_q_spot_jobs)] * 2
    assert replayed.loc["spot cost (USD)", "what-if plan"] == "$0.00", "no spot allowed in the what-if"
    assert replayed.loc["spot cost (USD)", "current configuration"] != "$0.00", (
        "the current queue is spot-first"
    )


def test_runs_and_health_shows_runs_failures_models_and_schedule(
    seeded: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optimizer.ml.registry import ModelCard, ModelRegistry

    models = tmp_path / "models"
    card = ModelCard(
        name="demand-q-main", kind="demand-forecast", trained_at="2026-11-09T03:00:00",
        training_window={"start": "2026-10-01", "end": "2026-11-09"}, features=["hour"], target="vcpus",
        metrics={"backtest": {"mae": 1.5}},
    )  # fmt: skip
    ModelRegistry(models).save({"fitted": True}, card)
    monkeypatch.setenv("BATCHOPT_MODELS_DIR", str(models))
    app = run_page("health")
    assert metric(app, "Failed runs") == "1"
    failures = frame_with(app, "error", "status")
    assert failures["error"].tolist() == ["ThrottlingException: Rate exceeded"]
    cards = frame_with(app, "metric: backtest.mae")
    assert cards["metric: backtest.mae"].tolist() == [1.5]
    assert "batchopt scheduler" in infos(app)


def test_health_lists_the_schedulers_jobs_and_next_run_times(fresh_seeded: Engine) -> None:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(engine=fresh_seeded)})
    scheduler.add_job("builtins:print", "interval", minutes=60, id="collect")
    scheduler.start(paused=True)
    scheduler.shutdown(wait=False)
    app = run_page("health")
    schedule = frame_with(app, "job", "next_run_time")
    assert schedule["job"].tolist() == ["collect"]
    assert schedule["next_run_time"].notna().all()


@pytest.mark.parametrize("spec", PAGES, ids=lambda s: s.url_path)
def test_every_page_on_an_empty_store_says_what_to_run(empty_store: Engine, spec: PageSpec) -> None:
    app = run_page(spec.render.__module__.rsplit(".", 1)[1])
    assert "No data yet" in infos(app) and "batchopt" in infos(app)
    assert not app.metric, "an empty store shows no numbers"


def test_an_unmigrated_store_says_to_upgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    app = run_page("overview")
    assert "batchopt db upgrade" in app.error[0].value


def test_the_app_routes_to_the_overview_and_never_shows_the_database_password(
    seeded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=TIMEOUT)
    app.run()
    assert not app.exception
    assert app.title[0].value == "Overview"
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", "postgresql://batch:hunter2@db.internal:5432/batchopt")
    monkeypatch.setenv("BATCHOPT_APPLY__SHARED_SECRET", "s3cret-value")
    app = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=TIMEOUT)
    app.run(timeout=TIMEOUT)
    rendered = " ".join(str(e.value) for kind in ("caption", "error", "markdown") for e in getattr(app, kind))
    assert "postgresql: batchopt" in rendered
    assert "hunter2" not in rendered and "s3cret-value" not in rendered


# --------------------------------------------------------------------------- recommendations -----


def open_recommendation(app: AppTest, rec_id: str) -> AppTest:
    app.selectbox(key="rec_open").set_value(rec_id).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_recommendation_list_and_detail_show_savings_evidence_and_the_diff(seeded: str) -> None:
    app = run_page("recommendations")
    listing = frame_with(app, "Title", "Saving / month", "Risk", "Status")
    assert listing["Saving / month"].tolist() == ["$250.00", "$40.50", "$12.25"]
    assert metric(app, "Identified savings, per month") == money(250.0 + 40.5 + 12.25)
    open_recommendation(app, "rec-ce-spot")
    assert metric(app, "Saving / month") == money(250.0)
    assert metric(app, "Risk") == "low"
    changes = frame_with(app, "field", "changed")
    changed = changes[changes["changed"]]
    assert changed["field"].tolist() == ["instance_types"]
    assert changed["proposed"].iloc[0] == '["m5.xlarge", "m6i.xlarge"]'
    assert any("+" in c.value and "m6i.xlarge" in c.value for c in app.code)
    shown = len(app.json)  # the risk detail; the evidence JSON is behind a toggle
    app.toggle(key="rec_evidence_json").set_value(True).run()
    assert len(app.json) == shown + 1
    assert app.json[0].value  # the evidence


def test_apply_buttons_are_disabled_with_an_explanation_unless_enabled(seeded: str) -> None:
    app = open_recommendation(run_page("recommendations"), "rec-ce-spot")
    assert "Applying is disabled" in infos(app)
    buttons = {b.label: b for b in app.button}
    assert buttons["Dry run"].disabled and buttons["Apply"].disabled and buttons["Roll back"].disabled


def test_applying_needs_the_shared_secret_and_never_shows_it(
    seeded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHOPT_APPLY__ENABLED", "true")
    monkeypatch.setenv("BATCHOPT_APPLY__SHARED_SECRET", "correct horse")
    app = open_recommendation(run_page("recommendations"), "rec-ce-spot")
    assert {b.label: b.disabled for b in app.button}["Apply"]
    app.text_input(key="apply_secret_input").input("wrong").run()
    assert "not the configured one" in app.error[0].value
    assert {b.label: b.disabled for b in app.button}["Apply"]
    app.text_input(key="apply_secret_input").input("correct horse").run()
    buttons = {b.label: b.disabled for b in app.button}
    assert not buttons["Apply"] and not buttons["Dry run"] and buttons["Roll back"]
    kinds = (
        "markdown",
        "caption",
        "code",
        "json",
        "info",
        "error",
        "success",
        "warning",
        "metric",
        "dataframe",
    )
    shown = " ".join(str(e.value) for kind in kinds for e in getattr(app, kind))
    assert "correct horse" not in shown


def _status(engine: Engine, rec_id: str) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            select(recommendations.c.status, recommendations.c.status_reason).where(
                recommendations.c.id == rec_id
            )
        ).one()
    return row[0], row[1]


def test_dismissing_is_behind_the_apply_gate(fresh_seeded: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """With applying disabled, or the secret not typed, the Dismiss button is off and nothing changes."""
    app = open_recommendation(run_page("recommendations"), "rec-ce-od")
    assert app.button(key="FormSubmitter:dismiss_form-Dismiss").disabled, "apply.enabled is false"
    monkeypatch.setenv("BATCHOPT_APPLY__ENABLED", "true")
    monkeypatch.setenv("BATCHOPT_APPLY__SHARED_SECRET", "correct horse")
    app = open_recommendation(run_page("recommendations"), "rec-ce-od")
    assert app.button(key="FormSubmitter:dismiss_form-Dismiss").disabled, "the secret is not typed yet"
    assert _status(fresh_seeded, "rec-ce-od") == ("open", None)


def test_dismissing_needs_a_reason_is_audited_and_reopening_undoes_it(
    fresh_seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHOPT_APPLY__ENABLED", "true")
    monkeypatch.setenv("BATCHOPT_APPLY__SHARED_SECRET", "correct horse")
    app = open_recommendation(run_page("recommendations"), "rec-ce-od")
    app.text_input(key="apply_secret_input").input("correct horse").run()
    app.button(key="FormSubmitter:dismiss_form-Dismiss").click().run()
    assert _status(fresh_seeded, "rec-ce-od") == ("open", None), "no reason, no dismissal"
    app.text_input(key="dismiss_reason").input("reserved instances cover it")
    app.button(key="FormSubmitter:dismiss_form-Dismiss").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert _status(fresh_seeded, "rec-ce-od") == ("dismissed", "reserved instances cover it")
    assert any("Dismissed rec-ce-od" in m.value for m in app.success), "the outcome stays visible"
    app.button(key="btn_reopen").click().run()
    assert _status(fresh_seeded, "rec-ce-od") == ("open", None)
    assert any("Reopened rec-ce-od" in m.value for m in app.success)
    trail = records.audits(fresh_seeded, recommendation_id="rec-ce-od")
    assert [(r.action, r.actor, r.result) for r in trail] == [
        ("reopen", "dashboard:shared-secret", "succeeded"),
        ("dismiss", "dashboard:shared-secret", "succeeded"),
    ]
    assert trail[1].before == {"status": "open", "status_reason": None}
    assert trail[1].after == {"status": "dismissed", "status_reason": "reserved instances cover it"}


def test_the_store_queries_agree_on_sqlite_and_postgresql(
    store_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dialect-specific SQL (durations, ratios, binning) gives the same pages on both stores."""
    import streamlit as st

    st.cache_data.clear()  # the PostgreSQL test database keeps its URL for the whole session
    dh.seed(store_engine)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", store_engine.url.render_as_string(hide_password=False))
    result = dh.expected()
    assert metric(run_page("overview"), "Spend, last 7 days") == money(result.instances["total_usd"].sum())
    spot = run_page("spot")
    assert frame_with(spot, "reclaims_per_1000h").set_index("instance_type").loc[
        "m5.xlarge", "hours_lost"
    ] == pytest.approx(0.5)
    rightsizing = run_page("rightsizing")
    rightsizing.selectbox(key="rs_definition").set_value("sort").run()
    assert metric(rightsizing, "Out-of-memory kills") == "1"
    histogram = [c for c in rightsizing.get("plotly_chart")]
    assert histogram, "the usage ratio histogram is drawn"


def test_realized_savings_measure_an_applied_compute_environment_change(fresh_seeded: Engine) -> None:
    """Before: 2 USD per busy vCPU-hour; after the change: 1.5; 10 busy vCPU-hours a day after."""
    from datetime import UTC, date, datetime, timedelta

    import time_machine

    from optimizer.dashboard import queries
    from optimizer.recommend.repository import set_status
    from optimizer.store.schema import audit_log, collector_runs
    from optimizer.store.tables.analysis import cost_daily
    from optimizer.store.upsert import bulk_upsert

    arn = dh.CE_ARN["ce-spot"]
    changed = datetime(2026, 12, 10, 9, 30)

    def day(offset: int, usd: float, vcpu_hours: float, queue: str = "q-spot") -> dict:
        return {
            "dataset": "aws", "day": datetime(2026, 12, 10) + timedelta(days=offset), "queue": queue,
            "compute_environment_arn": arn, "job_definition_name": "sort", "instance_type": "m5.xlarge",
            "capacity_type": "SPOT", "total_usd": usd, "vcpu_hours": vcpu_hours, "attempts": 1,
        }  # fmt: skip

    with fresh_seeded.begin() as conn:
        rows = [day(-2, 20.0, 10.0), day(-1, 16.0, 8.0), day(0, 500.0, 1.0), day(1, 15.0, 10.0)]
        bulk_upsert(conn, cost_daily, [*rows, day(1, 3.0, 2.0, queue=IDLE)])
        set_status(conn, "rec-ce-spot", "applied")
        conn.execute(
            audit_log.insert().values(
                plan_id="plan-x", recommendation_id="rec-ce-spot", action="apply", actor="test",
                dry_run=False, started_at=changed, finished_at=changed, result="succeeded",
            )
        )  # fmt: skip
        # the costs were collected through Dec 11 (the Overview's windows end at the last full day)
        conn.execute(
            collector_runs.insert().values(
                target="default", source="instances", started_at=datetime(2026, 12, 12, 0, 5),
                finished_at=datetime(2026, 12, 12, 0, 10), status="succeeded",
            )
        )  # fmt: skip
    url = fresh_seeded.url.render_as_string(hide_password=False)
    realized = queries.realized_savings(url, "aws", date(2026, 12, 12))
    # before: 36 USD / 18 busy vCPU-h = 2.0; after: 18 USD / 10 busy vCPU-h = 1.8; 10 busy vCPU-h a day
    assert realized.changes == 1
    assert realized.monthly_usd == pytest.approx((2.0 - 1.8) * 10 * 30)
    with time_machine.travel(datetime(2026, 12, 12, 8, tzinfo=UTC), tick=False):
        app = run_page("overview")
    assert metric(app, "Realized, per month (measured)") == money(realized.monthly_usd)
    # The applied CE's saving moves from Identified to Applied, by the headline's rules (no replay
    # in the seeded evidence, so no discount; nothing open overlaps ce-spot).
    assert metric(app, "Applied, per month (estimated)") == money(250.0)
    assert metric(app, "Identified (open), per month") == money(40.5 + 12.25)


def _open_commitment_advice(engine: Engine, **extra: Any) -> AppTest:
    """Save a Savings Plan advice recommendation (`extra` overrides its fields) and open it on the
    Recommendations page: the set-up every commitment-advice AppTest shares."""
    from optimizer.recommend.repository import save_recommendations

    advice = dh.recommendation(
        "ce-od",
        900.0,
        id="rec-sp-advice",
        strategy="commitment-advice",
        title="Commit $2/h to a Compute Savings Plan",
        update_kind=UpdateKind.ADVICE,
        **extra,
    )
    save_recommendations(engine, [advice], now=datetime(2026, 11, 9))
    return open_recommendation(run_page("recommendations"), "rec-sp-advice")


def test_advice_offers_no_dry_run_apply_or_rollback(
    fresh_seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Savings Plan to buy has no Batch call to plan or apply: the buttons once stood enabled.
    monkeypatch.setenv("BATCHOPT_APPLY__ENABLED", "true")
    monkeypatch.setenv("BATCHOPT_APPLY__SHARED_SECRET", "correct horse")
    app = _open_commitment_advice(fresh_seeded)
    app.text_input(key="apply_secret_input").input("correct horse").run()
    buttons = {b.label: b.disabled for b in app.button}
    assert buttons["Dry run"] and buttons["Apply"] and buttons["Roll back"]
    assert any("Advice only" in c.value for c in app.caption)
    assert not buttons["Dismiss"]  # a person can still set it aside


def test_commitment_advice_says_which_on_demand_usage_it_is_sized_on(fresh_seeded: Engine) -> None:
    sized_on = (
        "the on-demand usage left after the 1 recommendation(s) of those the headline counts that "
        "change it (rec-ce-od)"
    )
    evidence = {"sized_on": sized_on, "sized_after_recommendations": ["rec-ce-od"]}
    app = _open_commitment_advice(fresh_seeded, evidence=evidence)
    assert f"Sized on {sized_on}. {FLEET_PLANS_NOT_SIZED}" in infos(app)
    captions = " ".join(c.value for c in app.caption)
    assert "commitment advice, sized on the on-demand usage the counted recommendations leave" in captions


def _unformatted_numbers(app: AppTest) -> list[str]:
    """Every numeric column of every table on the page that Streamlit would print as a raw float
    (no number format in its column config), or a text cell holding one ("1234.5678")."""
    import json
    import re

    raw = re.compile(r"^-?\d+\.\d{3,}$")
    found = []
    for element in app.dataframe:
        frame = element.value
        config = json.loads(element.proto.columns or "{}")
        for name in frame.columns:
            values = frame[name]
            if pd.api.types.is_bool_dtype(values):
                continue
            if pd.api.types.is_float_dtype(values) or pd.api.types.is_integer_dtype(values):
                fmt = ((config.get(str(name)) or {}).get("type_config") or {}).get("format")
                if not fmt:
                    found.append(f"{element.proto.id[:8]} {name}: no number format")
            elif values.astype(str).str.match(raw).any():
                found.append(f"{name}: text {values.astype(str)[values.astype(str).str.match(raw)].iat[0]}")
    return found


@pytest.mark.parametrize("spec", PAGES, ids=lambda s: s.url_path)
def test_no_table_on_a_page_shows_a_raw_float(seeded: str, spec: PageSpec) -> None:
    """Money as $1,234.57, fractions as percentages, other numbers grouped (`dashboard.columns`):
    the Cost explorer's bill and waste tables, Right-sizing's and Fleet mix's showed 9715.235962909412."""
    app = run_page(spec.render.__module__.rsplit(".", 1)[1])
    assert _unformatted_numbers(app) == []


def test_an_empty_filter_or_no_advice_is_not_reported_as_missing_data(seeded: str) -> None:
    """`batchopt recommend` has run on the seeded store: a status filter that matches nothing, or a
    definition it proposed nothing for, says so instead of asking to run it."""
    app = run_page("recommendations")
    app.multiselect(key="rec_status").set_value(["rolled-back"]).run()
    assert "No data yet" not in infos(app)
    assert "stored recommendations has the statuses chosen (rolled-back)" in infos(app)

    app = run_page("rightsizing")
    others = [d for d in app.selectbox(key="rs_definition").options if d != "sort"]
    assert others  # the seeded store has a definition right-sizing proposed nothing for
    app.selectbox(key="rs_definition").set_value(others[0]).run()
    assert not app.exception, [e.value for e in app.exception]
    assert "No data yet" not in infos(app)
    assert "proposes no new request for this definition" in infos(app)
