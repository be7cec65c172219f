"""MNP on demand: a queue whose multi-node parallel jobs can reach only Spot gets an on-demand CE.

The AWS Batch user guide ("Compute environment considerations for MNP", mnp-ce.html) says
"Multi-node parallel jobs aren't supported on compute environments that use Spot Instances".
Batch skips a queue's SPOT compute environments for an MNP job, so a queue whose order holds no
on-demand EC2 CE never runs one: the job stays RUNNABLE at the head of the queue and the FIFO jobs
behind it wait (the guide says the same of the analogous Fargate Spot case: "A job queue will be
blocked ... if a job is submitted to a job queue that only uses Fargate Spot compute
environments"). The replay models both (`simulate/gangs.py`). No retry strategy changes this: the
gang never starts, so there is no lost node to retry.

On a real account such a gang never started, so collected history holds it only as a parent stuck
RUNNABLE (or cancelled without an attempt): `load_dataset` keeps it as a gang
(`simulate/never_started.py`), with no measured run time: the replay runs it for the median of the
completed runs of its job definition and node count (then of its definition, then of its queue's
jobs of that node count), capped at its own attempt timeout (`simulate/gang_runtime.py`), and the
evidence says from how many runs of what; with no such run it runs for 0 s and the cost says it
leaves those hours out.

Which queues: active ones with MNP jobs in the history (`gang_table`) whose order is managed EC2
CEs with at least one SPOT and no on-demand one, and has room for one more (Batch takes up to
three CEs per queue). A queue that already lists an on-demand EC2 CE needs nothing: its gangs run
there while its single jobs keep spot.

The proposal: an on-demand copy of the queue's first SPOT CE (same instance types, networking and
roles; type EC2, BEST_FIT_PROGRESSIVE, minvCpus 0 so it holds nothing while no gang runs) added at
the end of the queue's order. Single jobs still go to spot first; gangs, which skip spot, land on
the copy. It is planned as spot adoption's new CE is (`optimizer.apply.planner`: a
CreateComputeEnvironment, then an UpdateJobQueue); the rollback puts the order back and disables
the copy.

The figures: the history replayed with and without the copy, both with the same owner cancel
delay for a blocked job (`simulation.blockedJobCancelSeconds` of the estate's document when set,
else the median stay of the queue's stored MNP jobs that never started, read as stuck-job-limits
reads its blocked jobs' stays, else `assumed_owner_cancel_s`, stuck-job-limits' assumption, marked
assumed): the MNP jobs blocked and how long they held the queue, the jobs they held back, the
queue's p95 wait before and after, failed jobs, and the monthly cost difference, usually a cost,
since the gangs now run. The wait is
stated as `evidence.wait_improvement`, so the headline lists the item apart from the dollars
(`recommend/headline.py`: an item at the same or higher cost is listed, not counted).
Metadata: low effort (a new CE and a queue order update), running jobs are not restarted,
reversible.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import pandas as pd
from pydantic import Field

from optimizer.domain import Recommendation, UpdateKind
from optimizer.recommend.base import QueueStrategy, StrategySettings, make_recommendation
from optimizer.recommend.estate import account_of, edit_queue, is_active, is_managed, order_names, platform_of
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.savings import ReplayBaseline
from optimizer.recommend.strategies.stuck_job_limits import (
    StuckJobLimitSettings,
    history_end,
    owner_cancel_s,
    stayed_runnable_s,
    with_owner_cancel,
)
from optimizer.simulate.gang_runtime import never_started_run_times
from optimizer.simulate.gangs import SPOT_ONLY_REASON
from optimizer.simulate.never_started import never_started_gangs
from optimizer.simulate.results import blocked_heads

STRATEGY = "mnp-on-demand"
METADATA = {"implementation_effort": "low", "restarts_running_jobs": False, "reversible": True}
ON_DEMAND_STRATEGY = "BEST_FIT_PROGRESSIVE"
MAX_QUEUE_CES = 3
"""CreateJobQueue's computeEnvironmentOrder: "You can associate up to three compute environments"."""
GUIDE = "https://docs.aws.amazon.com/batch/latest/userguide/mnp-ce.html"
RULE = "Multi-node parallel jobs aren't supported on compute environments that use Spot Instances."


class MnpOnDemandSettings(StrategySettings):
    max_monthly_cost_usd: float = Field(default=5000.0, ge=0.0)
    """The most running the queue's gangs on the on-demand copy may cost a month (the replay's
    figure) for the change to be proposed."""
    assumed_owner_cancel_s: float = Field(
        default=StuckJobLimitSettings.model_fields["assumed_owner_cancel_s"].default, gt=0.0, le=30 * 86400.0
    )
    """How long a blocked MNP job holds its queue before its owner cancels it, when the estate's
    document sets no `simulation.blockedJobCancelSeconds` (stuck-job-limits' assumption)."""
    name_suffix: str = Field(default="-ondemand", pattern=r"^[A-Za-z0-9_-]{1,16}$")


