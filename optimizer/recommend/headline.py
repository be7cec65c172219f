"""The one savings headline: what the open recommendations save per month, each saving counted once,
and by the same rules what the applied ones are estimated to save (rule 7).

Every place that states "identified savings" (Overview, the Recommendations page, the demo summary,
the weekly report, `batchopt recommend --json`) calls `savings_headline` on the stored
recommendations, so they all read the same number; the Overview's "Applied, per month (estimated)"
is the same call's `applied_usd_per_month`. The rules, in order:

1. Only open recommendations count in "identified" (applied savings are realised, dismissed and
   rolled-back ones are not on offer), and not an open one that overlaps (rule 4) an applied saving:
   the applied change already took those dollars, and they are in the applied figure (rule 7). The
   others are still listed, with their status, by the pages.
2. An item that costs money (saving <= 0, e.g. "faster queue, costs $538/month") is not a saving:
   it is listed apart as "faster, costs $X". An item whose evidence states a wait improvement
   (`evidence.wait_improvement`: scope, p95 wait before and after) and whose dollars are nil
   ($0.00, e.g. a fair-share policy at the same cost) or within the model's error (rule 3) is a
   wait improvement: listed as "faster at the same cost" with its p95 waits, never in the $ total.
3. A saving no larger than its scope's calibration error (`calibration.py`) cannot be told apart
   from the replay's error: listed as "within model error", not counted.
4. Overlaps are counted once. Two recommendations overlap when they price the same dollars:
   - they change the same resource (the same target ARN: two proposals for one compute
     environment cannot both be applied as measured), or
   - one changes a job queue and the other a compute environment that queue dispatches to today
     (its `current.compute_environment_order`): e.g. spot adoption on a queue and a new instance
     mix for the on-demand CE behind it both save that CE's hours.
   Two queues that share a CE do not overlap on that account: each prices its own jobs. Going
   down the items from the largest saving, an item is counted unless it overlaps one already
   counted, in which case it is listed as overlapping that one (`overlaps_with`) and not added.
   Job-definition items (revisions) overlap items for the same definition (any revision of it)
   and queue items that revise it too (retry-and-spot's retry strategy). `overlap` (default
   `overlap_of`) is the seam for a finer rule.
5. Commitment advice (a Savings Plan to buy) covers on-demand usage, which the other
   recommendations shrink (spot moves, scale-in, cheaper types). `generate` sizes it on the usage the
   counted ones leave (`commitment_basis.py`; its evidence's `sized_on` says which usage, and the
   label repeats it), but it is still listed apart with its own figure ("commitment advice"), never
   in the $ total: it is a purchase, priced on a forecast rather than a replay, and a change to the
   other recommendations (one dismissed, one applied) moves it until the next refresh.
6. `discount_ratio` turns list-price savings (those measured by replay) into after-discount
   ones (`billing.discount`: the bill's effective / list cost of the evidence window's EC2 usage
   that the replays price at list, `list_priced_usage`, when a bill covers it; 1.0 without one).
   Commitment advice comes from the bill already.
7. The applied figure ("Applied, per month (estimated)") takes the applied recommendations through
   rules 2-6 as rule 1 takes the open ones: after the same discount ratio, items that cost money,
   wait improvements, commitment advice and savings within the model's error not counted, and
   overlaps counted once among the applied items (largest first, `overlaps_with` names the one
   counted). The applied items are ranked before the open ones, so an open item that overlaps an
   applied saving (one counted here, or one overlapping it) is listed as overlapping that applied
   item (`OVERLAPS_APPLIED`) and not counted in "identified": the same dollars are never in both.
   That holds for an open item priced before the change was applied (`priced_at`: the store's
   `updated_at`, which a refresh moves only when it re-prices an item, and which the apply sets on
   the applied one): such an item still prices the dollars the change took. An open item a refresh
   priced after the apply (its `current` now the changed estate) is a saving of its own and is
   counted as usual; a roll back returns the others to "identified". Without `priced_at` (a caller
   with no store) every open item overlapping an applied saving is left out. The figure is an
   estimate from the replay; the measured one is `realized.py`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from optimizer.billing.discount import after_discount, discount_ratio
from optimizer.domain import Recommendation
from optimizer.recommend.calibration import Calibration, calibration_from_json, describe, within_error
from optimizer.recommend.repository import list_recommendations

COUNTED = "counted"
COSTS_MONEY = "costs money"
WAIT_ONLY = "wait improvement"
WITHIN_ERROR = "within model error"
OVERLAPS = "overlaps"
OVERLAPS_APPLIED = "overlaps applied"
"""An open item overlapping an applied saving (rules 1 and 7): its dollars are in the applied figure."""
APPLIED = "applied"
"""An applied item counted in the applied figure (rule 7)."""
NOT_OPEN = "not open"
"""Dismissed or rolled back: in no figure."""
COMMITMENT_APART = "commitment advice"
COMMITMENT_ADVICE = "commitment-advice"
"""The strategy whose items are `COMMITMENT_APART` (`strategies.commitments.CommitmentAdvice.name`)."""
UNCONSTRAINED_BOUND = "unconstrained bound: not a recommendation"
"""The label of a solver plan's saving (demo summary, Fleet mix): the fleet-mix solver packs jobs
onto any offering its policy allows, without the strategies' risk rules (interruption band, job
runtime, retry-ability), so its saving bounds what is possible and is never added to the headline."""


def plan_label(plan_saving_usd: float | None) -> str:
    """The words next to a solver plan's saving wherever it is shown."""
    if plan_saving_usd is None:
        return "no replay of this plan"
    return f"${plan_saving_usd:,.2f}/month ({UNCONSTRAINED_BOUND})"


