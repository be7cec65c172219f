"""The dashboard's pure helpers: diffs, realized savings, plan reading, filters, what-if policy, spot
rates, the apply gate's rules and model cards; and the `batchopt dashboard` command line."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from optimizer.analysis.cost import IDLE
from optimizer.cli import cmd_dashboard
from optimizer.cli.main import main
from optimizer.config import Settings
from optimizer.dashboard.auth import apply_disabled_reason, secret_matches
from optimizer.dashboard.diff import MISSING, field_changes, unified_diff
from optimizer.dashboard.explorer import ce_arns_matching, parse_ce_arn, period_start
from optimizer.dashboard.health_view import load_model_cards, model_card_rows
from optimizer.dashboard.plan_view import mix_by_offering, plan_usage
from optimizer.dashboard.realized import realized_savings
from optimizer.dashboard.spot_view import extend_steps, reclaim_rates
from optimizer.dashboard.what_if_model import compare, with_policy
from optimizer.ml.registry import ModelCard, ModelRegistry
from tests.dashboard_helpers import committed_fleet_documents, fleet_documents

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date

CE = "arn:aws:batch:eu-west-1:111122223333:compute-environment/spot"


def test_field_changes_flatten_nested_values_and_put_changes_first() -> None:
    rows = field_changes(
        {"instance_types": ["m5.large"], "scaling": {"max": 64, "min": 0}},
        {"instance_types": ["m5.large", "m6i.large"], "scaling": {"max": 64, "min": 0}, "bid": 80},
    )
    assert [(r.field, r.changed) for r in rows] == [
        ("bid", True),
        ("instance_types", True),
        ("scaling.max", False),
        ("scaling.min", False),
    ]
    assert rows[0].current == MISSING and rows[0].proposed == "80"


def test_fields_the_change_does_not_name_are_kept_not_removed() -> None:
    # An instance-mix change names only the types; the allocation strategy stays as it is.
    current = {"instance_types": ["m6i.16xlarge"], "allocation_strategy": "SPOT_PRICE_CAPACITY_OPTIMIZED"}
    rows = field_changes(current, {"instance_types": ["m5.xlarge", "r6a.xlarge"]})
    assert [(r.field, r.current, r.proposed, r.changed) for r in rows] == [
        ("instance_types", '["m6i.16xlarge"]', '["m5.xlarge", "r6a.xlarge"]', True),
        ("allocation_strategy", "SPOT_PRICE_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED", False),
    ]
    text = unified_diff(current, {"instance_types": ["m5.xlarge"]})
    assert "allocation_strategy" not in "".join(line for line in text.splitlines() if line[:1] in "+-")
    assert '+    "m5.xlarge"' in text and '-    "m6i.16xlarge"' in text


def test_unified_diff_shows_removed_and_added_lines() -> None:
    text = unified_diff({"max_vcpus": 64}, {"max_vcpus": 32})
    assert '-  "max_vcpus": 64' in text and '+  "max_vcpus": 32' in text
    assert unified_diff({"a": 1}, {"a": 1}) == ""


def _ce_days(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(pd.Timestamp(day), CE, queue, usd, vh) for day, queue, usd, vh in rows],
        columns=["day", "compute_environment_arn", "queue", "total_usd", "vcpu_hours"],
    )


def test_realized_savings_compare_cost_per_busy_vcpu_hour_and_scale_by_work_after() -> None:
    changes = pd.DataFrame({"compute_environment_arn": [CE], "applied_at": [datetime(2026, 11, 10, 15)]})
    days = _ce_days(
        [
            ("2026-11-08", "q", 100.0, 100.0),  # before: 100 USD for 100 busy vCPU-h ...
            ("2026-11-09", IDLE, 20.0, 50.0),  # ... plus 20 idle: 1.2 USD per busy vCPU-h
            ("2026-11-10", "q", 999.0, 1.0),  # the day of the change counts on neither side
            ("2026-11-11", "q", 80.0, 100.0),  # after: 0.8 USD per busy vCPU-h, 100 per day
        ]
    )
    result = realized_savings(changes, days)
    assert result.changes == 1 and result.pending == 0
    assert result.monthly_usd == pytest.approx((1.2 - 0.8) * 100.0 * 30)


def test_a_change_without_a_full_day_after_it_is_pending() -> None:
    changes = pd.DataFrame({"compute_environment_arn": [CE], "applied_at": [datetime(2026, 11, 10, 15)]})
    result = realized_savings(
        changes, _ce_days([("2026-11-09", "q", 10.0, 10.0), ("2026-11-10", "q", 5.0, 5.0)])
    )
    assert (result.changes, result.pending, result.monthly_usd) == (0, 1, 0.0)
    assert "1 waiting for data" in result.explanation


def test_plan_usage_prices_every_bin_from_the_problem() -> None:
    problem, plan = fleet_documents()
    usage = plan_usage(problem, plan)
    assert usage["cost_usd"].sum() == pytest.approx(2 * 0.08 + 0.08 + 0.096)
    mix = mix_by_offering(usage).set_index("instance_type")
    assert mix.loc["m5.xlarge", "instance_hours"] == 3 and mix.loc["m5.large", "instance_hours"] == 1
    half_hour = {**problem, "bucket_seconds": 1800}
    assert plan_usage(half_hour, plan)["cost_usd"].sum() == pytest.approx(usage["cost_usd"].sum() / 2)


def test_plan_usage_prices_a_gang_bin_for_its_held_hours() -> None:
    problem, plan = fleet_documents()
    gang_bin = {"offering": "m5.large/ON_DEMAND", "count": 4, "jobs": {"g": 1}, "hours": 0.25}
    plan = {**plan, "buckets": [[gang_bin]]}
    usage = plan_usage(problem, plan)
    # 4 instances at once, each held a quarter of the hour: 1 instance-hour at $0.096.
    assert usage["instances"].tolist() == [4]
    assert usage["instance_hours"].tolist() == [1.0]
    assert usage["cost_usd"].sum() == pytest.approx(0.096)
    assert mix_by_offering(usage)["instance_hours"].tolist() == [1.0]


def test_ce_filters_by_account_and_region_from_the_arn() -> None:
    other = "arn:aws:batch:us-east-1:999999999999:compute-environment/od"
    assert parse_ce_arn(CE) == ("eu-west-1", "111122223333")
    assert parse_ce_arn("(none)") == ("", "")
    assert ce_arns_matching([CE, other], [], [], []) is None
    assert ce_arns_matching([CE, other], [], ["999999999999"], []) == [other]
    assert ce_arns_matching([CE, other], [CE], [], ["us-east-1"]) == []


def test_weeks_start_on_monday() -> None:
    days = pd.Series(pd.to_datetime(["2026-11-01", "2026-11-02", "2026-11-08", "2026-11-09"]))  # Sun, Mon...
    weeks = period_start(days, "week").dt.strftime("%Y-%m-%d").tolist()
    assert weeks == ["2026-10-26", "2026-11-02", "2026-11-02", "2026-11-09"]
    assert period_start(days, "day").equals(days)


def test_what_if_policy_overrides_and_headroom_round_up_without_touching_the_original() -> None:
    problem, plan = fleet_documents()
    capped = {**problem, "policy": {**problem["policy"], "max_instance_types": 3}}
    changed = with_policy(capped, {"max_spot_share": 0.25, "max_instance_types": None}, headroom=0.2)
    assert changed["policy"]["max_spot_share"] == 0.25
    assert changed["policy"]["max_instance_types"] is None  # None lifts the cap
    assert changed["demand"]["s1"] == [5, 3]  # ceil(4 * 1.2), ceil(2 * 1.2)
    assert problem["demand"]["s1"] == [4, 2] and problem["policy"]["max_spot_share"] == 1.0
    assert with_policy(problem, {}, headroom=0.5)["demand"]["s1"] == [6, 3]
    with pytest.raises(ValueError, match="unknown field"):
        with_policy(problem, {"spot": 1})
    assert {r["measure"] for r in compare(plan, plan)} >= {"cost (USD)", "lower bound (USD)", "gap"}


def test_reclaim_rates_count_instances_per_spot_instance_hour() -> None:
    reclaims = pd.DataFrame(
        {
            "region": ["r", "r"],
            "instance_type": ["m5.large", "m5.large"],
            "availability_zone": ["ra", "rb"],
            "reclaimed_attempts": [5, 1],
            "instances": [2, 1],
            "hours_lost": [3.0, 1.0],
        }
    )
    hours = pd.DataFrame(
        {"region": ["r"], "instance_type": ["m5.large"], "instances": [40], "hours": [1500.0]}
    )
    row = reclaim_rates(reclaims, hours).iloc[0]
    assert (row["reclaimed_instances"], row["reclaimed_attempts"], row["hours_lost"]) == (3, 6, 4.0)
    assert row["reclaims_per_1000h"] == pytest.approx(2.0)


def test_spot_steps_are_carried_to_the_newest_sample() -> None:
    history = pd.DataFrame(
        {
            "availability_zone": ["a", "a", "b"],
            "timestamp": pd.to_datetime(["2026-11-01 00:00", "2026-11-01 05:00", "2026-11-01 01:00"]),
            "price": [0.04, 0.08, 0.05],
        }
    )
    out = extend_steps(history)
    b = out[out["availability_zone"] == "b"]
    assert b["timestamp"].max() == pd.Timestamp("2026-11-01 05:00") and b["price"].tolist() == [0.05, 0.05]
    assert len(out[out["availability_zone"] == "a"]) == 2, "the AZ with the newest sample is unchanged"


def test_the_apply_gate_needs_the_switch_and_a_sign_in_method() -> None:
    assert "apply.enabled" in apply_disabled_reason(Settings())
    enabled = Settings(apply={"enabled": True})
    assert "No sign-in" in apply_disabled_reason(enabled)
    assert apply_disabled_reason(Settings(apply={"enabled": True, "shared_secret": SecretStr("x")})) is None
    assert (
        apply_disabled_reason(Settings(apply={"enabled": True}, dashboard={"oidc_provider": "google"}))
        is None
    )
    assert secret_matches("s3cret", "s3cret") and not secret_matches("s3cre", "s3cret")
    assert secret_matches("pässword", "pässword")


def test_model_cards_come_from_the_registry_and_bad_ones_are_reported(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    card = ModelCard(
        name="forecast-q1", kind="demand-forecast", trained_at="2026-11-09T03:00:00",
        training_window={"start": "2026-10-01", "end": "2026-11-09"}, features=["hour"], target="vcpus",
        metrics={"mae": 2.0, "seasonal_naive": {"mae": 3.0}},
    )  # fmt: skip
    registry.save({"fitted": True}, card)
    old = ModelCard(**{**card.to_json(), "name": "old", "library_versions": {"scikit-learn": "0.20.0"}})
    registry.save({"fitted": True}, old)
    (tmp_path / "broken.card.json").write_text("{not json")
    rows = model_card_rows(load_model_cards(tmp_path)).set_index("file")
    assert rows.loc["forecast-q1.card.json", "metric: mae"] == 2.0
    assert rows.loc["forecast-q1.card.json", "metric: seasonal_naive.mae"] == 3.0
    assert rows.loc["forecast-q1.card.json", "window_start"] == "2026-10-01"
    assert pd.isna(rows.loc["forecast-q1.card.json", "error"])
    assert "scikit-learn 0.20.0" in rows.loc["old.card.json", "error"]
    assert "unreadable" in rows.loc["broken.card.json", "error"]
    assert load_model_cards(tmp_path / "missing") == []


def test_dashboard_command_binds_localhost_by_default_and_headless(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    calls: list[list[str]] = []
    monkeypatch.setattr(cmd_dashboard.subprocess, "call", lambda cmd, env: calls.append(cmd) or 0)
    assert main(["dashboard"]) == 0
    command = calls[-1]
    assert command[1:4] == ["-m", "streamlit", "run"] and Path(command[4]).is_file()
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[command.index("--server.port") + 1] == "8501"
    assert command[command.index("--server.headless") + 1] == "true"
    assert command[command.index("--browser.gatherUsageStats") + 1] == "false"
    assert command[command.index("--client.toolbarMode") + 1] == "viewer"
    monkeypatch.setenv("BATCHOPT_DASHBOARD__PORT", "9000")
    assert main(["dashboard", "--host", "0.0.0.0"]) == 0
    assert calls[-1][calls[-1].index("--server.address") + 1] == "0.0.0.0"
    assert calls[-1][calls[-1].index("--server.port") + 1] == "9000"


def test_dashboard_command_refuses_a_bad_port_and_an_unmigrated_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["dashboard", "--port", "70000"])
    assert exit_info.value.code == 2 and "between 1 and 65535" in capsys.readouterr().err
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    monkeypatch.setattr(cmd_dashboard.subprocess, "call", lambda cmd, env: pytest.fail("must not start"))
    assert main(["dashboard"]) == 2
    assert "batchopt db upgrade" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "text"),
    [(-3.02e-16, "0.0%"), (0.0, "0.0%"), (0.02004, "2.0%"), (-0.0049, "-0.5%"), (None, "n/a")],
)
def test_percent_never_reads_minus_zero(value: float | None, text: str) -> None:
    # An OPTIMAL plan's gap is float noise either side of 0 (the demo's MNP plan: -3e-16), which
    # Fleet mix once printed as "-0.0%"; a wrong bound's visible negative gap still reads negative.
    from optimizer.dashboard.components import percent

    assert percent(value) == text


def test_commitment_rows_show_the_level_the_problem_carries() -> None:
    # A queue's problem carries its share of the account's plan ($0.4113/h of $4.43/h): the row says
    # that level beside the plan's utilization, and an RI its count and type.
    from optimizer.dashboard.commitment_view import LEVEL, commitment_rows

    problem = {
        "commitments": [
            {
                "id": "sp",
                "type": "COMPUTE_SAVINGS_PLAN",
                "usd_per_hour": 0.41128,
                "rates": {"m5.large": 0.062},
            },
            {"id": "ri", "type": "RESERVED_INSTANCE", "instance_type": "m5.large", "count": 2},
        ]
    }
    plan = {
        "commitments": [
            {"id": "sp", "type": "COMPUTE_SAVINGS_PLAN", "utilization": 0.649846, "covered_usd": 12.5},
            {"id": "ri", "type": "RESERVED_INSTANCE", "utilization": 1.0, "covered_usd": 3.0},
        ]
    }
    rows = commitment_rows(plan, problem)
    assert rows[LEVEL].tolist() == ["$0.4113", "2 x m5.large"]
    assert rows["utilization"].tolist() == ["65.0%", "100.0%"]
    assert commitment_rows(plan)[LEVEL].tolist() == ["n/a", "n/a"]


def test_the_cost_split_adds_up_to_the_plan_cost_with_its_commitments() -> None:
    # Fleet mix says how a plan's cost splits; a FinOps reader adds the parts up against the bill.
    from optimizer.dashboard.plan_view import cost_split, plan_list_cost

    problem, plan = committed_fleet_documents()
    assert plan["cost_usd"] == pytest.approx(0.42)
    split = cost_split(problem, plan).set_index("part")["USD"]
    assert split.to_dict() == pytest.approx(
        {"Spot": 0.24, "On-demand, not covered": 0.0, "Commitment fees": 0.18, "Plan cost": 0.42}
    )
    how = cost_split(problem, plan).set_index("part")["how"]
    assert how["Commitment fees"] == "$0.0900/h x 2 h, paid whatever is used"
    assert how["On-demand, not covered"] == "$0.10 at list less $0.10 covered"
    assert how.str.len().max() <= 45  # the half-page column shows about 45 characters at 1400 px
    assert split.drop("Plan cost").sum() == pytest.approx(split["Plan cost"])
    assert plan_list_cost(problem, plan) == pytest.approx(0.336)  # before commitments: the spend's prices
    # Without commitments: spot and on-demand at their prices, no fee row.
    blind_problem, blind_plan = fleet_documents()
    blind = cost_split(blind_problem, blind_plan).set_index("part")["USD"]
    assert blind.to_dict() == pytest.approx({"Spot": 0.24, "On-demand": 0.096, "Plan cost": 0.336})


def test_commitment_rows_give_each_commitments_total_over_the_plan_window() -> None:
    from optimizer.dashboard.commitment_view import SUNK_FEE, commitment_rows

    problem, plan = committed_fleet_documents()
    rows = commitment_rows(plan, problem).set_index("commitment")
    assert rows.loc["sp", "total commitment (USD)"] == "$0.18"  # = the plan's commitment_usd
    assert plan["commitment_usd"] == pytest.approx(0.18)
    assert rows.loc["ri", "total commitment (USD)"] == SUNK_FEE
    assert rows.loc["sp", "utilization"] == "33.3%"  # $0.06 used of 2 h x $0.09
    assert rows.loc["sp", "on-demand equivalent (USD)"] == "$0.10"
    assert commitment_rows(plan)["total commitment (USD)"].tolist() == ["n/a", SUNK_FEE]


def test_commitment_rows_give_cost_explorers_used_unused_and_net_savings() -> None:
    # The demo's cpu-batch read 77.7 % of a $302.19 fee used beside $326.14 covered, and its
    # cpu-short 23.3 % of $667.42 beside $216.29 covered with nothing saying the share cost the plan
    # more than it saved: Cost Explorer's used / unused commitment and net savings say both.
    from optimizer.dashboard.commitment_view import SUNK_FEE, commitment_dollars, commitment_rows

    problem, plan = committed_fleet_documents()
    [sp] = [c for c in plan["commitments"] if c["id"] == "sp"]
    figures = commitment_dollars(problem, sp)
    assert figures is not None
    assert figures["total"] == pytest.approx(0.18)  # $0.09/h x 2 h
    assert figures["used"] == pytest.approx(0.06, abs=1e-6)  # one m5.large hour at the $0.06 plan rate
    assert figures["used"] + figures["unused"] == pytest.approx(figures["total"])
    assert figures["on_demand"] == pytest.approx(sp["covered_usd"])
    assert figures["net_savings"] == pytest.approx(sp["covered_usd"] - 0.18)  # -$0.084: costs more
    rows = commitment_rows(plan, problem).set_index("commitment")
    assert rows.loc["sp", "used commitment (USD)"] == "$0.06"
    assert rows.loc["sp", "unused commitment (USD)"] == "$0.12"  # $0.18 total, 33.3 % used
    assert rows.loc["sp", "net savings (USD)"] == "-$0.08"
    for column in ("used commitment (USD)", "unused commitment (USD)", "net savings (USD)"):
        assert rows.loc["ri", column] == SUNK_FEE  # an RI's fee is not this plan's
    assert commitment_dollars(problem, {**sp, "type": "RESERVED_INSTANCE"}) is None
    assert commitment_rows(plan)["net savings (USD)"].tolist() == ["n/a", SUNK_FEE]


def test_the_what_if_commitment_reads_as_a_name_not_its_key() -> None:
    # The What-if showed "Utilization what-if-compute-savings-plan", a dictionary key.
    from optimizer.dashboard.commitment_view import WHAT_IF_ID, commitment_label

    assert commitment_label(WHAT_IF_ID) == "Compute Savings Plan (what-if)"


def test_a_commitment_arn_reads_as_its_short_resource_name() -> None:
    # The demo's Savings Plan ARN (90 characters) pushed every figure of its row out of Fleet mix's
    # half-page column; the full ARN stays in the table's last column.
    from optimizer.dashboard.commitment_view import commitment_label

    arn = "arn:aws:savingsplans::123456789012:savingsplan/20b803b6-5ae3-2da4-fb42-e9488217b821"
    assert commitment_label(arn) == "savingsplan/20b803b6"
    assert commitment_label("arn:aws:ec2:us-east-1:123456789012:reserved-instances/ri-1") == (
        "reserved-instances/ri-1"
    )
    assert commitment_label("sp-config") == "sp-config"


def test_the_overviews_prior_week_is_the_seven_whole_days_before() -> None:
    # The week Nov 27 - Dec 3 compares with Nov 20 - 26: seven days. It once took the days up to
    # Nov 27 and queried [Nov 21, Nov 27), six, so the demo's week read +$168.53 instead of -$845.37.
    from optimizer.dashboard.queries import prior_window, window_before

    since, until = window_before(datetime(2026, 12, 3), 7)
    assert (since, until) == (datetime(2026, 11, 27), datetime(2026, 12, 4))
    assert prior_window(since, 7) == (datetime(2026, 11, 20), datetime(2026, 11, 27))


def test_table_numbers_are_formatted_by_what_they_are() -> None:
    from optimizer.dashboard.columns import column_config, number_format
    from optimizer.number_text import measure_text

    assert number_format("total_usd") == ("dollar", None) and number_format("usd") == ("dollar", None)
    assert number_format("price") == ("dollar", 0.0001)
    assert number_format("oom_rate") == ("percent", 0.001) and number_format("idle_share")[0] == "percent"
    assert number_format("interruption_rate") is None and number_format("vcpu_hours") is None
    frame = pd.DataFrame(
        {"cost_usd": [1234.5678], "oom_rate": [0.123456789], "vcpu_hours": [46124.86247], "attempts": [4581]}
    )
    formats = {
        name: (c["type_config"]["format"], c["type_config"].get("step"))
        for name, c in column_config(frame).items()
    }
    assert formats == {
        "cost_usd": ("dollar", None),
        "oom_rate": ("percent", 0.001),
        "vcpu_hours": ("localized", 0.01),
        "attempts": ("localized", 1.0),
    }
    assert [measure_text(v, k) for v, k in ((1234.5678, "usd"), (0.123456789, "percent"), (None, "usd"))] == [
        "$1,234.57",
        "12.3%",
        "n/a",
    ]


def _billed(problem: dict[str, Any], plan: dict[str, Any], lower_bound: float) -> dict[str, Any]:
    """`plan` billed under `problem`'s commitments with `lower_bound`, as a re-solve returns it."""
    from optimizer.solver.commitments import bill_plan
    from optimizer.solver.plan import plan_from_dict, plan_to_dict, relative_gap
    from optimizer.solver.problem import problem_from_dict

    billed = bill_plan(problem_from_dict(problem), plan_from_dict(plan))
    billed.lower_bound_usd = lower_bound
    billed.gap = relative_gap(billed.objective_usd, lower_bound)
    billed.status = "FEASIBLE"
    return plan_to_dict(billed)


