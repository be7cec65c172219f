"""The weekly report's savings figures: the one headline (`optimizer.recommend.headline`, the
Overview's figure) and, for each listed recommendation, its verdict and trade-offs (queue p95 wait, spot
interruptions and the work they lose)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine

from optimizer.recommend.headline import stored_headline
from optimizer.recommend.repository import list_recommendations
from optimizer.recommend.tradeoff_text import interruptions, wait_changes


def with_headline(engine: Engine, recs: pd.DataFrame) -> tuple[pd.DataFrame, float | None, str]:
    """`recs` (the report's open recommendations) with `headline` and `wait_change` columns, the
    headline figure (None when nothing was ever recommended) and the sentence that explains it."""
    headline = stored_headline(engine)
    if not headline.items:
        return recs, None, ""
    evidence = {s.id: s.recommendation.evidence for s in list_recommendations(engine, ["open"])}
    out = recs.copy()
    ids = out["id"].astype(str)
    out["headline"] = [item.label() if (item := headline.item(rec_id)) is not None else "" for rec_id in ids]
    # The dashboard's figure: after the bill's discounts where a bill covers the evidence.
    out["monthly_savings_usd"] = [
        headline.monthly_savings_of(rec_id, usd)
        for rec_id, usd in zip(ids, out["monthly_savings_usd"], strict=True)
    ]
    out["wait_change"] = [
        f"{wait_changes(evidence.get(rec_id))}; interruptions/month: {interruptions(evidence.get(rec_id))}"
        for rec_id in ids
    ]
    return out, headline.total_usd_per_month, headline.describe()