@dataclass(frozen=True)
class OverlapKey:
    """The resource a recommendation changes and, for a queue, the CEs whose hours it moves."""

    resource: str
    serves: frozenset[str] = frozenset()

    def overlaps(self, other: OverlapKey) -> bool:
        return (
            self.resource == other.resource or self.resource in other.serves or other.resource in self.serves
        )


def _compute_environment_arn(queue_arn: str, ref: str) -> str:
    """A queue's order entry (a CE name or ARN) as an ARN in the queue's account and region."""
    if ref.startswith("arn:"):
        return ref
    return queue_arn.split(":job-queue/", 1)[0] + f":compute-environment/{ref}"


def _definition_family(arn: str) -> str:
    """A job definition ARN without its revision (`...:job-definition/name:3` -> `.../name`): a
    revision of either is a new revision of the same definition."""
    if ":job-definition/" not in arn:
        return arn
    head, _, last = arn.rpartition(":")
    return head if last.isdigit() and ":job-definition/" in head else arn


def overlap_of(rec: Recommendation) -> OverlapKey:
    """See rule 4 of the module docstring."""
    if rec.target_kind != "job-queue":
        return OverlapKey(_definition_family(rec.target_arn))
    order = (rec.current or {}).get("compute_environment_order") or []
    refs = [str(e["computeEnvironment"]) if isinstance(e, dict) else str(e) for e in order]
    # A queue item that also revises job definitions (retry-and-spot adds a retry strategy) prices
    # those definitions' jobs too: the demo counted it beside a timeout for the same definition.
    revised = [
        _definition_family(str(r["job_definition"]))
        for r in (rec.current or {}).get("job_definition_revisions") or []
        if isinstance(r, dict) and r.get("job_definition")
    ]
    serves = {_compute_environment_arn(rec.target_arn, r) for r in refs} | set(revised)
    return OverlapKey(rec.target_arn, frozenset(serves))


def wait_improvement_of(rec: Recommendation) -> dict[str, Any] | None:
    """The wait a recommendation shortens, as its evidence states it (rule 2); None without one."""
    found = (rec.evidence or {}).get("wait_improvement")
    if not isinstance(found, dict) or found.get("p95_wait_before_s") is None:
        return None
    before, after = float(found["p95_wait_before_s"]), float(found.get("p95_wait_after_s") or 0.0)
    return found if after < before else None