def test_a_re_solve_worse_than_the_stored_fleet_gives_way_to_it() -> None:
    # The demo's cpu-batch at twice its Savings Plan share, re-solved for 10 s, came back $197 above
    # its own stored fleet under the same plan: the What-if read "more commitment, less of it used".
    from optimizer.dashboard.commitment_view import with_compute_commitment
    from optimizer.dashboard.what_if_model import cheaper_stored_plan
    from optimizer.solver.plan import relative_gap

    problem, plan = committed_fleet_documents()
    what_if = with_compute_commitment(problem, 0.18, 0.28)
    # a worse fleet for the what-if: bucket 1 on two spot m5.xlarge, the covered m5.large left out
    worse = dict(
        plan, buckets=[plan["buckets"][0], [{"offering": "m5.xlarge/SPOT", "count": 2, "jobs": {"s1": 2}}]]
    )
    proposed = _billed(what_if, worse, lower_bound=0.5)
    cheaper = cheaper_stored_plan(problem, plan, what_if, proposed)
    assert cheaper is not None
    assert cheaper["cost_usd"] == pytest.approx(0.24 + 0.096 - 0.096 + 2 * 0.18)  # the stored fleet
    assert cheaper["cost_usd"] < proposed["cost_usd"]
    assert cheaper["lower_bound_usd"] == 0.5  # the re-solve's bound holds for the what-if problem
    assert cheaper["gap"] == pytest.approx(relative_gap(cheaper["objective_usd"], 0.5))
    assert "costs more than the stored plan's fleet" in cheaper["reason"]
    # a re-solve at least as good as the stored fleet stands
    assert cheaper_stored_plan(problem, plan, what_if, _billed(what_if, plan, 0.5)) is None


