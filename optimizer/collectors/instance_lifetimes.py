"""Exact instance lifetimes from the EC2 state-change events or CloudTrail, for every instance of a
Batch compute environment, including those that live less than a collection interval.

A state change names only the instance; which compute environment it belongs to comes from what
EC2 (DescribeInstances, or the RunInstances record in CloudTrail) says about how it was launched:
its instance profile is the CE's `computeResources.instanceRole` and its subnet one of the CE's
`subnets`. An instance no stored CE launched is not Batch's and is left out, so other workloads of
the account never count as Batch spend.

Times: launched = the first `pending` (or `running`), ended = the first `shutting-down` (or
`terminated`; EC2 stops billing at shutting-down). `lifetime_source` says where they came from
(`events` or `cloudtrail`); the sampling collector never overwrites them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select, update

from optimizer.aws.paginate import chunks
from optimizer.store.schema import compute_environments, instances

LAUNCH_STATES = ("pending", "running")
END_STATES = ("shutting-down", "terminated")
EXACT_SOURCES = ("events", "cloudtrail")


@dataclass
class Lifetime:
    """What the events say about one instance."""

    instance_id: str
    account_id: str | None
    region: str | None
    launched: datetime | None = None
    ended: datetime | None = None
    last_state: str | None = None
    last_time: datetime | None = None

    def observe(self, state: str, when: datetime) -> None:
        if state in LAUNCH_STATES and (self.launched is None or when < self.launched):
            self.launched = when
        if state in END_STATES and (self.ended is None or when < self.ended):
            self.ended = when
        if self.last_time is None or when >= self.last_time:
            self.last_state, self.last_time = state, when


@dataclass(frozen=True)
class LaunchFacts:
    """How EC2 says an instance was launched (DescribeInstances or CloudTrail RunInstances)."""

    instance_type: str
    availability_zone: str | None
    subnet_id: str | None
    instance_profile: str | None  # ARN or name
    spot: bool


def _profile_name(value: str | None) -> str | None:
    return value.rsplit("/", 1)[-1] if value else None


def batch_environments(conn: Connection, account_id: str | None, region: str) -> list[Mapping[str, Any]]:
    """Stored managed EC2/SPOT compute environments of the account and region (their raw Describe item)."""
    query = select(
        compute_environments.c.arn, compute_environments.c.ecs_cluster_arn, compute_environments.c.raw
    ).where(compute_environments.c.region == region, compute_environments.c.deleted_at.is_(None))
    if account_id:
        query = query.where(compute_environments.c.account_id == account_id)
    return [
        {"arn": arn, "cluster": cluster, **(raw or {})}
        for arn, cluster, raw in conn.execute(query)
        if ((raw or {}).get("computeResources") or {}).get("type") in ("EC2", "SPOT")
    ]


def _allows_type(ce: Mapping[str, Any], instance_type: str) -> bool:
    """Whether the CE may launch this type: listed, its family listed, "optimal"/unset, or a family
    of a `default_x86_64` / `default_arm64` bundle it lists (`batch_rules.INSTANCE_ALIASES`: those
    CEs' instances were matched to no CE and their spend was not counted as Batch's)."""
    from optimizer.catalog.batch_rules import INSTANCE_ALIASES

    allowed = ce["computeResources"].get("instanceTypes") or ["optimal"]
    family = instance_type.split(".", 1)[0]
    return any(
        t in (instance_type, family, "optimal") or (t != "optimal" and family in INSTANCE_ALIASES.get(t, ()))
        for t in allowed
    )


def match_environment(
    facts: LaunchFacts, environments: Iterable[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The one CE that launched these facts; None when none (or more than one) does.

    The instance profile must be the CE's instance role. EC2 drops the profile association once an
    instance is terminated, so without one the subnet and an instance type the CE allows must match
    (an instance of another workload with the same subnet and type would then be counted: the price
    of not missing short Batch instances, which the intake sees only after they end).
    """
    profile = _profile_name(facts.instance_profile)
    found = [
        ce
        for ce in environments
        if (facts.subnet_id is None or facts.subnet_id in (ce["computeResources"].get("subnets") or ()))
        and (
            _profile_name(ce["computeResources"].get("instanceRole")) == profile
            if profile is not None
            else facts.subnet_id is not None and _allows_type(ce, facts.instance_type)
        )
    ]
    if len(found) > 1:
        found = [ce for ce in found if _allows_type(ce, facts.instance_type)]
    return found[0] if len(found) == 1 else None


def facts_from_described(described: Mapping[str, Any]) -> LaunchFacts:
    """LaunchFacts from an ec2:DescribeInstances `Instances[]` item."""
    return LaunchFacts(
        instance_type=described.get("InstanceType") or "unknown",
        availability_zone=(described.get("Placement") or {}).get("AvailabilityZone"),
        subnet_id=described.get("SubnetId"),
        instance_profile=(described.get("IamInstanceProfile") or {}).get("Arn"),
        spot=described.get("InstanceLifecycle") == "spot",
    )


