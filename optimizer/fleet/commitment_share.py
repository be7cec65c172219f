"""What share of an account's commitments one queue or one compute environment used, from the bill.

A Savings Plan or a Reserved Instance covers every eligible usage of the account, so a fleet
problem of one queue (or one CE) must not see the whole commitment: each part would count the same
coverage again, and a queue that used 1 % of a plan would be billed its whole fee. The share is
measured, not assumed:

    share = (commitment use by the part's instances) / (the commitments' whole use), in the window

- the whole use is the bill's hourly used commitment (`bill_commitment_hours.used_usd`: SP and RI
  covered usage at its amortised cost, EC2 or not, Batch or not) over the window's hours;
- an instance-day's commitment use is `bill_instances.commitment_used_usd`; an instance belongs to
  the compute environment the store collected it in;
- a queue's part of an instance-day's use: the queue's share of the attributed cost of that day,
  compute environment and instance type (`cost_daily.total_usd`, the cost attribution's own
  split), since a compute environment can serve several queues. The idle part (the attribution's
  `(idle)` rows) goes to the queues the environment served that day, by the same shares: a queue's
  plan pays for whole instances, idle included, so the coverage its instances' idle hours had is
  its own. Counted as nobody's, it once left 47 % of the demo's Savings Plan out of every queue's
  problem (the seven queues' fees summed to half the plan's). An instance type that ran no job
  that day is split by the environment's day, an environment-day without any job by the
  environment's window (`SHARE_KEYS`); an environment that ran no job in the window gives no queue
  its use.

None when the bill cannot tell: no commitment use in the window, or months imported before
`commitment_used_usd` was kept (a re-import fills it).

Limit: a problem's commitment is one level for every bucket, so the share is spread evenly over the
window. A queue that used the plan in bursts (the demo's MNP queue: a few hours of the week) gets
less coverage in its busy hours than the bill gave it, and the plan shows a low utilization of its
share; the whole account's plan would instead count coverage other queues hold.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, or_, select

from optimizer.analysis.cost import IDLE
from optimizer.store.read import read_frame
from optimizer.store.schema import COLLECTED_DATASET, instances
from optimizer.store.tables.analysis import cost_daily
from optimizer.store.tables.billing import bill_commitment_hours, bill_instances


@dataclass(frozen=True)
class CommitmentUse:
    """The commitments' use over one window, read once (`read_commitment_use`) and asked for the
    share of as many scopes as needed. `used`: instance-days with commitment use (day, instance_id,
    commitment_used_usd, compute_environment_arn, instance_type); None when the bill cannot tell."""

    total_usd: float
    used: pd.DataFrame | None
    first_day: datetime
    until: datetime

    def environments(self, arns: Collection[str]) -> float | None:
        """The share of the instances of `arns` (one CE, or every CE of the Batch estate)."""
        if self.used is None:
            return None
        mine = self.used[self.used["compute_environment_arn"].isin(list(arns))]
        return min(1.0, float(mine["commitment_used_usd"].sum()) / self.total_usd)

    def queue(self, engine: Engine, queue: str) -> float | None:
        """The share of `queue`'s jobs (its part of each instance-day, see the module docstring)."""
        if self.used is None:
            return None
        return min(
            1.0, _queue_use(engine, self.used.copy(), queue, self.first_day, self.until) / self.total_usd
        )


def read_commitment_use(engine: Engine, *, since: datetime, until: datetime) -> CommitmentUse:
    """The window's commitment use from the store's bill (one read of each table): only the
    instance-days that used a commitment, or that cannot tell (imported before the column)."""
    hours = read_frame(
        engine,
        select(bill_commitment_hours.c.used_usd).where(
            bill_commitment_hours.c.hour >= since, bill_commitment_hours.c.hour < until
        ),
    )
    total = float(hours["used_usd"].sum()) if not hours.empty else 0.0
    first_day = datetime(since.year, since.month, since.day)
    if total <= 0.0:
        return CommitmentUse(0.0, None, first_day, until)
    used = read_frame(
        engine,
        select(
            bill_instances.c.day,
            bill_instances.c.instance_id,
            bill_instances.c.commitment_used_usd,
            instances.c.compute_environment_arn,
            instances.c.instance_type,
        )
        .join(instances, instances.c.instance_id == bill_instances.c.instance_id)
        .where(
            bill_instances.c.day >= first_day,
            bill_instances.c.day < until,
            or_(bill_instances.c.commitment_used_usd.is_(None), bill_instances.c.commitment_used_usd > 0),
        ),
    )
    if used["commitment_used_usd"].isna().any():
        return CommitmentUse(total, None, first_day, until)  # imported before the column: unknown
    return CommitmentUse(total, used, first_day, until)