def test_a_commitment_what_if_compares_the_savings_plan_levels_and_their_use() -> None:
    # The demo's cpu-batch re-solved at $0 read $606.12 against $936.00 with nothing in the table
    # saying the stored side pays a $0.9069/h Savings Plan it uses 90.2 % of, and at twice that
    # level 76.6 % used with no stored figure beside it.
    from optimizer.dashboard.commitment_view import with_compute_commitment
    from optimizer.dashboard.what_if_model import SAVINGS_PLAN_LEVEL, SAVINGS_PLAN_USED

    problem, plan = committed_fleet_documents()
    what_if = with_compute_commitment(problem, 0.18, 0.28)
    proposed = _billed(what_if, plan, lower_bound=0.3)
    rows = {r["measure"]: r for r in compare(plan, proposed, (problem, what_if))}
    assert (rows[SAVINGS_PLAN_LEVEL]["stored plan"], rows[SAVINGS_PLAN_LEVEL]["what-if"]) == (
        "$0.0900",
        "$0.1800",
    )
    # $0.06 of plan-rate usage in 2 h: a third of $0.09/h, a sixth of $0.18/h
    assert (rows[SAVINGS_PLAN_USED]["stored plan"], rows[SAVINGS_PLAN_USED]["what-if"]) == ("33.3%", "16.7%")
    assert rows["commitment fees (USD)"]["what-if"] == "$0.36"  # $0.18/h x 2 h
    # At $0 there is no plan to use; a re-solve without a solution has no utilization.
    none = with_compute_commitment(problem, 0.0, 0.28)
    rows = {r["measure"]: r for r in compare(plan, _billed(none, plan, 0.3), (problem, none))}
    assert (rows[SAVINGS_PLAN_LEVEL]["what-if"], rows[SAVINGS_PLAN_USED]["what-if"]) == ("$0.0000", "none")
    timed_out = {**proposed, "status": "TIMEOUT", "buckets": [], "commitments": []}
    rows = {r["measure"]: r for r in compare(plan, timed_out, (problem, what_if))}
    assert rows[SAVINGS_PLAN_USED]["what-if"] == "no plan"
    assert SAVINGS_PLAN_LEVEL not in {r["measure"] for r in compare(plan, proposed)}  # without problems