def _minutes(seconds: Any) -> str:
    return "?" if seconds is None else f"{float(seconds) / 60:,.0f}"


def evidence_calibration(rec: Recommendation) -> Calibration | None:
    """The calibration of the replay behind `rec` (its evidence's `replay` section, see
    `ReplayBaseline.compare`); None for advice without a replay."""
    evidence = rec.evidence or {}
    replayed = evidence.get("replay")
    found = replayed.get("calibration") if isinstance(replayed, dict) else None
    return calibration_from_json(found if found is not None else evidence.get("calibration"))


@dataclass(frozen=True)
class HeadlineItem:
    """One recommendation's place in the headline, with the reason it counts or does not."""

    id: str
    title: str
    status: str
    monthly_savings_usd: float
    """After discounts (`discount_ratio`)."""
    verdict: str
    calibration: Calibration | None
    overlaps_with: str | None = None
    wait: dict[str, Any] | None = None
    """The evidence's `wait_improvement` (scope, p95_wait_before_s, p95_wait_after_s), if any."""
    sized_after_others: bool = False
    """Commitment advice sized on the on-demand usage the counted recommendations leave."""

    @property
    def counted(self) -> bool:
        return self.verdict == COUNTED

    def label(self) -> str:
        """What a person reads next to the figure."""
        if self.verdict == COSTS_MONEY:
            return f"faster, costs ${-self.monthly_savings_usd:,.2f}/month"
        if self.verdict == WAIT_ONLY and self.wait is not None:
            before, after = self.wait.get("p95_wait_before_s"), self.wait.get("p95_wait_after_s")
            return (
                f"faster at the same cost: p95 wait {_minutes(before)} -> {_minutes(after)} min"
                f" ({self.wait.get('scope', 'its queue')}); not in the $ total"
            )
        if self.verdict == WITHIN_ERROR:
            margin = self.calibration.monthly_error_usd if self.calibration else None
            return f"within model error (±${margin or 0.0:,.0f}/month): not counted"
        if self.verdict == OVERLAPS:
            return f"overlaps {self.overlaps_with} (counted once)"
        if self.verdict == OVERLAPS_APPLIED:
            return f"overlaps applied {self.overlaps_with}: its dollars are in Applied, not counted"
        if self.verdict == APPLIED:
            return "counted in Applied"
        if self.verdict == NOT_OPEN:
            return self.status
        if self.verdict == COMMITMENT_APART:
            return f"commitment advice, sized on {self.sized_on_words()}: not in the $ total"
        return "counted"

    def sized_on_words(self) -> str:
        """Which on-demand usage commitment advice is sized on, in a few words."""
        if self.sized_after_others:
            return "the on-demand usage the counted recommendations leave"
        return "today's on-demand usage"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "monthly_savings_usd": round(self.monthly_savings_usd, 2),
            "verdict": self.verdict,
            "label": self.label(),
            "overlaps_with": self.overlaps_with,
            "calibration": None if self.calibration is None else self.calibration.to_json(),
            "wait_improvement": self.wait,
        }


