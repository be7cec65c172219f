"""The current estate as the simulator's configuration document, and edits of it (pure).

Batch's Describe* items are turned into the CreateComputeEnvironment / CreateJobQueue bodies that
`batchopt simulate --config` reads, so "current" and "proposed" replay through the same parser and a
person can reproduce any savings figure from a recommendation's evidence.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from optimizer.catalog.batch_rules import families_of_entry
from optimizer.simulate.catalog import Catalog
from optimizer.simulate.timeouts import REMEDIABLE_REASONS

FARGATE_TYPES = frozenset({"FARGATE", "FARGATE_SPOT"})


def arn_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def account_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


def resources_of(ce: dict[str, Any]) -> dict[str, Any]:
    return ce.get("computeResources") or {}


def is_managed(ce: dict[str, Any]) -> bool:
    return ce.get("type", "MANAGED") == "MANAGED" and bool(resources_of(ce))


def is_active(item: dict[str, Any]) -> bool:
    """ENABLED and not being deleted: advice on a switched-off resource helps nobody."""
    return item.get("state", "ENABLED") == "ENABLED" and item.get("status") not in ("DELETING", "DELETED")


def platform_of(ce: dict[str, Any]) -> str:
    return str(resources_of(ce).get("type", "EC2"))


def order_names(queue: dict[str, Any]) -> list[str]:
    """A queue's CE names in dispatch order."""
    entries = sorted(queue.get("computeEnvironmentOrder") or [], key=lambda e: int(e.get("order", 0)))
    return [arn_name(str(e["computeEnvironment"])) for e in entries]


def known_types(names: Iterable[str], catalog: Catalog) -> list[str]:
    """Instance types (or families / Batch aliases) the replay can price; the rest are left out."""
    families = catalog.families()
    out = []
    for name in names:
        members = families_of_entry(name)
        if any(m in catalog.types or m in families for m in members):
            out.append(name)
    return out


def _has_spot_price(name: str, catalog: Catalog) -> bool:
    spec = catalog.types.get(name)
    if spec is not None:
        return spec.spot_price is not None
    families = catalog.families()
    members = [m for family in families_of_entry(name) for m in families.get(family, [])]
    return any(catalog.types[m].spot_price is not None for m in members)


def ce_body(ce: dict[str, Any], catalog: Catalog) -> dict[str, Any] | None:
    """A CreateComputeEnvironment body for a managed CE; None when the replay cannot model it."""
    if not is_managed(ce):
        return None
    res = resources_of(ce)
    kind = platform_of(ce)
    body_res: dict[str, Any] = {"type": kind, "maxvCpus": int(res.get("maxvCpus") or 0)}
    if kind not in FARGATE_TYPES:
        types = known_types(res.get("instanceTypes") or [], catalog)
        if kind == "SPOT":
            # A spot CE the replay cannot price (no spot price for any type) would fail the whole
            # document; leave it out like an unknown type.
            types = [t for t in types if _has_spot_price(t, catalog)]
        if not types:
            return None
        body_res.update(
            allocationStrategy=res.get("allocationStrategy") or "BEST_FIT",
            # The replay starts from an empty estate: desired capacity there is minvCpus.
            minvCpus=int(res.get("minvCpus") or 0),
            instanceTypes=types,
        )
        if kind == "SPOT" and res.get("bidPercentage") is not None:
            body_res["bidPercentage"] = int(res["bidPercentage"])
    return {
        "computeEnvironmentName": ce["computeEnvironmentName"],
        "type": "MANAGED",
        "state": ce.get("state", "ENABLED"),
        "computeResources": body_res,
    }


def estate_document(
    compute_environments: Iterable[dict[str, Any]],
    job_queues: Iterable[dict[str, Any]],
    catalog: Catalog,
    seed: int,
) -> dict[str, Any]:
    """The simulator document of the managed part of the estate (unmanaged CEs cannot be replayed)."""
    bodies = [b for b in (ce_body(ce, catalog) for ce in compute_environments) if b is not None]
    names = {b["computeEnvironmentName"] for b in bodies}
    queues = []
    for queue in sorted(job_queues, key=lambda q: q["jobQueueName"]):
        order = [n for n in order_names(queue) if n in names]
        if not order:
            continue
        body: dict[str, Any] = {
            "jobQueueName": queue["jobQueueName"],
            "state": queue.get("state", "ENABLED"),
            "priority": int(queue.get("priority") or 1),
            "computeEnvironmentOrder": [
                {"order": i, "computeEnvironment": n} for i, n in enumerate(order, 1)
            ],
        }
        # The time limits the queue has (those the replay models), so a proposal adds only its own.
        limits = [
            copy.deepcopy(a)
            for a in queue.get("jobStateTimeLimitActions") or []
            if a.get("reason") in REMEDIABLE_REASONS and a.get("state") == "RUNNABLE"
        ]
        if limits:
            body["jobStateTimeLimitActions"] = limits
        queues.append(body)
    return {
        "computeEnvironments": sorted(bodies, key=lambda b: b["computeEnvironmentName"]),
        "jobQueues": queues,
        "simulation": {"seed": int(seed)},
    }


def edit_ce(document: dict[str, Any], name: str, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A copy of `document` where `edit` changed the computeResources of CE `name`."""
    out = copy.deepcopy(document)
    for body in out["computeEnvironments"]:
        if body["computeEnvironmentName"] == name:
            edit(body["computeResources"])
    return out


def edit_queue(
    document: dict[str, Any],
    queue_name: str,
    order: list[str],
    new_bodies: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A copy of `document` with new CE bodies added and queue `queue_name` dispatching to `order`."""
    out = copy.deepcopy(document)
    out["computeEnvironments"] = sorted(
        [*out["computeEnvironments"], *copy.deepcopy(list(new_bodies))],
        key=lambda b: b["computeEnvironmentName"],
    )
    for queue in out["jobQueues"]:
        if queue["jobQueueName"] == queue_name:
            queue["computeEnvironmentOrder"] = [
                {"order": i, "computeEnvironment": n} for i, n in enumerate(order, 1)
            ]
    return out


def queues_by_first_ce(job_queues: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """CE name -> queues that dispatch to it first (their jobs are the CE's main workload)."""
    out: dict[str, list[str]] = {}
    for queue in job_queues:
        order = order_names(queue)
        if order:
            out.setdefault(order[0], []).append(queue["jobQueueName"])
    return out


def queues_using(job_queues: Iterable[dict[str, Any]], ce_name: str) -> list[str]:
    return sorted(q["jobQueueName"] for q in job_queues if ce_name in order_names(q))