#: Words of the solver's internals a FinOps reader does not know: the commitment views' labels and
#: help once said "USD/h in this problem", "every bucket of the plan" and "Bound on the objective".
SOLVER_JARGON = ("problem", "bucket", "objective", "prefill", "multiplier", "relax", "lagrang")


def test_the_commitment_views_speak_to_a_finops_reader() -> None:
    from optimizer.dashboard import commitment_view, what_if_model
    from optimizer.dashboard.pages import fleet_mix

    texts = [
        commitment_view.SHARE_NOTE,
        commitment_view.UTILIZATION_HELP,
        commitment_view.WHAT_IF_LABEL,
        *commitment_view.COLUMNS,
        what_if_model.COMMITMENT_COST_NOTE,
        what_if_model.SAVINGS_PLAN_LEVEL,
        what_if_model.SAVINGS_PLAN_USED,
        fleet_mix.LOWER_BOUND_HELP,
        fleet_mix.GAP_HELP,
    ]
    found = {(word, text) for text in texts for word in SOLVER_JARGON if word in text.lower()}
    assert found == set()


def test_saving_tooltip_says_the_replay_priced_the_commitments_in_force() -> None:
    from optimizer.dashboard.recommendation_view import saving_basis

    plan = {"id": "sp-1", "type": "COMPUTE_SAVINGS_PLAN", "usd_per_hour": 4.4, "rates": {}}
    with_plan = {"replay": {"current_cost_usd": 19779.59, "commitments": [plan]}}
    assert saving_basis(8.89, 8.89, with_plan) == (
        "$8.89 per month by replay, with the Savings Plans and RIs in force covering on-demand hours"
    )
    assert saving_basis(8.89, 7.5, {"replay": {}}) == (
        "$8.89 per month by replay, at on-demand and spot prices; shown after the bill's discounts"
    )


