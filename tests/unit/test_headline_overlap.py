"""The headline's overlap rule: a queue item and a change to a CE that queue dispatches to price the
same dollars and count once; two queues sharing a CE, or items on unrelated resources, do not."""

from __future__ import annotations

from typing import Any

from optimizer.domain import Recommendation, RiskLevel, UpdateKind
from optimizer.recommend.headline import COUNTED, OVERLAPS, OverlapKey, overlap_of, savings_headline

PREFIX = "arn:aws:batch:us-east-1:123456789012"


def _rec(
    rec_id: str, saving: float, kind: str, name: str, current: dict[str, Any] | None = None
) -> Recommendation:
    return Recommendation(
        id=rec_id,
        strategy="spot-adoption" if kind == "job-queue" else "instance-mix",
        target_arn=f"{PREFIX}:{kind}/{name}",
        target_kind=kind,
        title=rec_id,
        current=current or {},
        proposed={},
        monthly_savings_usd=saving,
        risk={},
        risk_level=RiskLevel.LOW,
        confidence=0.8,
        effort="low",
        update_kind=UpdateKind.QUEUE_ORDER if kind == "job-queue" else UpdateKind.INFRASTRUCTURE,
        evidence={},
    )


def test_a_queue_item_and_a_change_to_its_ce_count_once() -> None:
    queue = _rec("spot-etl", 400.0, "job-queue", "etl", {"compute_environment_order": ["od-ce"]})
    mix = _rec("mix-od", 250.0, "compute-environment", "od-ce")
    other = _rec("mix-gpu", 100.0, "compute-environment", "gpu-ce")
    headline = savings_headline([(queue, "open"), (mix, "open"), (other, "open")])
    verdicts = {i.id: (i.verdict, i.overlaps_with) for i in headline.items}
    assert verdicts == {
        "spot-etl": (COUNTED, None),
        "mix-od": (OVERLAPS, "spot-etl"),
        "mix-gpu": (COUNTED, None),
    }
    assert headline.total_usd_per_month == 500.0
    # The other way round: the CE item is the larger, the queue item overlaps it.
    bigger_mix = _rec("mix-od", 900.0, "compute-environment", "od-ce")
    flipped = savings_headline([(queue, "open"), (bigger_mix, "open")])
    assert flipped.item("spot-etl").overlaps_with == "mix-od" and flipped.total_usd_per_month == 900.0


def test_two_queues_sharing_a_ce_each_price_their_own_jobs() -> None:
    shared = {"compute_environment_order": [f"{PREFIX}:compute-environment/shared"]}
    a = _rec("spot-a", 300.0, "job-queue", "a", shared)
    b = _rec("spot-b", 200.0, "job-queue", "b", shared)
    again_a = _rec("fallback-a", 100.0, "job-queue", "a", shared)
    headline = savings_headline([(a, "open"), (b, "open"), (again_a, "open")])
    assert [i.verdict for i in headline.items] == [COUNTED, COUNTED, OVERLAPS]
    assert headline.item("fallback-a").overlaps_with == "spot-a"
    assert headline.total_usd_per_month == 500.0


def test_overlap_keys_resolve_order_names_in_the_queue_account() -> None:
    queue = _rec("q", 1.0, "job-queue", "etl", {"compute_environment_order": ["od-ce", "spot-ce"]})
    key = overlap_of(queue)
    assert key == OverlapKey(
        f"{PREFIX}:job-queue/etl",
        frozenset({f"{PREFIX}:compute-environment/od-ce", f"{PREFIX}:compute-environment/spot-ce"}),
    )
    assert overlap_of(_rec("c", 1.0, "compute-environment", "od-ce")).overlaps(key)
    assert not overlap_of(_rec("c", 1.0, "compute-environment", "elsewhere")).overlaps(key)
