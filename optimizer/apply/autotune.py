"""Guarded auto-tuning: one pass that applies the best open recommendations through the same planner
and executor as a person would, and rolls back its own changes when the workload got worse.

The decisions are pure functions on plain data (which recommendations may be applied now, whether a
change regressed); `run_autotune` is the thin runner that reads the store, calls the executor and
records what it decided. Guardrails:

- only recommendations that are open, applicable, not high risk, save at least
  `min_monthly_saving_usd` a month, and whose target is on the allow-list;
- at most `max_changes_per_run` changes, one per target, largest saving first; in-place changes
  only unless `allow_blue_green` (a replacement creates a CE, which a person should start; so
  does a queue-order change that adds one, like spot adoption);
- a cool-down per target: no change where any change (apply or rollback) finished within
  `cooldown_hours`;
- after a change, jobs collected since are compared with the same span before it: a queue-wait p95
  up by more than `max_queue_wait_p95_regression` (relative, and by at least a minute so seconds of
  noise do not count) or a failure rate up by more than `max_failure_rate_regression` (absolute)
  rolls the change back automatically. With fewer than `min_jobs_after` jobs since, it waits; once
  `observe_hours` passed without regression, the change is kept and no longer watched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, or_, select

from optimizer.apply import records
from optimizer.apply.executor import ClientProvider, ExecutionReport, Executor, resource_name
from optimizer.apply.fingerprint import queue_order
from optimizer.apply.planner import job_definition_key
from optimizer.apply.service import ApplyService
from optimizer.config import ApplySettings
from optimizer.domain import Recommendation, RiskLevel, UpdateKind
from optimizer.errors import UserError
from optimizer.recommend.repository import StoredRecommendation, list_recommendations
from optimizer.store.read import read_frame
from optimizer.store.schema import COLLECTED_DATASET, job_queues, jobs

log = logging.getLogger(__name__)

ACTOR = "autotune"


@dataclass(frozen=True, slots=True)
class Guardrails:
    allow_list: tuple[str, ...] = ()
    max_changes_per_run: int = 1
    cooldown_hours: float = 24.0
    min_monthly_saving_usd: float = 50.0
    max_queue_wait_p95_regression: float = 0.25
    max_failure_rate_regression: float = 0.02
    min_wait_increase_seconds: float = 60.0
    min_jobs_after: int = 20
    observe_hours: float = 24.0
    allow_blue_green: bool = False
    """Blue/green replacements create CEs; by default only a person starts one."""

    @classmethod
    def from_settings(cls, settings: ApplySettings, **overrides: Any) -> Guardrails:
        values: dict[str, Any] = {
            "allow_list": tuple(settings.allow_list),
            "max_changes_per_run": settings.max_changes_per_run,
            "cooldown_hours": settings.cooldown_hours,
            "min_monthly_saving_usd": settings.min_monthly_saving_usd,
            "max_queue_wait_p95_regression": settings.max_queue_wait_p95_regression,
            "max_failure_rate_regression": settings.max_failure_rate_regression,
        }
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Skip:
    recommendation_id: str
    reason: str


def allowed(rec: Recommendation, allow_list: Sequence[str]) -> bool:
    names = {rec.target_arn, resource_name(rec.target_arn), rec.target_name or ""}
    if rec.target_kind == "job-definition":
        names.add(job_definition_key(rec.target_arn))
    return bool(names & set(allow_list))


def select_changes(
    recs: Sequence[StoredRecommendation],
    last_change_at: Mapping[str, datetime],
    now: datetime,
    guardrails: Guardrails,
) -> tuple[list[Recommendation], list[Skip]]:
    """Which recommendations this run applies, and why each other one is skipped."""
    chosen: list[Recommendation] = []
    skipped: list[Skip] = []
    targets: set[str] = set()
    cooldown = timedelta(hours=guardrails.cooldown_hours)
    for stored in sorted(recs, key=lambda s: (-s.recommendation.monthly_savings_usd, s.id)):
        rec = stored.recommendation
        last = last_change_at.get(rec.target_arn)
        reason = None
        if stored.status != "open":
            reason = f"status {stored.status}"
        elif not rec.applicable or rec.update_kind == UpdateKind.ADVICE:
            reason = "advice only"
        elif rec.risk_level == RiskLevel.HIGH:
            reason = "high risk: needs a person"
        elif rec.monthly_savings_usd < guardrails.min_monthly_saving_usd:
            floor = guardrails.min_monthly_saving_usd
            reason = f"saves ${rec.monthly_savings_usd:,.2f}/month, below ${floor:,.2f}"
        elif not allowed(rec, guardrails.allow_list):
            reason = "target not on apply.allow_list"
        elif last is not None and now - last < cooldown:
            reason = (
                f"cool-down: target changed at {last:%Y-%m-%d %H:%M}, within {guardrails.cooldown_hours:g}h"
            )
        elif rec.target_arn in targets:
            reason = "another change to this target in this run"
        elif len(chosen) >= guardrails.max_changes_per_run:
            reason = f"max_changes_per_run ({guardrails.max_changes_per_run}) reached"
        if reason:
            skipped.append(Skip(rec.id, reason))
            continue
        chosen.append(rec)
        targets.add(rec.target_arn)
    return chosen, skipped


@dataclass(frozen=True, slots=True)
class Health:
    """What the workload looked like over a window: jobs, queue-wait p95, failure rate."""

    jobs: int
    queue_wait_p95_seconds: float | None
    failure_rate: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "queue_wait_p95_seconds": self.queue_wait_p95_seconds,
            "failure_rate": self.failure_rate,
        }


def health(frame: pd.DataFrame) -> Health:
    """Health of jobs with `status`, `created_at`, `started_at` (queue wait = started - created)."""
    if frame.empty:
        return Health(0, None, None)
    finished = frame[frame["status"].isin(["SUCCEEDED", "FAILED"])]
    failure_rate = float((finished["status"] == "FAILED").mean()) if len(finished) else None
    started = frame.dropna(subset=["started_at"])
    waits = (pd.to_datetime(started["started_at"]) - pd.to_datetime(started["created_at"])).dt.total_seconds()
    waits = waits[waits >= 0]
    p95 = float(np.percentile(waits.to_numpy(), 95)) if len(waits) else None
    return Health(len(frame), p95, failure_rate)


@dataclass(frozen=True, slots=True)
class RegressionVerdict:
    action: str  # rollback | keep | wait
    reason: str


def regression_verdict(
    before: Health, after: Health, hours_since_change: float, guardrails: Guardrails
) -> RegressionVerdict:
    """Roll back, keep, or keep watching a change, from the workload before and after it."""
    if after.jobs < guardrails.min_jobs_after:
        return RegressionVerdict(
            "wait", f"{after.jobs} jobs since the change, need {guardrails.min_jobs_after}"
        )
    problems = []
    if before.queue_wait_p95_seconds is not None and after.queue_wait_p95_seconds is not None:
        limit = max(
            before.queue_wait_p95_seconds * (1 + guardrails.max_queue_wait_p95_regression),
            before.queue_wait_p95_seconds + guardrails.min_wait_increase_seconds,
        )
        if after.queue_wait_p95_seconds > limit:
            problems.append(
                f"queue wait p95 {after.queue_wait_p95_seconds:.0f}s vs {before.queue_wait_p95_seconds:.0f}s"
                f" before (limit {limit:.0f}s)"
            )
    if (
        before.failure_rate is not None
        and after.failure_rate is not None
        and after.failure_rate - before.failure_rate > guardrails.max_failure_rate_regression
    ):
        problems.append(
            f"failure rate {after.failure_rate:.1%} vs {before.failure_rate:.1%} before"
            f" (limit +{guardrails.max_failure_rate_regression:.1%})"
        )
    if problems:
        return RegressionVerdict("rollback", "; ".join(problems))
    if hours_since_change < guardrails.observe_hours:
        return RegressionVerdict("wait", f"no regression yet; watching until {guardrails.observe_hours:g}h")
    return RegressionVerdict("keep", f"no regression over {after.jobs} jobs")


# --- the runner -----------------------------------------------------------------------------------


@dataclass
class AutotuneReport:
    reconciled: list[ExecutionReport] = field(default_factory=list)
    resumed: list[ExecutionReport] = field(default_factory=list)
    applied: list[ExecutionReport] = field(default_factory=list)
    rolled_back: list[ExecutionReport] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    watching: list[Skip] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    errors: list[Skip] = field(default_factory=list)
    #: A dry run: `applied` and `rolled_back` hold the executor's dry runs, nothing changed.
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "reconciled": [r.to_json() for r in self.reconciled],
            "resumed": [r.to_json() for r in self.resumed],
            "applied": [r.to_json() for r in self.applied],
            "rolled_back": [r.to_json() for r in self.rolled_back],
            "kept": self.kept,
            "watching": [_skip(s) for s in self.watching],
            "skipped": [_skip(s) for s in self.skipped],
            "errors": [_skip(s) for s in self.errors],
        }


def _skip(skip: Skip) -> dict[str, str]:
    return {"recommendation_id": skip.recommendation_id, "reason": skip.reason}


def last_changes(engine: Engine) -> dict[str, datetime]:
    """When each target last finished a change (apply or rollback of any outcome but refused/dry-run)."""
    latest: dict[str, datetime] = {}
    for record in records.audits(engine, actions=("apply", "rollback", "auto-rollback")):
        if record.result in ("refused", "dry-run", "pending") or record.finished_at is None:
            continue
        target = records.load_change_plan(engine, record.plan_id).target_arn
        if target not in latest or record.finished_at > latest[target]:
            latest[target] = record.finished_at
    return latest


def _scope_filter(engine: Engine, rec: Recommendation) -> Any:
    """SQL filter on `jobs` for the jobs a change to `rec`'s target affects."""
    if rec.target_kind == "job-definition":
        return jobs.c.job_definition_name == resource_name(rec.target_arn)
    if rec.target_kind == "job-queue":
        return or_(jobs.c.job_queue_arn == rec.target_arn, jobs.c.queue == resource_name(rec.target_arn))
    queue_rows = read_frame(
        engine, select(job_queues.c.arn, job_queues.c.name, job_queues.c.compute_environment_order)
    )
    names = {rec.target_arn, resource_name(rec.target_arn)}
    using = [
        row
        for row in queue_rows.itertuples()
        if names & set(queue_order(row.compute_environment_order or []))
    ]
    return or_(jobs.c.job_queue_arn.in_([r.arn for r in using]), jobs.c.queue.in_([r.name for r in using]))