def test_an_infeasible_what_if_shows_no_bound_and_says_to_relax_the_policy() -> None:
    from optimizer.dashboard.what_if_model import NO_PLAN_EXISTS, no_plan_advice

    stored = {
        "status": "FEASIBLE",
        "cost_usd": 100.0,
        "objective_usd": 101.0,
        "lower_bound_usd": 99.0,
        "gap": 0.02,
    }
    infeasible = {"status": "INFEASIBLE", "cost_usd": 0.0, "objective_usd": 0.0, "lower_bound_usd": 0.0}
    rows = {r["measure"]: r for r in compare(stored, infeasible)}
    assert rows["lower bound (USD)"]["what-if"] == NO_PLAN_EXISTS
    assert rows["lower bound (USD)"]["stored plan"] == "$99.00"
    timed_out = {**infeasible, "status": "TIMEOUT", "lower_bound_usd": 42.0}
    assert {r["measure"]: r for r in compare(stored, timed_out)}["lower bound (USD)"]["what-if"] == "$42.00"
    assert "relax the instance requirements" in no_plan_advice("INFEASIBLE")
    assert "time limit" not in no_plan_advice("INFEASIBLE")
    assert "raise the solver time limit" in no_plan_advice("TIMEOUT")


def test_a_queue_plan_s_utilization_is_labelled_as_of_its_share() -> None:
    from optimizer.dashboard.commitment_view import WHAT_IF_ID, utilization_label

    arn = "arn:aws:savingsplans::123456789012:savingsplan/53df640c-2197-0a8c-949f-ee02db4c9285"
    assert utilization_label(arn).startswith("Utilization of this plan's share, ")
    assert "share" not in utilization_label(WHAT_IF_ID)


def test_the_advisor_band_and_the_replayed_reclaim_count_have_different_names() -> None:
    # "Interruptions / month" was both a Spot Advisor band ("<5%", a share of instances) on the Spot
    # page and a count of replayed reclaims on the Recommendations list.
    from optimizer.dashboard.columns import LABELS
    from optimizer.dashboard.recommendation_view import LIST_COLUMNS

    assert "Interruptions / month" in LIST_COLUMNS
    assert LABELS["band_label"] == "Instances interrupted / month (Spot Advisor)"
