"""The apply workflow the CLI, the dashboard and auto-tuning share: plan, apply, roll back by id.

Resolves which configured target owns a resource (region and account from its ARN), reads the
current state, runs the pure planner, stores the plan, and hands plans to the executor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine

from optimizer.apply import records
from optimizer.apply.executor import ClientProvider, ExecutionReport, Executor, disabled_refusal
from optimizer.apply.fingerprint import queue_order
from optimizer.apply.images import pinned_images
from optimizer.apply.planner import (
    CurrentState,
    PlannerOptions,
    job_definition_key,
    plan_change,
    refuse_advice,
)
from optimizer.apply.reader import BatchReader, aws_errors
from optimizer.aws.session import SessionFactory
from optimizer.config import ApplySettings, AwsSettings, Settings
from optimizer.domain import ChangePlan, Recommendation
from optimizer.errors import ConfigError, RefusedError, UserError
from optimizer.recommend.repository import (
    StoredRecommendation,
    dismissal_refusal,
    get_recommendation,
    reopen_refusal,
    set_status,
)


class TargetClients:
    """A ClientProvider over the configured targets: the client for the account and region of an ARN."""

    def __init__(self, factory: SessionFactory) -> None:
        self.factory = factory
        self._accounts: dict[tuple[str, str], str] = {}

    def __call__(self, service: str, arn: str) -> Any:
        parts = arn.split(":")
        if len(parts) < 6 or parts[0] != "arn":
            raise UserError(f"{arn}: not an ARN")
        region, account = parts[3], parts[4]
        candidates = [tr for tr in self.factory.target_regions() if tr.region == region]
        for pair in candidates:
            key = (pair.target.name, region)
            if key not in self._accounts:
                with aws_errors(f"identifying the account of target {pair.target.name} in {region}"):
                    self._accounts[key] = self.factory.account_id(pair.target, region)
            if self._accounts[key] == account:
                return self.factory.client(service, pair.target, region)
        raise ConfigError(f"{arn}: no configured target covers account {account} in region {region}")


def target_clients(aws: AwsSettings, sessions: SessionFactory | None = None) -> TargetClients:
    """How apply reaches AWS: the configured targets' sessions (one factory, built from the `[aws]`
    settings unless the caller already holds one), the client of the account and region owning each
    ARN. The CLI, the dashboard and the scheduler's auto-tune all get their clients here."""
    return TargetClients(sessions or SessionFactory(aws))


def _proposes_instance_types(rec: Recommendation) -> bool:
    new_ce = rec.proposed.get("new_compute_environment") or {}
    return "instance_types" in rec.proposed or "instance_types" in new_ce


def read_state(reader: BatchReader, rec: Recommendation, ec2: Any | None = None) -> CurrentState:
    """What the planner needs for `rec`, as Batch describes it now (with `ec2`, the AMIs the CE
    pins when the recommendation changes its instance types: the architecture check needs them)."""
    state = _read_batch_state(reader, rec)
    if ec2 is None or not _proposes_instance_types(rec):
        return state
    base = state.target
    if rec.target_kind == "job-queue":
        ref = (rec.proposed.get("new_compute_environment") or {}).get("based_on")
        base = next(
            (
                c
                for c in state.compute_environments
                if ref in (c["computeEnvironmentArn"], c["computeEnvironmentName"])
            ),
            {},
        )
    images = pinned_images(ec2, base)
    return replace(state, pinned_images=images)


def _read_batch_state(reader: BatchReader, rec: Recommendation) -> CurrentState:
    if rec.target_kind == "compute-environment":
        target = reader.compute_environment(rec.target_arn)
        if target is None:
            raise UserError(f"{rec.target_arn}: compute environment not found")
        queues = reader.queues_using(target["computeEnvironmentArn"], target["computeEnvironmentName"])
        others = {
            ref
            for queue in queues
            for ref in queue_order(queue.get("computeEnvironmentOrder") or [])
            if ref not in (target["computeEnvironmentArn"], target["computeEnvironmentName"])
        }
        ces = [ce for ref in sorted(others) if (ce := reader.compute_environment(ref)) is not None]
        return CurrentState(target, tuple(queues), tuple(ces))
    if rec.target_kind == "job-queue":
        target = reader.job_queue(rec.target_arn)
        if target is None:
            raise UserError(f"{rec.target_arn}: job queue not found")
        refs = [e["computeEnvironment"] for e in target.get("computeEnvironmentOrder") or []]
        refs += [
            e if isinstance(e, str) else e["computeEnvironment"]
            for e in rec.proposed.get("compute_environment_order") or []
        ]
        if rec.proposed.get("new_compute_environment", {}).get("based_on"):
            refs.append(rec.proposed["new_compute_environment"]["based_on"])
        ces = [ce for ref in dict.fromkeys(refs) if (ce := reader.compute_environment(ref)) is not None]
        definitions = [
            item
            for entry in rec.proposed.get("job_definition_revisions") or []
            if (item := reader.job_definition(job_definition_key(str(entry.get("job_definition")))))
            is not None
        ]
        policy = target.get("schedulingPolicyArn")
        policies = (item,) if policy and (item := reader.scheduling_policy(policy)) is not None else ()
        return CurrentState(
            target, (), tuple(ces), job_definitions=tuple(definitions), scheduling_policies=policies
        )
    if rec.target_kind == "job-definition":
        target = reader.job_definition(job_definition_key(rec.target_arn))
        if target is None:
            raise UserError(f"{rec.target_arn}: no ACTIVE revision of this job definition")
        return CurrentState(target)
    raise UserError(f"recommendation {rec.id}: target kind {rec.target_kind!r} cannot be applied")