@dataclass(frozen=True)
class SavingsHeadline:
    """The headline figure and every item with its verdict (largest saving first)."""

    items: list[HeadlineItem] = field(default_factory=list)
    discount_ratio: float = 1.0

    @property
    def total_usd_per_month(self) -> float:
        """The "Identified" figure: the open savings counted (rule 1)."""
        return round(sum(i.monthly_savings_usd for i in self.items if i.counted), 2)

    @property
    def applied_usd_per_month(self) -> float:
        """The "Applied, per month (estimated)" figure: the applied savings counted (rule 7)."""
        return round(sum(i.monthly_savings_usd for i in self.by_verdict(APPLIED, status="applied")), 2)

    def by_verdict(self, verdict: str, *, status: str = "open") -> list[HeadlineItem]:
        """The items of one verdict among those with `status`: the open ones (the identified
        figure's) unless asked, since an applied item can also overlap or cost money (rule 7)."""
        return [i for i in self.items if i.verdict == verdict and i.status == status]

    @property
    def costs_money_usd_per_month(self) -> float:
        return round(-sum(i.monthly_savings_usd for i in self.by_verdict(COSTS_MONEY)), 2)

    def item(self, rec_id: str) -> HeadlineItem | None:
        return next((i for i in self.items if i.id == rec_id), None)

    def monthly_savings_of(self, rec_id: str, list_usd: float) -> float:
        """The monthly figure every page, command and report prints for a recommendation: the
        headline's (after the bill's discounts when a bill covers its evidence; it holds every
        stored recommendation, any status) where the headline has it, else `list_usd`, its figure
        at list prices (an id the headline was not given)."""
        found = self.item(rec_id)
        return float(list_usd) if found is None else found.monthly_savings_usd

    def describe(self) -> str:
        """What is in the figure and what is left out, with the model's error, in one sentence."""
        left_out = []
        within = self.by_verdict(WITHIN_ERROR)
        overlapping = self.by_verdict(OVERLAPS)
        costs = self.by_verdict(COSTS_MONEY)
        faster = self.by_verdict(WAIT_ONLY)
        if within:
            left_out.append(f"{len(within)} within the model's error")
        if overlapping:
            left_out.append(f"{len(overlapping)} overlapping a larger one")
        if on_applied := self.by_verdict(OVERLAPS_APPLIED):
            left_out.append(f"{len(on_applied)} overlapping an applied one (its dollars are in Applied)")
        if costs:
            left_out.append(f"{len(costs)} faster but costing ${self.costs_money_usd_per_month:,.2f}/month")
        if faster:
            left_out.append(f"{len(faster)} wait improvement(s) at the same cost")
        for item in self.by_verdict(COMMITMENT_APART):
            basis = (
                item.sized_on_words()
                if item.sized_after_others
                else "today's on-demand usage, which the counted ones shrink"
            )
            left_out.append(f"commitment advice ${item.monthly_savings_usd:,.2f}/month (sized on {basis})")
        calibrated = next((i.calibration for i in self.items if i.calibration is not None), None)
        text = self._counted_once(f"{len(self.by_verdict(COUNTED))} open recommendation(s)", left_out)
        return text + f". Model: {describe(calibrated)}."

    def _counted_once(self, counted: str, left_out: list[str]) -> str:
        """ "<counted> counted once[, after the bill's discounts][; not counted: ...]": the one
        wording of both figures' explanations."""
        text = f"{counted} counted once"
        if self.discount_ratio != 1.0:
            text += f", after the bill's discounts ({self.discount_ratio:.1%} of list)"
        if left_out:
            text += "; not counted: " + ", ".join(left_out)
        return text

    def describe_applied(self) -> str:
        """What is in the applied figure and what is left out (rule 7), in one sentence."""
        status = "applied"
        left_out = [
            f"{len(found)} {words}"
            for verdict, words in (
                (OVERLAPS, "overlapping a larger applied one"),
                (WITHIN_ERROR, "within the model's error"),
                (COSTS_MONEY, "costing money"),
                (WAIT_ONLY, "wait improvement(s) at the same cost"),
                (COMMITMENT_APART, "commitment advice"),
            )
            if (found := self.by_verdict(verdict, status=status))
        ]
        counted = len(self.by_verdict(APPLIED, status=status))
        text = self._counted_once(f"Applied: {counted} applied recommendation(s)", left_out)
        return text + "; an open one priced before them that overlaps them is not also in Identified."

    def to_json(self) -> dict[str, Any]:
        return {
            "identified_savings_usd_per_month": self.total_usd_per_month,
            "applied_savings_usd_per_month": self.applied_usd_per_month,
            "counted": len(self.by_verdict(COUNTED)),
            "within_model_error": len(self.by_verdict(WITHIN_ERROR)),
            "commitment_advice_usd_per_month": round(
                sum(i.monthly_savings_usd for i in self.by_verdict(COMMITMENT_APART)), 2
            ),
            "overlapping": len(self.by_verdict(OVERLAPS)),
            "overlapping_applied": len(self.by_verdict(OVERLAPS_APPLIED)),
            "costs_money": len(self.by_verdict(COSTS_MONEY)),
            "costs_money_usd_per_month": self.costs_money_usd_per_month,
            "wait_improvements": len(self.by_verdict(WAIT_ONLY)),
            "discount_ratio": self.discount_ratio,
            "items": [i.to_json() for i in self.items],
        }


