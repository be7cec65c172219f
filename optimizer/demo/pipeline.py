"""`batchopt demo`: the whole product on an emulated Batch estate, stage by stage.

emulator up -> estate -> history -> db upgrade -> collect -> analyze -> train -> optimize -> replay
-> recommend -> weekly report -> dashboard. Every stage calls the same public function its CLI
command runs (no subprocesses, except the dashboard, which is a Streamlit server like
`batchopt dashboard`). Product code reaches the emulator exactly as it reaches AWS: settings with
`aws.endpoint_url` set, clients from `SessionFactory`.

The process uses throwaway credentials while the demo runs (`demo_environment`): whatever AWS
credentials the user has are never sent anywhere, and no request can reach a real AWS endpoint
because every client is built with the emulator's endpoint.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.engine import make_url

from optimizer.analysis.stored import AnalysisSummary, run_analysis
from optimizer.aws.session import SessionFactory, TargetRegion
from optimizer.billing.window import bill_window
from optimizer.collectors.service import run_collection
from optimizer.config import DEFAULT_DATABASE_URL, AwsSettings, Settings
from optimizer.demo.bill_export import with_bill, write_demo_bill
from optimizer.demo.emulator import Emulator
from optimizer.demo.estate import build_estate, current_configuration
from optimizer.demo.fleet import QueuePlan, optimize_queues, plan_pricing, replay_plans
from optimizer.demo.history import History, build_history, catalog_for_replay
from optimizer.demo.policy import policy_env, with_demo_policy
from optimizer.demo.progress import StageDisplay, StageRecord
from optimizer.demo.shell_env import write_demo_env
from optimizer.errors import UserError
from optimizer.ml.forecast import DemandForecaster
from optimizer.ml.registry import ModelRegistry
from optimizer.ml.training import train_all
from optimizer.recommend.calibration import Calibration
from optimizer.recommend.generate import generate_recommendations
from optimizer.recommend.headline import UNCONSTRAINED_BOUND, stored_headline
from optimizer.recommend.inputs import estate_replay_commitments, load_recommend_inputs
from optimizer.recommend.repository import list_recommendations
from optimizer.recommend.savings import ReplayBaseline
from optimizer.report.run import run_report
from optimizer.report.sinks import DirectorySink
from optimizer.runtime.clock import Clock, utc_now
from optimizer.simulate.datasets import load_dataset
from optimizer.solver.policy import Policy, describe_limits, policy_from_settings
from optimizer.store.engine import create_store_engine, upgrade
from optimizer.store.schema import COLLECTED_DATASET, instances, jobs
from optimizer.store.tables.analysis import cost_daily

DEMO_REGION = "us-east-1"
DEMO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "batchopt-demo",
    "AWS_SECRET_ACCESS_KEY": "batchopt-demo",
    "AWS_DEFAULT_REGION": DEMO_REGION,
}
CLEARED_AWS_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")
DEMO_FORECAST_ROWS = 10_000
DEMO_FORECAST_ITERATIONS = 80
"""Smaller demand-forecast models than `batchopt train` fits by default (30,000 rows, 150 boosting
iterations): the demo trades a little forecast accuracy for a third of the training time."""
DEMO_SOLVE_SECONDS = 10.0
"""Per-queue solver time limit in the demo (the configured limit if lower): three queues must fit in
the demo's three minutes; the plans are then FEASIBLE with their gap reported, rarely OPTIMAL."""


@dataclass(frozen=True)
class DemoOptions:
    headless: bool = False
    days: int = 30
    workdir: Path = Path("var")
    database_url: str | None = None
    dashboard_port: int | None = None
    top_n: int = 5