class ApplyService:
    def __init__(
        self,
        engine: Engine,
        settings: ApplySettings,
        clients: ClientProvider,
        *,
        options: PlannerOptions | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clients = clients
        self.options = options or PlannerOptions()
        self.executor = executor or Executor(engine, settings, clients)

    @classmethod
    def for_settings(
        cls, engine: Engine, settings: Settings, sessions: SessionFactory | None = None
    ) -> ApplyService:
        """The service over the configured targets, with its own AWS access (`target_clients`): callers
        hand over the store and the settings, never a session or a client."""
        return cls(engine, settings.apply, target_clients(settings.aws, sessions))

    def plan(self, ident: str) -> tuple[StoredRecommendation, ChangePlan]:
        """Plan a recommendation against the live resource and store the plan."""
        stored = get_recommendation(self.engine, ident)
        rec = stored.recommendation
        refuse_advice(rec)
        reader = BatchReader(self.clients("batch", rec.target_arn))
        with aws_errors(f"reading {rec.target_arn}"):
            state = read_state(reader, rec, self.clients("ec2", rec.target_arn))
        plan = plan_change(rec, state, self.options)
        records.save_plan(self.engine, plan, now=self.executor.now())
        return stored, plan

    def apply(self, ident: str, *, execute: bool, actor: str) -> ExecutionReport:
        """Apply the latest stored plan of a recommendation (planning it first if it has none).

        `ident` is a recommendation id (or unique prefix) or a plan id."""
        if ident.startswith("plan-"):
            plan = records.load_change_plan(self.engine, ident)
            stored = get_recommendation(self.engine, plan.recommendation_id)
        else:
            stored = get_recommendation(self.engine, ident)
            plan = records.latest_plan(self.engine, stored.id) or self.plan(stored.id)[1]
        if stored.status == "dismissed":
            raise RefusedError(f"recommendation {stored.id} is dismissed; reopen it before applying it")
        return self.executor.run(plan, execute=execute, actor=actor, action="apply")

    def resume(self, audit_id: int, *, actor: str) -> ExecutionReport:
        """Continue an apply that stopped waiting for Batch (see `Executor.resume`)."""
        return self.executor.resume(audit_id, actor=actor)

    def rollback_plan(self, ident: str) -> ChangePlan:
        """The rollback plan of the latest apply of a recommendation that changed something."""
        stored = get_recommendation(self.engine, ident)
        if stored.status == "rolled-back":
            raise RefusedError(f"recommendation {stored.id} is already rolled back")
        for record in records.audits(
            self.engine, recommendation_id=stored.id, results=("succeeded", "partial", "waiting")
        ):
            if record.action == "apply":
                plan_id = (record.after or {}).get("rollback_plan_id")
                if plan_id:
                    return records.load_change_plan(self.engine, plan_id)
        raise RefusedError(f"recommendation {stored.id}: no applied change to roll back")

    def rollback(self, ident: str, *, execute: bool, actor: str, action: str = "rollback") -> ExecutionReport:
        plan = self.rollback_plan(ident)
        return self.executor.run(plan, execute=execute, actor=actor, action=action)

    def dismiss(self, ident: str, reason: str, *, actor: str) -> str:
        """Dismiss a recommendation behind apply's gate (`apply.enabled`), audited as action `dismiss`
        with the status before and after; `reopen` undoes it. Returns the full id."""
        stored = self._status_change_allowed(ident, dismissal_refusal)
        if not reason.strip():
            raise UserError("dismiss: give a reason; it is kept with the recommendation")
        self._change_status(stored, "dismissed", reason.strip(), action="dismiss", actor=actor)
        return stored.id

    def reopen(self, ident: str, *, actor: str) -> str:
        """Undo a dismissal (the recommendation is open again), audited as action `reopen`."""
        stored = self._status_change_allowed(ident, reopen_refusal)
        self._change_status(stored, "open", None, action="reopen", actor=actor)
        return stored.id

    def _status_change_allowed(
        self, ident: str, refusal_of: Callable[[StoredRecommendation], str | None]
    ) -> StoredRecommendation:
        if refusal := disabled_refusal(self.settings):
            raise RefusedError(refusal)
        stored = get_recommendation(self.engine, ident)
        if refusal := refusal_of(stored):
            raise RefusedError(refusal)
        return stored

    def _change_status(
        self, stored: StoredRecommendation, status: str, reason: str | None, *, action: str, actor: str
    ) -> None:
        """The status and its audit row in one transaction: neither lands without the other."""
        now = self.executor.now()
        with self.engine.begin() as conn:
            set_status(conn, stored.id, status, reason, now=now)
            records.audit_status_change(
                conn,
                stored.id,
                action=action,
                actor=actor,
                before={"status": stored.status, "status_reason": stored.status_reason},
                after={"status": status, "status_reason": reason},
                message=reason,
                now=now,
            )