def commitment_share(
    engine: Engine,
    *,
    since: datetime,
    until: datetime,
    queue: str | None = None,
    compute_environment_arns: Collection[str] | None = None,
) -> float | None:
    """The share (0..1) of the commitments' use in [since, until) that went to `queue`'s jobs or
    to the instances of `compute_environment_arns` (exactly one of the two); see the module
    docstring. For many scopes over one window, `read_commitment_use` once and ask it."""
    if (queue is None) == (compute_environment_arns is None):
        raise ValueError("commitment_share: give a queue or a compute environment, not both or neither")
    use = read_commitment_use(engine, since=since, until=until)
    return use.queue(engine, queue) if queue is not None else use.environments(compute_environment_arns or ())


def _queue_use(engine: Engine, used: pd.DataFrame, queue: str, first_day: datetime, until: datetime) -> float:
    """The queue's part of each instance-day's commitment use, by its share of that day's attributed
    cost on the instance's compute environment and type."""
    if used.empty:
        return 0.0
    costs = read_frame(
        engine,
        select(
            cost_daily.c.day,
            cost_daily.c.queue,
            cost_daily.c.compute_environment_arn,
            cost_daily.c.instance_type,
            cost_daily.c.total_usd,
        ).where(
            cost_daily.c.dataset == COLLECTED_DATASET,
            cost_daily.c.day >= first_day,
            cost_daily.c.day < until + timedelta(days=1),
        ),
    )
    if costs.empty:
        return 0.0
    for frame in (costs, used):
        frame["day"] = pd.to_datetime(frame["day"]).dt.floor("D")
    worked = costs[costs["queue"] != IDLE]  # idle follows the queues' shares (module docstring)
    part = pd.Series(float("nan"), index=used.index)
    for keys in SHARE_KEYS:  # the finest split that saw a job, then coarser ones
        shares = _shares(worked, queue, keys)
        found = used[keys].merge(shares, on=keys, how="left")["part"].set_axis(used.index)
        part = part.fillna(found)
    return float((used["commitment_used_usd"] * part.fillna(0.0)).sum())


SHARE_KEYS = (
    ["day", "compute_environment_arn", "instance_type"],
    ["day", "compute_environment_arn"],
    ["compute_environment_arn"],
)
"""How an instance-day's commitment use is split between queues, finest first: the queues' shares
of that day's cost on its environment and type; where no job ran on that type that day, of the
environment's day; where none ran in the environment that day, of its window. By type alone, the
use of instance-days whose type ran no job that day (the demo's idle minvCpus instances, a spare
type) was nobody's: the demo's five plans got $3.34 of its $4.44 an hour between them."""


def _shares(worked: pd.DataFrame, queue: str, keys: list[str]) -> pd.DataFrame:
    """`keys` -> `part`, the queue's share of the attributed job cost at that grain."""
    totals = worked.groupby(keys, as_index=False)["total_usd"].sum()
    ours = worked[worked["queue"] == queue].groupby(keys, as_index=False)["total_usd"].sum()
    shares = totals.merge(ours, on=keys, how="left", suffixes=("_all", "_queue")).fillna(
        {"total_usd_queue": 0.0}
    )
    shares = shares[shares["total_usd_all"] > 0]
    return shares.assign(part=shares["total_usd_queue"] / shares["total_usd_all"])[[*keys, "part"]]