def window_health(engine: Engine, rec: Recommendation, since: datetime, until: datetime) -> Health:
    query = select(jobs.c.status, jobs.c.created_at, jobs.c.started_at).where(
        jobs.c.dataset == COLLECTED_DATASET,
        jobs.c.created_at >= since,
        jobs.c.created_at < until,
        _scope_filter(engine, rec),
    )
    return health(read_frame(engine, query))


def _watch(
    engine: Engine,
    service: ApplyService,
    guardrails: Guardrails,
    now: datetime,
    report: AutotuneReport,
    *,
    dry_run: bool = False,
) -> None:
    """Check every change autotune made that is still applied and not yet judged. A dry run judges
    them alike but records no verdict and only dry-runs the rollback (the executor's own dry run)."""
    judged = {r.plan_id for r in records.audits(engine, actions=("observe",))}
    for stored in list_recommendations(engine, ["applied"]):
        applies = [
            a
            for a in records.audits(engine, recommendation_id=stored.id, actions=("apply",))
            if a.result in ("succeeded", "partial")
        ]
        if not applies or applies[0].actor != ACTOR or applies[0].plan_id in judged:
            continue
        change = applies[0]
        changed_at = change.finished_at or change.started_at
        span = max(now - changed_at, timedelta(hours=1))
        before = window_health(engine, stored.recommendation, changed_at - span, changed_at)
        after = window_health(engine, stored.recommendation, changed_at, now)
        verdict = regression_verdict(before, after, (now - changed_at).total_seconds() / 3600, guardrails)
        evidence = {"before": before.to_json(), "after": after.to_json(), "verdict": verdict.action}
        if verdict.action == "wait":
            report.watching.append(Skip(stored.id, verdict.reason))
            continue
        plan = records.load_change_plan(engine, change.plan_id)
        if verdict.action == "keep" and dry_run:
            report.kept.append(stored.id)
            continue
        if verdict.action == "keep":
            records.start_audit(
                engine,
                plan,
                action="observe",
                actor=ACTOR,
                dry_run=False,
                before=evidence,
                result="kept",
                message=verdict.reason,
                now=now,
            )
            report.kept.append(stored.id)
            continue
        try:
            rolled = service.rollback(stored.id, execute=not dry_run, actor=ACTOR, action="auto-rollback")
        except UserError as exc:
            report.errors.append(Skip(stored.id, f"auto-rollback refused: {exc}"))
            continue
        if dry_run:
            report.rolled_back.append(rolled)
            continue
        records.start_audit(
            engine,
            plan,
            action="observe",
            actor=ACTOR,
            dry_run=False,
            before=evidence,
            result="regressed",
            message=f"{verdict.reason}; rolled back (audit #{rolled.audit_id})",
            now=now,
        )
        report.rolled_back.append(rolled)