def gang_table(jobs: pd.DataFrame) -> pd.DataFrame:
    """One row per MNP job of a history: parent id, queue (its main node's), node count, and whether
    it never started in the history (`load_dataset`'s `never_started`; False where not known)."""
    columns = ["mnp_parent", "queue", "nodes", "never_started"]
    if "mnp_parent" not in jobs:
        return pd.DataFrame(columns=columns)
    nodes = jobs[jobs["mnp_parent"].notna()]
    if nodes.empty:
        return pd.DataFrame(columns=columns)
    main = nodes.sort_values("node_index", kind="stable").drop_duplicates("mnp_parent")
    never = main["never_started"].fillna(False).astype(bool) if "never_started" in main else False
    return pd.DataFrame(
        {
            "mnp_parent": main["mnp_parent"].to_numpy(),
            "queue": main["queue"].to_numpy(),
            "nodes": main["mnp_parent"].map(nodes["mnp_parent"].value_counts()).to_numpy(),
            "never_started": pd.Series(never, index=main.index).to_numpy(dtype=bool),
        }
    )


def on_demand_copy(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The replay's body of the on-demand copy of spot CE `body` (what the planner creates)."""
    new = copy.deepcopy(body)
    new["computeEnvironmentName"] = name
    resources = new["computeResources"]
    resources.update(type="EC2", allocationStrategy=ON_DEMAND_STRATEGY, minvCpus=0)
    for key in ("bidPercentage", "spotIamFleetRole", "desiredvCpus"):
        resources.pop(key, None)
    return new


def _blocked_of(summary: dict[str, Any], queue: str) -> dict[str, Any]:
    """A replay summary's blocked heads of `queue` (every reason): jobs, seconds, jobs held back."""
    found = (summary.get("blocked_heads") or {}).get(queue) or {}
    return {
        "blocked_jobs": int(found.get("jobs", 0)),
        "blocked_s": float(found.get("blocked_s", 0.0)),
        "jobs_delayed": int(found.get("jobs_delayed", 0)),
    }


class MnpOnDemandStrategy(QueueStrategy[MnpOnDemandSettings]):
    name: ClassVar[str] = STRATEGY
    settings_class: ClassVar[type[StrategySettings]] = MnpOnDemandSettings

    def _recommend(self, inputs: RecommendInputs, queue: dict[str, Any]) -> Recommendation | None:
        s = self.settings
        baseline = inputs.baseline
        name = queue["jobQueueName"]
        if not baseline.can_replay or not is_active(queue):
            return None
        if not any(body["jobQueueName"] == name for body in baseline.current_document["jobQueues"]):
            return None  # the replay cannot model its CEs
        gangs = gang_table(baseline.jobs)
        gangs = gangs[gangs["queue"] == name]
        if gangs.empty:
            return None
        order = order_names(queue)
        ces = [inputs.ce_named(n) for n in order]
        if any(ce is None or not is_managed(ce) for ce in ces):
            return None
        platforms = {platform_of(ce) for ce in ces if ce is not None}
        if platforms != {"SPOT"} or len(order) >= MAX_QUEUE_CES:
            return None  # its gangs run on its on-demand CE already, a Fargate queue, or no room
        spot = order[0]
        new_name = f"{spot[: 128 - len(s.name_suffix)]}{s.name_suffix}"
        if inputs.ce_named(new_name) is not None:
            return None  # a CE of that name exists: a person set this up differently; leave it
        bodies = baseline.current_document["computeEnvironments"]
        body = next((b for b in bodies if b["computeEnvironmentName"] == spot), None)
        if body is None:
            return None
        simulation = baseline.current_document.get("simulation") or {}
        configured = float(simulation.get("blockedJobCancelSeconds") or 0)
        stored = inputs.jobs_of_queues([name])
        stuck = stored[never_started_gangs(stored)] if not stored.empty else stored
        measured = owner_cancel_s(stayed_runnable_s(stuck, history_end(inputs.jobs))) if len(stuck) else None
        if configured > 0:
            owner_cancel, source = configured, "estate document: simulation.blockedJobCancelSeconds"
        elif measured is not None:
            owner_cancel, source = (
                measured,
                f"history: median stay of {len(stuck)} MNP jobs that never started",
            )
        else:
            owner_cancel, source = s.assumed_owner_cancel_s, "assumed (settings: assumed_owner_cancel_s)"
        held: ReplayBaseline = baseline if configured > 0 else with_owner_cancel(baseline, owner_cancel)
        new_order = [*order, new_name]
        document = edit_queue(held.current_document, name, new_order, [on_demand_copy(body, new_name)])
        comparison = held.compare(document)
        if comparison is None:
            return None
        failed_now = int(comparison.current.get("mnp_jobs_failed", 0))
        ran = failed_now - int(comparison.proposed.get("mnp_jobs_failed", 0))
        saving = comparison.monthly_savings_usd
        if ran <= 0 or saving < -s.max_monthly_cost_usd:
            return None  # the copy does not run them either (too wide for it), or costs too much
        heads = blocked_heads(held.current())
        mnp_heads = heads[(heads["queue"] == name) & (heads["reason"] == SPOT_ONLY_REASON)]
        before, after = _blocked_of(comparison.current, name), _blocked_of(comparison.proposed, name)
        wait_now = comparison.wait_p95("current", name)
        wait_then = comparison.wait_p95("proposed", name)
        # Gangs the history shows only as stuck: no run time was ever measured, so the replay runs
        # them for the estimate from completed runs of their kind (`gang_runtime.py`, quoted as is),
        # or, with none, for 0 s and the cost leaves their hours out (stated, never guessed).
        unmeasured = int(gangs["never_started"].sum())
        run_time = never_started_run_times(
            baseline.jobs[baseline.jobs["mnp_parent"].isin(gangs["mnp_parent"])]
        )
        unknown = run_time["unknown"]
        evidence: dict[str, Any] = {
            "replay": comparison.evidence,
            "metadata": METADATA,
            "gangs": {
                "mnp_jobs": len(gangs),
                "node_jobs": int(gangs["nodes"].sum()),
                "spot_compute_environments": order,
                "rule": RULE,
                "source": GUIDE,
                "mnp_jobs_blocked_before": len(mnp_heads),
                "mnp_jobs_run_after": ran,
                "mnp_jobs_never_started_in_history": unmeasured,
            },
            "never_started_run_time": run_time,
            "blocked": {
                "reason": SPOT_ONLY_REASON,
                "scope": f"queue {name}, every blocked reason",
                "before": before,
                "after": after,
                "owner_cancel_s": round(owner_cancel, 1),
                "owner_cancel_assumed": configured <= 0 and measured is None,
                "owner_cancel_source": source,
            },
        }
        if wait_now is not None and wait_then is not None and wait_then < wait_now:
            evidence["wait_improvement"] = {
                "scope": f"queue {name}",
                "p95_wait_before_s": round(wait_now, 1),
                "p95_wait_after_s": round(wait_then, 1),
            }
        waits = (
            f"p95 wait {wait_now / 60:,.0f} -> {wait_then / 60:,.0f} min"
            if wait_now is not None and wait_then is not None
            else "p95 wait not measured"
        )
        cost_text = f"saves ${saving:,.0f}/month" if saving >= 0 else f"costs ${-saving:,.0f}/month more"
        if unknown:
            cost_text += f" before the run time of {unknown} that never ran (unknown)"
        if unmeasured > unknown:
            cost_text += f", counting {unmeasured - unknown} that never ran at their estimated run time"
        return make_recommendation(
            strategy=self.name,
            target_arn=queue["jobQueueArn"],
            target_kind="job-queue",
            target_name=name,
            title=(
                f"{name}: add an on-demand compute environment for its multi-node jobs (Batch runs none"
                f" on Spot: {len(gangs)} never start and block the queue); {waits}; {cost_text} in the replay"
            ),
            current={"compute_environment_order": order},
            proposed={
                "compute_environment_order": new_order,
                "new_compute_environment": {
                    "name": new_name,
                    "based_on": spot,
                    "platform": "EC2",
                    "allocation_strategy": ON_DEMAND_STRATEGY,
                    "min_vcpus": 0,
                },
            },
            monthly_savings_usd=saving,
            risk={
                "interruption": "none added: gangs run on demand, the queue's single jobs keep spot first",
                "failures": f"failed jobs in the replay: {comparison.failed_delta:+d}",
                "queue_wait": (
                    f"p95 wait {wait_now or 0:,.0f}s now, {wait_then or 0:,.0f}s in the replay;"
                    f" blocked {before['blocked_s']:,.0f}s now, {after['blocked_s']:,.0f}s after"
                ),
                "support": f"AWS: {RULE}",
                **({"cost": run_time["text"]} if unmeasured else {}),
            },
            risk_scores={"interruption": 0.0},
            confidence=0.5 if configured <= 0 and measured is None else 0.7,
            effort="low",
            update_kind=UpdateKind.QUEUE_ORDER,
            evidence=evidence,
            account_id=account_of(queue["jobQueueArn"]),
            region=inputs.region,
        )