def lifetimes_of(changes: Iterable[tuple[str, str, str | None, str | None, datetime]]) -> dict[str, Lifetime]:
    """(instance id, state, account, region, time) changes -> one Lifetime per instance."""
    found: dict[str, Lifetime] = {}
    for instance_id, state, account, region, when in changes:
        lifetime = found.get(instance_id)
        if lifetime is None:
            lifetime = found[instance_id] = Lifetime(instance_id, account, region)
        lifetime.observe(state, when)
    return found


def stored_instances(conn: Connection, instance_ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunks(instance_ids, 500):
        columns = (
            "instance_id",
            "launch_time",
            "terminated_at",
            "first_seen",
            "last_seen",
            "lifetime_source",
        )
        query = select(*(instances.c[name] for name in columns)).where(instances.c.instance_id.in_(chunk))
        for row in conn.execute(query):
            found[row[0]] = dict(row._mapping)
    return found


def _earliest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def apply_lifetimes(
    conn: Connection,
    lifetimes: Mapping[str, Lifetime],
    facts: Mapping[str, LaunchFacts],
    *,
    source: str,
    default_account: str | None,
    default_region: str,
) -> int:
    """Write exact lifetimes: stored instances get their times corrected, new ones of a Batch CE are
    added (`facts` says how they launched). Returns rows inserted or changed."""
    if not lifetimes:
        return 0
    stored = stored_instances(conn, list(lifetimes))
    written = 0
    new_rows = []
    environments: dict[tuple[str | None, str], list[Mapping[str, Any]]] = {}
    for instance_id, life in lifetimes.items():
        row = stored.get(instance_id)
        if row is not None:
            launched = _earliest(
                life.launched, row["launch_time"] if row["lifetime_source"] in EXACT_SOURCES else None
            )
            ended = _earliest(
                life.ended, row["terminated_at"] if row["lifetime_source"] in EXACT_SOURCES else None
            )
            values: dict[str, Any] = {"lifetime_source": source}
            if launched is not None:
                values["launch_time"] = launched
                values["first_seen"] = min(row["first_seen"], launched)
            if ended is not None:
                values["terminated_at"] = ended
                values["last_seen"] = max(row["last_seen"], ended)
            changed = {k: v for k, v in values.items() if row.get(k) != v}
            if changed:
                conn.execute(
                    update(instances).where(instances.c.instance_id == instance_id).values(**changed)
                )
                written += 1
            continue
        fact = facts.get(instance_id)
        if fact is None or (life.launched is None and life.last_time is None):
            continue
        account = life.account_id or default_account
        region = life.region or default_region
        key = (account, region)
        if key not in environments:
            environments[key] = batch_environments(conn, account, region)
        ce = match_environment(fact, environments[key])
        if ce is None:
            continue  # not launched by a Batch compute environment we know
        first = life.launched or life.last_time
        new_rows.append(
            {
                "instance_id": instance_id,
                "dataset": "aws",
                "account_id": account,
                "region": region,
                "compute_environment_arn": ce["arn"],
                "cluster_arn": ce.get("cluster"),
                "container_instance_arn": None,
                "instance_type": fact.instance_type,
                "availability_zone": fact.availability_zone,
                "capacity_type": "SPOT" if fact.spot else "ON_DEMAND",
                "launch_time": life.launched,
                "first_seen": first,
                "last_seen": life.ended or life.last_time or first,
                "terminated_at": life.ended,
                "status": life.last_state,
                "lifetime_source": source,
            }
        )
    if new_rows:
        conn.execute(instances.insert(), new_rows)
        written += len(new_rows)
    return written


def keep_exact_lifetimes(conn: Connection, frame: pd.DataFrame) -> pd.DataFrame:
    """A sampling snapshot with the exact times (and their source) of instances events or CloudTrail
    already gave, so a snapshot never replaces an exact launch or end with a bracketed one."""
    if frame.empty:
        return frame
    exact = {
        iid: row for iid, row in stored_instances(conn, frame["instance_id"].tolist()).items()
        if row["lifetime_source"] in EXACT_SOURCES
    }  # fmt: skip
    if not exact:
        return frame
    kept = frame.copy()
    hit = kept["instance_id"].isin(list(exact))
    for column in ("launch_time", "terminated_at", "lifetime_source"):
        stored = kept.loc[hit, "instance_id"].map(lambda iid, c=column: exact[iid][c])
        if column == "terminated_at":  # an end the snapshot sees that events did not (yet) report
            stored = stored.where(stored.notna(), kept.loc[hit, column])
        kept[column] = kept[column].astype(object)
        kept.loc[hit, column] = stored.astype(object)
    return kept