def _apart(rec: Recommendation, saving: float, calibration: Calibration | None, wait: Any) -> str | None:
    """The verdict of an item that is not a saving to count (rules 2, 3 and 5), None for one that is."""
    if wait is not None and (round(saving, 2) == 0 or (saving > 0 and within_error(saving, calibration))):
        return WAIT_ONLY
    if saving <= 0:
        return COSTS_MONEY
    if rec.strategy == COMMITMENT_ADVICE:
        return COMMITMENT_APART
    if within_error(saving, calibration):
        return WITHIN_ERROR
    return None


def _applied_after(
    rec_id: str, in_applied: list[tuple[OverlapKey, str]], priced_at: Mapping[str, datetime] | None
) -> list[tuple[OverlapKey, str]]:
    """The applied items (overlap key, id) an open item `rec_id` was priced before (rule 7)."""
    if priced_at is None or rec_id not in priced_at:
        return in_applied
    mine = priced_at[rec_id]
    return [(k, i) for k, i in in_applied if i not in priced_at or priced_at[i] >= mine]


def _first_overlap(key: OverlapKey, taken: list[tuple[OverlapKey, str]]) -> str | None:
    """The id of the first of `taken` (overlap key, id) that prices the same dollars as `key` (rule 4)."""
    return next((i for other, i in taken if other.overlaps(key)), None)


def savings_headline(
    recs: Iterable[tuple[Recommendation, str]],
    *,
    discount_ratio: float = 1.0,
    overlap: Callable[[Recommendation], OverlapKey] = overlap_of,
    priced_at: Mapping[str, datetime] | None = None,
) -> SavingsHeadline:
    """The headline of `recs` given as (recommendation, status) pairs; see the module docstring.
    `priced_at` (by id): when each was last priced or changed status (rule 7)."""
    pairs = sorted(recs, key=lambda p: (-p[0].monthly_savings_usd, p[0].id))
    verdicts: dict[str, tuple[str, str | None]] = {}  # id -> (verdict, overlaps_with)
    applied: list[tuple[OverlapKey, str]] = []  # the applied savings counted (rule 7)
    in_applied: list[tuple[OverlapKey, str]] = []  # those and the applied ones overlapping them
    counted: list[tuple[OverlapKey, str]] = []  # the open savings counted (rules 1 and 4)
    # Applied before open, each largest first: an open item overlapping an applied saving is out.
    for wanted in ("applied", "open"):
        for rec, status in pairs:
            if status != wanted:
                continue
            saving = _saving(rec, discount_ratio)
            apart = _apart(rec, saving, evidence_calibration(rec), wait_improvement_of(rec))
            if apart is not None:
                verdicts[rec.id] = (apart, None)
                continue
            key = overlap(rec)
            if status == "applied":
                hit = _first_overlap(key, applied)
                verdicts[rec.id] = (APPLIED, None) if hit is None else (OVERLAPS, hit)
                if hit is None:
                    applied.append((key, rec.id))
                in_applied.append((key, rec.id))
            elif (hit := _first_overlap(key, _applied_after(rec.id, in_applied, priced_at))) is not None:
                verdicts[rec.id] = (OVERLAPS_APPLIED, hit)
            elif (hit := _first_overlap(key, counted)) is not None:
                verdicts[rec.id] = (OVERLAPS, hit)
            else:
                verdicts[rec.id] = (COUNTED, None)
                counted.append((key, rec.id))
    items = []
    for rec, status in pairs:
        verdict, overlaps_with = verdicts.get(rec.id, (NOT_OPEN, None))  # dismissed, rolled back
        items.append(
            HeadlineItem(
                id=rec.id,
                title=rec.title,
                status=status,
                monthly_savings_usd=_saving(rec, discount_ratio),
                verdict=verdict,
                calibration=evidence_calibration(rec),
                overlaps_with=overlaps_with,
                wait=wait_improvement_of(rec),
                sized_after_others=rec.strategy == COMMITMENT_ADVICE and _sized_after_others(rec),
            )
        )
    return SavingsHeadline(items=items, discount_ratio=discount_ratio)


