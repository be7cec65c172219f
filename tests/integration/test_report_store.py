"""The weekly report against a seeded store: every total equals the store's own figures (SQL sums
straight from instances and prices, independent of the attribution code), and a week without data
says so instead of showing zeros."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from optimizer.cli.main import main
from optimizer.report.build import build_weekly_report
from optimizer.report.load import load_report_inputs
from optimizer.report.model import WeeklyReport
from optimizer.report.render import render_all
from optimizer.report.weeks import parse_week
from tests.report_helpers import CE_OD, CE_SPOT, seed_estate

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date

W47 = parse_week("2026-W47")


def _hours(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        return "(julianday(i.terminated_at) - julianday(i.launch_time)) * 24.0"
    return "EXTRACT(EPOCH FROM (i.terminated_at - i.launch_time)) / 3600.0"


def sql_costs(engine: Engine, group: str, since: datetime, until: datetime) -> dict[str, float]:
    """USD per `group` expression for instances launched in [since, until), priced in SQL.

    On-demand instances pay the type's on-demand price, spot ones the AZ's spot price (one record
    each in the seed). `queue` / `job_definition_name` come from the one job each instance ran,
    "(idle)" when it ran none.
    """
    sql = f"""
        SELECT {group} AS k,
               SUM({_hours(engine)} * CASE WHEN i.capacity_type = 'SPOT' THEN sp.price
                                            ELSE od.price_per_hour END) AS usd
        FROM instances i
        JOIN ondemand_prices od ON od.instance_type = i.instance_type AND od.region = i.region
        LEFT JOIN spot_prices sp ON sp.instance_type = i.instance_type
                                AND sp.availability_zone = i.availability_zone
        LEFT JOIN job_attempts a ON a.instance_id = i.instance_id
        LEFT JOIN jobs j ON j.job_id = a.job_id
        WHERE i.launch_time >= :since AND i.launch_time < :until
        GROUP BY {group}
    """
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {"since": since, "until": until}).all()
    return {str(k): float(v) for k, v in rows}


def _report(engine: Engine, week: str = "2026-W47") -> WeeklyReport:
    iso = parse_week(week)
    return build_weekly_report(load_report_inputs(engine, iso), iso, generated_at=datetime(2026, 11, 23, 8))


def _breakdown(report: WeeklyReport, dim: str) -> dict[str, float]:
    return {row.key: row.spend.current for row in report.breakdowns[dim]}


def _approx(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert set(actual) == set(expected)
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, abs=1e-9), key


def test_every_total_equals_the_stores_figures(store_engine: Engine) -> None:
    seed_estate(store_engine)
    report = _report(store_engine)
    start, end = W47.start, W47.end
    assert report.has_data
    [(_, total)] = sql_costs(store_engine, "i.region", start, end).items()
    assert report.total is not None
    assert report.total.current == pytest.approx(total, abs=1e-9)
    assert total == pytest.approx(8.54)  # the hand sum in report_helpers' docstring
    _approx(
        _breakdown(report, "compute_environment_arn"),
        sql_costs(store_engine, "i.compute_environment_arn", start, end),
    )
    _approx(_breakdown(report, "capacity_type"), sql_costs(store_engine, "i.capacity_type", start, end))
    _approx(_breakdown(report, "queue"), sql_costs(store_engine, "COALESCE(j.queue, '(idle)')", start, end))
    _approx(
        _breakdown(report, "job_definition_name"),
        sql_costs(store_engine, "COALESCE(j.job_definition_name, '(idle)')", start, end),
    )
    [(_, previous)] = sql_costs(store_engine, "i.region", W47.shifted(-1).start, W47.shifted(-1).end).items()
    [(_, older)] = sql_costs(store_engine, "i.region", W47.shifted(-2).start, W47.shifted(-2).end).items()
    assert report.total.previous == pytest.approx(previous, abs=1e-9)
    # W44 and W43 have no rows and W45's history begins on its Tuesday (i-old): the average is over
    # the one full week with data, W46, never over zeros or a part-week
    assert older == pytest.approx(1.152)
    assert report.total.average_4w == pytest.approx(previous, abs=1e-9)
    for rows in report.breakdowns.values():
        assert sum(r.spend.current for r in rows) == pytest.approx(total, abs=1e-9)

    idle = sql_costs(store_engine, "COALESCE(j.queue, '(idle)')", start, end)["(idle)"]
    assert report.utilization is not None and report.spot is not None
    assert report.utilization.idle_usd == pytest.approx(idle, abs=1e-9)
    assert report.utilization.requested_vcpu_hours == pytest.approx(2 * 24 + 4 * 12 + 4 * 24 + 4 * 2 + 2 * 12)
    assert report.utilization.idle_vcpu_hours == pytest.approx(2 * 10)
    spot = sql_costs(store_engine, "i.capacity_type", start, end)
    assert report.spot.spot_usd == pytest.approx(spot["SPOT"], abs=1e-9)
    assert report.spot.spot_share == pytest.approx(spot["SPOT"] / total)
    assert report.spot.reclaimed_attempts == 1
    assert report.spot.reclaimed_vcpu_hours == pytest.approx(4 * 2)
    assert report.spot.reclaim_usd == pytest.approx(0.14)
    assert report.waste_by_class["idle_usd"] == pytest.approx(idle, abs=1e-9)
    # the daily chart's figures: every instance in the seed lives within one UTC day
    day = "date(i.launch_time)" if store_engine.dialect.name == "sqlite" else "CAST(i.launch_time AS DATE)"
    per_day = sql_costs(store_engine, day, start, end)
    charted = {d.day.isoformat(): d.spot_usd + d.on_demand_usd + d.other_usd for d in report.daily}
    _approx(charted, {str(k)[:10]: v for k, v in per_day.items()})


def test_recommendations_changes_and_coverage(store_engine: Engine) -> None:
    seed_estate(store_engine)
    report = _report(store_engine)
    assert [r.id for r in report.recommendations] == ["rec-spot", "rec-queue"]  # open ones, by savings
    # The one headline (as on the Overview): both open ones counted, the dismissed $999 not.
    assert report.savings_headline_usd == pytest.approx(340.5 + 55.0)
    assert [r.headline for r in report.recommendations] == ["counted", "counted"]
    assert "2 open recommendation(s) counted once" in report.savings_note
    applied, failed = report.changes  # the dry run is not a change
    assert (applied.result, applied.target) == ("succeeded", "ce-od")
    # before: Mon i-od1 2.304 + Tue idle 0.96 over 48 vCPU-h; after: Sun i-od3 1.152 over 24 vCPU-h
    assert applied.before_usd_per_vcpu_hour == pytest.approx((2.304 + 0.96) / 48)
    assert applied.after_usd_per_vcpu_hour == pytest.approx(1.152 / 24)
    assert applied.realized_savings_usd == pytest.approx((3.264 / 48 - 0.048) * 24)
    assert failed.result == "failed" and failed.realized_savings_usd is None and "CE INVALID" in failed.note
    cov = report.coverage
    assert cov.days_without_data == (datetime(2026, 11, 21).date(),)
    assert cov.partial
    assert any("Sat 21 Nov" in n for n in cov.notes)
    assert any("instances" in n and "1 of 2 runs failed" in n for n in cov.notes)
    assert cov.fallback_priced_usd == pytest.approx(0.0)
    assert {a.key for a in report.anomalies if a.kind == "new-job-definition"} == {"sort", "render"}


def test_csv_detail_tables_carry_the_same_totals(sqlite_engine: Engine) -> None:
    seed_estate(sqlite_engine)
    report = _report(sqlite_engine)
    rendered = render_all(report)
    rows = list(
        csv.DictReader(io.StringIO(rendered.files["batchopt-report-2026-W47-breakdown.csv"].decode()))
    )
    by_ce = {r["key"]: float(r["usd"]) for r in rows if r["dimension"] == "compute_environment_arn"}
    _approx(by_ce, sql_costs(sqlite_engine, "i.compute_environment_arn", W47.start, W47.end))
    assert set(by_ce) == {CE_OD, CE_SPOT}
    lines = list(csv.reader(io.StringIO(rendered.files["batchopt-report-2026-W47-summary.csv"].decode())))
    keys = [line[0] for line in lines]
    assert len(keys) == len(set(keys))  # idle is a utilization row and a waste class: written once
    summary = dict(lines)
    assert float(summary["total_usd"]) == pytest.approx(report.total.current)  # type: ignore[union-attr]
    assert float(summary["idle_usd"]) == pytest.approx(report.waste_by_class["idle_usd"])
    # the average is over the weeks listed beside it, however many there are: no "4w" in its name
    assert "average_4w_usd" not in summary and summary["average_weeks"] == " ".join(report.average_weeks)
    # named as the HTML names it (requested / instance vCPU-hours), not "utilization"
    assert "utilization" not in summary
    assert float(summary["vcpu_allocation"]) == pytest.approx(report.utilization.utilization)  # type: ignore[union-attr]


def test_a_week_without_data_is_a_no_data_report(store_engine: Engine) -> None:
    seed_estate(store_engine)
    report = _report(store_engine, "2026-W30")
    assert not report.has_data
    assert report.total is None and report.utilization is None and report.spot is None
    assert report.breakdowns == {} and report.anomalies == ()
    rendered = render_all(report)
    assert "No data" in rendered.markdown and "No data" in rendered.html
    assert "$0.00" not in rendered.markdown  # no zero presented as a figure
    assert rendered.charts == {}
    summary = dict(csv.reader(io.StringIO(rendered.files["batchopt-report-2026-W30-summary.csv"].decode())))
    assert summary["has_data"] == "False" and summary["total_usd"] == ""


def test_cli_writes_the_files_and_rejects_bad_weeks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "store.db"
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", f"sqlite:///{db}")
    assert main(["db", "upgrade"]) == 0
    from optimizer.store.engine import create_store_engine

    engine = create_store_engine(f"sqlite:///{db}")
    seed_estate(engine)
    engine.dispose()
    out = tmp_path / "reports"
    assert main(["report", "--week", "2026-W47", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "batchopt-report-2026-W47.html" in names and "batchopt-report-2026-W47.md" in names
    assert len([n for n in names if n.endswith(".csv")]) == 9  # the eight tables and "why"
    assert not [n for n in names if n.startswith(".")]  # no temp files left behind
    assert "2026-W47: $8.54" in capsys.readouterr().out

    assert main(["report", "--week", "2026-W60", "--out", str(out)]) == 2
    assert "2026 has no ISO week 60" in capsys.readouterr().err
    # A mistyped dataset is refused: read as empty it wrote "no cost data" over the week's report.
    before = (out / "batchopt-report-2026-W47.md").read_text()
    assert main(["report", "--week", "2026-W47", "--out", str(out), "--dataset", "awz"]) == 2
    assert "--dataset 'awz': no such dataset (known: aws)" in capsys.readouterr().err
    assert (out / "batchopt-report-2026-W47.md").read_text() == before
    assert main(["report", "--sink", "email"]) == 2
    assert "report.smtp_host" in capsys.readouterr().err


def test_weekly_job_reports_the_last_complete_week_to_the_configured_sinks(tmp_path: Path) -> None:
    from datetime import UTC

    from optimizer.config import Settings
    from optimizer.report.run import scheduled_weekly_report
    from optimizer.report.scheduled import JOB_ID, weekly_trigger
    from optimizer.scheduler.registry import discover_jobs
    from optimizer.store.engine import create_store_engine, upgrade

    db = tmp_path / "store.db"
    engine = create_store_engine(f"sqlite:///{db}")
    upgrade(engine)
    seed_estate(engine)
    engine.dispose()
    settings = Settings(
        store={"database_url": f"sqlite:///{db}"},
        report={"out_dir": str(tmp_path / "weekly"), "timezone": "Europe/Paris"},
    )
    assert JOB_ID in {job.id for job in discover_jobs()}
    trigger = weekly_trigger(settings)
    after = datetime(2026, 11, 17, 12, tzinfo=UTC)
    fire = trigger.get_next_fire_time(None, after)
    assert fire is not None and fire.isoformat() == "2026-11-23T08:00:00+01:00"  # Monday 08:00 in Paris
    # at that moment (07:00 UTC) W47 has ended in both zones
    run = scheduled_weekly_report(settings, now=fire)
    assert run.ok and run.rendered.report.week == W47
    assert (tmp_path / "weekly" / "batchopt-report-2026-W47.html").is_file()


def _cost_daily_sums(engine: Engine, dim: str) -> dict[str, float]:
    sql = f"""SELECT {dim}, SUM(total_usd) FROM cost_daily
              WHERE dataset = 'aws' AND day >= :since AND day < :until GROUP BY {dim}"""
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {"since": W47.start, "until": W47.end}).all()
    return {str(k): float(v) for k, v in rows}


def test_persisted_aggregate_is_used_when_newer_than_the_collection(store_engine: Engine) -> None:
    from optimizer.analysis.stored import run_analysis

    seed_estate(store_engine)
    since = W47.shifted(-4).start
    # the seed's last successful collection finished Mon 23 Nov 00:05: an analysis after it is current
    run_analysis(store_engine, computed_at=datetime(2026, 11, 23, 1), since=since, until=W47.end)
    report = _report(store_engine)
    assert "persisted daily aggregate" in report.coverage.cost_source
    assert report.coverage.fallback_priced_usd is None  # not known from the aggregate
    for dim in ("queue", "compute_environment_arn", "job_definition_name", "capacity_type"):
        _approx(_breakdown(report, dim), _cost_daily_sums(store_engine, dim))
    # and the persisted figures are the instances' own costs, as summed from the raw tables
    _approx(
        _breakdown(report, "queue"),
        sql_costs(store_engine, "COALESCE(j.queue, '(idle)')", W47.start, W47.end),
    )


def test_a_stale_persisted_aggregate_is_not_trusted(store_engine: Engine) -> None:
    from optimizer.analysis.stored import run_analysis

    seed_estate(store_engine)
    run_analysis(store_engine, computed_at=datetime(2026, 11, 20), since=W47.shifted(-4).start, until=W47.end)
    report = _report(store_engine)
    assert "attributed now" in report.coverage.cost_source
    # current, but only the report week analysed: the history weeks would be missing from it
    run_analysis(store_engine, computed_at=datetime(2026, 11, 23, 1), since=W47.start, until=W47.end)
    assert "attributed now" in _report(store_engine).coverage.cost_source
    assert report.total is not None and report.total.current == pytest.approx(8.54)


def test_the_change_vs_last_week_is_split_by_driver(store_engine: Engine) -> None:
    """Hand figures from report_helpers: W46 48 vCPU-h of m5.large on-demand for $2.304; W47 72 vCPU-h
    m5.large OD $3.456, 48 m5.xlarge OD $2.304, 104 m5.xlarge spot $1.82, idle $0.96. Every cell that ran
    in both weeks kept its $0.048/vCPU-h, so price is 0 and volume/mix are a two-factor split."""
    seed_estate(store_engine)
    change = _report(store_engine).why
    assert change is not None and not change.previous_partial
    parts = {d.key: d.usd for d in change.drivers}
    rate_before, rate_now = 0.048, (3.456 + 2.304 + 1.82) / 224  # USD per work vCPU-hour
    volume = (224 - 48) * (rate_before + rate_now) / 2
    assert parts["volume"] == pytest.approx(volume, abs=1e-9)
    assert parts["price"] == pytest.approx(0.0, abs=1e-9)
    assert parts["mix"] == pytest.approx(7.58 - 2.304 - volume, abs=1e-9)
    assert parts["idle"] == pytest.approx(0.96, abs=1e-9)
    assert sum(parts.values()) == pytest.approx(8.54 - 2.304, abs=1e-9)
    mix = next(d for d in change.drivers if d.key == "mix")
    assert mix.current == pytest.approx(104 / 224)