@dataclass
class DemoSummary:
    """What the demo found; every figure is read back from the store after the run."""

    database_url: str
    endpoint_url: str
    history_start: str
    history_end: str
    jobs_collected: int
    instances_collected: int
    spend_usd: float
    waste_usd: float
    idle_usd: float
    savings_usd: float
    """The one savings headline (`optimizer.recommend.headline`), as on the Overview."""
    replay_cost_usd: float | None
    identified_savings_usd_per_month: float = 0.0
    costs_money_usd_per_month: float = 0.0
    observed_cost_usd: float | None = None
    """The store's measured cost of the evidence window (calibration, `recommend/calibration.py`)."""
    replayed_current_cost_usd: float | None = None
    """The replay of the current configuration over the same window."""
    calibration_error_pct: float | None = None
    calibration_monthly_error_usd: float | None = None
    plan_savings_usd: float = 0.0
    """The plans' replayed savings summed, priced as `plan_pricing` says."""
    plan_label: str = UNCONSTRAINED_BOUND
    plan_pricing: str = ""
    """How the plans' replays are billed: after the commitments in force (`demo.fleet.plan_pricing`)."""
    plan_savings_at_list_usd: float = 0.0
    """The same plans' savings at list prices, before any commitment (each queue's own instance cost)."""
    policy: str = ""
    """The fleet policy the plans and recommendations were made under, in words."""
    env_file: str | None = None
    bill: dict[str, Any] | None = None
    """The imported bill over the days of the history it covers (`billing.window.bill_window`):
    billed, effective, the model over the same days and the day count; None without a bill. The
    spend above is the model at list prices; a FinOps reader holds this one against Cost Explorer."""
    headline: dict[str, Any] = field(default_factory=dict)
    plans: list[dict[str, Any]] = field(default_factory=list)
    top_recommendations: list[dict[str, Any]] = field(default_factory=list)
    report_files: list[str] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def demo_environment() -> Iterator[None]:
    """Throwaway credentials for the emulator while the demo runs; the caller's are restored after."""
    saved = {k: os.environ.get(k) for k in (*DEMO_CREDENTIALS, *CLEARED_AWS_VARIABLES)}
    os.environ.update(DEMO_CREDENTIALS)
    for name in CLEARED_AWS_VARIABLES:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def demo_database_url(settings: Settings, options: DemoOptions, now: datetime) -> str:
    """The configured store when one was configured, else a fresh SQLite file under the workdir."""
    if options.database_url:
        return options.database_url
    if settings.store.database_url != DEFAULT_DATABASE_URL:
        return settings.store.database_url
    path = options.workdir / f"demo-{now:%Y%m%d-%H%M%S}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def demo_settings(
    settings: Settings, endpoint_url: str, database_url: str, report_dir: Path, days: int
) -> Settings:
    """The user's settings pointed at the emulator and the demo store (one target, one region), with
    a first collection that reaches back over the whole history."""
    return settings.model_copy(
        update={
            "aws": AwsSettings(endpoint_url=endpoint_url, regions=[DEMO_REGION], max_attempts=3),
            "store": settings.store.model_copy(update={"database_url": database_url}),
            "report": settings.report.model_copy(update={"out_dir": str(report_dir)}),
            # The emulator has no CloudTrail event history: lifetimes from sampling, as before.
            "collection": settings.collection.model_copy(
                update={"initial_lookback_days": days + 1, "cloudtrail_lifetimes": False}
            ),
        }
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def require_empty_history(engine: Engine, database_url: str) -> None:
    """The demo's estate is new on every run: mixing it with collected history already in the store
    would double the figures, so a store that holds some is refused (nothing is written)."""
    with engine.connect() as conn:
        held = conn.execute(
            select(func.count()).select_from(jobs).where(jobs.c.dataset == COLLECTED_DATASET)
        ).scalar_one()
    if held:
        raise UserError(
            f"{database_url} already holds {held:,} collected jobs; the demo needs a store without "
            "collected history (unset BATCHOPT_DATABASE_URL for a fresh file, or pass --database-url)"
        )


def refuse_held_history(database_url: str) -> None:
    """`require_empty_history` before anything starts: it was checked at the store stage, after the
    emulator, the estate and the history had taken a minute or more. Creates nothing: a SQLite file
    that does not exist, or a store without the jobs table yet, holds no history."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or not Path(url.database).exists()
    ):
        return
    engine = create_store_engine(database_url)
    try:
        if inspect(engine).has_table(jobs.name):
            require_empty_history(engine, database_url)
    finally:
        engine.dispose()


def _rounded(usd: float | None) -> float | None:
    return None if usd is None else round(usd, 2)


def read_summary(
    engine: Engine,
    *,
    database_url: str,
    endpoint_url: str,
    start: datetime,
    end: datetime,
    replay_cost: float | None,
    plans: list[QueuePlan],
    report_files: list[str],
    stages: list[StageRecord],
    top_n: int,
    calibration: Calibration | None = None,
    env_file: str | None = None,
    policy: str = "",
    plan_pricing: str = "",
) -> DemoSummary:
    """The summary's figures, each a query on the store (so the test can check them against it)."""
    with engine.connect() as conn:
        money = conn.execute(
            select(
                func.coalesce(func.sum(cost_daily.c.total_usd), 0.0),
                func.coalesce(func.sum(cost_daily.c.idle_usd), 0.0),
                func.coalesce(
                    func.sum(
                        cost_daily.c.idle_usd
                        + cost_daily.c.over_requested_usd
                        + cost_daily.c.spot_reclaim_usd
                        + cost_daily.c.failed_usd
                        + cost_daily.c.oom_usd
                    ),
                    0.0,
                ),
            ).where(cost_daily.c.dataset == COLLECTED_DATASET)
        ).one()
        job_count = conn.execute(
            select(func.count()).select_from(jobs).where(jobs.c.dataset == COLLECTED_DATASET)
        ).scalar_one()
        instance_count = conn.execute(
            select(func.count()).select_from(instances).where(instances.c.dataset == COLLECTED_DATASET)
        ).scalar_one()
    open_recs = list_recommendations(engine, ["open"])
    ranked = sorted(open_recs, key=lambda r: -r.recommendation.monthly_savings_usd)
    headline = stored_headline(engine)
    first_day = datetime(start.year, start.month, start.day)
    window = bill_window(engine, first_day, datetime(end.year, end.month, end.day) + timedelta(days=1))
    bill = (
        None
        if window is None
        else {
            "days": len(window.days),
            "first_day": window.days[0].day.isoformat(),
            "last_day": window.days[-1].day.isoformat(),
            "billed_usd": round(window.billed_usd, 2),
            "effective_usd": round(window.effective_usd, 2),
            "modelled_usd": None if window.modelled_usd is None else round(window.modelled_usd, 2),
        }
    )
    cal = calibration.to_json() if calibration is not None else {}
    return DemoSummary(
        database_url=database_url,
        endpoint_url=endpoint_url,
        history_start=start.isoformat(timespec="seconds"),
        history_end=end.isoformat(timespec="seconds"),
        jobs_collected=int(job_count),
        instances_collected=int(instance_count),
        spend_usd=round(float(money[0]), 2),
        bill=bill,
        idle_usd=round(float(money[1]), 2),
        waste_usd=round(float(money[2]), 2),
        savings_usd=headline.total_usd_per_month,
        identified_savings_usd_per_month=headline.total_usd_per_month,
        costs_money_usd_per_month=headline.costs_money_usd_per_month,
        observed_cost_usd=cal.get("observed_cost_usd"),
        replayed_current_cost_usd=cal.get("replayed_current_cost_usd"),
        calibration_error_pct=cal.get("error_pct"),
        calibration_monthly_error_usd=cal.get("monthly_error_usd"),
        env_file=env_file,
        policy=policy,
        headline={k: v for k, v in headline.to_json().items() if k != "items"},
        replay_cost_usd=None if replay_cost is None else round(replay_cost, 2),
        plan_savings_usd=round(sum(p.monthly_savings_usd or 0.0 for p in plans), 2),
        plan_pricing=plan_pricing,
        plan_savings_at_list_usd=round(sum(p.list_monthly_savings_usd or 0.0 for p in plans), 2),
        plans=[
            {
                "queue": p.queue,
                "status": p.status,
                "gap": p.plan_document.get("gap"),
                "plan_cost_usd": round(p.plan_cost_usd, 2),
                "plan_hours": round(p.plan_hours, 2),  # the span plan_cost_usd covers, not a month
                # the part of it that is commitment fees, and how much of each commitment it uses
                "commitment_usd": round(float(p.plan_document.get("commitment_usd") or 0.0), 2),
                "commitment_utilization": {
                    str(c["id"]): c["utilization"] for c in p.plan_document.get("commitments", [])
                },
                "selected": list(p.selected),
                # the whole estate's replay, billed after the commitments, as is and with this queue
                # moved; less the other queues' reclaim noise, x 30 / days: the monthly saving
                "replayed_current_usd": _rounded(p.current_usd),
                "replayed_proposed_usd": _rounded(p.proposed_usd),
                "other_queues_usd": _rounded(p.other_queues_usd),
                "monthly_savings_usd": _rounded(p.monthly_savings_usd),
                "list_monthly_savings_usd": _rounded(p.list_monthly_savings_usd),
            }
            for p in sorted(plans, key=lambda p: -(p.monthly_savings_usd or 0.0))
        ],
        top_recommendations=[
            {
                "id": r.recommendation.id,
                "title": r.recommendation.title,
                # The dashboard's figure: after the bill's discounts where a bill covers the evidence.
                "monthly_savings_usd": round(
                    headline.monthly_savings_of(r.recommendation.id, r.recommendation.monthly_savings_usd), 2
                ),
                "risk": str(r.recommendation.risk_level),
                "headline": verdict.label() if (verdict := headline.item(r.recommendation.id)) else None,
            }
            for r in ranked[:top_n]
        ],
        report_files=report_files,
        stages=[
            {"stage": s.name, "status": s.status, "seconds": round(s.seconds, 2), "detail": s.detail}
            for s in stages
        ],
    )


class DemoRun:
    """One demo run; `run()` returns the summary, `serve_dashboard()` then blocks until Ctrl-C."""

    def __init__(
        self, settings: Settings, options: DemoOptions, console: Console, *, clock: Clock = utc_now
    ) -> None:
        self.settings = with_demo_policy(settings)  # the README's example limits, unless set
        self.options = options
        self.console = console
        self.clock = clock  # naive UTC; the history ends at its reading when the run starts
        self.now = clock().replace(microsecond=0, tzinfo=UTC)
        self.report_dir = options.workdir / "reports"
        self.models_dir = options.workdir / "models"
        self.plan_pricing = ""  # how the replay stage billed the plans' replays, for the summary

    def run(self, display: StageDisplay) -> DemoSummary:
        """The stages in order; each reads what the ones before it left in the store or on `self`."""
        self.database_url = demo_database_url(self.settings, self.options, self.now)
        refuse_held_history(self.database_url)
        self.start_emulator(display)
        sessions = SessionFactory(self.demo.aws)
        [where] = sessions.target_regions()
        self.create_estate(display, sessions, where)
        history = self.seed_history(display, sessions, where)
        self.prepare_store(display)
        self.collect(display, sessions)
        analysis = self.analyze(display)
        self.train(display)
        plans = self.optimize(display)
        replay_cost, plans = self.replay(display, sessions, where, plans, analysis)
        calibration = self.recommend(display)
        report_files = self.write_report(display)
        return read_summary(
            self.engine,
            database_url=self.database_url,
            endpoint_url=self.emulator.endpoint_url,
            start=history.start,
            end=history.end,
            replay_cost=replay_cost,
            plans=plans,
            report_files=report_files,
            stages=display.records,
            top_n=self.options.top_n,
            calibration=calibration,
            env_file=str(self.env_file),
            policy=describe_limits(self.policy()),
            plan_pricing=self.plan_pricing,
        )

    def start_emulator(self, display: StageDisplay) -> None:
        """The emulator, then the user's settings pointed at it and at the demo store."""
        with display.stage("emulator", "start the local AWS emulator") as out:
            self.emulator = Emulator(self.now, history_days=self.options.days).start()
            out.detail = f"moto + gap-filling layer on {self.emulator.endpoint_url}"
        self.demo = demo_settings(
            self.settings, self.emulator.endpoint_url, self.database_url, self.report_dir, self.options.days
        )

    def create_estate(self, display: StageDisplay, sessions: SessionFactory, where: TargetRegion) -> None:
        with display.stage("estate", "create the Batch estate") as out:
            self.estate = build_estate(sessions, where)
            out.detail = (
                f"{len(self.estate.queues)} queues on {len(self.estate.compute_environments)} compute "
                "environments (on-demand BEST_FIT, two spot-only)"
            )

    def seed_history(self, display: StageDisplay, sessions: SessionFactory, where: TargetRegion) -> History:
        """Real traces replayed on the estate into the emulator, and the bill they would have made."""
        days = self.options.days
        with display.stage("history", f"replay {days} days of real traces") as out:
            configuration = current_configuration(sessions, where)
            history = build_history(self.estate, configuration, self.now, days=days)
            counts = self.emulator.seed_history(where.region, history.frames)
            bill = write_demo_bill(
                sessions.client("s3", where.target, where.region),
                history.frames,
                counts.instance_ids,
                counts.task_arns,
                account_id=self.estate.account_id,
                region=where.region,
                start=history.start.astimezone(UTC).replace(tzinfo=None),
                now=self.now.replace(tzinfo=None),
            )
            bill_dir = str(self.options.workdir / f"bill-{self.now:%Y%m%d-%H%M%S}")
            self.demo = with_bill(self.demo, bill, bill_dir)
            out.detail = (
                f"{counts.jobs:,} jobs, {counts.attempts:,} attempts, {counts.instances:,} instances, "
                f"{counts.log_events:,} usage events (KTH-SP2 + Alibaba GPU); "
                f"its bill: CUR 2.0 export, {bill.line_items:,} line items in {bill.uri}"
            )
        return history

    def prepare_store(self, display: StageDisplay) -> None:
        """An upgraded store without collected history, and the shell settings for a second CLI."""
        with display.stage("db", "prepare the store") as out:
            engine = create_store_engine(self.database_url)
            upgrade(engine)  # (`run` refused a store holding collected history before the emulator started)
            self.env_file = write_demo_env(
                self.options.workdir / "demo.env",
                database_url=self.database_url,
                endpoint_url=self.emulator.endpoint_url,
                region=DEMO_REGION,
                credentials=DEMO_CREDENTIALS,
                models_dir=self.models_dir,
                extra=self.cli_settings(),
            )
            out.detail = f"{self.database_url} (shell settings: {self.env_file})"
        self.engine = engine

    def collect(self, display: StageDisplay, sessions: SessionFactory) -> None:
        with display.stage("collect", "collect through boto3") as out:
            timings: dict[str, float] = {}
            clock = [time.monotonic()]

            def timed(result: Any) -> None:
                timings[result.source] = time.monotonic() - clock[0]
                clock[0] = time.monotonic()

            results = run_collection(self.demo, self.engine, sessions, on_progress=timed)
            failed = [r for r in results if r.status != "succeeded"]
            if failed:
                raise UserError("collection failed: " + "; ".join(f"{r.source}: {r.error}" for r in failed))
            slowest = max(timings, key=lambda k: timings[k]) if timings else "-"
            out.detail = (
                f"{len(results)} sources, {sum(r.items_written for r in results):,} rows written "
                f"(slowest: {slowest} {timings.get(slowest, 0.0):.0f}s)"
            )

    def analyze(self, display: StageDisplay) -> AnalysisSummary:
        with display.stage("analyze", "attribute costs and utilization") as out:
            # The wall clock, as `batchopt analyze`: the run must read as newer than the collection.
            analysis = run_analysis(self.engine, computed_at=self.clock(), dataset=COLLECTED_DATASET)
            out.detail = (
                f"${analysis.total_usd:,.0f} spend, ${analysis.idle_usd:,.0f} idle, "
                # (calendar days with cost rows: a 30-day history from 22:57 touches 31 of them)
                f"${analysis.waste_usd:,.0f} waste on {analysis.days_written} calendar days"
            )
            if analysis.mnp_jobs:  # the MNP queue's gangs (`analysis/multinode.py`)
                out.detail += (
                    f"; {analysis.mnp_jobs} MNP jobs ${analysis.mnp_cost_usd:,.0f}, gang-formation idle"
                    f" ${analysis.gang_formation_idle_usd:,.2f}"
                )
        return analysis

    def train(self, display: StageDisplay) -> None:
        with display.stage("train", "train forecast, usage and interruption models") as out:
            training = train_all(
                self.engine,
                ModelRegistry(self.models_dir),
                now=self.clock(),
                dataset=COLLECTED_DATASET,
                history_days=max(self.options.days, 7),
                forecaster=DemandForecaster(max_rows=DEMO_FORECAST_ROWS, max_iter=DEMO_FORECAST_ITERATIONS),
            )
            out.detail = (
                f"{len(training.trained)} trained, {len(training.skipped)} skipped -> {self.models_dir}"
            )

    def optimize(self, display: StageDisplay) -> list[QueuePlan]:
        with display.stage("optimize", "solve the fleet mix per queue") as out:
            plans = optimize_queues(
                self.engine,
                self.estate,
                self.policy(),
                days=self.options.days,
                now=self.now.replace(tzinfo=None),
                buckets=(
                    float(self.settings.optimization.bucket_seconds),
                    float(self.settings.optimization.min_bucket_seconds),
                ),
                commitments=self.demo.commitments,
            )
            out.detail = ", ".join(_plan_detail(p) for p in plans) or "no jobs"
        return plans

    def replay(
        self,
        display: StageDisplay,
        sessions: SessionFactory,
        where: TargetRegion,
        plans: list[QueuePlan],
        analysis: AnalysisSummary,
    ) -> tuple[float, list[QueuePlan]]:
        """The collected history replayed on the current fleet and on each queue's plan."""
        with display.stage("replay", "replay history on current and planned fleets") as out:
            collected, start = load_dataset(self.engine, COLLECTED_DATASET)
            collected = collected.assign(arch=None)
            in_force = estate_replay_commitments(
                self.engine,
                self.demo.commitments,
                account=self.estate.account_id,
                region=where.region,
                history=collected,
                start=start,
            )
            baseline = ReplayBaseline(
                dataset=COLLECTED_DATASET,
                jobs=collected,
                catalog=catalog_for_replay(),
                current_document=current_configuration(sessions, where),
                commitments=in_force.commitments,
            )
            replay_cost, plans = replay_plans(baseline, plans, days=self.options.days)
            self.plan_pricing = plan_pricing(in_force.commitments)
            saved = sum(p.monthly_savings_usd or 0.0 for p in plans)
            at_list = sum(p.list_monthly_savings_usd or 0.0 for p in plans)
            out.detail = (
                f"current ${replay_cost:,.0f} (measured: ${analysis.total_usd:,.0f}); "
                f"solver plans save ${saved:,.0f}/month {self.plan_pricing}"
                f" (${at_list:,.0f} at list prices; {UNCONSTRAINED_BOUND})"
            )
        return replay_cost, plans

    def recommend(self, display: StageDisplay) -> Calibration | None:
        """Every strategy's recommendations; returns the first queue's calibration for the summary."""
        with display.stage("recommend", "run every recommendation strategy, savings by replay") as out:
            recs = generate_recommendations(self.engine, self.settings, dataset=COLLECTED_DATASET)
            applicable = sum(1 for r in recs if r.applicable)
            calibration = next(
                (
                    i.baseline.calibration()
                    for i in load_recommend_inputs(self.engine, dataset=COLLECTED_DATASET)
                ),
                None,
            )
            out.detail = f"{len(recs)} recommendations ({applicable} applicable, the rest advice)"
        return calibration

    def write_report(self, display: StageDisplay) -> list[str]:
        with display.stage("report", "write the weekly report") as out:
            report_dir = self.report_dir
            outcome = run_report(self.engine, self.demo, [DirectorySink(report_dir)], now=self.now)
            if not outcome.ok:
                raise UserError("weekly report: " + "; ".join(r.detail for r in outcome.results if not r.ok))
            out.detail = f"{outcome.rendered.headline} -> {report_dir / outcome.rendered.html_name}"
        return [str(report_dir / name) for name in outcome.rendered.files]

    def demo_allow_list(self) -> str:
        """The demo's own estate: the only ARNs apply may change from the demo's CLI or dashboard."""
        return ",".join(sorted([*self.estate.compute_environments, *self.estate.queues]))

    def cli_settings(self) -> dict[str, str]:
        """Settings the CLI in a second shell shares with the demo's dashboard: apply limited to the
        demo's own estate, and the demo's bill."""
        return {
            "BATCHOPT_APPLY__ENABLED": "true",
            "BATCHOPT_APPLY__ALLOW_LIST": self.demo_allow_list(),
            "BATCHOPT_BILLING__DATA_DIR": str(Path(self.demo.billing.data_dir).resolve()),
            **policy_env(self.settings.optimization),
        }

    def policy(self) -> Policy:
        """The configured optimization policy, with the demo's solver time cap."""
        return policy_from_settings(self.settings.optimization, time_limit_seconds=DEMO_SOLVE_SECONDS)

    def serve_dashboard(self, display: StageDisplay) -> int:
        """Start the Streamlit dashboard against the demo store and emulator; block until Ctrl-C."""
        from optimizer.dashboard.serve.command import streamlit_command

        host = self.settings.dashboard.host
        port = self.options.dashboard_port or _free_port(host)
        secret = secrets.token_urlsafe(12)
        env = {
            **os.environ,
            "BATCHOPT_DATABASE_URL": self.demo.store.database_url,
            "BATCHOPT_AWS_ENDPOINT_URL": self.emulator.endpoint_url,
            "BATCHOPT_REGIONS": DEMO_REGION,
            "BATCHOPT_APPLY__ENABLED": "true",
            "BATCHOPT_APPLY__SHARED_SECRET": secret,
            "BATCHOPT_MODELS_DIR": str(self.models_dir),
            "BATCHOPT_BILLING__DATA_DIR": self.demo.billing.data_dir,
            # The demo's own estate may be changed from the dashboard, nothing else.
            "BATCHOPT_APPLY__ALLOW_LIST": self.demo_allow_list(),
            **policy_env(self.settings.optimization),
        }
        with display.stage("dashboard", "start the dashboard") as out:
            process = subprocess.Popen(streamlit_command(host, port), env=env)
            _wait_for_port(host, port, process)
            out.detail = f"http://{host}:{port}/"
        self.console.print(
            f"\nDashboard: [bold]http://{host}:{port}/[/]  (apply secret for this session: {secret})\n"
            f"CLI on this demo, in another shell: source {self.env_file}\n"
            "Ctrl-C stops the dashboard and the emulator.",
            highlight=False,
        )
        # `kill`/`docker stop` send SIGTERM: treat it like Ctrl-C so the dashboard is not orphaned.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            return process.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()

    def close(self) -> None:
        if getattr(self, "engine", None) is not None:
            self.engine.dispose()
        if getattr(self, "emulator", None) is not None:
            self.emulator.stop()


def _plan_detail(plan: QueuePlan) -> str:
    """A queue's plan in the optimize stage's line: its cost and, with commitments, the fees in it
    and how much of its share of each commitment it uses."""
    text = f"{plan.queue} {plan.status} ${plan.plan_cost_usd:,.0f} over {plan.plan_hours:,.0f} h"
    used = plan.plan_document.get("commitments") or []
    if used:
        fees = float(plan.plan_document.get("commitment_usd") or 0.0)
        text += f" (fees ${fees:,.0f}, " + ", ".join(f"{c['utilization']:.0%} used" for c in used) + ")"
    return text


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise UserError(f"the dashboard exited with status {process.returncode} before serving")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise UserError(f"the dashboard did not answer on {host}:{port} within {timeout:.0f}s")