def _saving(rec: Recommendation, ratio: float) -> float:
    """The item's monthly saving after discounts (rule 6): replayed savings are priced at list,
    others (commitment advice) come from the bill already."""
    at_list = isinstance((rec.evidence or {}).get("replay"), dict)
    return after_discount(float(rec.monthly_savings_usd), ratio if at_list else None)


def counted_ids(recs: Iterable[Recommendation]) -> set[str]:
    """Ids of the recommendations the headline would count if all of `recs` were open (commitment
    advice aside): what commitment advice is sized after (`commitment_basis.on_demand_change`)."""
    others = [(r, "open") for r in recs if r.strategy != COMMITMENT_ADVICE]
    return {i.id for i in savings_headline(others).items if i.counted}


def _sized_after_others(rec: Recommendation) -> bool:
    """Commitment advice whose evidence says it was sized after other recommendations (an older
    stored item without `sized_after_recommendations` was sized on today's usage)."""
    return bool((rec.evidence or {}).get("sized_after_recommendations"))


def evidence_window(recs: Iterable[Recommendation]) -> tuple[datetime, datetime] | None:
    """The replay window of the recommendations' evidence (the history their savings come from)."""
    for rec in recs:
        replayed = (rec.evidence or {}).get("replay")
        if isinstance(replayed, dict) and replayed.get("window_start") and replayed.get("window_days"):
            start = datetime.fromisoformat(str(replayed["window_start"]))
            return start, start + timedelta(days=float(replayed["window_days"]))
    return None


LIST_PRICED_WITH_COMMITMENTS = ("on_demand",)
LIST_PRICED = ("on_demand", "reserved", "savings_plan")


def list_priced_usage(recs: Iterable[Recommendation]) -> tuple[str, ...]:
    """The EC2 purchase options whose hours the recommendations' replays price at list, so the bill's
    discount on them is not in the saving yet: on-demand hours always; hours a Savings Plan or RI
    covers only when the replay does not model the commitments in force (with `evidence.replay.
    commitments` it covers on-demand hours at their rates and charges the fees already). Never spot:
    the replay prices spot hours at spot prices, what the bill pays, while the bill's "list" for them
    is the on-demand price (the demo's 87.4 % of list took the spot and Savings Plan discounts off
    savings a second time)."""
    for rec in recs:
        replayed = (rec.evidence or {}).get("replay")
        if isinstance(replayed, dict):
            return LIST_PRICED_WITH_COMMITMENTS if replayed.get("commitments") else LIST_PRICED
    return LIST_PRICED


def stored_headline(engine: Engine) -> SavingsHeadline:
    """`savings_headline` of every stored recommendation (reads the store; pages, report, demo and
    CLI call this). With an imported bill covering the evidence window, savings are after the bill's
    discounts (`optimizer.billing.discount`: effective / list cost of the window's EC2 usage that
    the replays price at list, `list_priced_usage`)."""
    stored = list_recommendations(engine)
    window = evidence_window(s.recommendation for s in stored)
    options = list_priced_usage(s.recommendation for s in stored)
    ratio = discount_ratio(engine, *window, purchase_options=options) if window is not None else None
    return savings_headline(
        ((s.recommendation, s.status) for s in stored),
        discount_ratio=1.0 if ratio is None else round(ratio.ratio, 4),
        priced_at={s.id: s.updated_at for s in stored},
    )
