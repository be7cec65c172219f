"""What strategies read: one region's estate and history, already out of the store (pure data)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from optimizer.catalog.provider import CatalogProvider
from optimizer.catalog.requirements import InstanceRequirements
from optimizer.fleet.commitments import CommitmentsInForce
from optimizer.recommend.savings import ReplayBaseline


@dataclass
class RecommendInputs:
    """A snapshot for one region.

    - `compute_environments`, `job_queues`: Describe* items as last collected (not deleted);
    - `job_definitions`: the latest ACTIVE revision of each definition name;
    - `jobs` / `attempts`: the store's rows of the history window (store column names);
    - `baseline`: the canonical history, prices and current configuration for replays;
    - `catalog`: the region's catalogue and prices (`optimizer.catalog`), which the solver builds
      offerings from and `baseline.catalog` replays with; `spot_rates`: measured reclaim rates
      (`optimizer.ml.interruptions`);
    - `clock`: monotonic seconds, only for the solver's time limit;
    - `requirements`: the instance types any advice may propose.
    """

    region: str
    dataset: str
    compute_environments: list[dict[str, Any]]
    job_queues: list[dict[str, Any]]
    job_definitions: list[dict[str, Any]]
    jobs: pd.DataFrame
    attempts: pd.DataFrame
    baseline: ReplayBaseline
    catalog: CatalogProvider | None = None
    spot_rates: dict[str, float] = field(default_factory=dict)
    """Reclaims per instance-hour by instance type where the estate ran spot (shrunk to the band)."""
    clock: Callable[[], float] | None = None
    account_id: str | None = None
    requirements: InstanceRequirements = field(default_factory=InstanceRequirements)
    """Which instance types advice may propose (the `[optimization]` policy's)."""
    commitments: CommitmentsInForce = field(default_factory=lambda: CommitmentsInForce((), ()))
    """Savings Plans and Reserved Instances in force over the window, with where each came from,
    at the Batch estate's share of their use in the bill (the account's other usage keeps the rest)."""
    account_commitments: CommitmentsInForce | None = None
    """The same, whole: what each compute environment's share (`commitments_for`) is taken of
    (None: `commitments`, as a caller without a bill gives them)."""
    commitment_shares: dict[str, float | None] = field(default_factory=dict)
    """Compute environment ARN -> its instances' share of the commitments' use (None: the bill
    cannot tell); `commitments_for` scales the commitments to it."""
    demand_forecast: pd.DataFrame | None = None
    """The latest stored hourly forecast of vCPUs held by running jobs over all queues (hour, p50,
    p90; `batchopt train`), None without one."""

    def commitments_for(self, ce: dict[str, Any]) -> CommitmentsInForce:
        """The commitments as one compute environment's fleet problem sees them: the account's, at
        its instances' share of their use (`CommitmentsInForce.shared`)."""
        share = self.commitment_shares.get(str(ce.get("computeEnvironmentArn")))
        whole = self.commitments if self.account_commitments is None else self.account_commitments
        return whole.shared(share, f"compute environment {ce.get('computeEnvironmentName')}")

    def ce_named(self, name: str) -> dict[str, Any] | None:
        return next((ce for ce in self.compute_environments if ce["computeEnvironmentName"] == name), None)

    def queue_named(self, name: str) -> dict[str, Any] | None:
        return next((q for q in self.job_queues if q["jobQueueName"] == name), None)

    def jobs_of_queues(self, names: list[str]) -> pd.DataFrame:
        if self.jobs.empty or "queue" not in self.jobs:
            return self.jobs.iloc[0:0]
        return self.jobs[self.jobs["queue"].isin(names)]
