"""The on-demand usage commitment advice is sized on: today's, or what is left after the other advice.

A Savings Plan covers on-demand spend. The other recommendations change that spend (a spot move
takes hours off on-demand, a cheaper type makes them cheaper, scale-in removes idle ones), so a plan
sized on today's on-demand usage is too large once they are applied, and its figure counts the same
dollars they save. Each replayed recommendation states the replay's on-demand cost now and
proposed (`evidence.replay.current_summary` / `proposed_summary`, `cost_by_capacity_type`), all over
the region's one history window; the ones the savings headline counts (`headline.savings_headline`:
open, a real saving beyond the model's error, overlaps counted once; `generate` passes their ids)
add up to the on-demand change the commitment is sized after. Recommendations that are not counted
(within the model's error, overlapping a counted one, costing money) do not move it: nobody is told
to apply them. Pure (strategies import it, and they import no store code).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from optimizer.domain import Recommendation


@dataclass(frozen=True)
class OnDemandChange:
    """The change of the current configuration's replayed on-demand cost (USD over the history
    window, at list price) that the counted recommendations `ids` make."""

    usd: float = 0.0
    ids: tuple[str, ...] = ()

    @property
    def today(self) -> bool:
        """No counted recommendation changes on-demand cost: the sizing is on today's usage."""
        return not self.ids


def _on_demand_usd(summary: Any) -> float | None:
    if not isinstance(summary, dict):
        return None
    by_type = summary.get("cost_by_capacity_type")
    if not isinstance(by_type, dict):
        return None
    return float(by_type.get("ON_DEMAND", 0.0))


def on_demand_change(recs: Iterable[Recommendation], counted: Collection[str]) -> OnDemandChange:
    """What the recommendations among `recs` whose ids are in `counted` (the headline's counted
    ones) do to on-demand cost; recommendations without a replay (advice) add nothing."""
    usd, ids = 0.0, []
    for rec in sorted(recs, key=lambda r: r.id):
        if rec.id not in counted:
            continue
        replay = (rec.evidence or {}).get("replay")
        if not isinstance(replay, dict):
            continue
        now = _on_demand_usd(replay.get("current_summary"))
        proposed = _on_demand_usd(replay.get("proposed_summary"))
        if now is None or proposed is None or proposed == now:
            continue
        usd += proposed - now
        ids.append(rec.id)
    return OnDemandChange(usd, tuple(ids))