#: The calls that start new capacity, which auto-tuning leaves to a person unless `allow_blue_green`.
CREATES_INSTANCES = frozenset({"create_compute_environment"})
#: Apply results auto-tuning counts as done (or on its way: Batch still at work, resumed next pass).
DONE_RESULTS = frozenset({"succeeded", "waiting"})


def _resume_waiting(engine: Engine, executor: Executor, report: AutotuneReport) -> None:
    """Continue auto-tuning's own applies that stopped waiting for Batch (`Executor.resume`, the
    same path as `batchopt apply --resume`); a person's waiting apply is left to that person."""
    for record in records.audits(engine, results=("waiting",), actions=("apply",)):
        if record.actor != ACTOR:
            continue
        try:
            report.resumed.append(executor.resume(record.id, actor=ACTOR))
        except UserError as exc:
            report.errors.append(Skip(record.recommendation_id or "", f"resume refused: {exc}"))


def run_autotune(
    engine: Engine,
    settings: ApplySettings,
    clients: ClientProvider,
    *,
    now: datetime | None = None,
    guardrails: Guardrails | None = None,
    executor: Executor | None = None,
    dry_run: bool = False,
) -> AutotuneReport:
    """One auto-tuning pass: reconcile, watch earlier changes (auto-rollback), apply new ones.

    With `dry_run` the pass decides as it would and changes nothing in AWS: rollbacks and applies
    go through the executor's dry run (audited as such, as `batchopt apply` without --execute is),
    no verdict is recorded, and pending or waiting applies are neither reconciled nor resumed
    (both would read AWS to finish a change)."""
    guardrails = guardrails or Guardrails.from_settings(settings)
    executor = executor or Executor(engine, settings, clients)
    now = now or executor.now()  # one clock for the pass: the executor's stamps its records
    service = ApplyService(engine, settings, clients, executor=executor)
    report = AutotuneReport(dry_run=dry_run)
    if not dry_run:
        report.reconciled = executor.reconcile_pending()
        _resume_waiting(engine, executor, report)
    _watch(engine, service, guardrails, now, report, dry_run=dry_run)
    chosen, report.skipped = select_changes(
        list_recommendations(engine, ["open"]), last_changes(engine), now, guardrails
    )
    for rec in chosen:
        try:
            _, plan = service.plan(rec.id)
            if not guardrails.allow_blue_green:
                if plan.update_kind == UpdateKind.BLUE_GREEN:
                    report.skipped.append(Skip(rec.id, "needs a blue/green replacement: left to a person"))
                    continue
                if any(call.operation in CREATES_INSTANCES for call in plan.calls):
                    # (spot adoption and its kin are queue-order changes that add a new CE: the
                    # same new, billed capacity a replacement starts)
                    report.skipped.append(Skip(rec.id, "creates a compute environment: left to a person"))
                    continue
            result = executor.run(plan, execute=not dry_run, actor=ACTOR, action="apply")
        except UserError as exc:
            report.errors.append(Skip(rec.id, str(exc).replace("\n", "; ")))
            continue
        log.info("autotune %s %s: %s", "dry-ran" if dry_run else "applied", rec.id, result.result)
        report.applied.append(result)
        if dry_run:
            if result.refusals:  # (what the real pass would be refused: it fails that pass)
                report.errors.append(Skip(rec.id, "would be refused: " + "; ".join(result.refusals)))
        elif result.result not in DONE_RESULTS:
            # A partial or failed apply is listed with what it did, and fails the pass: the
            # scheduler and the exit code must not read it as done.
            report.errors.append(Skip(rec.id, f"apply {result.result}: {result.message}"))
    return report
