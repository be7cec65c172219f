"""Monthly savings from replaying the same history on the current and on a proposed configuration.

monthly = (current cost - proposed cost) x 30 / window days. The evidence keeps both configuration
documents, the dataset, the seed and the two costs, so
`batchopt simulate --dataset D --config current.json --config proposed.json --seed N` prints the
same two totals. A window shorter than a day counts as one day: a burst is not extrapolated into a
month of bursts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from optimizer.errors import ConfigError
from optimizer.per_month import DAYS_PER_MONTH
from optimizer.recommend.calibration import Calibration
from optimizer.simulate import Catalog, ReplayResult, parse_config, replay
from optimizer.simulate.never_started import measured_runtime_s
from optimizer.simulate.node_split import NodeSplit, format_node_split, split_gangs
from optimizer.simulate.resize import format_resize, resize_definitions
from optimizer.simulate.results import over_common_span
from optimizer.solver.problem import Commitment, commitment_to_dict

MIN_WINDOW_DAYS = 1.0
_SUMMARY_KEYS = (
    "total_cost_usd",
    "list_cost_usd",
    "commitment_usd",
    "commitment_covered_usd",
    "commitments",
    "cost_by_capacity_type",
    "cost_by_instance_type",
    "instance_hours",
    "utilization",
    "queue_wait_s",
    "jobs",
    "failed",
    "mnp_jobs_failed",
    "mnp_node_jobs_failed",
    "spot_reclaims",
)


def failed_jobs(summary: dict[str, Any]) -> int:
    """A replay summary's failed jobs, a multi-node parallel job counted once: the summary's
    `failed` counts each node job's row, so a proposal that gives a failed gang fewer nodes would
    otherwise read as fewer failures (the demo's mpi-solver at 6 nodes instead of 16: 31)."""
    return (
        int(summary.get("failed", 0) or 0)
        - int(summary.get("mnp_node_jobs_failed", 0) or 0)
        + int(summary.get("mnp_jobs_failed", 0) or 0)
    )


@dataclass(frozen=True)
class Comparison:
    """Both replays of one recommendation and the monthly figure derived from them."""

    current: dict[str, Any]
    proposed: dict[str, Any]
    monthly_savings_usd: float
    evidence: dict[str, Any]

    def wait_p95(self, which: str, queue: str = "ALL") -> float | None:
        summary = self.current if which == "current" else self.proposed
        value = summary.get("queue_wait_s", {}).get(queue, {}).get("p95_s")
        return None if value is None else float(value)

    def worst_wait(self) -> tuple[str, float, float]:
        """(queue, p95 wait now, in the replay) of the queue whose p95 wait grows most (or falls
        least) among those the proposal changes: the trade-offs' queues, so the risk text and the
        trade-off column read the same queue. The estate-wide p95 ("ALL") said "180s now, 180s"
        beside "cpu-short: 57 min -> 9 min" on the demo. ("ALL" when no queue's wait changes.)"""
        changed = [
            (q["queue"], float(q["p95_wait_before_s"] or 0.0), float(q["p95_wait_after_s"] or 0.0))
            for q in tradeoffs(self.current, self.proposed, MIN_WINDOW_DAYS)["queues"]
        ]
        if not changed:
            return "ALL", self.wait_p95("current") or 0.0, self.wait_p95("proposed") or 0.0
        return max(changed, key=lambda c: (c[2] - c[1], -c[1], c[0]))

    def wait_text(self) -> str:
        """The risk's queue-wait sentence, of `worst_wait`'s queue."""
        queue, now, then = self.worst_wait()
        which = "all queues" if queue == "ALL" else queue
        return f"p95 wait of {which} {now:,.0f}s now, {then:,.0f}s in the replay"

    @property
    def failed_delta(self) -> int:
        return failed_jobs(self.proposed) - failed_jobs(self.current)


@dataclass
class ReplayBaseline:
    """The history (canonical jobs of a stored dataset), the prices and the current configuration.

    The current configuration is replayed once and reused by every strategy (replays are pure and
    seeded, so caching changes no figure).
    """

    dataset: str
    jobs: pd.DataFrame
    catalog: Catalog
    current_document: dict[str, Any]
    seed: int = 0
    window_start: str | None = None
    account_id: str | None = None
    price_sources: str = ""
    """Where the catalogue's prices came from (collected, bundled, Spot Advisor estimate), shown with
    every figure so an estimated spot price is never mistaken for a measured one."""
    observed_cost_usd: float | None = None
    """The measured cost of the same window (`optimizer.recommend.measured`), for calibration."""
    observed_source: str = "store: instance-hours x price"
    commitments: tuple[Commitment, ...] = ()
    """Savings Plans and Reserved Instances in force over the window (`optimizer.fleet.commitments`):
    every replay covers its on-demand hours with them and charges their fees, so a proposal that
    moves covered work to spot pays for the commitment it strands."""
    _current: ReplayResult | None = field(default=None, init=False, repr=False)

    @property
    def window_days(self) -> float:
        if self.jobs.empty:
            return MIN_WINDOW_DAYS
        start = float(self.jobs["submit_s"].min())
        end = float((self.jobs["submit_s"] + measured_runtime_s(self.jobs)).max())
        return max((end - start) / 86400.0, MIN_WINDOW_DAYS)

    @property
    def can_replay(self) -> bool:
        return bool(self.current_document["computeEnvironments"] and self.current_document["jobQueues"])

    def _run(self, document: dict[str, Any], jobs: pd.DataFrame | None = None) -> ReplayResult:
        config = parse_config(document, self.catalog, source="recommendation")
        if self.commitments:
            config = replace(config, commitments=self.commitments)
        return replay(self.jobs if jobs is None else jobs, config)

    def replay(self, document: dict[str, Any]) -> ReplayResult:
        """The full replay of `document` (tables too), for evidence beyond the cost summary."""
        return self._run(document)

    def current(self) -> ReplayResult:
        if self._current is None:
            self._current = self._run(self.current_document)
        return self._current

    def calibration(self) -> Calibration:
        """The current configuration's replay against the measured cost of the window."""
        summary = self.current().summary
        return Calibration(
            observed_usd=self.observed_cost_usd,
            # The measured cost is instance-hours at list price: compare it with the replay's.
            replayed_usd=float(summary.get("list_cost_usd", summary["total_cost_usd"])),
            window_days=self.window_days,
            source=self.observed_source,
        )

    def compare(
        self,
        proposed_document: dict[str, Any],
        *,
        resize: tuple[str, dict[str, float]] | None = None,
        node_split: tuple[str, NodeSplit] | None = None,
    ) -> Comparison | None:
        """Replay `proposed_document` (optionally on edited jobs); None when it cannot be replayed.

        `resize` = (job definition, new requests) models a right-sizing revision, which a
        configuration document cannot express: the proposed replay runs the same configuration on
        the history with that definition's jobs edited (`batchopt simulate --resize` does the same).
        `node_split` = (MNP job definition, new node size) does the same for a node-size revision
        (`simulate.node_split`, `batchopt simulate --node-split`).
        """
        try:
            current_run = self.current()
            proposed_jobs = None
            if resize is not None:
                proposed_jobs, _ = resize_definitions(self.jobs, {resize[0]: resize[1]})
            if node_split is not None:
                proposed_jobs, _ = split_gangs(self.jobs, {node_split[0]: node_split[1]})
            proposed_run = self._run(proposed_document, proposed_jobs)
        except ConfigError:
            return None  # the engine logs why the current estate cannot be replayed
        # (both replays pay the commitments' fees over the same hours, the longer replay's)
        current, proposed = over_common_span([current_run, proposed_run], self.commitments)
        diff = float(current["total_cost_usd"]) - float(proposed["total_cost_usd"])
        monthly = diff * DAYS_PER_MONTH / self.window_days
        base = f"batchopt simulate --dataset {self.dataset} --seed {self.seed} --region {self.catalog.region}"
        if self.account_id:
            base += f" --account {self.account_id}"
        evidence: dict[str, Any] = {
            "dataset": self.dataset,
            "seed": self.seed,
            "window_start": self.window_start,
            "window_days": round(self.window_days, 6),
            "prices": self.price_sources,
            "current_cost_usd": current["total_cost_usd"],
            "calibration": self.calibration().to_json(),
            "tradeoffs": tradeoffs(
                current, proposed, self.window_days, lost_work_hours=reclaimed_hours(proposed_run)
            ),
            "proposed_cost_usd": proposed["total_cost_usd"],
            "current_config": self.current_document,
            "proposed_config": proposed_document,
            "command": f"{base} --config current.json --config proposed.json",
            "current_summary": {k: current[k] for k in _SUMMARY_KEYS if k in current},
            "proposed_summary": {k: proposed[k] for k in _SUMMARY_KEYS if k in proposed},
        }
        if self.commitments:
            evidence["commitments"] = [commitment_to_dict(c) for c in self.commitments]
            evidence["commitments_note"] = (
                "both replays cover on-demand hours with these commitments and charge their fees over"
                " the same hours, the longer replay's (the simulate command above prices without them)"
            )
        edit = (
            f"--resize {format_resize(*resize)}"
            if resize is not None
            else f"--node-split {format_node_split(*node_split)}"
            if node_split is not None
            else None
        )
        if edit is not None:
            # Two runs of the same configuration: as the history is, and with the revision's requests.
            evidence["commands"] = [f"{base} --config current.json", f"{base} --config current.json {edit}"]
            evidence["command"] = None
            evidence["note"] = (
                "the proposed replay changes the jobs' requests (a new job-definition revision), not the"
                " configuration: run both commands and compare their total cost"
            )
        return Comparison(current, proposed, monthly, evidence)


def reclaimed_hours(result: ReplayResult) -> float:
    """Run-hours of the attempts a spot reclaim ended in a replay: the work lost and run again."""
    attempts = result.attempts
    if attempts.empty:
        return 0.0
    lost = attempts.loc[attempts["is_spot_reclaim"].astype(bool)]
    return float((lost["ended_at"] - lost["started_at"]).clip(lower=0).sum()) / 3600.0


def tradeoffs(
    current: dict[str, Any],
    proposed: dict[str, Any],
    window_days: float,
    *,
    lost_work_hours: float | None = None,
) -> dict[str, Any]:
    """What a saving costs besides money, from the two replay summaries: the p95 queue wait of each
    queue whose wait changes (per queue, never only the all-queue figure, which can hide one queue's
    wait going from minutes to hours), spot interruptions and the run-hours they lose per month, and
    the change in failed jobs."""
    per_month = DAYS_PER_MONTH / max(window_days, MIN_WINDOW_DAYS)
    before_waits = current.get("queue_wait_s", {}) or {}
    after_waits = proposed.get("queue_wait_s", {}) or {}
    queues = []
    for name in sorted(set(before_waits) | set(after_waits)):
        if name == "ALL":
            continue
        before = (before_waits.get(name) or {}).get("p95_s")
        after = (after_waits.get(name) or {}).get("p95_s")
        if before is None and after is None:
            continue
        if before is not None and after is not None and abs(float(after) - float(before)) < 1.0:
            continue  # unchanged by this proposal
        queues.append(
            {
                "queue": name,
                "p95_wait_before_s": None if before is None else round(float(before), 1),
                "p95_wait_after_s": None if after is None else round(float(after), 1),
            }
        )
    reclaims_before = float(current.get("spot_reclaims", 0) or 0)
    reclaims_after = float(proposed.get("spot_reclaims", 0) or 0)
    return {
        "queues": queues,
        "interruptions_per_month": round(reclaims_after * per_month, 1),
        "interruptions_per_month_before": round(reclaims_before * per_month, 1),
        "lost_work_hours_per_month": None
        if lost_work_hours is None
        else round(lost_work_hours * per_month, 1),
        "failed_jobs_delta": failed_jobs(proposed) - failed_jobs(current),
    }
